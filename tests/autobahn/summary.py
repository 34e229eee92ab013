#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite fuzzingclient run (its index.json).

Usage: summary.py REPORTS_DIR [SUMMARY_MD]

Prints a markdown summary (totals per behavior and per close behavior, then
every case that was not OK/OK with the suite's own explanation) and writes
the same markdown to SUMMARY_MD when given.

Exit status:
  0  every case passed by the suite's own standard (see FATAL_* below)
  1  at least one case failed
  2  no case ran at all, or the report could not be read

What counts as a failure is stricter than the colours of the suite's HTML
report: duplex accepts only OK, NON-STRICT and INFORMATIONAL for `behavior`
(every NON-STRICT or INFORMATIONAL case is explained in
docs/conformance.md), and only OK and INFORMATIONAL for `behaviorClose`. A
WRONG CODE, an UNCLEAN close or an UNIMPLEMENTED feature among cases 1-10
is a bug here, even where the suite's report would colour it yellow.
"""

import json
import os
import sys
from collections import Counter

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
CLOSE_BEHAVIORS = [
    "OK",
    "INFORMATIONAL",
    "FAILED BY CLIENT",
    "WRONG CODE",
    "UNCLEAN",
    "FAILED",
]
PASSING_BEHAVIOR = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASSING_CLOSE = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    """Sort "9.10.2" after "9.2.1": compare the dotted parts as numbers."""
    return [int(p) if p.isdigit() else p for p in case_id.split(".")]


def load_detail(reports_dir, entry):
    """The per-case JSON report holds the human-readable verdicts."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(reports_dir, name), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def table(title, counter, order):
    # The canonical rows always, in a fixed order (zeros included), then any
    # value this script does not know about.
    keys = list(order) + sorted(k for k in counter if k not in order)
    rows = ["| %s | cases |" % title, "| --- | ---: |"]
    rows += ["| %s | %d |" % (k, counter.get(k, 0)) for k in keys]
    rows.append("| **total** | **%d** |" % sum(counter.values()))
    return rows


def oneline(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    reports_dir = argv[1]
    out_md = argv[2] if len(argv) == 3 else None
    index_path = os.path.join(reports_dir, "index.json")
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("autobahn summary: cannot read %s: %s" % (index_path, e), file=sys.stderr)
        return 2

    lines = ["# Autobahn|Testsuite results", ""]
    failed = []
    total_cases = 0
    for agent in sorted(index):
        cases = index[agent]
        total_cases += len(cases)
        ids = sorted(cases, key=case_key)
        beh = Counter(cases[c].get("behavior", "?") for c in ids)
        close = Counter(cases[c].get("behaviorClose", "?") for c in ids)

        lines += ["## Agent `%s`: %d cases" % (agent, len(ids)), ""]
        lines += table("behavior", beh, BEHAVIORS) + [""]
        lines += table("close behavior", close, CLOSE_BEHAVIORS) + [""]

        not_ok = [c for c in ids if cases[c].get("behavior") != "OK" or cases[c].get("behaviorClose") != "OK"]
        lines += ["### Cases not OK/OK (%d)" % len(not_ok), ""]
        if not_ok:
            lines += [
                "| case | behavior | close behavior | close code | result | close result |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for c in not_ok:
                e = cases[c]
                d = load_detail(reports_dir, e)
                lines.append(
                    "| %s | %s | %s | %s | %s | %s |"
                    % (
                        c,
                        e.get("behavior"),
                        e.get("behaviorClose"),
                        e.get("remoteCloseCode"),
                        oneline(d.get("result", "")),
                        oneline(d.get("resultClose", "")),
                    )
                )
            lines.append("")
            # What each of them is about, in the suite's own words.
            for c in not_ok:
                e = cases[c]
                d = load_detail(reports_dir, e)
                reason = d.get("remoteCloseReason")
                lines.append(
                    "- **%s** %s. Expectation: %s Server's close: %s%s."
                    % (
                        c,
                        oneline(d.get("description", "?")).rstrip("."),
                        oneline(d.get("expectation", "?")),
                        e.get("remoteCloseCode"),
                        ' "%s"' % oneline(reason) if reason else "",
                    )
                )
        else:
            lines.append("(none)")
        lines.append("")

        # Compact id lists, handy for explaining them in docs/conformance.md.
        for label in ("NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"):
            got = [c for c in ids if cases[c].get("behavior") == label]
            lines.append("- behavior %s (%d): %s" % (label, len(got), ", ".join(got) or "none"))
        got = [c for c in ids if cases[c].get("behaviorClose") == "INFORMATIONAL"]
        lines.append("- close behavior INFORMATIONAL (%d): %s" % (len(got), ", ".join(got) or "none"))
        lines.append("")

        slow = sorted(ids, key=lambda c: cases[c].get("duration", 0), reverse=True)[:5]
        lines.append("Slowest cases: " + ", ".join("%s (%d ms)" % (c, cases[c].get("duration", 0)) for c in slow))
        lines.append("")

        for c in ids:
            e = cases[c]
            if e.get("behavior") not in PASSING_BEHAVIOR or e.get("behaviorClose") not in PASSING_CLOSE:
                failed.append("%s %s (behavior %s, close %s)" % (agent, c, e.get("behavior"), e.get("behaviorClose")))

    if total_cases == 0:
        verdict = "FAIL: no test case ran"
        status = 2
    elif failed:
        verdict = "FAIL: %d of %d cases failed: %s" % (len(failed), total_cases, "; ".join(failed))
        status = 1
    else:
        verdict = "PASS: %d cases, none failed" % total_cases
        status = 0
    lines += ["**%s**" % verdict, ""]

    text = "\n".join(lines)
    print(text)
    if out_md:
        with open(out_md, "w", encoding="utf-8") as f:
            f.write(text)
        print("autobahn summary written to %s" % out_md)
    # A plain closing line that CI log readers recognise.
    print("autobahn: %d passed, %d failed" % (total_cases - len(failed), len(failed)))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
