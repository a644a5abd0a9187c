#!/usr/bin/env bash
# Broadcast to 10,000 connections (benches/src/bin/broadcast.rs): one
# message to every connection, our mio and tokio servers against the same
# fan-out written with tokio-tungstenite, and a raw mio floor (no
# WebSocket library). Each server runs in its own process (one thread),
# the driver (all the client connections on one mio Poll) in another.
#
#   scripts/bench/broadcast.sh             # ~5 min
#   QUICK=1 scripts/bench/broadcast.sh     # 1,000 connections, few rounds
#
# Two parts:
#   1. SIZE-byte broadcasts to CONNS connections, ROUNDS rounds, every
#      server, PASSES passes interleaved (ours-mio, tungstenite,
#      ours-tokio, raw-mio, then again).
#   2. One connection that never reads among the CONNS: STALL_ROUNDS
#      broadcasts of STALL_SIZE bytes (STALL_ROUNDS x STALL_SIZE offered to
#      it, more than the loopback kernel buffers hold), without and then
#      with the stalled connection, for each of STALL_SERVERS.
#   3. Only with LONG_ROUNDS set (e.g. 4000, ~3 min more): the stalled
#      connection for longer, LONG_ROUNDS broadcasts of STALL_SIZE bytes to
#      LONG_CONNS (1000) readers, for ours-mio and tungstenite: how the
#      held memory grows with time, and our write timeout.
#
# Settings (environment): CONNS (10000), ROUNDS (50), SIZE (64), PASSES
# (2), SERVERS ("ours-mio tungstenite ours-tokio raw-mio"), STALL_SIZE
# (65536), STALL_ROUNDS (100), STALL_SERVERS ("ours-mio tungstenite
# ours-tokio"; empty: skip part 2), LONG_ROUNDS (unset: skip part 3),
# LONG_CONNS (1000), TIMEOUT (s per round, 30), OUT
# (results directory; default $CARGO_TARGET_DIR/bench/broadcast-<time>),
# CARGO_TARGET_DIR (default target/). Each process needs CONNS + ~100
# descriptors (the binary raises its soft limit to the hard limit and
# drives fewer connections if that is not enough, saying so).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CONNS=${CONNS:-10000}
ROUNDS=${ROUNDS:-50}
SIZE=${SIZE:-64}
PASSES=${PASSES:-2}
SERVERS=${SERVERS:-ours-mio tungstenite ours-tokio raw-mio}
STALL_SIZE=${STALL_SIZE:-65536}
STALL_ROUNDS=${STALL_ROUNDS:-100}
STALL_SERVERS=${STALL_SERVERS-ours-mio tungstenite ours-tokio}
LONG_ROUNDS=${LONG_ROUNDS:-}
LONG_CONNS=${LONG_CONNS:-1000}
TIMEOUT=${TIMEOUT:-30}
if [ -n "${QUICK:-}" ]; then
  CONNS=1000; ROUNDS=10; PASSES=1; STALL_ROUNDS=20
fi
OUT=${OUT:-$TARGET/bench/broadcast-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((CONNS + 128)) ]; then
  echo "note: ulimit -Hn is $hard; fewer than $CONNS connections will be driven" >&2
fi

echo "building (release) into $TARGET ..." >&2
cargo build --release -q -p ws-benches --bin broadcast
BIN=$TARGET/release/broadcast

# run LABEL SERVER ARGS...: one run; its RESULT line goes to $RESULTS, a
# failure is recorded and the script goes on.
run() {
  local label=$1 server=$2
  shift 2
  echo "== $label" >&2
  if ! "$BIN" --server "$server" --label "$label" --timeout "$TIMEOUT" "$@" \
      >>"$RESULTS" 2>>"$OUT/$label.log"; then
    echo "FAILED label=$label server=$server" >>"$RESULTS"
    tail -n 3 "$OUT/$label.log" >&2
  fi
}

