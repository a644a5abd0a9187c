//! Thin drivers that move bytes between sockets and the sans-IO machines.
