#!/usr/bin/env bash
# The whole test suite. This is the README's test command; CI calls it too.
#
# Tests that need an outside peer install it themselves and fail loudly if
# they cannot (never skip): Python `websockets` into target/, npm packages
# (`ws`, `websocket-driver`, `playwright-core`) with `npm ci`, Debian's
# chromium for the browser test, and the Autobahn testsuite into a Python 2
# virtualenv (.venv-autobahn).
#
#   scripts/test.sh            unit, integration, interop, browser tests,
#                              then the Autobahn quick subset (both roles) on
#                              every adapter (std, mio, tokio, smol; the
#                              server behind axum)
#   AUTOBAHN=full scripts/test.sh   ... with all 517 Autobahn cases instead
#   AUTOBAHN=none scripts/test.sh   ... without Autobahn
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== no_std builds of the core crates"
cargo build --quiet -p http-upgrade --no-default-features
cargo build --quiet -p ws-proto --no-default-features
# A #![no_std] program (own panic handler and allocator) linking both and
# running a conversation: fails to build if any dependency pulls in std.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/no-std-check" \
    cargo run --quiet --manifest-path no-std-check/Cargo.toml

echo "== unit, integration, property, interop, browser and doc tests"
cargo test --workspace --exclude ws-fuzz --all-features

echo "== fuzz regression inputs"
cargo test -p ws-fuzz

case "${AUTOBAHN:-quick}" in
    quick) echo "== Autobahn testsuite, quick subset, both roles, every adapter"
           bash scripts/autobahn/run.sh --quick
           for adapter in mio tokio smol uring; do
               bash scripts/autobahn/run.sh --quick --no-build --adapter "$adapter"
           done
           bash scripts/autobahn/run.sh --quick --no-build --role server --adapter axum ;;
    full)  echo "== Autobahn testsuite, all cases, both roles"
           bash scripts/autobahn/run.sh ;;
    none)  echo "== Autobahn skipped (AUTOBAHN=none)" ;;
    *)     echo "AUTOBAHN must be quick, full or none" >&2; exit 2 ;;
esac
echo "== all tests passed"
