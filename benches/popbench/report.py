"""What every bench's report ends with: the machine's load, the raw results as JSON, and the
runs that failed."""

import json
import os
import statistics


def print_loads(results):
    loads = [r["load"] for r in results]
    print("1-minute load average before each run: %.1f to %.1f (median %.1f) on %d CPUs"
          % (min(loads), max(loads), statistics.median(loads), os.cpu_count()))


def print_checks(results, notes, peer_problems):
    """Each tool's check of what it delivered (from its first run), the load, the session's
    notes and what the peers got wrong."""
    for r in results:
        if r["run"] == 1 and r["note"]:
            print("check %s/%s: %s" % (r["tool"], r["net"], r["note"]))
    print_loads(results)
    for n in notes:
        print("note: " + n)
    if peer_problems:
        print("\npeer problems:")
        for x in peer_problems:
            print("  " + x)


def write_json(path, data, indent=1):
    with open(path, "w") as f:
        json.dump(data, f, indent=indent)


def print_failures(failures):
    """The bench's exit status: 1 when a run that must not fail did."""
    if failures:
        print("\nFAILURES:")
        for x in failures:
            print("  " + x)
        return 1
    return 0
