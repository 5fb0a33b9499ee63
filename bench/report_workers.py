"""The workers comparison (issue 5) and the mbedTLS record-path check.

Issue 5 asked: mbedTLS is built with MBEDTLS_THREADING_C, so PSA takes a
global key-slot mutex per record operation; do 2 workers under 2 streams
gain or lose against 1?  bench/measure.sh's workers_cmp measures the mtlsd
pair with workers = 1 and = N under N streams, and mbedtls_check reads which
AEAD API libmbedtls's records call.  section() writes results.md's section,
finding() the paragraph that results.md and summary.md share.
"""

from report_figures import num


def record_path(bench):
    """What the symbol check found: "psa", "cipher", or None (unknown)."""
    rp = bench.record_path
    if not rp:
        return None
    if rp["psa_aead"]:
        return "psa"
    if rp["cipher_aead"]:
        return "cipher"
    return None


def psa_row_name(bench):
    """The name of gcmspeed's PSA row in section 6, after the check."""
    kind = record_path(bench)
    if kind == "psa":
        return "psa_aead_encrypt (the TLS 1.3 record path here: libmbedtls imports psa_aead_*)"
    if kind == "cipher":
        return "psa_aead_encrypt (PSA; not this libmbedtls's record path: see Workers below)"
    return "psa_aead_encrypt (PSA)"


def check_text(bench):
    """One or two sentences on the record path, from the nm check."""
    rp = bench.record_path
    if not rp:
        return ("The symbol check of libmbedtls did not run (" + bench.why_missing("mbedtls", "record_path")
                + "), so which AEAD API the records use is not known here.")
    lib = rp["libmbedtls"]
    mutex = rp["key_slot_mutex"]
    mt = ", ".join(rp["mtlsd_psa"]) or "none"
    if rp["psa_aead"]:
        t = (f"`nm -D {lib}` lists {', '.join(rp['psa_aead'])} among its imports: its TLS records go "
             "through PSA AEAD")
        t += (", and libmbedcrypto has MBEDTLS_THREADING_C's key-slot mutex "
              "(mbedtls_threading_key_slot_mutex), which each record operation takes." if mutex else
              "; libmbedcrypto has no key-slot mutex (no MBEDTLS_THREADING_C), so none is taken.")
    elif rp["cipher_aead"]:
        t = (f"`nm -D {lib}` lists no psa_aead_* import but does import {', '.join(rp['cipher_aead'])}: "
             "its TLS 1.3 records go through mbedtls_cipher (whichever AEAD the suite has), not PSA "
             "(the library was built without MBEDTLS_USE_PSA_CRYPTO), so no record operation takes PSA's key-slot mutex.")
        ops = [f for f in rp["psa_imports"] if "status" not in f and "errors" not in f
               and f != "psa_crypto_init"]
        if mutex:
            t += (" libmbedcrypto does have that mutex (mbedtls_threading_key_slot_mutex: "
                  "MBEDTLS_THREADING_C); only libmbedtls's other PSA calls take it ("
                  + ", ".join(ops[:6]) + (", ..." if len(ops) > 6 else "")
                  + ": handshakes, key derivation, tickets).")
    else:
        t = (f"`nm -D {lib}` lists neither psa_aead_* nor mbedtls_cipher_auth_* imports: the record "
             "path could not be told from the symbols.")
    return t + f"  mtlsd itself imports these PSA functions: {mt}."


def _means(bench):
    wk = bench.workers
    if not wk:
        return None, None
    return wk["mean"].get(1), wk["mean"].get(bench.N)


def finding(bench):
    """The paragraph: what 1 against N workers showed, computed from the figures."""
    wk = bench.workers
    N, nproc = bench.N, bench.machine["nproc"]
    if wk is None:
        return "n/a: mtlsd-workers was not in BENCH_SYSTEMS."
    w1, wn = _means(bench)
    if not w1 or not wn:
        return "n/a: " + (bench.why_missing("mtlsd-workers", "workers_1") if not w1
                          else bench.why_missing("mtlsd-workers", f"workers_{N}"))
    r = wn["gbps"] / w1["gbps"]
    runs = min(len(wk["runs"][1]), len(wk["runs"][N]))
    spread = max((m["gbps_max"] - m["gbps_min"]) / m["gbps"] * 100 for m in (w1, wn)) if runs > 1 else 0
    t = (f"With {N} streams, workers = {N} moved {wn['gbps']:.2f} Gbit/s against {w1['gbps']:.2f} with "
         f"workers = 1 ({r:.2f}×")
    t += f"; the runs of each spread over up to {spread:.0f}%)" if runs > 1 else ")"
    if abs(r - 1) * 100 <= max(5, spread):
        t += ": no measurable difference."
    elif r > 1:
        t += f": the second worker gains {(r - 1) * 100:.0f}%."
    else:
        t += f": the second worker loses {(1 - r) * 100:.0f}%."
    c1 = max(w1["cpu_client"], w1["cpu_server"])
    cn = max(wn["cpu_client"], wn["cpu_server"])
    dcpu = (cn / c1 - 1) * 100
    t += f"  CPU per GiB on the busier side went from {c1:.2f} to {cn:.2f} CPU-s/GiB ({dcpu:+.0f}%)"
    csw = ("; context switches per MiB, voluntary (sleeps: on I/O or a lock) went from "
           f"{w1['csw_vol']:.1f} to {wn['csw_vol']:.1f}, involuntary (preemption) from "
           f"{w1['csw_invol']:.1f} to {wn['csw_invol']:.1f}")
    if dcpu <= 10:
        t += ": no sign of a contended lock, which would add sleeps and CPU" + csw + "."
    else:
        t += csw
        gv = wn["csw_vol"] / w1["csw_vol"] if w1["csw_vol"] else 0
        gi = wn["csw_invol"] / w1["csw_invol"] if w1["csw_invol"] else 0
        t += ("; the growth is mostly in preemption: more runnable threads than CPUs." if gi > gv else
              "; the growth is mostly in sleeps: the workers wait on something.")
    kind = record_path(bench)
    if kind == "cipher":
        t += ("  The symbol check says why no PSA lock could show: libmbedtls's records go through "
              "mbedtls_cipher, not PSA AEAD, so the per-record key-slot mutex the issue feared is "
              "not on this path.")
    elif kind == "psa":
        t += "  libmbedtls's records do go through PSA AEAD (see the symbol check)."
    if "cpu_busy_pct" in w1:
        idle = max(0.0, 100 - w1["cpu_busy_pct"])
        t += (f"  On this {nproc}-CPU machine the load source and the sink share the CPUs with both "
              f"proxies: with workers = 1 the CPUs were {w1['cpu_busy_pct']:.0f}% busy (the two proxies "
              f"{w1['cpu_proxies_pct']:.0f}%, source and sink {w1['cpu_load_pct']:.0f}%), which left "
              f"{idle:.0f}% ({idle * nproc / 100:.1f} of {nproc} CPUs) for second workers")
        t += ("; too little to show whether workers scale, which needs more cores than the four busy "
              "processes." if idle < 25 else ".")
    few = sum(1 for x in wk["runs"][N] if min(x["busy_client"], x["busy_server"]) < N)
    if few:
        t += (f"  In {few} of {len(wk['runs'][N])} workers = {N} runs fewer than {N} workers carried the "
              "load on at least one side (SO_REUSEPORT hashes each connection to one worker).")
    return t


