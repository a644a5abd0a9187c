#!/usr/bin/env bash
# Runs the Autobahn WebSocket test suite (wstest) against our stack, over
# 127.0.0.1 only, from scratch, and checks every verdict:
#
#   * server role: wstest -m fuzzingclient against the echo-server example;
#   * client role: wstest -m fuzzingserver with the autobahn-client example
#     as the testee.
#
# Usage: scripts/autobahn/run.sh [--quick] [--role server|client|both]
#                                 [--adapter std|mio|tokio|smol|axum|uring] [--no-build]
#
#   --quick      the fixed case list in cases-quick.json (a few minutes on two
#                cores, compression cases included) instead of all 517 cases
#   --role R     run only one side (default: both)
#   --adapter A  the adapter under test, passed to echo-server (server
#                role) and autobahn-client (client role) as --adapter: std
#                (blocking, thread per connection; the default), mio (one
#                Poll), tokio, smol (a task per connection), axum (server
#                role only: behind axum/hyper through ws_adapters::hosted;
#                the client role then runs on tokio), uring (one io_uring:
#                ws_adapters::uring's server and client, Linux)
#   --no-build   use the example binaries already built
#
# Environment:
#   AUTOBAHN_VENV  virtualenv holding wstest (default: <repo>/.venv-autobahn,
#                  created if missing; gitignored)
#   PY2            a Python 2.7 interpreter to create it with (default: the
#                  pyenv 2.7.x, or python2 on PATH)
#   AUTOBAHN_OUT   where reports go (default: <repo>/reports/autobahn; wiped
#                  at the start of a run)
#   CARGO_TARGET_DIR  as for cargo
#
# Reports: $AUTOBAHN_OUT/servers/index.html (server role) and
# $AUTOBAHN_OUT/clients/index.html (client role); check.py reads the
# index.json next to them. Exit status 0 only if every case of the run is
# OK or INFORMATIONAL.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cases_file=$here/cases-full.json
mode=full
role=both
adapter=std
build=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) cases_file=$here/cases-quick.json; mode=quick ;;
        --role) role=$2; shift ;;
        --adapter) adapter=$2; shift ;;
        --no-build) build=0 ;;
        -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $role in server|client|both) ;; *) echo "--role: server, client or both" >&2; exit 2 ;; esac
case $adapter in std|mio|tokio|smol|axum|uring) ;; *) echo "--adapter: std, mio, tokio, smol, axum or uring" >&2; exit 2 ;; esac
client_adapter=$adapter
[ "$adapter" = axum ] && client_adapter=tokio

venv=${AUTOBAHN_VENV:-$root/.venv-autobahn}
out=${AUTOBAHN_OUT:-$root/reports/autobahn}
target=${CARGO_TARGET_DIR:-$root/target}
agent_server=wsfamily-echo-server
agent_client=wsfamily-autobahn-client

log() { printf '[autobahn] %s\n' "$*" >&2; }

# --- wstest in a Python 2 virtualenv -----------------------------------------
find_py2() {
    if [ -n "${PY2:-}" ]; then echo "$PY2"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        local p
        for p in "$(pyenv root)"/versions/2.7*/bin/python; do
            [ -x "$p" ] && { echo "$p"; return; }
        done
    fi
    command -v python2.7 || command -v python2 || {
        echo "no Python 2.7 found: set PY2" >&2; return 1; }
}

if [ ! -x "$venv/bin/wstest" ]; then
    py2=$(find_py2)
    log "installing autobahntestsuite into $venv (with $py2)"
    "$py2" -m pip install --quiet 'virtualenv<20.22'
    "$py2" -m virtualenv --quiet "$venv"
    "$venv/bin/pip" install --quiet autobahntestsuite
fi
wstest=("$venv/bin/python" "$here/wstest_local.py")

# --- our binaries --------------------------------------------------------------
if [ $build = 1 ]; then
    log "building the examples (release)"
    (cd "$root" && cargo build --release --quiet -p ws-adapters --features tokio,smol,http,uring \
        --example echo-server --example autobahn-client)
