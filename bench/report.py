#!/usr/bin/env python3
"""bench/report.py OUT: the benchmark's report, run by bench/run.sh.

Reads OUT/raw.jsonl (one record per measurement) and OUT/machine.json, and
writes into OUT: results.md (every table and command), summary.md (the
tables README.md's Performance section quotes), results.json (every figure)
and throughput.dat, handshakes.dat (bench/plot.gp's charts).  Run it alone
to redo the report of the last run: python3 -B bench/report.py build/bench
"""

import json
import os
import sys

GIB = float(1 << 30)
LABELS = {"plain": "plain TCP", "mtlsd": "mtlsd (libgcrypt records)",
          "mtlsd-mbedtls": "mtlsd (mbedTLS records)", "mtlsd-ktls": "mtlsd (kernel TLS)",
          "stunnel": "stunnel → stunnel", "stunnel-hitch": "stunnel → hitch",
          "stunnel-haproxy": "stunnel → haproxy"}
LAYERS = {"mtlsd": "libgcrypt", "mtlsd-mbedtls": "mbedtls", "mtlsd-ktls": "kernel"}
PEERS = ("stunnel", "stunnel-hitch", "stunnel-haproxy")
PEER_SUITE = "TLS_AES_128_GCM_SHA256"	# what bench/configs force on the peers
SUITES = {"TLS_AES_128_GCM_SHA256": "AES-128-GCM", "TLS_AES_256_GCM_SHA384": "AES-256-GCM",
          "TLS_CHACHA20_POLY1305_SHA256": "ChaCha20-Poly1305"}


def num(v, d=2):
    return "n/a" if v is None else f"{v:,.{d}f}"


def ratio(v, ref):
    return "—" if v is None or not ref else f"{v / ref:.2f}×"


def median(v):
    v = sorted(v)
    h = len(v) // 2
    return v[h] if len(v) % 2 else (v[h - 1] + v[h]) / 2


def suite_name(mbed):
    """mbedTLS's TLS1-3-CHACHA20-POLY1305-SHA256 as TLS_CHACHA20_POLY1305_SHA256."""
    return ("TLS-" + mbed[7:] if mbed.startswith("TLS1-3-") else mbed).replace("-", "_")