def section(bench, w, number):
    """results.md's section NUMBER, "Workers: 1 against N", written with w."""
    wk, N, st = bench.workers, bench.N, bench.st
    w("")
    w(f"## {number}. Workers: 1 against {N}")
    w("")
    w(f"Issue 5: \"mbedTLS is built with MBEDTLS_THREADING_C, so PSA takes a global key-slot mutex per "
      f"record operation; measure 1 against 2 workers under 2 streams.\"  The mtlsd pair with mbedTLS's records (record_layer = mbedtls) "
      f"with `workers = 1` and with `workers = {N}` on each side, each under {N} streams of "
      f"`mtlsd-bench source` ({st['BENCH_BYTES']} in all) into the sink; the variants alternate, "
      f"{st.get('BENCH_WORKERS_RUNS', 1)} runs each, each on a fresh pair.  \"Workers that carried "
      "the load\": threads that did at least 10% of that side's CPU time during the run "
      "(/proc/PID/task), client / server.  Context switches: both sides' threads together "
      "(/proc/PID/task/TID/status), per MiB moved.  Machine CPU: busy share of all CPUs "
      "(/proc/stat) during the runs, split into the two proxies, the load source and sink, and "
      "other work.")
    w("")
    w("| mtlsd workers a side | runs | Gbit/s, mean | × workers = 1 | client CPU-s/GiB | "
      "server CPU-s/GiB | context switches per MiB, voluntary / involuntary | "
      "each run: Gbit/s (workers that carried the load) | machine CPU busy |")
    w("|---|---:|---:|---:|---:|---:|---:|---|---|")
    w1, _ = _means(bench)
    for k in sorted(set([1, N])):
        runs = wk["runs"].get(k, [])
        m = wk["mean"].get(k)
        if not m:
            w(f"| {k} | 0 | {bench.why_missing('mtlsd-workers', f'workers_{k}')} | | | | | | |")
            continue
        each = ", ".join(f"{x['gbps']:.2f} ({x['busy_client']} / {x['busy_server']})" for x in runs)
        bad = [x for x in runs if (x["started_client"], x["started_server"]) != (k, k)]
        if bad:
            each += f" (started with {bad[0]['started_client']} / {bad[0]['started_server']}!)"
        cpu = "n/a"
        if "cpu_busy_pct" in m:
            cpu = (f"{m['cpu_busy_pct']:.0f}% (proxies {m['cpu_proxies_pct']:.0f}%, source + sink "
                   f"{m['cpu_load_pct']:.0f}%, other {m['cpu_others_pct']:.0f}%)")
        w(f"| {k} | {len(runs)} | {m['gbps']:.2f} | "
          f"{num(m['gbps'] / w1['gbps']) + '×' if w1 else '—'} | {m['cpu_client']:.2f} | "
          f"{m['cpu_server']:.2f} | {m['csw_vol']:.1f} / {m['csw_invol']:.1f} | {each} | {cpu} |")
    o = wk["info"].get("others_cpu_pct")
    if o is not None:
        w("")
        w(f"Other work's CPU during these runs: {o:.0f}%"
          + (f" (attempt {wk['info']['attempt_kept']} of {wk['info']['attempts']} kept)"
             if wk["info"].get("attempts", 1) > 1 else "") + ".")
    su = wk["suites"]
    w("")
    w("Suite the pairs negotiated, from the client sides' close lines: "
      + (", ".join(f"{k} ×{v} connections" for k, v in su.items()) if su else
         "not recorded (this run's workers records predate the close-line counts)")
      + ".")
    w("")
    w("The symbol check: " + check_text(bench))
    w("")
    w("**Finding:** " + finding(bench))
    if wk["cmds"]:
        w("")
        w("The commands (each port is that pair's client side, picked free at run time):")
        w("")
        w("```")
        width = max(len(s) for s, _ in wk["cmds"]) + 1
        for s, c in wk["cmds"]:
            w(f"{s + ':':<{width}} {c}")
        w("```")
