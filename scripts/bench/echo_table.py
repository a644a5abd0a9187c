#!/usr/bin/env python3
"""Markdown tables from scripts/bench/echo.sh's results.tsv.

usage: echo_table.py results.tsv [machine.txt]
"""
import csv
import sys

PEERS = ["tokio-tungstenite", "tokio-websockets", "fastwebsockets"]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    machine = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""
    cases, servers = [], []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
        if r["server"] not in servers:
            servers.append(r["server"])
    get = {(r["pass"], r["server"], r["case"]): r for r in rows}
    ours = [s for s in servers if s.startswith("ours-")]
    peers = [s for s in servers if s in PEERS]

    out = ["# Echo under load", ""]
    if machine:
        out.extend(["```", machine, "```", ""])
    out.extend([
        "Closed loop (one message in flight per connection); case = connections x payload.",
        "Servers pinned to one core, the load generator (`ws-load`) to the other.",
        "Server CPU = user+system time of the server process over the measuring window",
        "(`/proc/<pid>/stat`), divided by the messages echoed in it.",
        "",
    ])

    def table(title, pass_, field, fmt, note=None, mark=None):
        if not any(k[0] == pass_ for k in get):
            return
        out.append(f"## {title}")
        out.append("")
        if note:
            out.extend([note, ""])
        head = "| server | " + " | ".join(cases) + " |"
        out.append(head)
        out.append("|---" * (len(cases) + 1) + "|")
        if pass_ == "fixed":
            rates = []
            for c in cases:
                rs = {get[k]["rate"] for k in get if k[0] == "fixed" and k[2] == c}
                rates.append("/".join(sorted(x for x in rs if x)) or "")
            out.append("| *offered msgs/s* | " + " | ".join(rates) + " |")
        for s in servers:
            cells = []
            for c in cases:
                r = get.get((pass_, s, c))
                if r is None:
                    cells.append("n/a")
                elif r["median"] == "FAIL":
                    cells.append("FAIL")
                else:
                    v = num(r[field])
                    cell = fmt(v) if v is not None else "?"
                    if mark:
                        cell += mark(r)
                    cells.append(cell)
            out.append(f"| {s} | " + " | ".join(cells) + " |")
        out.append("")

    def client_bound(r):
        c = num(r["client_cpu_pct"])
        return " †" if c is not None and c >= 90 else ""

    def behind(r):
        rate, mean = num(r["rate"]), num(r["mean"])
        return " *" if rate and mean is not None and mean < 0.95 * rate else ""

    table("Messages per second (median of the windows)", "max", "median",
          lambda v: f"{v:,.0f}",
          "† the load generator used >= 90% of its core: the server may be faster than shown.",
          client_bound)
    table("Server CPU per message, µs (as fast as echoed)", "max", "server_us_per_msg",
          lambda v: f"{v:.2f}")
    table("Server CPU per message, µs, at one offered load per case", "fixed",
          "server_us_per_msg", lambda v: f"{v:.2f}",
          "Offered load = half the slowest server's rate (ours-std excluded); "
          "* the server did not reach 95% of it.", behind)
    table("Load generator CPU, % of its core (as fast as echoed)", "max", "client_cpu_pct",
          lambda v: f"{v:.0f}")

    def ratio_table(title, pass_, field, best, note):
        if not ours or not any(k[0] == pass_ for k in get):
            return
        out.append(f"## {title}")
        out.append("")
        out.extend([note, ""])
        out.append("| server | vs | " + " | ".join(cases) + " |")
        out.append("|---" * (len(cases) + 2) + "|")
        for s in ours:
            for vs in ("best peer", "raw TCP"):
                cells = []
                for c in cases:
                    r = get.get((pass_, s, c))
                    v = num(r[field]) if r else None
                    if vs == "best peer":
                        ref = [num(get[(pass_, p, c)][field]) for p in peers
                               if (pass_, p, c) in get]
                        ref = [x for x in ref if x]
                        refv = best(ref) if ref else None
                    else:
                        rr = get.get((pass_, "raw", c))
                        refv = num(rr[field]) if rr else None
                    cells.append(f"{v / refv:.2f}" if v and refv else "n/a")
                out.append(f"| {s} | {vs} | " + " | ".join(cells) + " |")
        out.append("")

    ratio_table("Ratios: messages per second", "max", "median", max,
                "Ours / the best peer's (highest) rate and / raw TCP's; > 1 is faster.")
    ratio_table("Ratios: server CPU per message (as fast as echoed)", "max",
                "server_us_per_msg", min,
                "Ours / the best peer's (lowest) CPU per message and / raw TCP's; < 1 is cheaper.")
    ratio_table("Ratios: server CPU per message at one offered load", "fixed",
                "server_us_per_msg", min,
                "Ours / the best peer's (lowest) CPU per message and / raw TCP's; < 1 is cheaper.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
