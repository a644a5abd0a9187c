#!/usr/bin/env python3
"""Medians over several echo.sh runs (their results.tsv files): msgs/s and
server CPU per message per server and case (the `max` pass), the spread
(min-max of the runs), and ours / the best peer in each case.

usage: echo_medians.py run-1/results.tsv run-2/results.tsv ...
"""
import csv
import statistics
import sys

PEERS = ["tokio-tungstenite", "tokio-websockets", "fastwebsockets"]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def main():
    runs = [list(csv.DictReader(open(p), delimiter="\t")) for p in sys.argv[1:]]
    cases, servers = [], []
    vals = {}  # (server, case) -> {"rate": [...], "cpu": [...], "client": [...]}
    for rows in runs:
        for r in rows:
            if r["pass"] != "max":
                continue
            if r["case"] not in cases:
                cases.append(r["case"])
            if r["server"] not in servers:
                servers.append(r["server"])
            v = vals.setdefault((r["server"], r["case"]), {"rate": [], "cpu": [], "client": []})
            for key, col in (("rate", "median"), ("cpu", "server_us_per_msg"), ("client", "client_cpu_pct")):
                x = num(r[col])
                if x is not None:
                    v[key].append(x)
    med = {
        k: {key: statistics.median(xs) if xs else None for key, xs in v.items()}
        for k, v in vals.items()
    }
    ours = [s for s in servers if s.startswith("ours-")]
    peers = [s for s in servers if s in PEERS]
    out = [f"Medians of {len(runs)} interleaved runs (max pass).", ""]

    def table(title, key, fmt, spread):
        out.extend([f"## {title}", "", "| server | " + " | ".join(cases) + " |",
                    "|---|" + "---|" * len(cases)])
        for s in servers:
            cells = []
            for c in cases:
                m = med.get((s, c), {}).get(key)
                xs = vals.get((s, c), {}).get(key, [])
                if m is None:
                    cells.append("–")
                    continue
                cell = fmt(m)
                if spread and len(xs) > 1:
                    cell += f" ({fmt(min(xs))}–{fmt(max(xs))})"
                client = med.get((s, c), {}).get("client")
                if key == "rate" and client is not None and client >= 90:
                    cell += " †"
                cells.append(cell)
            out.append(f"| {s} | " + " | ".join(cells) + " |")
        out.append("")

    table("Messages per second (median of runs; min–max)", "rate", lambda x: f"{x:,.0f}", True)
    out.extend(["† the load generator used ≥ 90% of its core (median): the server may be faster than shown;",
                "compare server CPU per message there.", ""])
    table("Server CPU per message, µs (median of runs; min–max)", "cpu", lambda x: f"{x:.2f}", True)

    def ratio(key, best, better):
        out.extend([f"## Ours / the best peer: {better}", "", "| server | " + " | ".join(cases) + " |",
                    "|---|" + "---|" * len(cases)])
        for s in ours:
            cells = []
            for c in cases:
                mine = med.get((s, c), {}).get(key)
                theirs = [med.get((p, c), {}).get(key) for p in peers]
                theirs = [t for t in theirs if t]
                cells.append(f"{mine / best(theirs):.2f}" if mine and theirs else "–")
            out.append(f"| {s} | " + " | ".join(cells) + " |")
        out.append("")

    ratio("rate", max, "messages per second (> 1 is faster)")
    ratio("cpu", min, "server CPU per message (< 1 is cheaper)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
