//! Shared helpers for the fuzz targets.