class Run:
    """One run's records and the figures computed from them."""

    def __init__(self, out):
        self.m = json.load(open(os.path.join(out, "machine.json")))
        self.recs = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]
        self.systems = [s for s in self.m["systems"].split() if s != "mtlsd-workers"]
        self.peers = [p for p in PEERS if p in self.systems]
        self.N, self.tck, self.st = self.m["n_streams"], self.m["clk_tck"], self.m["settings"]
        self.res, self.errs = {}, {}
        for r in self.recs:
            if "error" in r:
                self.errs.setdefault(r["system"], []).append((r["test"], r["error"]))
            else:
                self.res[(r["system"], r["test"])] = r
        self.fig = {s: self.figures(s) for s in self.systems}
        self.latency()
        self.aead = self.result("aead", "speed") or {}
        self.ossl = (self.result("openssl", "speed") or {}).get("aes128gcm_Bps")
        self.path = self.result("mbedtls", "record_path")
        self.workers = self.workers_cmp() if "mtlsd-workers" in self.m["systems"].split() else None
        self.training = self.train()
        self.targets = self.layer_targets()

    def result(self, s, test):
        r = self.res.get((s, test))
        return r["result"] if r else None

    def error(self, s, test=None):
        """Why s (or its test) has no figure: its start failure, the test's."""
        for t, e in self.errs.get(s, []):
            if t == "start" or t == test:
                return e
        return None

    def why(self, s, test=None):
        return self.error(s, test) or "n/a"

    def best(self, key, higher=True):
        """(figure, system) of the best peer pair for key, or (None, None)."""
        v = [(self.fig[p][key], p) for p in self.peers if self.fig[p].get(key) is not None]
        return (max if higher else min)(v) if v else (None, None)

    def figures(self, s):
        f = {}
        for test, k in (("throughput1", "thr1"), ("throughputN", "thrN")):
            r = self.result(s, test)
            if r and r["ok"]:
                gib = r["bytes"] / GIB
                f[k] = r["gbps"]
                f[k + "_Bps"] = r["bytes"] / r["seconds"]
                if s != "plain":
                    f[k + "_cpu"] = (r["client_ticks"] / self.tck / gib, r["server_ticks"] / self.tck / gib)
        r = self.result(s, "idle")
        if r and r["count"] > 0:
            k = r["rss_kib"]
            f["rss"] = ((k[1] - k[0]) / r["count"], (k[3] - k[2]) / r["count"])
            f["idle"] = r
        for test, k in (("connrate_on", "hs_resumed"), ("connrate_off", "hs_full")):
            r = self.result(s, test)
            if r:
                k = "hs_full" if s == "plain" else k	# plain: TCP connections
                f[k], f[k + "_r"] = r["per_s"], r
                if r["count"] and s != "plain":
                    f[k + "_cpu_ms"] = (r["client_ticks"] / self.tck / r["count"] * 1000,
                                        r["server_ticks"] / self.tck / r["count"] * 1000)
        r = self.result(s, "syscalls")
        if r:
            per = r["bytes"] / 16384
            f["sys"] = tuple(sum(r[x].values()) / per for x in ("client", "server"))
            f["sys_top"] = tuple(", ".join(f"{k} {v / per:.2f}" for k, v in
                                           sorted(r[x].items(), key=lambda kv: -kv[1])[:6] if v / per >= 0.01)
                                 for x in ("client", "server"))
        f["probe"] = self.result(s, "probe")
        f["paths"] = self.result(s, "paths")
        f["others"] = (self.result(s, "interference") or {}).get("others_pct")
        if s == "plain":
            f["suite"] = "—"
        elif s in PEERS:
            f["suite"] = SUITES[PEER_SUITE]
        elif f["paths"]:
            c = {}
            for side in ("client", "server"):
                for k, v in f["paths"][side]["cipher"].items():
                    if k != "-":
                        c[suite_name(k)] = c.get(suite_name(k), 0) + v
            f["suites"] = c
            f["suite"] = ", ".join(SUITES.get(k, k) + (f" ×{v}" if len(c) > 1 else "") for k, v in c.items()) \
                or "not seen in its close lines"
        else:
            f["suite"] = self.why(s, "throughput1")
        return f

    def layer_warning(self, s):
        """Where s's close lines show another record layer than its own."""
        p, want = self.fig[s].get("paths"), LAYERS.get(s)
        if not p or not want:
            return None
        seen = {k for side in ("client", "server") for k in p[side]["layer"] if k != "-"}
        if seen <= {want}:
            return None
        return (f"{LABELS[s]}: its close lines show layer {', '.join(sorted(seen))}, not only {want} "
                f"(see logs/{s}.sink.*.log): its figures are not that layer's")

    def latency(self):
        """The interleaved phase: per system the median over rounds of p50,
        p99, p99.9, the lowest and highest round's p99, and the added p99,
        the median over rounds of its p99 less plain's in the same round."""
        self.rounds, self.round_others, by = {}, {}, {}
        for r in self.recs:
            if r.get("test") == "rr_round" and "result" in r:
                x = r["result"]
                by.setdefault(r["system"], {})[x["round"]] = x
                self.rounds.setdefault(x["round"], []).append((x["position"], r["system"]))
                self.round_others[x["round"]] = max(self.round_others.get(x["round"], 0), x["others_pct"])
        plain = by.get("plain", {})
        for s, x in by.items():
            f = self.fig.get(s)
            if f is None:
                continue
            for k in ("p50_us", "p99_us", "p999_us"):
                f["rr_" + k] = median([v[k] for v in x.values()])
            f["rr_round"] = {rd: v["p99_us"] for rd, v in x.items()}
            f["rr_spread"] = (min(f["rr_round"].values()), max(f["rr_round"].values()))
            added = [v["p99_us"] - plain[rd]["p99_us"] for rd, v in x.items() if rd in plain]
            if added and s != "plain":
                f["rr_added"] = median(added)

    def rr_missing(self, s):
        return self.error(s, "rr") or "not measured in this run"

    def disturbed(self):
        """The largest share of the CPUs other work took in a slot or round."""
        v = [f["others"] for f in self.fig.values() if f.get("others") is not None]
        v += list(self.round_others.values())
        return max(v) if v and max(v) > 10 else None

    def workers_cmp(self):
        """workers = 1 against N: per variant the runs and their means."""
        wk = {}
        for r in self.recs:
            if r.get("system") != "mtlsd-workers" or r.get("test") != "workers" or "result" not in r:
                continue
            x = r["result"]
            if not x["ok"]:
                continue
            gib, (tot, busy, ours) = x["bytes"] / GIB, x["machine_ticks"]
            prox = x["client_ticks"] + x["server_ticks"]
            wk.setdefault(x["workers"], []).append({
                "gbps": x["gbps"], "cpu_client": x["client_ticks"] / self.tck / gib,
                "cpu_server": x["server_ticks"] / self.tck / gib, "busy": busy / tot * 100,
                "proxies": prox / tot * 100, "load": max(0, ours - prox) / tot * 100,
                "others": max(0, busy - ours) / tot * 100})
        return {w: {"runs": runs, **{k: sum(x[k] for x in runs) / len(runs) for k in runs[0]}}
                for w, runs in wk.items()}

    def finding(self):
        """What 1 against N workers showed, and the symbol check."""
        N, wk, p = self.N, self.workers, self.path
        w1, wn = wk.get(1), wk.get(N)
        if not w1 or not wn:
            return "n/a: " + self.why("mtlsd-workers", "workers")
        r = wn["gbps"] / w1["gbps"]
        spread = max((max(x["gbps"] for x in w["runs"]) - min(x["gbps"] for x in w["runs"])) / w["gbps"] * 100
                     for w in (w1, wn))
        t = (f"with {N} streams, workers = {N} moved {wn['gbps']:.2f} Gbit/s against {w1['gbps']:.2f} with "
             f"workers = 1 ({r:.2f}×" + (f", the runs spread over up to {spread:.0f}%" if spread else "") + "): "
             + ("no measurable difference" if abs(r - 1) * 100 <= max(5, spread) else
                f"the second worker {'gains' if r > 1 else 'loses'} {abs(r - 1) * 100:.0f}%")
             + f"; CPU-s/GiB on the busier side {max(w1['cpu_client'], w1['cpu_server']):.2f} against "
             f"{max(wn['cpu_client'], wn['cpu_server']):.2f}.")
        if not p:
            t += "  The symbol check did not run: " + self.why("mbedtls", "record_path") + "."
        elif p["psa_aead"]:
            t += (f"  `nm -D {p['libmbedtls']}` lists {', '.join(p['psa_aead'])}: its TLS records go through "
                  "PSA AEAD" + (", which takes PSA's key-slot mutex (MBEDTLS_THREADING_C) per record."
                                if p["key_slot_mutex"] else ", with no key-slot mutex to take."))
        elif p["cipher_aead"]:
            t += (f"  `nm -D {p['libmbedtls']}` lists no psa_aead_* import but {', '.join(p['cipher_aead'])}: "
                  "libmbedtls sends its records through mbedtls_cipher, not PSA, so no record operation "
                  "takes PSA's key-slot mutex" + (" (libmbedcrypto has it: only handshakes and key "
                                                   "derivation take it)." if p["key_slot_mutex"] else "."))
        idle = max(0.0, 100 - w1["busy"])
        t += (f"  With workers = 1 the CPUs were {w1['busy']:.0f}% busy (the two proxies {w1['proxies']:.0f}%, "
              f"source and sink {w1['load']:.0f}%, other work {w1['others']:.0f}%), leaving {idle:.0f}% of "
              f"{self.m['nproc']} CPUs for second workers"
              + (": too little to show whether workers scale." if idle < 25 else "."))
        return t

    def train(self):
        """bench/training.sh's medians: a run's figure is its slower rank's."""
        e = self.error("training")
        if e:
            return {"error": e}
        ph = self.result("training", "train_phase")
        if ph is None:
            return None
        runs = [r["result"] for r in self.recs if r.get("test") == "train_run" and "result" in r]
        t = {"runs": ph["runs"], "torch": ph.get("torch"),
             "failed": [e for tt, e in self.errs.get("training", []) if tt == "train_run"],
             "exact": all(all(r["exact"]) for r in runs),
             "a_closes": (self.result("training", "train_tunnels") or {}).get("a_closes")}
        for mode in ("plain", "mtlsd"):
            for k, key in (("allreduce", "allreduce_ms"), ("ddp", "ddp_step_ms")):
                v = [max(r[key]) for r in runs if r["mode"] == mode]
                t[mode + "_" + k] = v
        for k in ("allreduce", "ddp"):
            p, m = t["plain_" + k], t["mtlsd_" + k]
            t[k + "_ratio"] = median(m) / median(p) if p and m else None
        r = t["allreduce_ratio"]
        t["status"] = "n/a" if r is None else "met" if r <= 2 else "missed"
        return t

    def layer_targets(self):
        """The record layer's targets, as README.md's table gives them:
        (target, mtlsd (libgcrypt) cell with its status, mbedTLS cell)."""
        g, mb, k = self.fig.get("mtlsd", {}), self.fig.get("mtlsd-mbedtls", {}), self.fig.get("mtlsd-ktls", {})
        st = self.fig.get("stunnel", {})
        b1, p1 = self.best("thr1")
        bc = min((self.fig[p]["thr1_cpu"][0] for p in self.peers if "thr1_cpu" in self.fig[p]), default=None)
        bs = min((self.fig[p]["thr1_cpu"][1] for p in self.peers if "thr1_cpu" in self.fig[p]), default=None)
        sa = st.get("rr_added")
        out = []

        def row(name, have, ok, cell, other, why):
            out.append((name, f"**{'met' if ok(g) else 'missed'}**: {cell(g)}" if have(g) else f"**n/a here**: {why}",
                        other(mb) if have(mb) else "n/a"))

        row("1-stream throughput ≥ 1.2× the best peer pair", lambda f: "thr1" in f and b1,
            lambda f: f["thr1"] >= 1.2 * b1,
            lambda f: f"{f['thr1'] / b1:.2f}× ({f['thr1']:.2f} against {LABELS[p1]}'s {b1:.2f} Gbit/s)",
            lambda f: f"{f['thr1'] / b1:.2f}×", self.why("mtlsd", "throughput1"))
        row("CPU-s/GiB on each side ≤ the best peer's", lambda f: "thr1_cpu" in f and bc and bs,
            lambda f: f["thr1_cpu"][0] <= bc and f["thr1_cpu"][1] <= bs,
            lambda f: (f"{f['thr1_cpu'][0] / bc:.2f}× / {f['thr1_cpu'][1] / bs:.2f}× ({f['thr1_cpu'][0]:.2f} / "
                       f"{f['thr1_cpu'][1]:.2f} against {bc:.2f} / {bs:.2f})"),
            lambda f: f"{f['thr1_cpu'][0] / bc:.2f}× / {f['thr1_cpu'][1] / bs:.2f}×", self.why("mtlsd", "throughput1"))
        row("idle memory ≤ 16 KiB per connection a side", lambda f: "rss" in f, lambda f: max(f["rss"]) <= 16,
            lambda f: f"{f['rss'][0]:.1f} / {f['rss'][1]:.1f} KiB", lambda f: f"{f['rss'][0]:.1f} / {f['rss'][1]:.1f}",
            self.why("mtlsd", "idle"))
        row("1 KiB p99 added latency ≤ stunnel's", lambda f: "rr_added" in f and sa, lambda f: f["rr_added"] <= sa,
            lambda f: f"{f['rr_added']:.1f} µs against {sa:.1f} ({f['rr_added'] / sa:.2f}×)",
            lambda f: f"{f['rr_added']:.1f} µs", self.rr_missing("mtlsd" if "rr_added" not in g else "stunnel"))
        row("syscalls per 16 KiB ≤ 1.0 a side", lambda f: "sys" in f, lambda f: max(f["sys"]) <= 1.0,
            lambda f: f"{f['sys'][0]:.2f} / {f['sys'][1]:.2f}", lambda f: f"{f['sys'][0]:.2f} / {f['sys'][1]:.2f}",
            self.why("mtlsd", "syscalls"))
        name = "kernel TLS ≥ 1.5× the best peer, ≤ 0.5 CPU-s/GiB"
        if "thr1_cpu" in k and b1:
            ok = k["thr1"] >= 1.5 * b1 and max(k["thr1_cpu"]) <= 0.5
            out.append((name, f"**{'met' if ok else 'missed'}**: {k['thr1'] / b1:.2f}× ({k['thr1']:.2f} Gbit/s), "
                        f"{k['thr1_cpu'][0]:.2f} / {k['thr1_cpu'][1]:.2f} CPU-s/GiB", ""))
        else:
            out.append((name, f"**n/a here**: {self.why('mtlsd-ktls', 'throughput1')}", ""))
        return out


