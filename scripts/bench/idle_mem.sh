#!/usr/bin/env bash
# Resident memory per idle WebSocket connection: each server (pinned to one
# core) gets N connections from `ws-load --idle` (handshake only, then
# again with one echoed message per connection), and
# (VmRSS after - VmRSS before) / N is reported, from /proc/<pid>/status.
# Then `conn-size` prints size_of and the heap held by our idle machines.
#
#   scripts/bench/idle_mem.sh              # N=10000
#   N=2000 scripts/bench/idle_mem.sh
#
# Settings (environment): N (default 10000), MSG_SIZE (bytes of the one
# echoed message, default 1024), SERVERS (names, default all), SERVER_CPU
# (0), CLIENT_CPU (1), OUT (default $CARGO_TARGET_DIR/bench/idle-<time>),
# CARGO_TARGET_DIR (default target/). Needs `ulimit -n` above N (raised
# here up to the hard limit) and N free ephemeral ports on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
N=${N:-10000}
MSG_SIZE=${MSG_SIZE:-1024}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# NICE=-10 runs servers and load generator at that niceness (root only).
NICE_CMD=${NICE:+nice -n $NICE}
OUT=${OUT:-$TARGET/bench/idle-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

want=$((N + 256))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  echo "ulimit -Hn is $hard: $N connections need $want descriptors per process" >&2
  exit 1
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want"
fi

# name | command (in target/release)
ALL_SERVERS=(
  "ours-mio|echo-ours --adapter mio"
  "ours-uring|echo-ours --adapter uring"
  "ours-smol|echo-ours --adapter smol"
  "ours-tokio|echo-ours --adapter tokio"
  "ours-std|echo-ours --adapter std"
  "tokio-tungstenite|echo-tungstenite"
  "tokio-websockets|echo-tokio-websockets"
  "fastwebsockets|echo-fastwebsockets"
  "raw-tcp|echo-raw"
)
mapfile -t SERVERS_LIST < <(for e in "${ALL_SERVERS[@]}"; do
  if [ -z "${SERVERS:-}" ] || [[ " $SERVERS " == *" ${e%%|*} "* ]]; then echo "$e"; fi
done)

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

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
threads() { sed -n 's/^Threads:[[:space:]]*\([0-9]*\)/\1/p' "/proc/$1/status"; }

# Holds N idle connections to the server on PORT and prints the server's
# RSS growth per connection in bytes (empty on failure).
measure() { # name messages
  local name=$1 msgs=$2 mode=binary
  [ "$name" = raw-tcp ] && mode=raw
  local before after fifo=$OUT/ready-$name-$msgs
  before=$(rss "$SP")
  rm -f "$fifo"
  taskset -c "$CLIENT_CPU" $NICE_CMD "$BIN/ws-load" --port "$PORT" -c "$N" --idle \
    --idle-messages "$msgs" -s "$MSG_SIZE" --mode "$mode" --hold 600 \
    >"$fifo" 2>>"$OUT/load-$name.log" &
  LP=$!
  for _ in $(seq 1200); do
    grep -q '^READY' "$fifo" 2>/dev/null && break
    kill -0 "$LP" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^READY' "$fifo" 2>/dev/null; then
    kill "$LP" 2>/dev/null || true
    wait "$LP" 2>/dev/null || true
    LP=
    return 0
  fi
  sleep 2
  after=$(rss "$SP")
  echo "$name msgs=$msgs rss_before=${before}kB rss_after=${after}kB threads=$(threads "$SP")" >>"$OUT/raw.txt"
  kill "$LP" 2>/dev/null || true
  wait "$LP" 2>/dev/null || true
  LP=
  echo $(((after - before) * 1024 / N))
}

{
  echo "date: $(date -Is)"
  echo "commit: $(git rev-parse --short HEAD)"
  echo "uptime: $(uptime)"
  echo "N=$N, message $MSG_SIZE B"
} >"$OUT/machine.txt"

{
  echo "# Resident memory per idle connection"
  echo
  echo "N = $N connections to one server process; (VmRSS with them - VmRSS before) / N."
  echo "'after one echo': each connection first echoed one $MSG_SIZE-byte binary message."
  echo
  echo "| server | after handshake (B/conn) | after one echo (B/conn) |"
  echo "|---|---|---|"
} >"$OUT/results.md"

for srv in "${SERVERS_LIST[@]}"; do
  name=${srv%%|*}
  cmd=${srv#*|}
  cells=()
  for msgs in 0 1; do
    per=
    for attempt in 1 2; do
      log="$OUT/server-$name.log"
      : >"$log" # not the previous run's port (the child truncates late)
      # shellcheck disable=SC2086
      taskset -c "$SERVER_CPU" $NICE_CMD $BIN/$cmd >"$log" 2>&1 &
      SP=$!
      PORT=
      for _ in $(seq 100); do
        PORT=$(sed -n 's/^listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$log")
        [ -n "$PORT" ] && break
        sleep 0.05
      done
      sleep 0.5
      [ -n "$PORT" ] && per=$(measure "$name" "$msgs")
      kill "$SP" 2>/dev/null || true
      wait "$SP" 2>/dev/null || true
      SP=
      sleep 1 # let the closed sockets go
      [ -n "$per" ] && break
      echo "$name, $msgs message(s): attempt $attempt failed (see $OUT/load-$name.log)" >&2
    done
    cells+=("${per:-FAIL}")
    echo "$name, $msgs message(s): ${per:-FAIL} B/conn" >&2
  done
  echo "| $name | ${cells[0]} | ${cells[1]} |" >>"$OUT/results.md"
done

{
  echo
  "$BIN/conn-size"
} >>"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT" >&2
