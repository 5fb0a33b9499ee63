#!/usr/bin/env python3
"""bench/report.py OUT: the benchmark's report, run by bench/run.sh.

Reads OUT/raw.jsonl (one record per measurement) and OUT/machine.json, and
writes into OUT:
  results.md      every table (report_results.py)
  summary.md      one table, the targets and the workers finding, for the
                  top-level README (report_summary.py)
  results.json    every figure, the targets, the errors and the raw records
  throughput.dat, handshakes.dat   the charts' data (bench/plot.gp)
The figures themselves are computed in report_figures.py.
"""

import json
import os
import sys

import report_figures
from report_figures import label
import report_results
import report_summary


def q(v):
    """A chart figure; "?" marks a missing one."""
    return "?" if v is None else f"{v:.3f}"


def note(b, s, *keys):
    """What the chart writes at the foot of a system's missing bars."""
    f = b.fig[s]
    if all(f.get(k) is None for k in keys):
        return "n/a" if (b.start_error(s) or "").startswith("n/a") else "failed"
    if any(f.get(k) is None for k in keys):
        return "(" + ", ".join(k.split("_")[-1] + " n/a" for k in keys if f.get(k) is None) + ")"
    return "-"


def write_dat(b, out):
    fig = b.fig
    with open(os.path.join(out, "throughput.dat"), "w") as f:
        f.write(f"# system\tGbit/s, 1 stream\tGbit/s, {b.N} streams\tnote\n")
        for s in b.SYSTEMS:
            f.write(f"{label(s)}\t{q(fig[s].get('thr1_gbps'))}\t{q(fig[s].get('thrN_gbps'))}\t"
                    f"{note(b, s, 'thr1_gbps', 'thrN_gbps')}\n")
    with open(os.path.join(out, "handshakes.dat"), "w") as f:
        f.write("# system\tfull handshakes/s\tresumed handshakes/s\tnote\n")
        for s in b.SYSTEMS:
            if s == "plain":
                continue
            f.write(f"{label(s)}\t{q(fig[s].get('hs_full'))}\t{q(fig[s].get('hs_resumed'))}\t"
                    f"{note(b, s, 'hs_full', 'hs_resumed')}\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py BUILD/bench")
    out = sys.argv[1]
    b = report_figures.load(out)
    md = report_results.write(b)
    summary = report_summary.write(b)
    json.dump({"machine": b.machine, "figures": b.fig, "mbedtls_gcm": b.gcm, "targets": b.targets, "layer_targets": b.layer_targets,
               "workers": b.workers, "latency": b.rr, "training": b.training, "mbedtls_record_path": b.record_path,
               "errors": [{"system": s, "test": t, "error": e} for s in b.errs for (t, e) in b.errs[s]],
               "commands": {k: [{"system": s, "cmd": c} for s, c in v] for k, v in b.cmds.items()},
               "raw": b.recs},
              open(os.path.join(out, "results.json"), "w"), indent=1)
    open(os.path.join(out, "results.md"), "w").write(md)
    open(os.path.join(out, "summary.md"), "w").write(summary)
    write_dat(b, out)


if __name__ == "__main__":
    main()
