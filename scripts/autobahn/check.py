#!/usr/bin/env python3
"""Reads Autobahn fuzzing reports and fails on any verdict below the target.

Usage:
    check.py [--expect N] [--markdown] [--allow CASE ...] REPORT_DIR [REPORT_DIR ...]

REPORT_DIR is a directory holding the suite's index.json
(reports/servers for the fuzzing client run against our server,
reports/clients for the fuzzing server run against our client). Every case
of every agent must have `behavior` and `behaviorClose` OK or
INFORMATIONAL; NON-STRICT, FAILED, UNIMPLEMENTED or anything else fails
the check. `--expect N` also fails when an agent has other than N cases
(a crashed testee leaves cases out). `--markdown` prints the per-section
table used in docs/conformance.md. The exit status is 0 only if every
report passes.
"""
import argparse
import collections
import json
import os
import sys

PASSING = ("OK", "INFORMATIONAL")
VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED")
# The worst of a case's two verdicts decides its row in the table.
RANK = {v: i for i, v in enumerate(("OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED"))}


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def worst(a, b):
    return max(a, b, key=lambda v: RANK.get(v, len(RANK)))


def load(report_dir):
    path = os.path.join(report_dir, "index.json")
    with open(path) as f:
        return json.load(f)


def detail(report_dir, entry):
    """The suite's one-line reasons for a case, from its own report file."""
    try:
        with open(os.path.join(report_dir, entry["reportfile"])) as f:
            case = json.load(f)
        return "%s / %s" % (case.get("result", "?"), case.get("resultClose", "?"))
    except (OSError, KeyError, ValueError):
        return "(no case report)"


def check_agent(report_dir, agent, cases, args):
    failures = []
    sections = collections.OrderedDict()
    totals = collections.Counter()
    for case_id in sorted(cases, key=case_key):
        entry = cases[case_id]
        behavior, close = entry.get("behavior"), entry.get("behaviorClose")
        verdict = worst(behavior, close)
        totals[verdict] += 1
        sections.setdefault(case_id.split(".")[0], collections.Counter())[verdict] += 1
        if (behavior not in PASSING or close not in PASSING) and case_id not in args.allow:
            failures.append((case_id, behavior, close, detail(report_dir, entry)))

    counts = ", ".join("%s %d" % (v, totals[v]) for v in VERDICTS)
    print("%s: %s (%d cases): %s" % (report_dir, agent, len(cases), counts))
    if args.markdown:
        print()
        print("| section | " + " | ".join(VERDICTS) + " |")
        print("|---|" + "---|" * len(VERDICTS))
        for section in sorted(sections, key=int):
            row = sections[section]
            print("| %s | %s |" % (section, " | ".join(str(row[v]) for v in VERDICTS)))
        print("| **all** | %s |" % " | ".join("**%d**" % totals[v] for v in VERDICTS))
        print()
    ok = True
    if args.expect is not None and len(cases) != args.expect:
        print("  expected %d cases, found %d" % (args.expect, len(cases)))
        ok = False
    for case_id, behavior, close, why in failures:
        print("  %-8s behavior=%s behaviorClose=%s: %s" % (case_id, behavior, close, why))
        ok = False
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", metavar="REPORT_DIR")
    parser.add_argument("--expect", type=int, help="number of cases each agent must have")
    parser.add_argument("--markdown", action="store_true", help="print the per-section table")
    parser.add_argument("--allow", nargs="*", default=[], metavar="CASE",
                        help="case ids whose failure is known and tolerated")
    args = parser.parse_args()
    ok = True
    for report_dir in args.reports:
        try:
            agents = load(report_dir)
        except (OSError, ValueError) as e:
            print("%s: cannot read index.json: %s" % (report_dir, e))
            ok = False
            continue
        if not agents:
            print("%s: no agent in index.json" % report_dir)
            ok = False
        for agent in sorted(agents):
            ok = check_agent(report_dir, agent, agents[agent], args) and ok
    print("PASS" if ok else "FAIL: verdicts below OK/INFORMATIONAL (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
