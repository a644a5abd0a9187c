#!/usr/bin/env bash
# System calls per echoed message, every echo server at the same offered
# load (issue 18: "no more than the best peer's in every case"; issue 22:
# io_uring submissions against the epoll servers' calls).
#
#   scripts/bench/syscalls.sh
#   SERVERS="ours-mio fastwebsockets" CASES="100x20B" scripts/bench/syscalls.sh
#
# Each server runs under `perf stat` with syscall tracepoints (counted in
# the kernel: unlike `strace`, the server is not slowed, so its reads do
# not batch more than they would). `ws-load` paces the load to RATE_<case>
# messages per second in total (the same for every server, well under the
# slowest one's maximum), for WARMUP + DURATION seconds; the counts cover
# the server's whole life (start, handshakes, load, stop) and are divided
# by every message echoed (`total=` of ws-load), so the handshakes add a
# little (100 connections: well under 1% of the messages).
#
# Settings: SERVERS, CASES (names as in echo.sh), WARMUP (default 1),
# DURATION (default 5), SERVER_CPU (0), CLIENT_CPU (1), OUT.
# Needs perf with tracepoint access (perf_event_paranoid <= 2 for your own
# processes, or root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-$TARGET/bench/syscalls-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

# shellcheck source=servers.sh
. "$ROOT/scripts/bench/servers.sh"
# name | connections | payload | offered msgs/s | tls
ALL_CASES=(
  "100x20B|100|20|30000|0"
  "10x1KiB|10|1024|30000|0"
  "10x16KiB|10|16384|20000|0"
  "200x16KiB|200|16384|20000|0"
  "500x16KiB|500|16384|15000|0"
  "wss-100x20B|100|20|20000|1"
  "wss-10x16KiB|10|16384|10000|1"
)
mapfile -t SERVERS_LIST < <(pick "${SERVERS:-}" "${ALL_SERVERS[@]}")
mapfile -t CASES_LIST < <(pick "${CASES:-}" "${ALL_CASES[@]}")

# What is counted: every system call, and the ones of the echo path.
EVENTS=raw_syscalls:sys_enter
for s in read recvfrom recvmsg readv write writev sendto sendmsg epoll_wait epoll_pwait epoll_pwait2 io_uring_enter futex; do
  EVENTS+=",syscalls:sys_enter_$s"
done
EVENTS+=",io_uring:io_uring_submit_req"

echo "building (release) into $TARGET ..." >&2
cargo build --release -q -p ws-benches --bins
BIN=$TARGET/release

PERF=
cleanup() {
  [ -n "$PERF" ] && pkill -P "$PERF" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$OUT/results.tsv
printf 'server\tcase\toffered\tmsgs\tmean\tevent\tcount\n' >"$RESULTS"
{
  echo "date: $(date -Is)"
  echo "commit: $(git rev-parse --short HEAD)"
  echo "uptime at start: $(uptime)"
} >"$OUT/machine.txt"

for srv in "${SERVERS_LIST[@]}"; do
  sname=${srv%%|*}
  cmd=$(cut -d'|' -f2 <<<"$srv")
  for case in "${CASES_LIST[@]}"; do
    IFS='|' read -r cname conns size rate tls <<<"$case"
    if [ "$tls" = 1 ] && [ "$sname" = raw ]; then continue; fi
    extra=
    [ "$tls" = 1 ] && extra=" --tls"
    log=$OUT/server-$sname-$cname.log
    stat=$OUT/perf-$sname-$cname.csv
    : >"$log"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" perf stat -x, -e "$EVENTS" -o "$stat" -- $BIN/$cmd$extra >"$log" 2>&1 &
    PERF=$!
    PORT=
    for _ in $(seq 100); do
      PORT=$(sed -n 's/^listening on wss\{0,1\}:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$log")
      [ -n "$PORT" ] && break
      sleep 0.05
    done
    if [ -z "$PORT" ]; then
      echo "server $sname did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    args=(--port "$PORT" -c "$conns" -s "$size" --warmup "$WARMUP" --duration "$DURATION" --rate "$rate")
    if [ "$sname" = raw ]; then args+=(--mode raw); else args+=(--mode binary); fi
    [ "$tls" = 1 ] && args+=(--tls)
    line=$(timeout $((WARMUP + DURATION + 60)) taskset -c "$CLIENT_CPU" "$BIN/ws-load" "${args[@]}" \
      2>>"$OUT/load-$sname.log" | grep '^RESULT' || true)
    pkill -P "$PERF" 2>/dev/null || true
    wait "$PERF" 2>/dev/null || true
    PERF=
    if [ -z "$line" ]; then
      echo "  $sname $cname: FAILED (see $OUT/load-$sname.log)" >&2
      continue
    fi
    total=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$line")
    mean=$(sed -n 's/.* mean=\([0-9]*\).*/\1/p' <<<"$line")
    # perf -x, lines: count,unit,event,...
    awk -F, -v s="$sname" -v c="$cname" -v r="$rate" -v t="$total" -v m="$mean" \
      '$1 ~ /^[0-9]+$/ { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, c, r, t, m, $3, $1 }' "$stat" >>"$RESULTS"
    all=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$stat")
    echo "  $sname $cname: $total msgs (mean $mean/s, offered $rate/s), $all syscalls, $(awk -v a="$all" -v t="$total" 'BEGIN { printf "%.2f", a / t }') per message" >&2
  done
done
echo "uptime at end: $(uptime)" >>"$OUT/machine.txt"
python3 "$ROOT/scripts/bench/syscalls_table.py" "$RESULTS" >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT" >&2
