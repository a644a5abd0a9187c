#!/usr/bin/env bash
# The whole test suite. This is the README's test command; CI calls it too.
# It installs what the tests need (nothing beyond the Rust toolchain yet) and
# fails loudly if anything is missing: no test is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== no_std builds of the core crates"
cargo build --quiet -p http-upgrade --no-default-features
cargo build --quiet -p ws-proto --no-default-features

echo "== unit, integration, property and doc tests"
cargo test --workspace --exclude ws-fuzz --all-features
