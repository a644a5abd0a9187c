#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time under
# AddressSanitizer; exits non-zero if any target finds a crash (a panic is
# a crash: the harnesses assert the core's contract, see docs/robustness.md).
#
#   scripts/fuzz.sh [--seconds N] [--sanitizer address|none] [--no-nice] [--skip TARGET]... [TARGET...]
#
# Defaults: 60 s per target, every target (`cargo fuzz list`), AddressSanitizer.
# Works from a clean clone: installs cargo-fuzz if it is missing and builds
# with RUSTC_BOOTSTRAP=1 on stable (sanitizers are an unstable rustc flag).
# Seeds come from fuzz/corpus/<target>/ (read only); what the fuzzer learns
# goes to fuzz/work/<target>/, crash inputs to fuzz/artifacts/<target>/,
# libFuzzer's log to fuzz/work/<target>.log. Replay a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir fuzz/target TARGET fuzz/artifacts/TARGET/crash-...
# and commit it to fuzz/regressions/<target>/ (tests/regressions.rs replays it).
set -euo pipefail

seconds=60
sanitizer=address
nice_cmd=(nice -n ${FUZZ_NICE:-10})
targets=()
skip=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --sanitizer) sanitizer="$2"; shift 2 ;;
        --sanitizer=*) sanitizer="${1#*=}"; shift ;;
        --no-nice) nice_cmd=(); shift ;;
        --skip) skip+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# Absolute: each target runs from a directory of its own (its log), and a
# relative target directory there would rebuild everything per target.
fuzz_args=(--sanitizer "$sanitizer" --debug-assertions --target-dir "$root/fuzz/target")

if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
if [ ${#skip[@]} -gt 0 ]; then
    kept=()
    for t in "${targets[@]}"; do
        [[ " ${skip[*]} " == *" $t "* ]] || kept+=("$t")
    done
    targets=("${kept[@]}")
    echo "fuzz.sh: skipping ${skip[*]}" >&2
fi

echo "fuzz.sh: building ${#targets[@]} targets (sanitizer: $sanitizer)" >&2
"${nice_cmd[@]}" cargo fuzz build "${fuzz_args[@]}"

failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t" "fuzz/corpus/$t"
    log="fuzz/work/$t.log"
    echo "fuzz.sh: $t for ${seconds}s" >&2
    status=0
    # -jobs=1 runs the fuzzer in one worker process whose output libFuzzer
    # writes to fuzz-0.log in the working directory; we move it to $log.
    # The directory is this run's own, so concurrent runs keep their logs.
    run_dir="fuzz/work/.run-$t-$$"
    mkdir -p "$run_dir"
    (cd "$run_dir" && "${nice_cmd[@]}" cargo fuzz run "${fuzz_args[@]}" \
        --fuzz-dir "$root/fuzz" "$t" "$root/fuzz/work/$t" "$root/fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -jobs=1 -timeout=10 -max_len=8192 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/") >"$log.driver" 2>&1 || status=$?
    if [ -f "$run_dir/fuzz-0.log" ]; then
        cat "$log.driver" "$run_dir/fuzz-0.log" >"$log"
        rm -f "$log.driver"
    else
        mv "$log.driver" "$log"
    fi
    rm -rf "$run_dir"
    if [ "$status" -ne 0 ] || grep -qE "ERROR: libFuzzer|ERROR: AddressSanitizer|panicked at|SUMMARY: " "$log"; then
        failed+=("$t")
        echo "fuzz.sh: $t FAILED (exit $status), see $log and fuzz/artifacts/$t/" >&2
        grep -E "panicked at|ERROR:|SUMMARY:|Test unit written" "$log" | head -5 >&2 || true
    fi
    # The last status line: executions, coverage, speed.
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    execs="$(grep -E 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}' || true)"
    speed="$(grep -E 'stat::average_exec_per_sec' "$log" | tail -1 | awk '{print $2}' || true)"
    summary+=("$(printf '%-16s execs=%-10s exec/s=%-7s %s' "$t" "${execs:-?}" "${speed:-?}" "$(sed -E 's/.*(cov: [0-9]+ ft: [0-9]+).*/\1/' <<<"$last")")")
done

echo
echo "fuzz.sh: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: no crashes"
