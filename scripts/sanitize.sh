#!/usr/bin/env bash
# Runs the std and mio adapter test suites (and the core's) under
# AddressSanitizer with LeakSanitizer: any invalid access, use after free or
# leak at exit fails the run.
#
#   scripts/sanitize.sh [TEST...]     # default: the suites listed below
#
# Needs only the stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer.
# The standard library itself is not instrumented (no -Zbuild-std), so
# accesses inside std are not checked; its allocations are (LSan intercepts
# malloc). Builds into target/asan.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(conversation halves_backpressure tls_proxy_limits proxy_env hostile mio_10k)
fi
host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR="$root/target/asan"
# Leaks are errors; the detached test-server threads still running at exit
# are not leaks (LSan scans their stacks).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
export LSAN_OPTIONS="report_objects=1"
# Tests that bound a server's RSS skip those bounds (ASan inflates RSS).
export WS_SANITIZER=1

args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
echo "sanitize.sh: ws-adapters ${tests[*]} under ASan+LSan ($host)" >&2
# The features these suites use (not the HTTP/2, HTTP/3 and NATS stacks,
# which they do not touch and which would triple the instrumented build).
cargo test --target "$host" -p ws-adapters \
    --features tls,tokio,smol,uring,webpki-roots,native-roots "${args[@]}"
echo "sanitize.sh: ws-proto and deflate-ext under ASan+LSan" >&2
cargo test --target "$host" -p ws-proto -p deflate-ext --all-features --tests
echo "sanitize.sh: clean"
