#!/usr/bin/env python3
"""Markdown tables of system calls per echoed message from syscalls.sh's
results.tsv: one table per group of calls, servers by cases, and the
ratio of each of ours to the best peer's (fewest calls) in the first."""

import csv
import sys
from collections import defaultdict

GROUPS = [
    ("all system calls", ["raw_syscalls:sys_enter"]),
    ("reads (read, recvfrom, recvmsg, readv)",
     ["read", "recvfrom", "recvmsg", "readv"]),
    ("writes (write, writev, sendto, sendmsg)",
     ["write", "writev", "sendto", "sendmsg"]),
    ("event waits (epoll_wait, epoll_pwait, epoll_pwait2)",
     ["epoll_wait", "epoll_pwait", "epoll_pwait2"]),
    ("futex", ["futex"]),
    ("io_uring_enter", ["io_uring_enter"]),
    ("io_uring submissions (SQEs)", ["io_uring:io_uring_submit_req"]),
]
PEERS = {"tokio-tungstenite", "tokio-websockets", "fastwebsockets"}


def event_name(e):
    return e if ":" in e and not e.startswith("syscalls:") else e.split("sys_enter_")[-1]


def main(path):
    counts = defaultdict(lambda: defaultdict(int))
    msgs, short = {}, set()
    servers, cases = [], []
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            s, c = row["server"], row["case"]
            if s not in servers:
                servers.append(s)
            if c not in cases:
                cases.append(c)
            msgs[(s, c)] = int(row["msgs"])
            if float(row["mean"]) < 0.95 * float(row["offered"]):
                short.add((s, c))
            counts[(s, c)][event_name(row["event"])] += int(row["count"])
    offered = {}
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            offered[row["case"]] = row["offered"]
    print("System calls per echoed message (server, whole run / messages echoed).")
    print("Offered load per case (msgs/s): "
          + ", ".join(f"{c} {offered[c]}" for c in cases)
          + ". `*`: the server echoed less than 95% of it.\n")
    for title, events in GROUPS:
        per = {}
        for s in servers:
            for c in cases:
                if (s, c) in msgs and msgs[(s, c)] > 0:
                    per[(s, c)] = sum(counts[(s, c)][e] for e in events) / msgs[(s, c)]
        if not any(v > 0 for v in per.values()):
            continue
        print(f"### {title}\n")
        print("| server | " + " | ".join(cases) + " |")
        print("|---|" + "---:|" * len(cases))
        for s in servers:
            cells = []
            for c in cases:
                v = per.get((s, c))
                cells.append("–" if v is None else f"{v:.2f}" + ("*" if (s, c) in short else ""))
            print(f"| {s} | " + " | ".join(cells) + " |")
        if title == "all system calls":
            for s in servers:
                if not s.startswith("ours"):
                    continue
                cells = []
                for c in cases:
                    best = [per[(p, c)] for p in PEERS if (p, c) in per]
                    v = per.get((s, c))
                    cells.append("–" if v is None or not best else f"{v / min(best):.2f}")
                print(f"| {s} ÷ fewest peer | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
