"""results.md: every table of the benchmark, from report_figures' Bench.

write(bench) returns the text; report.py writes it to BUILD/bench/results.md.
"""

import report_workers
from report_figures import LAYERS, cipher_short, label, num, ratio


def write(bench):
    """results.md's text for the run bench (a report_figures.Bench)."""
    machine, st, N = bench.machine, bench.st, bench.N
    SYSTEMS, PEERS, fig, cmds, gcm = bench.SYSTEMS, bench.PEERS, bench.fig, bench.cmds, bench.gcm
    errs, start_error, test_error, why_missing = bench.errs, bench.start_error, bench.test_error, bench.why_missing
    best_peer, pl = bench.best_peer, bench.pl
    b1, p1, bN, pN, bh, ph_ = bench.b1, bench.p1, bench.bN, bench.pN, bench.bh, bench.ph
    md = []
    w = md.append
    w("# mtlsd benchmark: side by side with stunnel, hitch and haproxy")
    w("")
    w(f"Machine: Linux {machine['kernel']}, {machine['cpu']}, {machine['nproc']} online CPUs; "
      f"run {machine['date']}, took {machine['seconds']} s.  ")
    w(f"Software: {machine['mtlsd']}; mbedTLS {machine['mbedtls']} (gcmspeed reports "
      f"{gcm['mbedtls'] if gcm else '?'}); {machine['openssl']}; {machine['stunnel']}; "
      f"{machine['haproxy']}; {machine['hitch']}.  ")
    w(f"Kernel TLS: tcp_available_ulp = `{machine['ulp_list']}`"
      f"{'' if machine['tls_ulp'] else ' (no tls ULP: the kTLS row is n/a)'}.  ")
    st = machine["settings"]
    w("")
    w("Produced by `make bench` (that is, `sh bench/run.sh build`) with "
      + ", ".join(f"{k}={v}" for k, v in st.items())
      + f"; N = {N} streams.  Every process's log is in build/bench/logs/, the raw figures in "
      "build/bench/results.json (and raw.jsonl).")
    w("")
    w("Setup: loopback only.  One CA and two ECDSA P-256 certificates made by `mtlsd certs` "
      "(server: dns:localhost, ip:127.0.0.1; client: dns:client.bench.localhost), the same for "
      "every system.  TLS 1.3 only.  The peers are forced to TLS_AES_128_GCM_SHA256 (stunnel "
      "`ciphersuites`, hitch `ciphersuites` + `tls-protos = TLSv1.3`, haproxy `ciphersuites` on the "
      "bind).  mtlsd has no cipher-suite setting and keeps its own default: its client route "
      "offers AES-128-GCM first with record_layer = libgcrypt (mtlsd's own records) or kernel, "
      "ChaCha20-Poly1305 first with record_layer = mbedtls (mbedTLS's records), and its server "
      "route takes the client's order; the suite column below is what each pair negotiated (mtlsd's from its close lines).  Every server requires "
      "and verifies the client certificate against the CA, every client verifies the server's chain (stunnel `verifyChain` + `checkHost = localhost`; mtlsd "
      "`server_name = localhost`).  The load is `mtlsd-bench` (plain TCP) against its own sink or "
      "echo server behind each pair.  One run each: expect a few percent of noise.")
    w("")
    w("| system | client side | server side | TLS 1.3 suite negotiated | other work's CPU during its runs |")
    w("|---|---|---|---|---:|")
    # Runs from before BENCH_WORKERS had `workers = auto`.
    nw = f", {st['BENCH_WORKERS']} workers" if "BENCH_WORKERS" in st else ""
    desc = {
        "plain": ("— (mtlsd-bench connects straight to the sink/echo)", "—"),
        "mtlsd": (f"mtlsd client route, record_layer = libgcrypt{nw}",
                  f"mtlsd server route, record_layer = libgcrypt{nw}"),
        "mtlsd-mbedtls": (f"mtlsd client route, record_layer = mbedtls{nw}",
                          f"mtlsd server route, record_layer = mbedtls{nw}"),
        "mtlsd-ktls": (f"mtlsd client route, record_layer = kernel{nw}",
                       f"mtlsd server route, record_layer = kernel{nw}"),
        "stunnel": ("stunnel, client mode (threads)", "stunnel, server mode (threads)"),
        "stunnel-hitch": ("stunnel, client mode", f"hitch, {N} worker processes"),
        "stunnel-haproxy": ("stunnel, client mode", f"haproxy, mode tcp, {N} threads"),
    }
    for s in SYSTEMS:
        c, sv = desc.get(s, ("?", "?"))
        o = fig[s].get("others_cpu_pct")
        o = "—" if o is None else f"{o:.0f}%"
        if fig[s].get("attempts", 1) > 1:
            o += f" (attempt {fig[s]['attempt_kept']} of {fig[s]['attempts']} kept)"
        w(f"| {label(s)} | {c} | {sv} | {bench.suite_text(s)} | {o} |")
    w("")
    w("\"Other work's CPU\" is the machine's busy time (/proc/stat, steal included) during that "
      "system's runs less the CPU time of everything the bench started, as a share of all CPUs: "
      "what the figures had to share the machine with.  A system whose runs saw over 15% is "
      f"measured again (up to BENCH_RETRIES={st.get('BENCH_RETRIES', 0)} times) and the quietest "
      f"attempt kept.  Load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}.")
    if bench.disturbed():
        w("")
        w(f"**Warning: other work took up to {bench.disturbed():.0f}% of the machine's CPU while this "
          "ran; the figures are disturbed and the systems were not measured under the same "
          "conditions.  Rerun `make bench` on a quiet machine before quoting them.**")
    w("")
    w("Ratios: \"× plain\" divides by plain TCP's figure; \"× best peer\" by the best of "
      + ", ".join(PEERS) + " for that column (highest throughput and handshake rate, lowest "
      "CPU, latency and memory).")


    def row_or_fail(s, cells_fn, ncols, test=None):
        e = start_error(s)
        if e:
            w(f"| {label(s)} | " + " | ".join([e] + [""] * (ncols - 1)) + " |")
            return
        w(f"| {label(s)} | " + " | ".join(cells_fn(s)) + " |")


    def cmd_block(key):
        if key in cmds:
            w("")
            w("The commands (each port is that system's client side, picked free at run time):")
            w("")
            w("```")
            width = max(len(s) for s, _ in cmds[key]) + 1
            for s, c in cmds[key]:
                w(f"{s + ':':<{width}} {c}")
            w("```")


    # 1. throughput
    w("")
    w("## 1. Bulk throughput")
    w("")
    w(f"`mtlsd-bench source` into the sink: one stream of BENCH_BYTES ({st['BENCH_BYTES']}; plain "
      f"TCP {st['BENCH_PLAIN_BYTES']}), then {N} streams sharing the same total.  Gbit/s, timed "
      "until the sink has closed every stream.")
    w("")
    w(f"| system | 1 stream Gbit/s | × plain | × best peer | {N} streams Gbit/s | × plain | × best peer |")
    w("|---|---:|---:|---:|---:|---:|---:|")


    def thr_cells(s):
        f = fig[s]
        a = f.get("thr1_gbps")
        b = f.get("thrN_gbps")
        return [num(a) if a is not None else why_missing(s, "throughput1"), ratio(a, pl.get("thr1_gbps")), ratio(a, b1),
                num(b) if b is not None else why_missing(s, "throughputN"), ratio(b, pl.get("thrN_gbps")), ratio(b, bN)]


    for s in SYSTEMS:
        row_or_fail(s, thr_cells, 6)
    w("")
    w(f"Best peer: {p1 or 'none'} (1 stream), {pN or 'none'} ({N} streams).")
    cmd_block("throughput")

    # 2. CPU
    w("")
    w("## 2. CPU-seconds per GiB moved, each side")
    w("")
    w("utime + stime (fields 14 and 15 of /proc/PID/stat, every thread; for hitch summed over its "
      "worker processes) of each side's proxy, read before and after the run, divided by the GiB "
      "moved.  1-stream run, and the N-stream run beside it.")
    w("")
    w(f"| system | client CPU-s/GiB | × best peer | server CPU-s/GiB | × best peer | client, {N} streams | server, {N} streams |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    bc, pc_ = best_peer("thr1_cpu_client", False)
    bs, ps_ = best_peer("thr1_cpu_server", False)


    def cpu_cells(s):
        f = fig[s]
        if s == "plain":
            return ["— (no proxy)", "", "—", "", "—", "—"]
        c, sv = f.get("thr1_cpu_client"), f.get("thr1_cpu_server")
        return [num(c) if c is not None else why_missing(s, "throughput1"), ratio(c, bc),
                num(sv) if sv is not None else "n/a", ratio(sv, bs),
                num(f.get("thrN_cpu_client")), num(f.get("thrN_cpu_server"))]


    for s in SYSTEMS:
        row_or_fail(s, cpu_cells, 6)
    w("")
    w(f"Best peer: {pc_ or 'none'} (client side), {ps_ or 'none'} (server side).")

    # 3. latency
    _latency(bench, w, row_or_fail)
    cmd_block("rr")

    # 4. handshakes
    w("")
    w("## 4. Handshakes per second through the pair")
    w("")
    w(f"`mtlsd-bench connrate`: {st['BENCH_CONN_CONCURRENCY']} threads for {st['BENCH_CONN_SECONDS']} s, "
      "each in a loop: connect to the client side, send 1 byte, read its echo (so the mTLS "
      "handshake between the two proxies really completed), close.  Full: session resumption off "
      "on the client side (stunnel `sessionResume = no`; mtlsd `session_resumption = off`).  "
      "Resumed: the default, resumption on (the stunnel client resumes with the server's TLS 1.3 "
      "tickets).  CPU ms per handshake is each side's CPU time over the run divided by the "
      "connections made.  plain: TCP connections/s, no TLS.")
    w("")
    w("| system | full /s | × best peer full | resumed /s | × best peer full | full p50 / p99 ms | CPU ms per full handshake, client / server | errors |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")


    def hs_cells(s):
        f = fig[s]
        full, resd = f.get("hs_full"), f.get("hs_resumed")
        if s.startswith("mtlsd") and not machine["mtlsd_resumption_key"]:
            resd_txt = "n/a: this mtlsd has no session_resumption key"
        else:
            resd_txt = num(resd, 0) if resd is not None else why_missing(s, "connrate_resumed")
        if s == "plain":
            return [num(full, 0) + " (TCP)" if full is not None else why_missing(s, "connrate_tcp"),
                    "—", "—", "—", num(f.get("hs_full_p50_ms"), 2) + " / " + num(f.get("hs_full_p99_ms"), 2),
                    "—", str(f.get("hs_full_errors", "n/a"))]
        errors = sum(f.get(k, 0) for k in ("hs_full_errors", "hs_resumed_errors"))
        return [num(full, 0) if full is not None else why_missing(s, "connrate_full"), ratio(full, bh),
                resd_txt, ratio(resd, bh),
                num(f.get("hs_full_p50_ms"), 2) + " / " + num(f.get("hs_full_p99_ms"), 2),
                num(f.get("hs_full_cpu_client_ms"), 2) + " / " + num(f.get("hs_full_cpu_server_ms"), 2),
                str(errors)]


    for s in SYSTEMS:
        row_or_fail(s, hs_cells, 7)
    w("")
    w(f"Best peer (full handshakes): {ph_ or 'none'}.")
    if not machine["mtlsd_resumption_key"]:
        w("")
        w("This mtlsd build refuses the `session_resumption` key (`mtlsd check`), so it was run with "
          "its defaults only; its handshakes there are full ones.")
    cmd_block("connrate")

    # 5. RSS
    w("")
    w("## 5. Memory per idle connection")
    w("")
    w(f"`mtlsd-bench idle` opens {st['BENCH_IDLE_CONNS']} connections through the pair (each proves "
      "itself with an 8-byte echo) and holds them; VmRSS of each side's process (hitch: summed over "
      "its processes) before and after, divided by the connections open.  KiB per connection.")
    w("")
    w("| system | client KiB/conn | × best peer | server KiB/conn | × best peer | open | client RSS KiB before → after | server RSS KiB before → after |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    brc, prc = best_peer("rss_client", False)
    brs, prs = best_peer("rss_server", False)


    def rss_cells(s):
        f = fig[s]
        if s == "plain":
            return ["— (no proxy)", "", "—", "", "", "", ""]
        if "rss_client" not in f:
            return [why_missing(s, "idle"), "", "", "", "", "", ""]
        return [num(f["rss_client"], 1), ratio(f["rss_client"], brc),
                num(f["rss_server"], 1), ratio(f["rss_server"], brs),
                f"{f['idle_ok']} / {f['idle_conns']}",
                f"{f['idle_client_rss_kib_before']:,} → {f['idle_client_rss_kib_after']:,}",
                f"{f['idle_server_rss_kib_before']:,} → {f['idle_server_rss_kib_after']:,}"]


    for s in SYSTEMS:
        row_or_fail(s, rss_cells, 7)
    w("")
    w(f"Best peer: {prc or 'none'} (client side), {prs or 'none'} (server side).")
    cmd_block("idle")

    # 6. the ciphers alone
    w("")
    w("## 6. The AEADs alone, one core: libgcrypt, mbedTLS, OpenSSL")
    w("")
    if gcm:
        w(f"bench/gcmspeed (built by run.sh against -lgcrypt and -lmbedcrypto), {gcm['seconds']} s per "
          f"figure, 16 KiB records, in this run before the systems: the best {gcm.get('slice', 0.1)} s "
          "slice (what one core does when nothing else takes it; the figure the targets use) and the "
          "mean.  libgcrypt seals each record in place as tls/tls_rec.c does (setiv, a 5-byte AAD, "
          "final, encrypt, gettag); AES-128-GCM is what record_layer = libgcrypt offers first and the "
          "suite the peers are forced to; ChaCha20-Poly1305 what record_layer = mbedtls offers first.")
        w("")
        w("| what | best GB/s | best Gbit/s | mean GB/s |")
        w("|---|---:|---:|---:|")
        lg = f"libgcrypt {gcm['libgcrypt']}" if gcm.get("libgcrypt") else "libgcrypt"
        for k, name in (("gcry_aes128gcm_encrypt", f"AES-128-GCM: {lg}, seal in place (encrypt)"),
                        ("gcry_aes256gcm_encrypt", f"AES-256-GCM: {lg}, seal in place (encrypt)"),
                        ("gcry_chachapoly_encrypt", f"ChaCha20-Poly1305: {lg}, seal in place (encrypt)"),
                        ("encrypt", "AES-128-GCM: mbedtls_gcm_crypt_and_tag (encrypt)"),
                        ("decrypt", "AES-128-GCM: mbedtls_gcm_auth_decrypt (decrypt + verify)"),
                        ("chachapoly_encrypt", "ChaCha20-Poly1305: mbedtls_chachapoly_encrypt_and_tag (encrypt)"),
                        ("chachapoly_decrypt", "ChaCha20-Poly1305: mbedtls_chachapoly_auth_decrypt (decrypt + verify)"),
                        ("psa_encrypt", "AES-128-GCM: " + report_workers.psa_row_name(bench))):
            b, mean = gcm.get(k + "_Bps"), gcm.get(k + "_mean_Bps")
            if b is None:
                w(f"| {name} | not timed: this run's gcmspeed predates it | | |")
                continue
            w(f"| {name} | {b / 1e9:.3f} | {b * 8 / 1e9:.2f} | {num(mean / 1e9 if mean else None, 3)} |")
        for s in ("mtlsd", "mtlsd-mbedtls"):
            m = fig.get(s, {})
            if m.get("thr1_Bps"):
                cs = cipher_short(m["suite"]) if m.get("suite") else "suite not seen"
                w(f"| {label(s)} pair, 1 stream (section 1), {cs} | "
                  f"{m['thr1_Bps'] / 1e9:.3f} | {m['thr1_gbps']:.2f} | |")
        ossl = bench.get("openssl", "aes_gcm_speed")
        if ossl and ossl.get("result"):
            b = ossl["result"]["encrypt_Bps"]
            w(f"| OpenSSL AES-128-GCM: `openssl speed -evp aes-128-gcm` (encrypt; what the peers use) | "
              f"{b / 1e9:.3f} | {b * 8 / 1e9:.2f} | |")
        x, p = gcm.get("ecdhe_x25519_per_s"), gcm.get("ecdhe_p256_per_s")
        w("")
        if x and p:
            w(f"One side of an (EC)DHE key exchange through PSA (key share made, exported, agreed), "
              f"the cost a resumed handshake keeps: X25519 {x:,.0f}/s, P-256 {p:,.0f}/s a core "
              f"(P-256 {p / x:.2f}×; mtlsd offers P-256 first).")
        else:
            w("(EC)DHE key exchange: not timed (this run's gcmspeed predates it, or a group is missing).")
    else:
        w(f"gcmspeed failed: {test_error('mbedtls', 'gcmspeed')}")

    # 7. syscalls
    sc = [s for s in SYSTEMS if "syscalls" in fig[s]]
    if sc:
        w("")
        w("## 7. System calls per 16 KiB moved")
        w("")
        w("`strace -c -f` attached to each side during a separate 256 MiB, 1-stream run (strace slows "
          "the run; only the counts matter).  Calls per 16 KiB of payload, i.e. per full TLS record.")
        w("")
        w("| system | client side | server side | client: top calls | server: top calls |")
        w("|---|---:|---:|---|---|")
        for s in sc:
            r = fig[s]["syscalls"]
            top = lambda d: ", ".join(f"{k} {v}" for k, v in d["top"].items() if v >= 0.01)
            w(f"| {label(s)} | {r['client']['per_16k']} | {r['server']['per_16k']} | {top(r['client'])} | {top(r['server'])} |")
        cmd_block("syscalls")

    if bench.workers is not None:
        report_workers.section(bench, w, 8 if sc else 7)

    # Checks that the pairs did what the table says.
    w("")
    w("## Checks")
    w("")
    w("A TLS client independent of both proxies (Python's ssl module, OpenSSL; it offers "
      "AES-256-GCM first) connects straight to each server side with the echo behind it: with the "
      "client certificate it must get TLS 1.3 and its byte back, without one nothing.")
    w("")
    w("| system | TLS | cipher chosen | echo with client cert | echo without |")
    w("|---|---|---|---|---|")
    for s in SYSTEMS:
        if s == "plain":
            continue
        p = fig[s].get("probe")
        if p is None:
            w(f"| {label(s)} | {why_missing(s, 'probe')} | | | |")
            continue
        yn = lambda b: "yes" if b else "no"
        w(f"| {label(s)} | {p['version']} | {p['cipher']} | {yn(p['echo_with_cert'])} | "
          f"{yn(p['echo_without_cert'])}{'' if p['ok'] else ' (CHECK FAILED)'} |")
    for s in SYSTEMS:
        p = fig[s].get("paths")
        if not p:
            continue
        fmt = lambda d: ", ".join(f"{k} ×{v}" for k, v in d.items()) or "none"
        w("")
        lay = lambda d: f", layer {fmt(d['layer'])}" if "layer" in d else ""
        w(f"{label(s)} (record_layer = {LAYERS.get(s, 'mbedtls')}): the pair's close lines in the "
          f"throughput phase say: client side {fmt(p['client']['tls'])}, "
          f"{fmt(p['client']['cipher'])}, path {fmt(p['client']['path'])}{lay(p['client'])}; server side "
          f"{fmt(p['server']['cipher'])}, path {fmt(p['server']['path'])}{lay(p['server'])}; /metrics: "
          f"{p.get('ktls_conns')} of {p.get('conns')} connections on kTLS.  (mtlsd has no cipher-suite "
          "setting: its client route offers AES-128-GCM first with record_layer = libgcrypt or kernel "
          "and ChaCha20-Poly1305 first with mbedtls; its server route takes the client's order, as "
          "the probe above shows with a client that prefers AES-256-GCM.)")
        if bench.layer_warning(s):
            w("")
            w(f"**Warning: {bench.layer_warning(s)}: its figures are not that layer's.**")
        if s == "mtlsd-ktls" and not p.get("ktls_conns"):
            w("")
            w("**Warning: no mtlsd-ktls connection took the kTLS path (see the close lines in "
              "logs/mtlsd-ktls.sink.*.log): its figures are the userspace path's.**")

    # Targets
    layer_targets(bench, w)
    w("")
    w("## Targets (issue 5)")
    w("")
    w("| target | status | figures |")
    w("|---|---|---|")
    for t in bench.targets:
        w(f"| {t['target']} | **{t['status']}** | {t['detail']} |")

    # Failures
    other = [(s, t, e) for s in errs for (t, e) in errs[s] if not (t == "start" and e.startswith("n/a"))]
    if other:
        w("")
        w("## Failures in this run")
        w("")
        for s, t, e in other:
            w(f"- {s} {t}: {e}")

    w("")
    training(bench, w)
    w("")
    w("## Peer configuration notes")
    w("")
    w("- Configs are rendered from bench/configs/*.in into build/bench/work/.  Peers log warnings "
      "only; mtlsd logs at warn (info, with close lines, in the throughput phase, which has "
      "only a few connections).")
    w("- stunnel runs with `foreground = yes` (one process, one thread per connection), "
      "`sslVersionMin = TLSv1.3`, `ciphersuites = TLS_AES_128_GCM_SHA256`, TCP_NODELAY on both "
      "sockets; the server side has `verifyChain = yes` + `requireCert = yes`, the client side "
      "`verifyChain = yes` + `checkHost = localhost`.")
    w("- hitch needs the key and certificate concatenated in one PEM, and refuses to run its "
      "workers as root: as root the bench sets `user = \"nobody\"` (the PEM is read before the "
      f"switch).  `daemon = off`, {N} workers, `client-verify = required`.")
    w("- haproxy runs in the foreground (`-db`), `mode tcp`, `verify required` with `ca-file`; "
      "it refuses a `maxconn` whose descriptors exceed `ulimit -n`, so maxconn is derived from it.")
    w("- The mtlsd server route also checks the client's identity (`allow_peers = "
      "dns:client.bench.localhost`), which the peers do not do; it is cheap and it is how mtlsd "
      "is deployed.")

    return "\n".join(md) + "\n"


def _latency(bench, w, row_or_fail):
    """Section 3: the interleaved latency phase's medians, then each round."""
    fig, pl, lt = bench.fig, bench.pl, bench.rr
    w("")
    w("## 3. Request/response latency, 1 KiB")
    w("")
    if lt is None:
        w("The latency was not measured in this run: its raw.jsonl predates the interleaved latency "
          "phase, and the figures each system's own slot recorded are not used (why: below).")
    else:
        ph = lt["phase"]
        w(f"Measured interleaved, after the other phases: every pair was up at once, each in front of "
          f"its own echo server, and in each of {len(lt['rounds'])} rounds `mtlsd-bench rr` made "
          f"{ph.get('count', '?')} round trips of 1 KiB (after {ph.get('warmup', '?')} unrecorded), "
          "one connection, through each system in turn, the first system rotating from round to "
          "round.  Each figure is the median over the rounds, in microseconds; the spread is the "
          "lowest and highest round's p99.  Added p99 is the median over rounds of the system's p99 "
          "less plain TCP's p99 in the same round (measured seconds apart), so it need not equal the "
          "difference of the two medians.")
    w("")
    w("Why interleaved: this shared machine drifts by tens of percent within minutes, so one "
      "measurement per system, each in its own slot, compared the moments more than the systems.")
    w("")
    w("| system | p50 µs | p99 µs | p99 spread µs | p99.9 µs | added p99 µs | p99 × plain | p99 × best peer |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    bl, pl_ = bench.best_peer("rr_p99_us", False)

    def rr_cells(s):
        f = fig[s]
        if "rr_p99_us" not in f:
            return [bench.rr_missing(s)] + [""] * 6
        return [num(f["rr_p50_us"], 1), num(f["rr_p99_us"], 1),
                f"{f['rr_p99_min_us']:.1f}–{f['rr_p99_max_us']:.1f} ({f['rr_rounds']} rounds)",
                num(f["rr_p999_us"], 1),
                num(f.get("rr_added_p99_us"), 1) if s != "plain" else "—",
                ratio(f["rr_p99_us"], pl.get("rr_p99_us")), ratio(f["rr_p99_us"], bl)]

    for s in bench.SYSTEMS:
        row_or_fail(s, rr_cells, 7)
    w("")
    w(f"Best peer: {pl_ or 'none'}.")
    if not lt or not lt["rounds"]:
        return
    shown = [s for s in bench.SYSTEMS if "rr_round_p99_us" in fig[s]]
    w("")
    w("p99 µs in each round, the systems in the order they ran, and the share of the CPUs other "
      "work took during the round's runs:")
    w("")
    w("| round | order | " + " | ".join(label(s) for s in shown) + " | other work's CPU |")
    w("|---|---|" + "---:|" * len(shown) + "---:|")
    for rd in lt["rounds"]:
        o = lt["others_pct"].get(rd)
        w(f"| {rd} | {', '.join(lt['order'][rd])} | "
          + " | ".join(num(fig[s]["rr_round_p99_us"].get(rd), 1) for s in shown)
          + f" | {'—' if o is None else f'{o:.0f}%'} |")


def training(bench, w, head="## Training (gloo, 2 ranks, network namespaces)"):
    """bench/training.sh's table and issue's target, shared by results.md
    and summary.md; nothing when the run has no training records."""
    t = bench.training
    if t is None:
        return
    w("")
    w(head)
    w("")
    if "error" in t:
        w(t["error"])
        return
    w(f"tests/e2e/torch_job.py (torch {t['torch']}, gloo, world size 2, one thread a rank) between "
      "two network namespaces on a bridge (veth, 10.77.1.1 and .2): in the clear, and through "
      "mtlsd's transparent routes (`workers = 1` a node) with the rules of `mtlsd nft`, each in its own "
      f"namespaces, {t['runs_asked']} runs of each interleaved (the first of each pair alternating).  "
      "all_reduce: 4M float32 (16 MiB), torch_job.py's median of 5 after a barrier; DDP step: a "
      "256-512-128 MLP, batch 32, its median of steps 2 to 8.  A run's figure is the slower rank's; "
      "below, the median over runs (in brackets the lowest and highest run).")
    w("")
    w("| figure | plain TCP ms | through mtlsd ms | mtlsd ÷ plain |")
    w("|---|---:|---:|---:|")

    def cell(m, k):
        d = t[m]
        v = d[k + "_runs_ms"]
        if not v:
            return "failed"
        return f"{d[k + '_ms']:.1f} ({min(v):.1f}–{max(v):.1f}, {len(v)} runs)"

    for k, name in (("allreduce", "all_reduce, 4M floats"), ("ddp", "DDP step")):
        r = t[k + "_ratio"]
        w(f"| {name} | {cell('plain', k)} | {cell('mtlsd', k)} | {'—' if r is None else f'{r:.2f}×'} |")
    w("")
    r = t["allreduce_ratio"]
    w(f"Target: all_reduce through mtlsd ≤ 2× plain: **{t['target_status']}**"
      + ("" if r is None else f" ({r:.2f}×)") + ".")
    if t["failed"]:
        w("")
        w("Failed runs: " + "; ".join(t["failed"]) + ".")
    if t["exact"] is False:
        w("")
        w("**Warning: an all_reduce sum was not exact in some run.**")
    if t.get("a_closes") == 0:
        w("")
        w("**Warning: node A's mtlsd logged no tunnel: the mtlsd runs may not have gone through it.**")


def layer_targets(bench, w, head="## Targets (the libgcrypt record layer)"):
    """The libgcrypt record layer's targets (report_figures' layer_targets),
    judged on mtlsd (libgcrypt), mtlsd (mbedTLS records) beside it; shared
    by results.md and summary.md."""
    w("")
    w(head)
    w("")
    w("Judged on mtlsd (libgcrypt); mtlsd (mbedTLS records) beside it for comparison.  Ratios "
      "divide by the best peer pair's figure (highest throughput; lowest CPU on each side, "
      "whichever pair that is); the latency by stunnel's added p99, both the median over the "
      "interleaved rounds of p99 less plain TCP's p99 of the same round.")
    w("")
    w("| target | mtlsd (libgcrypt) | status | mtlsd (mbedTLS records) | reference |")
    w("|---|---|---|---|---|")
    for t in bench.layer_targets:
        w(f"| {t['target']} | {t['gcrypt']} | **{t['status']}** | {t['mbedtls']} | {t['ref']} |")
