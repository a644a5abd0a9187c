#!/usr/bin/env bash
# Echo tables as issue 18 asks them: RUNS (default 3) full passes of
# echo.sh, one after the other, so servers interleave (A B C A B C ...),
# then the median of the runs per server and case (echo_medians.py).
#
#   scripts/bench/echo_runs.sh
#   RUNS=3 SERVERS="ours-mio fastwebsockets" CASES="100x20B" scripts/bench/echo_runs.sh
#
# Settings: RUNS, OUT (default $CARGO_TARGET_DIR/bench/echo-runs-<time>),
# and every setting of echo.sh (SERVERS, CASES, WARMUP, DURATION, ...);
# FIXED_RATE defaults to 0 here. Check `uptime` first: the machine should
# be quiet (the tables record the load at start and end of each run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-3}
OUT=${OUT:-$TARGET/bench/echo-runs-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export FIXED_RATE=${FIXED_RATE:-0}
for k in $(seq "$RUNS"); do
  echo "=== run $k of $RUNS" >&2
  OUT="$OUT/run-$k" "$ROOT/scripts/bench/echo.sh"
done
python3 "$ROOT/scripts/bench/echo_medians.py" "$OUT"/run-*/results.tsv >"$OUT/medians.md"
cat "$OUT/medians.md"
echo "runs and medians: $OUT" >&2
