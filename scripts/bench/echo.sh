#!/usr/bin/env bash
# Echo under load: every echo server in benches/src/bin against ws-load
# (closed loop, one message in flight per connection), each server pinned
# to one core and the load generator to another.
#
#   scripts/bench/echo.sh            # full run: every server, every case
#   QUICK=1 scripts/bench/echo.sh    # 1 s warm-up, 2 s measure (smoke test)
#
# Settings (environment): WARMUP (s, default 2), DURATION (s, default 5),
# SERVER_CPU (default 0), CLIENT_CPU (default 1), NICE (niceness of servers
# and load generator, e.g. -10; default unchanged), SERVERS (names, default
# all), CASES (names, default all), FIXED_RATE (default 1: a second pass at
# one offered load per case, half the slowest server's rate, std excluded),
# OUT (results directory; default $CARGO_TARGET_DIR/bench/echo-<time>),
# CARGO_TARGET_DIR (default target/).
#
# Per run it records msgs/s (median and mean of the 1 s windows) and the
# server's user+system CPU time over the measuring window, per message
# (from /proc/<pid>/stat, all threads): on two cores the load generator can
# saturate before a fast server does, and CPU per message still compares.
# The markdown tables (results.md) are written by echo_table.py.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-5}
if [ -n "${QUICK:-}" ]; then WARMUP=1; DURATION=2; fi
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# NICE=-10 runs servers and load generator at that niceness (root only).
NICE_CMD=${NICE:+nice -n $NICE}
FIXED_RATE=${FIXED_RATE:-1}
OUT=${OUT:-$TARGET/bench/echo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

# shellcheck source=servers.sh
. "$ROOT/scripts/bench/servers.sh"
# name | connections | payload bytes | mode | deflate | tls
# The wss cases run against a second instance of each server started with
# --tls (rustls everywhere: ours in the driver, the peers over
# tokio-rustls, one self-signed certificate configuration); ws-load then
# speaks TLS through our client machinery, and usually saturates its core
# first: compare server CPU per message there.
ALL_CASES=(
  "100x0B|100|0|binary|0|0"
  "100x20B|100|20|binary|0|0"
  "10x1KiB|10|1024|binary|0|0"
  "10x16KiB|10|16384|binary|0|0"
  "200x16KiB|200|16384|binary|0|0"
  "500x16KiB|500|16384|binary|0|0"
  "text-10x1KiB|10|1024|text|0|0"
  "deflate-text-10x1KiB|10|1024|text|1|0"
  "wss-100x20B|100|20|binary|0|1"
  "wss-10x16KiB|10|16384|binary|0|1"
)

mapfile -t SERVERS_LIST < <(pick "${SERVERS:-}" "${ALL_SERVERS[@]}")
mapfile -t CASES_LIST < <(pick "${CASES:-}" "${ALL_CASES[@]}")

echo "building (release) into $TARGET ..." >&2
cargo build --release -q -p ws-benches --bins
BIN=$TARGET/release

SP=
LP=
cleanup() {
  [ -n "$LP" ] && kill "$LP" 2>/dev/null || true
  [ -n "$SP" ] && kill "$SP" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=
start_server() { # name command...
  local name=$1; shift
  local log="$OUT/server-$name.log"
  # Truncated here, not only by the child's redirection: the loop below
  # must not read the previous run's port before the child has started.
  : >"$log"
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" $NICE_CMD $BIN/$* >"$log" 2>&1 &
  SP=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^listening on wss\{0,1\}:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$log")
    [ -n "$PORT" ] && return 0
    kill -0 "$SP" 2>/dev/null || break
    sleep 0.05
  done
  echo "server $name did not start:" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  kill "$SP" 2>/dev/null || true
  wait "$SP" 2>/dev/null || true
  SP=
}

kv() { # key line -> value of key=value in line
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

RESULTS=$OUT/results.tsv
printf 'pass\tserver\tcase\tconns\tsize\tmode\tdeflate\tmedian\tmean\tserver_us_per_msg\tserver_cpu_pct\tclient_cpu_pct\trate\tload1\n' >"$RESULTS"
{
  echo "date: $(date -Is)"
  echo "commit: $(git rev-parse --short HEAD) $(git status --porcelain -- ws-proto adapters deflate-ext http-upgrade | wc -l) files modified in the core crates"
  echo "cpus: $(nproc), server on $SERVER_CPU, load generator on $CLIENT_CPU${NICE:+, niceness $NICE}; warm-up ${WARMUP}s, measure ${DURATION}s"
  echo "uptime at start: $(uptime)"
  echo "busiest other processes at start:"
  ps -eo pid,ni,pcpu,comm --sort=-pcpu | head -6
} >"$OUT/machine.txt"

run_case() { # pass server_entry case_entry [rate]
  local pass=$1 srv=$2 case=$3 rate=${4:-}
  local sname=${srv%%|*} dfl=${srv##*|}
  IFS='|' read -r cname conns size mode deflate tls <<<"$case"
  local args=(--port "$PORT" -c "$conns" -s "$size" --warmup "$WARMUP" --duration "$DURATION" --server-pid "$SP")
  [ "$tls" = 1 ] && args+=(--tls)
  if [ "$sname" = raw ]; then
    [ "$deflate" = 1 ] && return 0
    args+=(--mode raw)
  else
    args+=(--mode "$mode")
    if [ "$deflate" = 1 ]; then
      [ "$dfl" = 1 ] || return 0
      args+=(--deflate)
    fi
  fi
  [ -n "$rate" ] && args+=(--rate "$rate")
  local line
  line=$(timeout $((WARMUP + DURATION + 60)) taskset -c "$CLIENT_CPU" $NICE_CMD "$BIN/ws-load" "${args[@]}" \
    2>>"$OUT/load-$sname.log" | grep '^RESULT' || true)
  local load1
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [ -z "$line" ]; then
    echo "  $pass $sname $cname: FAILED (see $OUT/load-$sname.log)" >&2
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\tFAIL\t\t\t\t\t%s\t%s\n' "$pass" "$sname" "$cname" "$conns" "$size" "$mode" "$deflate" "$rate" "$load1" >>"$RESULTS"
    return 0
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pass" "$sname" "$cname" "$conns" "$size" "$mode" "$deflate" \
    "$(kv median "$line")" "$(kv mean "$line")" "$(kv server_us_per_msg "$line")" \
    "$(kv server_cpu_pct "$line")" "$(kv client_cpu_pct "$line")" "$rate" "$load1" >>"$RESULTS"
  echo "  $pass $sname $cname: $(kv median "$line") msgs/s, server $(kv server_us_per_msg "$line") us/msg ($(kv server_cpu_pct "$line")% cpu), client $(kv client_cpu_pct "$line")% cpu${rate:+, offered $rate/s}" >&2
}

run_pass() { # pass [rates file]
  local pass=$1 rates=${2:-}
  for srv in "${SERVERS_LIST[@]}"; do
    local sname=${srv%%|*} cmd
    cmd=$(cut -d'|' -f2 <<<"$srv")
    for tls in 0 1; do
      local cases=()
      for case in "${CASES_LIST[@]}"; do
        [ "${case##*|}" = "$tls" ] && cases+=("$case")
      done
      [ ${#cases[@]} = 0 ] && continue
      # The plain TCP echo has no TLS form.
      [ "$tls" = 1 ] && [ "$sname" = raw ] && continue
      local extra= log=$sname
      [ "$tls" = 1 ] && extra=" --tls" && log=$sname-tls
      echo "== $pass: $sname ($cmd$extra)" >&2
      start_server "$log" "$cmd$extra" || continue
      if [ "$sname" != raw ] && [ "$tls" = 0 ]; then
        local check
        check=$("$BIN/echo-check" --port "$PORT" 2>&1 || true)
        echo "  check: $check" >&2
        echo "$sname: $check" >>"$OUT/checks.txt"
      fi
      for case in "${cases[@]}"; do
        local rate=
        if [ -n "$rates" ]; then
          rate=$(awk -F'\t' -v c="${case%%|*}" '$1 == c { print $2 }' "$rates")
          [ -z "$rate" ] && continue
        fi
        run_case "$pass" "$srv" "$case" "$rate"
      done
      stop_server
    done
  done
}

run_pass max
if [ "$FIXED_RATE" = 1 ]; then
  # One offered load per case: half the slowest WebSocket server's mean
  # (the thread-per-connection std server excluded; it is marked if it
  # cannot keep up).
  awk -F'\t' 'NR > 1 && $1 == "max" && $2 != "raw" && $2 != "ours-std" && $8 != "FAIL" {
      if (!($3 in min) || $9 < min[$3]) min[$3] = $9 }
    END { for (c in min) printf "%s\t%d\n", c, int(min[c] / 2) }' "$RESULTS" >"$OUT/rates.tsv"
  run_pass fixed "$OUT/rates.tsv"
fi
{
  echo "uptime at end: $(uptime)"
  echo "busiest other processes at end:"
  ps -eo pid,ni,pcpu,comm --sort=-pcpu | head -6
} >>"$OUT/machine.txt"

python3 "$ROOT/scripts/bench/echo_table.py" "$RESULTS" "$OUT/machine.txt" >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT" >&2