{
  echo "# broadcast.sh at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -Is)"
  echo "# $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/context.txt"

start=$(date +%s)
for pass in $(seq 1 "$PASSES"); do
  for s in $SERVERS; do
    run "main-$pass-$s" "$s" --conns "$CONNS" --rounds "$ROUNDS" --size "$SIZE"
  done
done
for s in $STALL_SERVERS; do
  for stalled in 0 1; do
    run "stall$stalled-$s" "$s" --conns "$CONNS" --rounds "$STALL_ROUNDS" \
      --size "$STALL_SIZE" --stalled "$stalled"
  done
done
if [ -n "$LONG_ROUNDS" ]; then
  for s in ours-mio tungstenite; do
    run "long-$s" "$s" --conns "$LONG_CONNS" --rounds "$LONG_ROUNDS" \
      --size "$STALL_SIZE" --stalled 1
  done
fi
echo "# wall time $(( $(date +%s) - start )) s, load after: $(cut -d' ' -f1-3 /proc/loadavg)" \
  >>"$OUT/context.txt"

python3 - "$RESULTS" "$OUT/context.txt" <<'EOF' | tee "$OUT/results.md"
import sys

rows = []
for line in open(sys.argv[1]):
    kind, _, rest = line.strip().partition(" ")
    r = dict(kv.split("=", 1) for kv in rest.split())
    r["failed"] = kind == "FAILED"
    rows.append(r)


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def first_ok(rows):
    return next((r for r in rows if not r["failed"]), {})


def main_table(rows):
    r0 = first_ok(rows)
    print(f"### {r0.get('conns', '?')} connections, {r0.get('size', '?')}-byte broadcasts, "
          f"{r0.get('rounds', '?')} rounds per run")
    print()
    print("| pass | server | delivery median (ms) | max (ms) | server CPU per broadcast (ms) "
          "| ÷ tungstenite (median, CPU) | CPU ÷ raw floor | driver CPU per broadcast (ms) "
          "| RSS at open (MiB) | RSS growth (KiB) | connect all (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def peer(pass_, server):
        return next((t for t in rows if not t["failed"] and t["server"] == server
                     and t["label"].split("-")[1] == pass_), None)

    for r in rows:
        pass_ = r["label"].split("-")[1]
        if r["failed"]:
            print(f"| {pass_} | {r['server']} | failed | | | | | | | | |")
            continue
        m, c = num(r, "median_ms"), num(r, "server_cpu_ms")
        tung, raw = peer(pass_, "tungstenite"), peer(pass_, "raw-mio")
        ratio = floor = ""
        if tung and r["server"] != "tungstenite":
            tm, tc = num(tung, "median_ms"), num(tung, "server_cpu_ms")
            if m and c and tm and tc:
                ratio = f"{m / tm:.2f}, {c / tc:.2f}"
        if raw and r["server"] != "raw-mio" and c and num(raw, "server_cpu_ms"):
            floor = f"{c / num(raw, 'server_cpu_ms'):.2f}"
        print(f"| {pass_} | {r['server']} | {r['median_ms']} | {r['max_ms']} | "
              f"{r['server_cpu_ms']} | {ratio} | {floor} | {r['driver_cpu_ms']} | "
              f"{mib(num(r, 'rss_open_kib'))} | {r['rss_growth_kib']} | {r['open_s']} |")
    print()


def stall_table(rows, title):
    r0 = first_ok(rows)
    print(f"### {title}: {r0.get('rounds', '?')} broadcasts of {r0.get('size', '?')} bytes "
          f"to {r0.get('conns', '?')} readers")
    print()
    print("| server | stalled | delivery median (ms) | max (ms) | server CPU per broadcast (ms) "
          "| RSS before (MiB) | RSS after (MiB) | growth (KiB) | skipped (first at round) "
          "| members first → last |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["failed"]:
            print(f"| {r['server']} | | failed | | | | | | | |")
            continue
        skipped = r["skipped"]
        if r.get("first_skip", "na") != "na":
            skipped += f" ({r['first_skip']})"
        print(f"| {r['server']} | {r['stalled']} | {r['median_ms']} | {r['max_ms']} | "
              f"{r['server_cpu_ms']} | {mib(num(r, 'rss_before_kib'))} | "
              f"{mib(num(r, 'rss_after_kib'))} | {r['rss_growth_kib']} | {skipped} | "
              f"{r['members_first']} → {r['members_last']} |")
    print()


print(open(sys.argv[2]).read().replace("# ", "").strip())
print()
for prefix, table in [
    ("main-", main_table),
    ("stall", lambda rows: stall_table(rows, "One connection that never reads")),
    ("long-", lambda rows: stall_table(rows, "The stalled connection for longer")),
]:
    part = [r for r in rows if r["label"].startswith(prefix)]
    if part:
        table(part)
EOF
echo "results in $OUT" >&2
