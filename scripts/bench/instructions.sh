#!/usr/bin/env bash
# User-space instructions per echoed message, per server, under
# valgrind --tool=callgrind (deterministic where wall-clock runs are noisy;
# the kernel's share, i.e. the syscalls, is not counted, and a `rep movsb`
# copy counts one instruction per byte). The server runs under callgrind
# while ws-load drives it closed-loop for a few seconds; instructions of the
# whole run (start-up and handshakes included, a small share) are divided
# by the echoes of the whole run.
#
#   scripts/bench/instructions.sh
#
# Settings (environment): SERVERS (names), CASES_ONLY (case names, e.g.
# "100x20B"), SECONDS_PER_RUN (default 6),
# OUT (default $CARGO_TARGET_DIR/bench/instr-<time>; the callgrind files
# stay there for callgrind_annotate), CARGO_TARGET_DIR (default target/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SECS=${SECONDS_PER_RUN:-6}
OUT=${OUT:-$TARGET/bench/instr-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

ALL_SERVERS=(
  "raw|echo-raw"
  "ours-mio|echo-ours --adapter mio"
  "ours-smol|echo-ours --adapter smol"
  "ours-tokio|echo-ours --adapter tokio"
  "tokio-tungstenite|echo-tungstenite"
  "tokio-websockets|echo-tokio-websockets"
  "fastwebsockets|echo-fastwebsockets"
)
CASES=(
  "100x20B|-c 100 -s 20 --mode binary"
  "text-10x1KiB|-c 10 -s 1024 --mode text"
  "10x16KiB|-c 10 -s 16384 --mode binary"
  "deflate-text-10x1KiB|-c 10 -s 1024 --mode text --deflate"
)
mapfile -t SERVERS_LIST < <(for e in "${ALL_SERVERS[@]}"; do
  if [ -z "${SERVERS:-}" ] || [[ " $SERVERS " == *" ${e%%|*} "* ]]; then echo "$e"; fi
done)

echo "building (release) into $TARGET ..." >&2
cargo build --release -q -p ws-benches --bins
BIN=$TARGET/release

SP=
cleanup() { [ -n "$SP" ] && kill "$SP" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

header="| server |"
sep="|---|"
for c in "${CASES[@]}"; do header+=" ${c%%|*} |"; sep+="---|"; done
{
  echo "# User-space instructions per echoed message (callgrind)"
  echo
  echo "$header"
  echo "$sep"
} >"$OUT/results.md"

for srv in "${SERVERS_LIST[@]}"; do
  name=${srv%%|*}
  cmd=${srv#*|}
  row="| $name |"
  for c in "${CASES[@]}"; do
    cname=${c%%|*}
    args=${c#*|}
    if [ -n "${CASES_ONLY:-}" ] && [[ " $CASES_ONLY " != *" $cname "* ]]; then row+=" – |"; continue; fi
    if [[ "$args" == *--deflate* && "$name" != ours-* ]]; then row+=" n/a |"; continue; fi
    [ "$name" = raw ] && args=$(sed 's/--mode [a-z]*/--mode raw/' <<<"$args")
    [[ "$name" = raw && "$args" == *--deflate* ]] && { row+=" n/a |"; continue; }
    prof=$OUT/callgrind.$name.$cname
    log=$OUT/server-$name.log
    : >"$log"
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$prof" $BIN/$cmd >"$log" 2>"$OUT/valgrind-$name.log" &
    SP=$!
    port=
    for _ in $(seq 200); do
      port=$(sed -n 's/^listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$log")
      [ -n "$port" ] && break
      sleep 0.05
    done
    line=
    # shellcheck disable=SC2086
    [ -n "$port" ] && line=$(timeout $((SECS + 60)) "$BIN/ws-load" --port "$port" $args \
      --warmup 1 --duration "$SECS" 2>>"$OUT/load.log" | grep '^RESULT' || true)
    kill "$SP" 2>/dev/null || true
    wait "$SP" 2>/dev/null || true
    SP=
    total=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$line")
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$prof" 2>/dev/null || true)
    if [ -n "$total" ] && [ -n "$ir" ] && [ "$total" -gt 0 ]; then
      row+=" $((ir / total)) |"
      echo "$name $cname: $((ir / total)) instructions/message ($total messages)" >&2
    else
      row+=" FAIL |"
      echo "$name $cname: FAIL" >&2
    fi
  done
  echo "$row" >>"$OUT/results.md"
done
cat "$OUT/results.md"
echo "results and callgrind profiles: $OUT" >&2