fi
echo_server=$target/release/examples/echo-server
client=$target/release/examples/autobahn-client

# --- helpers -------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Fills a spec template: port, output directory, agent, case list.
make_spec() { # template port outdir agent > spec
    python3 - "$1" "$2" "$3" "$4" "$cases_file" <<'PY'
import json, sys
template, port, outdir, agent, cases = sys.argv[1:]
text = open(template).read()
for key, value in (("@PORT@", port), ("@OUTDIR@", outdir), ("@AGENT@", agent),
                   ("@CASES@", json.dumps(json.load(open(cases))))):
    text = text.replace(key, value)
sys.stdout.write(text)
PY
}

# The case count wstest announced ("Ok, will run N test cases ...").
announced() { sed -n 's/^Ok, will run \([0-9]*\) test cases.*/\1/p' "$1" | head -n1; }

wait_for() { # pattern file seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$1" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    log "timed out waiting for '$1' in $2"; cat "$2" >&2; return 1
}

wait_port() { # port seconds
    python3 - "$1" "$2" <<'PY' || { log "nothing listens on 127.0.0.1:$1"; return 1; }
import socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + seconds
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

status=0
summary=()

# --- server role: the fuzzing client against echo-server --------------------
run_server_role() {
    local dir=$out/servers start port
    mkdir -p "$dir"
    "$echo_server" --port 0 --adapter "$adapter" -d info >"$out/echo-server.log" 2>&1 &
    local server_pid=$!
    pids+=("$server_pid")
    wait_for 'listening on' "$out/echo-server.log" 10
    port=$(sed -n 's/^listening on ws:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/echo-server.log")
    make_spec "$here/fuzzingclient.json.in" "$port" "$dir" "$agent_server" >"$out/fuzzingclient.json"
    log "server role: fuzzingclient -> echo-server ($adapter) on 127.0.0.1:$port ($mode)"
    start=$(date +%s)
    (cd "$out" && "${wstest[@]}" -m fuzzingclient -s "$out/fuzzingclient.json") \
        >"$out/fuzzingclient.log" 2>&1 || { log "wstest failed"; tail -n 20 "$out/fuzzingclient.log" >&2; }
    local took=$(($(date +%s) - start))
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    summary+=("server role ($adapter): ${took}s")
    python3 "$here/check.py" --markdown --expect "$(announced "$out/fuzzingclient.log")" "$dir" || status=1
}

# --- client role: autobahn-client against the fuzzing server -----------------
run_client_role() {
    local dir=$out/clients start port
    mkdir -p "$dir"
    port=$(free_port)
    make_spec "$here/fuzzingserver.json.in" "$port" "$dir" "$agent_client" >"$out/fuzzingserver.json"
    # -u 0: no web page; wstest_local.py binds the listener to 127.0.0.1.
    (cd "$out" && exec "${wstest[@]}" -m fuzzingserver -u 0 -s "$out/fuzzingserver.json") \
        >"$out/fuzzingserver.log" 2>&1 &
    local server_pid=$!
    pids+=("$server_pid")
    wait_for 'Ok, will run' "$out/fuzzingserver.log" 60
    wait_port "$port" 30
    log "client role: autobahn-client -> fuzzingserver on 127.0.0.1:$port ($mode)"
    start=$(date +%s)
    "$client" --url "ws://127.0.0.1:$port" --agent "$agent_client" --adapter "$client_adapter" -d info >"$out/autobahn-client.log" 2>&1 \
        || { log "autobahn-client failed"; tail -n 20 "$out/autobahn-client.log" >&2; }
    local took=$(($(date +%s) - start))
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    summary+=("client role ($client_adapter): ${took}s")
    python3 "$here/check.py" --markdown --expect "$(announced "$out/fuzzingserver.log")" "$dir" || status=1
}

case $role in
    server) run_server_role ;;
    client) run_client_role ;;
    both) run_server_role; run_client_role ;;
esac

log "durations ($mode): ${summary[*]}"
log "reports: $out/servers/index.html $out/clients/index.html"
if [ $status = 0 ]; then log "PASS"; else log "FAIL"; fi
exit $status
