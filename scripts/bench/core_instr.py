#!/usr/bin/env python3
"""Instructions per message spent in the core (functions of the ws_proto
crate, self cost) from a callgrind profile of scripts/bench/instructions.sh.

    scripts/bench/core_instr.py PROFILE INSTR_PER_MESSAGE [TOP]

PROFILE is a callgrind.<server>.<case> file; INSTR_PER_MESSAGE the figure
instructions.sh printed for it (the message count is derived from it). What
counts as "core" follows inlining: ws_proto code inlined into an adapter
function is counted there, not here.
"""
import re
import subprocess
import sys


def main():
    path, per = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    total, core, rows, section = None, 0, [], False
    for line in out.splitlines():
        if "file:function" in line:
            section = True
            continue
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
            continue
        if not section:
            continue
        name = m.group(2)
        fn = name.split(":", 1)[1] if ":" in name else name
        fn = re.sub(r"\s*\[.*\]$", "", fn).strip()
        if re.match(r"<?ws_proto::", fn):
            core += value
            rows.append((value, fn))
    messages = total / per
    print(f"core (ws_proto) instructions per message: {core / messages:.0f}")
    for value, fn in sorted(rows, reverse=True)[:top]:
        print(f"{value / messages:8.1f} {fn[:130]}")


if __name__ == "__main__":
    main()
