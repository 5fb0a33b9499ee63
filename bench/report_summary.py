"""summary.md: the benchmark in one table, for the top-level README.

write(bench) returns the text: the machine, one row per system (1-stream
throughput, the suite negotiated, CPU per GiB, p99 latency, handshakes,
memory per idle connection, syscalls per 16 KiB), the libgcrypt record
layer's targets against the best peer pair, those of issue 5 in short, and
the workers finding.
"""

import report_results
import report_workers
from report_figures import label, num


def write(bench):
    """summary.md's text for the run bench (a report_figures.Bench)."""
    m = bench.machine
    md = []
    w = md.append
    w("### Benchmark summary")
    w("")
    w(f"Machine: Linux {m['kernel']}, {m['cpu']}, {m['nproc']} online CPUs; run {m['date']} by "
      f"`make bench`; {m['mtlsd']}, mbedTLS {m['mbedtls']}, libgcrypt {m.get('libgcrypt', '?')}.  Loopback, TLS 1.3 and mutual "
      "authentication with ECDSA P-256 on every pair.  The peers are forced to "
      "TLS_AES_128_GCM_SHA256; mtlsd keeps its own default: AES-128-GCM first with its own "
      "libgcrypt record layer (`record_layer = libgcrypt`, the user-space default) or kernel TLS, "
      "ChaCha20-Poly1305 first with mbedTLS's records (`record_layer = mbedtls`).  The suite "
      "column is what each pair negotiated: mtlsd's from its close lines, the peers' the forced one.  Full tables and "
      "method: build/bench/results.md.")
    o = bench.disturbed()
    if o:
        w("")
        w(f"**Warning: other work took up to {o:.0f}% of the CPUs during this run; the figures are "
          "disturbed.**")
    for s in bench.SYSTEMS:
        if bench.layer_warning(s):
            w("")
            w(f"**Warning: {bench.layer_warning(s)}.**")
    if bench.SYSTEMS:
        _systems(bench, w)
    report_results.layer_targets(bench, w, "Targets (the libgcrypt record layer):")
    w("")
    w("Targets (issue 5):")
    w("")
    w("| target | status | figures |")
    w("|---|---|---|")
    for t in bench.targets:
        w(f"| {t['target']} | **{t['status']}** | {t['short']} |")
    report_results.training(bench, w, "Training (gloo, 2 ranks, network namespaces):")
    if bench.workers is not None:
        w("")
        w(f"Workers, 1 against {bench.N} under {bench.N} streams: " + report_workers.finding(bench))
    return "\n".join(md) + "\n"


def _systems(bench, w):
    """The table: one row per system."""
    fig = bench.fig
    w("")
    nr = len(bench.rr["rounds"]) if bench.rr else 0
    w("| system | 1 stream Gbit/s | suite | CPU-s/GiB client / server | 1 KiB p99 µs (lowest–highest round) | full handshakes/s | "
      "resumed handshakes/s | KiB per idle conn client / server | syscalls per 16 KiB client / server |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for s in bench.SYSTEMS:
        e = bench.start_error(s)
        if e:
            w(f"| {label(s)} | {e} | | | | | | | |")
            continue
        f = fig[s]
        thr = num(f.get("thr1_gbps")) if f.get("thr1_gbps") is not None else bench.why_missing(s, "throughput1")
        if s == "plain":
            cpu = rss = resd = "—"
            full = num(f.get("hs_full"), 0) + " (TCP)" if f.get("hs_full") is not None else "n/a"
        else:
            cpu = f"{num(f.get('thr1_cpu_client'))} / {num(f.get('thr1_cpu_server'))}"
            rss = f"{num(f.get('rss_client'), 1)} / {num(f.get('rss_server'), 1)}"
            full = num(f.get("hs_full"), 0)
            resd = num(f.get("hs_resumed"), 0)
        p99 = bench.rr_missing(s)
        if f.get("rr_p99_us") is not None:
            p99 = f"{f['rr_p99_us']:.1f} ({f['rr_p99_min_us']:.0f}–{f['rr_p99_max_us']:.0f})"
        sc = f.get("syscalls")
        sc = f"{sc['client']['per_16k']:.2f} / {sc['server']['per_16k']:.2f}" if sc else "—"
        w(f"| {label(s)} | {thr} | {_suite(bench, s)} | {cpu} | {p99} | {full} | {resd} | {rss} | {sc} |")
    w("")
    if nr:
        w(f"The p99 is the median of {nr} rounds in which every system was measured in turn, all "
          "pairs up at once, so that the machine's drift falls on every system alike; in brackets "
          "its lowest and highest round.")
    elif bench.rr is None:
        w("The p99 was not measured in this run, which predates the interleaved latency phase.")
    else:
        w("The latency phase measured no round in this run (see results.md's failures).")


def _suite(bench, s):
    """The suite cell: its name alone, the source being in the text above."""
    f = bench.fig[s]
    if f.get("suite") == "":
        return "—"
    if f.get("suite") is None or len(f.get("suites", {})) > 1:
        return bench.suite_text(s)
    return f["suite"]