def main_table(b, w):
    """README's table: a row per system."""
    w("| system | 1 stream Gbit/s | suite | CPU-s/GiB client / server | 1 KiB p99 µs (lowest–highest round) "
      "| full handshakes/s | resumed handshakes/s | KiB per idle conn client / server "
      "| syscalls per 16 KiB client / server |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    pair = lambda v, d=2: "—" if v is None else f"{v[0]:.{d}f} / {v[1]:.{d}f}"
    for s in b.systems:
        f, e = b.fig[s], b.error(s)
        if e:
            w(f"| {LABELS[s]} | {e} | | | | | | | |")
            continue
        p99 = (f"{f['rr_p99_us']:.1f} ({f['rr_spread'][0]:.0f}–{f['rr_spread'][1]:.0f})" if "rr_p99_us" in f
               else b.rr_missing(s))
        full = num(f.get("hs_full"), 0) + (" (TCP)" if s == "plain" else "")
        w(f"| {LABELS[s]} | {num(f.get('thr1')) if 'thr1' in f else b.why(s, 'throughput1')} | {f['suite']} "
          f"| {pair(f.get('thr1_cpu'))} | {p99} | {full} | {'—' if s == 'plain' else num(f.get('hs_resumed'), 0)} "
          f"| {pair(f.get('rss'), 1)} | {pair(f.get('sys'))} |")


def targets_table(b, w):
    w("| target | mtlsd (libgcrypt records) | mbedTLS records, for comparison |")
    w("|---|---|---|")
    for t in b.targets:
        w("| " + " | ".join(t) + " |")


def aead_line(b):
    a = b.aead
    if not a:
        return "The AEADs were not timed: " + b.why("aead", "speed") + "."
    gb = lambda k: num(a[k] / 1e9) if a.get(k) else "n/a"
    return (f"The AEADs on one core, sealing 16 KiB records (GB/s, the best 100 ms of {a['seconds']:g} s): libgcrypt "
            f"{a['libgcrypt']} AES-128-GCM {gb('gcry_aes128gcm_Bps')}, AES-256-GCM {gb('gcry_aes256gcm_Bps')}, "
            f"ChaCha20-Poly1305 {gb('gcry_chachapoly_Bps')}; mbedTLS {a['mbedtls']} AES-128-GCM "
            f"{gb('mbedtls_aes128gcm_Bps')}, ChaCha20-Poly1305 {gb('mbedtls_chachapoly_Bps')}; OpenSSL AES-128-GCM "
            f"{num(b.ossl / 1e9) if b.ossl else 'n/a'}.  One side of a key exchange through PSA: X25519 "
            f"{num(a['ecdhe_x25519_per_s'], 0)}/s, P-256 {num(a['ecdhe_p256_per_s'], 0)}/s "
            f"(P-256 {ratio(a['ecdhe_p256_per_s'], a['ecdhe_x25519_per_s'])}).")


def training(b, w):
    t = b.training
    if t is None:
        return
    w("")
    w("Training (gloo, 2 ranks, network namespaces):")
    w("")
    if "error" in t:
        w(t["error"])
        return
    w(f"tests/e2e/torch_job.py (torch {t['torch']}) between two network namespaces, in the clear and through "
      f"mtlsd's transparent routes with `mtlsd nft`'s rules, {t['runs']} runs each, interleaved.  all_reduce: "
      "4M float32, the median of 5; DDP step: the median of steps 2 to 8.  A run's figure is its slower "
      "rank's; below the median over runs (the lowest and highest run).")
    w("")
    w("| figure | plain TCP ms | through mtlsd ms | mtlsd ÷ plain |")
    w("|---|---:|---:|---:|")
    cell = lambda v: f"{median(v):.1f} ({min(v):.1f}–{max(v):.1f})" if v else "failed"
    for k, name in (("allreduce", "all_reduce, 4M floats"), ("ddp", "DDP step")):
        w(f"| {name} | {cell(t['plain_' + k])} | {cell(t['mtlsd_' + k])} | {ratio(t[k + '_ratio'], 1)} |")
    w("")
    w(f"Target: all_reduce through mtlsd ≤ 2× plain: **{t['status']}**.")
    if t["failed"]:
        w("Failed runs: " + "; ".join(t["failed"]) + ".")
    if not t["exact"]:
        w("**Warning: an all_reduce sum was not exact in some run.**")
    if t["a_closes"] == 0:
        w("**Warning: node A's mtlsd logged no tunnel: the mtlsd runs may not have gone through it.**")


def head(b, w):
    m = b.m
    w(f"Machine: Linux {m['kernel']}, {m['cpu']}, {m['nproc']} online CPUs; run {m['date']} by `make bench` "
      f"in {m['seconds']} s; {m['mtlsd']}, mbedTLS {m['mbedtls']}, libgcrypt {m['libgcrypt']}, {m['openssl']}, "
      f"{m['stunnel']}, {m['haproxy']}, {m['hitch']}; load average {m['loadavg_start']} at the start, "
      f"{m['loadavg_end']} at the end.  Loopback, TLS 1.3 and mutual authentication with ECDSA P-256 on every "
      "pair.  The peers are forced to AES-128-GCM; mtlsd keeps its default (AES-128-GCM first with its own "
      "libgcrypt records or kernel TLS, ChaCha20-Poly1305 first with mbedTLS's), its suite read from its "
      "close lines.")
    if b.disturbed():
        w("")
        w(f"**Warning: other work took up to {b.disturbed():.0f}% of the CPUs during this run; the figures "
          "are disturbed.**")
    for s in b.systems:
        if b.layer_warning(s):
            w("")
            w(f"**Warning: {b.layer_warning(s)}.**")


def summary(b):
    md = []
    w = md.append
    w("### Benchmark summary")
    w("")
    head(b, w)
    w("")
    main_table(b, w)
    w("")
    if b.rounds:
        w(f"The p99 is the median of {len(b.rounds)} interleaved rounds, every pair up at once; in brackets "
          "its lowest and highest round.")
        w("")
    w("Targets (the record layer):")
    w("")
    targets_table(b, w)
    w("")
    w(aead_line(b))
    training(b, w)
    if b.workers is not None:
        w("")
        w(f"Workers, 1 against {b.N}: " + b.finding())
    return "\n".join(md) + "\n"


def results(b):
    """results.md: every table, each with the commands that made it."""
    md = []
    w = md.append
    fig, N, st = b.fig, b.N, b.st
    w("# mtlsd benchmark: side by side with stunnel, hitch and haproxy")
    w("")
    head(b, w)
    w("")
    w("Settings: " + ", ".join(f"{k}={v}" for k, v in st.items()) + f"; N = {N} streams.  Every process's log "
      "is in build/bench/logs/, every figure in results.json, every record in raw.jsonl.  \"Other work\" is "
      "the machine's busy time (/proc/stat, steal included) less what the bench started, as a share of all "
      "CPUs.  \"× best peer\" divides by the best of " + ", ".join(LABELS[p] for p in b.peers) + ".")

    def table(title, text, cols, cells, systems=None):
        w("")
        w(f"## {title}")
        w("")
        w(text)
        w("")
        w("| system | " + " | ".join(cols) + " |")
        w("|---|" + "---:|" * len(cols))
        for s in systems or b.systems:
            e = b.error(s)
            w(f"| {LABELS[s]} | " + " | ".join([e] + [""] * (len(cols) - 1) if e else cells(s, fig[s])) + " |")

    pl = fig.get("plain", {})
    b1, bN = b.best("thr1")[0], b.best("thrN")[0]
    table("1. Bulk throughput",
          f"`mtlsd-bench source` into the sink: 1 stream of {st['BENCH_BYTES']} (plain TCP "
          f"{st['BENCH_PLAIN_BYTES']}), then {N} streams of the same total, timed until the sink has closed "
          "every stream.  Other work's CPU is its share during the system's slot.",
          ["1 stream Gbit/s", "× plain", "× best peer", f"{N} streams Gbit/s", "× plain", "× best peer",
           "suite", "other work's CPU"],
          lambda s, f: [num(f["thr1"]) if "thr1" in f else b.why(s, "throughput1"), ratio(f.get("thr1"), pl.get("thr1")),
                        ratio(f.get("thr1"), b1), num(f["thrN"]) if "thrN" in f else b.why(s, "throughputN"),
                        ratio(f.get("thrN"), pl.get("thrN")), ratio(f.get("thrN"), bN), f["suite"],
                        "n/a" if f["others"] is None else f"{f['others']}%"])
    cpu = lambda f, k, i: num(f[k][i]) if k in f else "—"
    table("2. CPU-seconds per GiB, each side",
          "utime + stime of each side's process tree (/proc/PID/stat, every thread and child) over the run, "
          "divided by the GiB moved.", ["client, 1 stream", "server, 1 stream", f"client, {N} streams",
                                        f"server, {N} streams"],
          lambda s, f: [cpu(f, "thr1_cpu", 0), cpu(f, "thr1_cpu", 1), cpu(f, "thrN_cpu", 0), cpu(f, "thrN_cpu", 1)])
    table("3. Request/response latency, 1 KiB",
          f"Interleaved, after the other phases: every pair up at once, each before its own echo, and in each of "
          f"{len(b.rounds)} rounds `mtlsd-bench rr` through every system in turn, the first one rotating.  The "
          "medians over rounds, in µs; added p99 is the median over rounds of p99 less plain TCP's p99 of the "
          "same round.", ["p50", "p99", "p99 lowest–highest round", "p99.9", "added p99"],
          lambda s, f: ([num(f["rr_p50_us"], 1), num(f["rr_p99_us"], 1), "%.1f–%.1f" % f["rr_spread"],
                         num(f["rr_p999_us"], 1), "—" if s == "plain" else num(f.get("rr_added"), 1)] if "rr_p99_us" in f
                        else [b.rr_missing(s), "", "", "", ""]))
    shown = [s for s in b.systems if "rr_round" in fig[s]]
    if shown:
        w("")
        w("p99 µs in each round, the systems in the order they ran:")
        w("")
        w("| round | order | " + " | ".join(LABELS[s] for s in shown) + " | other work's CPU |")
        w("|---|---|" + "---:|" * (len(shown) + 1))
        for rd in sorted(b.rounds):
            w(f"| {rd} | {', '.join(s for _, s in sorted(b.rounds[rd]))} | "
              + " | ".join(num(fig[s]["rr_round"].get(rd), 1) for s in shown) + f" | {b.round_others[rd]}% |")
    bh = b.best("hs_full")[0]
    hs = lambda f, k: (f"{num(f[k], 0)} ({f[k + '_r']['errors']} errors)" if k in f else "n/a")
    table("4. Handshakes per second through the pair",
          f"`mtlsd-bench connrate`: {st['BENCH_CONN_CONCURRENCY']} threads for {st['BENCH_CONN_SECONDS']} s, "
          "each connecting, sending 1 byte, reading its echo (so the handshake behind really finished) and "
          "closing.  Full: session resumption off on the client side; resumed: on, the default.  plain: TCP "
          "connections.", ["full /s", "× best peer", "resumed /s", "× best peer full", "full p50 / p99 ms",
                           "CPU ms per full handshake, client / server"],
          lambda s, f: [hs(f, "hs_full"), ratio(f.get("hs_full"), bh), hs(f, "hs_resumed"),
                        ratio(f.get("hs_resumed"), bh),
                        (f"{f['hs_full_r']['p50_us'] / 1000:.2f} / {f['hs_full_r']['p99_us'] / 1000:.2f}"
                         if "hs_full" in f else "n/a"),
                        "%.2f / %.2f" % f["hs_full_cpu_ms"] if "hs_full_cpu_ms" in f else "—"])
    table("5. Memory per idle connection",
          f"`mtlsd-bench idle` opens {st['BENCH_IDLE_CONNS']} connections through the pair (each proved by an "
          "8-byte echo) and holds them; VmRSS of each side's process tree before and after, over the "
          "connections open.", ["client KiB/conn", "server KiB/conn", "open", "RSS KiB before → after, client "
                                "/ server"],
          lambda s, f: ([num(f["rss"][0], 1), num(f["rss"][1], 1), str(f["idle"]["count"]),
                         "{:,} → {:,} / {:,} → {:,}".format(*f["idle"]["rss_kib"])] if "rss" in f
                        else [b.why(s, "idle"), "", "", ""]), [s for s in b.systems if s != "plain"])
    w("")
    w("## 6. The AEADs alone, one core")
    w("")
    w("`mtlsd-bench aead`: libgcrypt seals each record in place as tls/tls_rec.c does (setiv, the 5-byte "
      "header as AAD, final, encrypt, gettag); mbedTLS through mbedtls_gcm and mbedtls_chachapoly, as its "
      "mbedtls_cipher record path does; `openssl speed -evp aes-128-gcm` on the same 16 KiB records, what the "
      "peers seal with.")
    w("")
    w(aead_line(b))
    for s in ("mtlsd", "mtlsd-mbedtls"):
        if "thr1_Bps" in fig.get(s, {}):
            w(f"The {LABELS[s]} pair moved {fig[s]['thr1_Bps'] / 1e9:.3f} GB/s with 1 stream ({fig[s]['suite']}).")
    table("7. System calls per 16 KiB moved",
          "`strace -c -f` attached to each side during a separate 256 MiB, 1-stream run; calls per 16 KiB of "
          "payload (a full TLS record).", ["client", "server", "client: top calls", "server: top calls"],
          lambda s, f: ["%.2f" % f["sys"][0], "%.2f" % f["sys"][1], *f["sys_top"]],
          [s for s in b.systems if "sys" in fig[s]])
    if b.workers is not None:
        w("")
        w(f"## 8. Workers: 1 against {N}")
        w("")
        w(f"The mtlsd pair with mbedTLS's records with `workers = 1` and `workers = {N}` a side, each under {N} "
          f"streams of `mtlsd-bench source` ({st['BENCH_BYTES']} in all) into the sink, alternated, "
          f"{st['BENCH_WORKERS_RUNS']} runs each on fresh pairs.  Machine CPU: the busy share of all CPUs, "
          "split into the proxies, the load source and sink, and other work.")
        w("")
        w("| workers a side | runs | Gbit/s, mean (each run) | client / server CPU-s/GiB | machine CPU busy |")
        w("|---|---:|---|---:|---|")
        for k in sorted({1, N}):
            x = b.workers.get(k)
            w(f"| {k} | 0 | {b.why('mtlsd-workers', 'workers')} | | |" if not x else
              f"| {k} | {len(x['runs'])} | {x['gbps']:.2f} ({', '.join('%.2f' % r['gbps'] for r in x['runs'])}) | "
              f"{x['cpu_client']:.2f} / {x['cpu_server']:.2f} | {x['busy']:.0f}% (proxies {x['proxies']:.0f}%, "
              f"source + sink {x['load']:.0f}%, other {x['others']:.0f}%) |")
        w("")
        w("**Finding:** " + b.finding())
    w("")
    w("## Checks")
    w("")
    w("Python's ssl (OpenSSL), independent of both proxies, connects straight to each server side with the "
      "echo behind it: with the client certificate it must get TLS 1.3 and its byte back, without one "
      "nothing.  mtlsd's close lines of the throughput phase give the suite and record layer its pairs used.")
    w("")
    w("| system | TLS | suite chosen | echo with / without client cert | mtlsd close lines, client; server |")
    w("|---|---|---|---|---|")
    yn = lambda v: "yes" if v else "no"
    for s in b.systems:
        p, c = fig[s]["probe"], fig[s]["paths"]
        if s == "plain":
            continue
        lines = "—" if not c else "; ".join(", ".join(f"{k}={v2} ×{n}" for k in ("tls", "cipher", "layer")
                                                      for v2, n in c[side][k].items()) for side in ("client", "server"))
        w(f"| {LABELS[s]} | " + (f"{p['version']} | {p['cipher']} | {yn(p['echo_with_cert'])} / "
                                f"{yn(p['echo_without_cert'])}" + ("" if p["version"] == "TLSv1.3" and
                                p["echo_with_cert"] and not p["echo_without_cert"] else " (CHECK FAILED)")
                                if p else f"{b.why(s, 'probe')} | | ") + f" | {lines} |")
    w("")
    w("## Targets (the record layer)")
    w("")
    w("Judged on mtlsd (libgcrypt records) against the best peer pair on each figure (the latency against "
      "stunnel's added p99); mtlsd (mbedTLS records) beside it.")
    w("")
    targets_table(b, w)
    training(b, w)
    other = [(s, t, e) for s in b.errs for t, e in b.errs[s] if not e.startswith("n/a")]
    if other:
        w("")
        w("## Failures in this run")
        w("")
        w("\n".join(f"- {s} {t}: {e}" for s, t, e in other))
    w("")
    w("## Commands")
    w("")
    w("Each port is that system's client side, picked free at run time.")
    w("")
    w("```")
    seen = set()
    for r in b.recs:
        if "cmd" in r and (r["system"], r["test"]) not in seen and r["test"] not in ("interference", "paths"):
            seen.add((r["system"], r["test"]))
            w(f"{r['system']} {r['test']}: {r['cmd']}")
    w("```")
    return "\n".join(md) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py BUILD/bench")
    out = sys.argv[1]
    b = Run(out)
    open(os.path.join(out, "results.md"), "w").write(results(b))
    open(os.path.join(out, "summary.md"), "w").write(summary(b))
    json.dump({"machine": b.m, "figures": b.fig, "targets": b.targets, "aead": b.aead, "openssl_Bps": b.ossl,
               "record_path": b.path, "workers": b.workers, "training": b.training,
               "errors": [{"system": s, "test": t, "error": e} for s in b.errs for t, e in b.errs[s]],
               "raw": b.recs}, open(os.path.join(out, "results.json"), "w"), indent=1, default=str)
    for name, keys in (("throughput", ("thr1", "thrN")), ("handshakes", ("hs_full", "hs_resumed"))):
        with open(os.path.join(out, name + ".dat"), "w") as f:
            f.write(f"# system\t{keys[0]}\t{keys[1]}\tnote\n")
            for s in b.systems:
                if name == "handshakes" and s == "plain":
                    continue
                v = [b.fig[s].get(k) for k in keys]
                note = ("n/a" if (b.error(s) or "").startswith("n/a") else "failed") if v == [None, None] else \
                    "(" + ", ".join(k.split("_")[-1] + " n/a" for k, x in zip(keys, v) if x is None) + ")" \
                    if None in v else "-"
                f.write(f"{LABELS[s]}\t" + "\t".join("?" if x is None else f"{x:.3f}" for x in v) + f"\t{note}\n")


if __name__ == "__main__":
    main()
