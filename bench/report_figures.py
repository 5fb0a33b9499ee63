"""The benchmark's figures, from BUILD/bench/raw.jsonl and machine.json.

load(out) reads the raw records bench/run.sh wrote and returns a Bench: the
figures of each system and the suite it negotiated, the best peer's, the
workers comparison, the mbedTLS record-path check, the targets of issue 5
and those of the libgcrypt record layer (layer_targets).  report_results.py and report_summary.py only format what it holds;
report.py writes the files.
"""

import json
import os

GIB = float(1 << 30)
WORKERS_SYS = "mtlsd-workers"	# the workers comparison, not a table row
PEER_SUITE = "TLS_AES_128_GCM_SHA256"	# what bench/configs/* force on the peers
# The rows' names, and the record_layer each mtlsd system runs with
# (systems.sh's mtlsd_layer): what its close lines' layer= must show.
LABELS = {"mtlsd": "mtlsd (libgcrypt)", "mtlsd-mbedtls": "mtlsd (mbedTLS records)",
          "mtlsd-ktls": "mtlsd (kernel TLS)"}
LAYERS = {"mtlsd": "libgcrypt", "mtlsd-mbedtls": "mbedtls", "mtlsd-ktls": "kernel"}

# Per TLS 1.3 suite: its cipher's short name and the prefix of gcmspeed's
# keys for it (None: gcmspeed does not time it).
AEADS = {"TLS_AES_128_GCM_SHA256": ("AES-128-GCM", ""),
         "TLS_CHACHA20_POLY1305_SHA256": ("ChaCha20-Poly1305", "chachapoly_"),
         "TLS_AES_256_GCM_SHA384": ("AES-256-GCM", None)}


def num(v, d=2):
    if v is None:
        return "n/a"
    return f"{v:,.{d}f}"


def suite_name(mbed):
    """mbedTLS's name for a suite (TLS1-3-CHACHA20-POLY1305-SHA256) as the
    RFC's (TLS_CHACHA20_POLY1305_SHA256), which the peers' configs use."""
    if mbed.startswith("TLS1-3-"):
        mbed = "TLS-" + mbed[len("TLS1-3-"):]
    return mbed.replace("-", "_")


def suite_counts(*sides):
    """{RFC suite name: connections} over close-line cipher counts ({mbedTLS
    name: n}); "-" (closed before the handshake finished) is left out."""
    out = {}
    for d in sides:
        for k, v in (d or {}).items():
            if k != "-":
                out[suite_name(k)] = out.get(suite_name(k), 0) + v
    return out


def cipher_short(suite):
    """ChaCha20-Poly1305 for TLS_CHACHA20_POLY1305_SHA256; the suite itself
    when unknown."""
    return AEADS.get(suite, (suite,))[0]


def label(s):
    """A system's row name: mtlsd (libgcrypt) for mtlsd."""
    return LABELS.get(s, s)


def ratio(v, ref):
    if v is None or ref is None or ref == 0:
        return "—"
    return f"{v / ref:.2f}×"


class Bench:
    """Everything one run measured; see load()."""

    def __init__(self, out):
        self.out = out
        self.machine = json.load(open(os.path.join(out, "machine.json")))
        self.recs = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]
        listed = self.machine["systems"].split()
        self.workers_listed = WORKERS_SYS in listed
        self.SYSTEMS = [s for s in listed if s != WORKERS_SYS]
        self.PEERS = [s for s in ("stunnel", "stunnel-hitch", "stunnel-haproxy") if s in self.SYSTEMS]
        self.N = self.machine["n_streams"]
        self.st = self.machine["settings"]
        self.res, self.errs = {}, {}
        for r in self.recs:
            if "error" in r:
                self.errs.setdefault(r["system"], []).append((r["test"], r["error"]))
            else:
                self.res[(r["system"], r["test"])] = r
        self._figures()
        self.workers = self._workers()
        r = self.get("mbedtls", "record_path")
        self.record_path = r["result"] if r else None
        self.targets = self._targets()
        self.layer_targets = self._layer_targets()
        self.training = self._training()

    # --- looking things up ------------------------------------------------
    def get(self, sys_, test):
        return self.res.get((sys_, test))

    def start_error(self, s):
        for t, e in self.errs.get(s, []):
            if t == "start":
                return e
        return None

    def test_error(self, s, test):
        for t, e in self.errs.get(s, []):
            if t == test:
                return e
        return None

    def why_missing(self, s, test=None):
        e = self.start_error(s)
        if e:
            return e
        if test:
            e = self.test_error(s, test)
            if e:
                return e
        return "n/a"

    def best_peer(self, key, higher):
        vals = [(self.fig[p][key], p) for p in self.PEERS if self.fig[p].get(key) is not None]
        if not vals:
            return None, None
        v, p = (max if higher else min)(vals)
        return v, p

    def disturbed(self):
        """The largest share of the CPUs other work took, in a system's slot
        or a latency round, when over 10%."""
        v = list(self.busy.values()) + list((self.rr or {}).get("others_pct", {}).values())
        return max(v) if v and max(v) > 10 else None

    def rr_missing(self, s):
        """Why s has no latency figure."""
        return self.start_error(s) or self.test_error(s, "rr") or "not measured in this run"

    def layer_warning(self, s):
        """A warning when s's close lines show a record layer other than the
        one its row is named after (a fallback), else None."""
        p, want = self.fig[s].get("paths"), LAYERS.get(s)
        if not p or not want or "layer" not in p["client"]:
            return None
        seen = {}
        for side in ("client", "server"):
            for k, v in p[side]["layer"].items():
                if k != "-":
                    seen[k] = seen.get(k, 0) + v
        if set(seen) <= {want}:
            return None
        return (f"{label(s)}: its close lines show layer " + ", ".join(f"{k} ×{v}" for k, v in seen.items())
                + f", not only {want} (see the event=record_layer lines in logs/{s}.sink.*.log)")

    # --- the systems' figures ---------------------------------------------
    def _figures(self):
        fig = self.fig = {s: {} for s in self.SYSTEMS}
        cmds = self.cmds = {}
        get = self.get
        for s in self.SYSTEMS:
            f = fig[s]
            for test, key in (("throughput1", "thr1"), ("throughputN", "thrN")):
                r = get(s, test)
                if r is None:
                    continue
                cmds.setdefault("throughput", []).append((s, r["cmd"]))
                f[key + "_gbps"] = r["result"]["gbps"]
                f[key + "_Bps"] = r["result"]["bytes"] / r["result"]["seconds"]
                if s != "plain":
                    gib = r["result"]["bytes"] / GIB
                    f[key + "_cpu_client"] = r["client_cpu_ticks"] / r["clk_tck"] / gib
                    f[key + "_cpu_server"] = r["server_cpu_ticks"] / r["clk_tck"] / gib
            r = get(s, "idle")
            if r:
                cmds.setdefault("idle", []).append((s, r["cmd"]))
                ok = r["result"]["ok"]
                f["idle_ok"] = ok
                f["idle_conns"] = r["result"]["conns"]
                if ok > 0:
                    f["rss_client"] = (r["client_rss_kib_after"] - r["client_rss_kib_before"]) / ok
                    f["rss_server"] = (r["server_rss_kib_after"] - r["server_rss_kib_before"]) / ok
                for k in ("client_rss_kib_before", "client_rss_kib_after",
                          "server_rss_kib_before", "server_rss_kib_after"):
                    f["idle_" + k] = r[k]
            for label in ("full", "resumed", "default", "tcp"):
                r = get(s, "connrate_" + label)
                if not r:
                    continue
                cmds.setdefault("connrate", []).append((s + " (" + label + ")", r["cmd"]))
                # Without a session_resumption key, mtlsd has no resumption:
                # its default handshakes are full ones.
                key = {"default": "full", "tcp": "full"}.get(label, label)
                rr_ = r["result"]
                f["hs_" + key] = rr_["conns_per_s"]
                f["hs_" + key + "_p50_ms"] = rr_["p50_us"] / 1000
                f["hs_" + key + "_p99_ms"] = rr_["p99_us"] / 1000
                f["hs_" + key + "_errors"] = rr_["errors"]
                if rr_["conns"] > 0 and s != "plain":
                    f["hs_" + key + "_cpu_client_ms"] = r["client_cpu_ticks"] / r["clk_tck"] / rr_["conns"] * 1000
                    f["hs_" + key + "_cpu_server_ms"] = r["server_cpu_ticks"] / r["clk_tck"] / rr_["conns"] * 1000
            r = get(s, "syscalls")
            if r:
                f["syscalls"] = r["result"]
                cmds.setdefault("syscalls", []).append((s, r["cmd"]))
            r = get(s, "probe")
            if r:
                f["probe"] = r["result"]
            r = get(s, "paths")
            if r:
                f["paths"] = r["result"]
            self._suite(s, f)
            self._attempts(s, f)
        self.rr = self._latency()
        gcm = get("mbedtls", "gcmspeed")
        self.gcm = gcm["result"] if gcm else None
        self.busy = {s: fig[s]["others_cpu_pct"] for s in self.SYSTEMS
                     if fig[s].get("others_cpu_pct") is not None}
        self.pl = fig.get("plain", {})
        self.b1, self.p1 = self.best_peer("thr1_gbps", True)
        self.bN, self.pN = self.best_peer("thrN_gbps", True)
        self.bh, self.ph = self.best_peer("hs_full", True)

    def _latency(self):
        """The interleaved latency phase (measure.sh's latency_phase): each
        system's rounds and, in its figures, the median over rounds of each
        percentile, the lowest and highest round's p99, and the added p99:
        the median over rounds of its p99 less plain's p99 in the same
        round, measured seconds apart, so that drift from one round to the
        next cancels.  None for a run from before the phase (whose per-slot
        rr records are not used)."""
        ph = self.get("latency", "rr_phase")
        recs = [r for r in self.recs if r.get("test") == "rr_round" and "error" not in r]
        if ph is None and not recs:
            return None
        lt = {"phase": ph["result"] if ph else {}, "order": {}, "others_pct": {}}
        by, ticks = {}, {}	# system -> {round: rr's result}; round -> CPU ticks
        for r in recs:
            by.setdefault(r["system"], {})[r["round"]] = r["result"]
            lt["order"].setdefault(r["round"], []).append((r["position"], r["system"]))
            t = ticks.setdefault(r["round"], [0, 0, 0])
            for i, k in enumerate(("total_ticks", "busy_ticks", "our_ticks")):
                t[i] += r[k]
            if r["system"] not in (x for x, _ in self.cmds.get("rr", [])):
                self.cmds.setdefault("rr", []).append((r["system"], r["cmd"]))
        for rd in lt["order"]:
            lt["order"][rd] = [s for _, s in sorted(lt["order"][rd])]
        for rd, (tot, busy, ours) in ticks.items():
            if tot > 0:
                lt["others_pct"][rd] = max(0, busy - ours) / tot * 100
        lt["rounds"] = sorted(lt["order"])
        plain = by.get("plain", {})
        for s in self.SYSTEMS:
            x = by.get(s)
            if not x:
                continue
            f = self.fig[s]
            for k in ("p50_us", "p99_us", "p999_us", "max_us"):
                f["rr_" + k] = median([v[k] for v in x.values()])
            f["rr_rounds"] = len(x)
            f["rr_round_p99_us"] = {rd: x[rd]["p99_us"] for rd in sorted(x)}
            f["rr_p99_min_us"] = min(f["rr_round_p99_us"].values())
            f["rr_p99_max_us"] = max(f["rr_round_p99_us"].values())
            added = [x[rd]["p99_us"] - plain[rd]["p99_us"] for rd in sorted(x) if rd in plain]
            if added:
                f["rr_added_p99_us"] = median(added)
                f["rr_added_p99_min_us"], f["rr_added_p99_max_us"] = min(added), max(added)
        return lt

    def _suite(self, s, f):
        """f["suite"]: the suite s negotiated ("" without TLS, None when not
        seen), f["suites"] every suite its close lines show with their
        counts, f["suite_from"] where it comes from."""
        if s == "plain":
            f["suite"], f["suite_from"] = "", "no TLS"
        elif s in self.PEERS:
            f["suite"], f["suite_from"] = PEER_SUITE, "forced in bench/configs"
        else:
            # Both sides' close lines: they disagree only if something is off.
            p = f.get("paths")
            c = suite_counts(p["client"]["cipher"], p["server"]["cipher"]) if p else {}
            n = sum(suite_counts(p["client"]["cipher"]).values()) if p else 0
            f["suites"] = c
            f["suite"] = max(c, key=c.get) if c else None
            if c:
                f["suite_from"] = f"mtlsd's close lines, both sides, {n} connections"
            elif p:
                f["suite_from"] = "not seen: no close line named a cipher"
            else:
                f["suite_from"] = (self.start_error(s) or self.test_error(s, "throughput1")
                                   or "not recorded in this run")

    def suite_text(self, s):
        """The suite column: the suite s negotiated and where that comes from."""
        f = self.fig[s]
        if f.get("suite") == "":
            return "— (no TLS)"
        if f.get("suite") is None:
            return f["suite_from"]
        many = f.get("suites", {})
        if len(many) > 1:
            return ", ".join(f"{k} ×{v}" for k, v in many.items()) + f" ({f['suite_from']})"
        return f"{f['suite']} ({f['suite_from']})"

    def cipher_Bps(self, suite, op="encrypt"):
        """gcmspeed's best single-core figure for suite's cipher, or None."""
        prefix = AEADS.get(suite, (None, None))[1]
        if self.gcm is None or prefix is None:
            return None
        return self.gcm.get(prefix + op + "_Bps")

    def _attempts(self, s, f):
        """How many attempts s took and how busy the machine was meanwhile."""
        r = self.get(s, "attempts")
        if r:
            f["attempts"], f["attempt_kept"] = r["result"]["attempts"], r["result"]["kept"]
        r = self.get(s, "interference")
        if r and r["result"]["total_ticks"] > 0:
            x = r["result"]
            f["others_cpu_pct"] = max(0, x["busy_ticks"] - x["our_ticks"]) / x["total_ticks"] * 100

    # --- the workers comparison -------------------------------------------
    def _workers(self):
        """Per variant (workers = 1, = N): each run's figures and their means."""
        if not self.workers_listed:
            return None
        wk = {"runs": {}, "cmds": [], "info": {}, "suites": {}}
        self._attempts(WORKERS_SYS, wk["info"])
        for r in self.recs:
            if r.get("system") != WORKERS_SYS or r.get("test") != "workers":
                continue
            x, t = r["result"], r["clk_tck"]
            gib = x["bytes"] / GIB
            run = {"run": r["run"], "gbps": x["gbps"],
                   "cpu_client": r["client_cpu_ticks"] / t / gib,
                   "cpu_server": r["server_cpu_ticks"] / t / gib,
                   "busy_client": busy_threads(r["client_threads_before"], r["client_threads_after"]),
                   "busy_server": busy_threads(r["server_threads_before"], r["server_threads_after"]),
                   "csw_vol": (r["client_csw"][0] + r["server_csw"][0]) / (gib * 1024),
                   "csw_invol": (r["client_csw"][1] + r["server_csw"][1]) / (gib * 1024),
                   "started_client": started_workers(r["client_started"]),
                   "started_server": started_workers(r["server_started"])}
            tot = r["machine_total_ticks"]
            if tot > 0:
                prox = r["client_cpu_ticks"] + r["server_cpu_ticks"]
                run["cpu_busy_pct"] = r["machine_busy_ticks"] / tot * 100
                run["cpu_proxies_pct"] = prox / tot * 100
                run["cpu_load_pct"] = max(0, r["our_ticks"] - prox) / tot * 100
                run["cpu_others_pct"] = max(0, r["machine_busy_ticks"] - r["our_ticks"]) / tot * 100
            wk["runs"].setdefault(r["workers"], []).append(run)
            # Runs from before the workers records had close lines: none.
            for k, v in suite_counts(r.get("client_close", {}).get("cipher")).items():
                wk["suites"][k] = wk["suites"].get(k, 0) + v
            if r["run"] == 1:
                wk["cmds"].append((f"workers = {r['workers']}", r["cmd"]))
        wk["mean"] = {}
        for w, runs in wk["runs"].items():
            m = {k: sum(x[k] for x in runs) / len(runs)
                 for k in ("gbps", "cpu_client", "cpu_server", "csw_vol", "csw_invol", "cpu_busy_pct",
                           "cpu_proxies_pct", "cpu_load_pct", "cpu_others_pct") if all(k in x for x in runs)}
            m["gbps_min"] = min(x["gbps"] for x in runs)
            m["gbps_max"] = max(x["gbps"] for x in runs)
            wk["mean"][w] = m
        wk["errors"] = self.errs.get(WORKERS_SYS, [])
        return wk

    # --- the targets of issue 5 -------------------------------------------
    def _targets(self):
        fig, gcm, machine, PEERS = self.fig, self.gcm, self.machine, self.PEERS
        b1, p1, bh, ph, pl = self.b1, self.p1, self.bh, self.ph, self.pl
        why_missing = self.why_missing
        tg = []

        def target(name, status, detail, short):
            tg.append({"target": name, "status": status, "detail": detail, "short": short})

        m = fig.get("mtlsd", {})
        name = "userspace path ≥ 85% of mbedTLS's single-core AES-GCM"
        if gcm and m.get("thr1_Bps"):
            target(name, *self._userspace_target(m))
        else:
            w = "no mtlsd or gcmspeed figure: " + why_missing("mtlsd", "throughput1")
            target(name, "n/a here", w, w)
        k = fig.get("mtlsd-ktls", {})
        name = "kTLS ≥ 1.5× best peer at ≤ 0.5 CPU-s/GiB a side"
        if k.get("thr1_gbps") is not None and b1:
            okr = k["thr1_gbps"] >= 1.5 * b1
            okc = max(k["thr1_cpu_client"], k["thr1_cpu_server"]) <= 0.5
            d = (f"kTLS {k['thr1_gbps']:.2f} Gbit/s = {k['thr1_gbps'] / b1:.2f}× best peer ({p1}, {b1:.2f}); "
                 f"CPU-s/GiB client {k['thr1_cpu_client']:.2f}, server {k['thr1_cpu_server']:.2f}")
            short = (f"{k['thr1_gbps']:.2f} Gbit/s = {k['thr1_gbps'] / b1:.2f}× {p1}; CPU-s/GiB "
                     f"{k['thr1_cpu_client']:.2f} / {k['thr1_cpu_server']:.2f}")
            target(name, "met" if okr and okc else "missed", d, short)
        else:
            w = why_missing("mtlsd-ktls", "throughput1")
            target(name, "n/a here", w, w)
        name = "≤ 64 KiB RSS per idle mTLS connection"
        if m.get("rss_client") is not None:
            worst = max(m["rss_client"], m["rss_server"])
            peers_txt = "; ".join(f"{p} {num(fig[p].get('rss_client'), 1)} / {num(fig[p].get('rss_server'), 1)}"
                                  for p in PEERS)
            d = f"mtlsd client {m['rss_client']:.1f}, server {m['rss_server']:.1f} KiB/conn (peers, client / server: {peers_txt})"
            short = f"client {m['rss_client']:.1f}, server {m['rss_server']:.1f} KiB/conn"
            target(name, "met" if worst <= 64 else "missed", d, short)
        else:
            w = why_missing("mtlsd", "idle")
            target(name, "n/a here", w, w)
        st_ = fig.get("stunnel", {})
        name = "p99 added latency ≤ stunnel's"
        if m.get("rr_added_p99_us") is not None and st_.get("rr_added_p99_us") is not None:
            nr = len(self.rr["rounds"])
            sp = lambda f: f"{f['rr_p99_min_us']:.0f}–{f['rr_p99_max_us']:.0f} over rounds"
            d = (f"mtlsd p99 {m['rr_p99_us']:.1f} µs ({sp(m)}), added {m['rr_added_p99_us']:.1f}; "
                 f"stunnel p99 {st_['rr_p99_us']:.1f} µs ({sp(st_)}), added {st_['rr_added_p99_us']:.1f}; "
                 f"plain {pl['rr_p99_us']:.1f}: medians of {nr} interleaved rounds, added taken "
                 "against plain's p99 of the same round")
            short = (f"added {m['rr_added_p99_us']:.1f} µs against stunnel's {st_['rr_added_p99_us']:.1f} "
                     f"(medians of {nr} interleaved rounds)")
            target(name, "met" if m["rr_added_p99_us"] <= st_["rr_added_p99_us"] else "missed", d, short)
        else:
            w = "missing figure: " + (self.rr_missing("mtlsd") if m.get("rr_p99_us") is None
                                      else self.rr_missing("stunnel") if st_.get("rr_p99_us") is None
                                      else self.rr_missing("plain"))
            target(name, "n/a here", w, w)
        peers_full = "; ".join(f"{p} {num(fig[p].get('hs_full'), 0)}" for p in PEERS)
        name = "resumed handshakes/s ≥ the peers' full handshakes/s"
        if not machine["mtlsd_resumption_key"]:
            d = (f"this mtlsd has no session_resumption key yet; its full handshakes: "
                 f"{num(m.get('hs_full'), 0)}/s at {num(m.get('hs_full_cpu_client_ms'))} / "
                 f"{num(m.get('hs_full_cpu_server_ms'))} CPU-ms per handshake (client / server); peers' full: {peers_full}")
            target(name, "n/a here", d, "this mtlsd has no session_resumption key")
        elif m.get("hs_resumed") is not None and bh is not None:
            d = f"mtlsd resumed {m['hs_resumed']:.0f}/s, full {num(m.get('hs_full'), 0)}/s; peers' full: {peers_full}"
            short = f"resumed {m['hs_resumed']:.0f}/s against {ph}'s full {bh:.0f}/s"
            target(name, "met" if m["hs_resumed"] >= bh else "missed", d, short)
        else:
            w = why_missing("mtlsd", "connrate_resumed")
            target(name, "n/a here", w, w)
        return tg


    def _layer_targets(self):
        """The libgcrypt record layer's targets, judged on the mtlsd row
        (record_layer = libgcrypt) against the best peer pair: a list of
        {target, status, gcrypt, mbedtls, ref}, the two mtlsd rows' cells and
        the reference's."""
        fig, tg = self.fig, []
        g, mb, st_ = fig.get("mtlsd", {}), fig.get("mtlsd-mbedtls", {}), fig.get("stunnel", {})

        def two(f, a, b, d=2, unit=""):
            return (f"{f[a]:.{d}f} / {f[b]:.{d}f}{unit}" if f.get(a) is not None and f.get(b) is not None
                    else None)

        def add(name, ok, cell, ref, why):
            """ok(f) -> bool, cell(f) -> text, for an mtlsd row's figures f;
            None when a figure is missing."""
            c = cell(g)
            tg.append({"target": name, "status": "n/a here" if c is None else "met" if ok(g) else "missed",
                       "gcrypt": c if c is not None else why("mtlsd"),
                       "mbedtls": cell(mb) if cell(mb) is not None else why("mtlsd-mbedtls"), "ref": ref})

        b1, p1 = self.b1, self.p1
        add("1-stream throughput ≥ 1.2× the best peer pair's",
            lambda f: f["thr1_gbps"] >= 1.2 * b1,
            lambda f: (f"{f['thr1_gbps'] / b1:.2f}× ({f['thr1_gbps']:.2f} Gbit/s)"
                       if f.get("thr1_gbps") is not None and b1 else None),
            f"{p1} {b1:.2f} Gbit/s" if b1 else "no peer measured",
            lambda s: self.why_missing(s, "throughput1"))
        bc, pc = self.best_peer("thr1_cpu_client", False)
        bs, ps = self.best_peer("thr1_cpu_server", False)
        add("CPU-s/GiB on each side ≤ the best peer's (client / server)",
            lambda f: f["thr1_cpu_client"] <= bc and f["thr1_cpu_server"] <= bs,
            lambda f: (f"{f['thr1_cpu_client'] / bc:.2f}× / {f['thr1_cpu_server'] / bs:.2f}× "
                       f"({f['thr1_cpu_client']:.2f} / {f['thr1_cpu_server']:.2f})"
                       if f.get("thr1_cpu_client") is not None and bc and bs else None),
            f"{pc} {bc:.2f} / {ps} {bs:.2f}" if bc and bs else "no peer measured",
            lambda s: self.why_missing(s, "throughput1"))
        brc, prc = self.best_peer("rss_client", False)
        brs, prs = self.best_peer("rss_server", False)
        add("idle memory ≤ 16 KiB per connection on each side (client / server)",
            lambda f: max(f["rss_client"], f["rss_server"]) <= 16,
            lambda f: two(f, "rss_client", "rss_server", 1, " KiB"),
            f"best peer {prc} {brc:.1f} / {prs} {brs:.1f} KiB" if brc is not None and brs is not None
            else "no peer measured",
            lambda s: self.why_missing(s, "idle"))
        sa = st_.get("rr_added_p99_us")
        add("1 KiB p99 added latency ≤ stunnel's",
            lambda f: f["rr_added_p99_us"] <= sa,
            lambda f: (f"{f['rr_added_p99_us']:.1f} µs = {f['rr_added_p99_us'] / sa:.2f}×"
                       if f.get("rr_added_p99_us") is not None and sa else None),
            f"stunnel {sa:.1f} µs (p99 {st_['rr_p99_us']:.1f}, plain's {num(self.pl.get('rr_p99_us'), 1)}; medians "
            f"of {len(self.rr['rounds'])} rounds)" if sa is not None else
            "stunnel: " + self.rr_missing("stunnel"),
            self.rr_missing)

        def sysc(f):
            r = f.get("syscalls")
            return f"{r['client']['per_16k']:.2f} / {r['server']['per_16k']:.2f}" if r else None
        sc = fig.get("stunnel", {}).get("syscalls")
        add("syscalls per 16 KiB ≤ 1.0 on each side (client / server)",
            lambda f: max(f["syscalls"]["client"]["per_16k"], f["syscalls"]["server"]["per_16k"]) <= 1.0,
            sysc, f"stunnel {sysc(fig['stunnel'])}" if sc else "stunnel not traced",
            lambda s: self.why_missing(s, "syscalls") if self.test_error(s, "syscalls") or self.start_error(s)
            else "not traced (BENCH_STRACE=0 or no strace)")
        return tg

    def _userspace_target(self, m):
        """(status, detail, short) of issue 5's userspace target for the mtlsd
        row m: judged against mbedTLS's AES-128-GCM figure, as the issue
        states it, whichever suite mtlsd negotiated; the figure of that suite
        beside it shows the data path's own overhead."""
        gcm, GB = self.gcm, m["thr1_Bps"] / 1e9
        aes = gcm["encrypt_Bps"]
        pct = m["thr1_Bps"] / aes * 100
        suite = m.get("suite")
        cs = cipher_short(suite) if suite else None
        own = self.cipher_Bps(suite) if suite else None
        with_ = f" with {cs}" if cs else " with a suite its close lines did not show"
        d = (f"mtlsd 1 stream {GB:.3f} GB/s{with_} = {pct:.0f}% of mbedTLS AES-128-GCM encrypt "
             f"{aes / 1e9:.3f} GB/s a core (the target; decrypt {gcm['decrypt_Bps'] / 1e9:.3f}, "
             f"PSA {gcm['psa_encrypt_Bps'] / 1e9:.3f})")
        short = f"mtlsd {GB:.3f} GB/s{with_} = {pct:.0f}% of mbedTLS AES-128-GCM's {aes / 1e9:.3f} GB/s a core"
        if suite == PEER_SUITE:
            d += "; AES-128-GCM is also the suite it negotiated"
        elif own:
            d += (f"; {m['thr1_Bps'] / own * 100:.0f}% of {cs}'s own {own / 1e9:.3f} GB/s a core "
                  f"(encrypt; decrypt {self.cipher_Bps(suite, 'decrypt') / 1e9:.3f}), the data path's "
                  "own overhead")
            short += f" (the target); {m['thr1_Bps'] / own * 100:.0f}% of {cs}'s own {own / 1e9:.2f}"
        elif suite:
            d += f"; gcmspeed has no {cs} figure in this run to give the data path's own overhead"
        if pct >= 85:
            return "met", d, short
        # The cipher mtlsd ran with is what each side's CPU went to.
        ref, rname = (own, cs) if own else (aes, "AES-128-GCM")
        if not own and suite != PEER_SUITE:
            rname += f" (standing in for {cs or 'the suite not seen'})"
        cipher_s = GIB / ref	# CPU-s per GiB the cipher alone takes
        worst = max(m.get("thr1_cpu_client") or 0, m.get("thr1_cpu_server") or 0)
        why = (f"; why: each side of the pair needs a core of its own for the {rname} cipher alone "
               f"({cipher_s:.2f} CPU-s/GiB), and here {self.machine['nproc']} CPUs also run the load "
               f"source and the sink")
        if worst > 0:
            pair = GIB / worst
            why += (f"; each side spent client {m['thr1_cpu_client']:.2f} / server "
                    f"{m['thr1_cpu_server']:.2f} CPU-s/GiB, so the cipher is "
                    f"{cipher_s / m['thr1_cpu_client'] * 100:.0f}% / {cipher_s / m['thr1_cpu_server'] * 100:.0f}% "
                    f"of their CPU, and with a core per side the pair would move "
                    f"{pair / 1e9:.3f} GB/s = {pair / aes * 100:.0f}% of AES-128-GCM's figure")
            if ref != aes:
                why += f" and {pair / ref * 100:.0f}% of {rname}'s"
        if self.disturbed():
            why += "; other work on the machine disturbed this run (see the top)"
        return "missed", d + why, short


def _training(bench):
    """bench/training.sh's figures: None when the run has no training record
    (an older raw.jsonl, or BENCH_TRAINING_RUNS=0); else a dict with "error"
    (why it did not run: "n/a: ...") or the medians.  A run's figure is the
    slower rank's (each rank's is torch_job.py's own median: of 5 all_reduces,
    of DDP steps 2 to 8); the phase's is the median over its runs."""
    e = bench.start_error("training")
    if e:
        return {"error": e}
    ph = bench.get("training", "train_phase")
    if ph is None:
        return None
    runs = [r["result"] for r in bench.recs
            if r.get("system") == "training" and r.get("test") == "train_run" and "result" in r]
    t = {"runs_asked": ph["result"]["runs"], "torch": ph["result"].get("torch"),
         "python": ph["result"].get("python"), "cmd": ph.get("cmd"),
         "failed": [e for (tt, e) in bench.errs.get("training", []) if tt == "train_run"],
         "exact": all(all(r.get("exact", [0])) for r in runs) if runs else None}
    tun = bench.get("training", "train_tunnels")
    t["a_closes"] = tun["result"]["a_closes"] if tun else None
    for mode in ("plain", "mtlsd"):
        rs = [r for r in runs if r["mode"] == mode]
        t[mode] = {"runs": len(rs),
                   "allreduce_runs_ms": [max(r["allreduce_ms"]) for r in rs],
                   "ddp_runs_ms": [max(r["ddp_step_ms"]) for r in rs]}
        for k in ("allreduce", "ddp"):
            v = t[mode][k + "_runs_ms"]
            t[mode][k + "_ms"] = median(v) if v else None
    for k in ("allreduce", "ddp"):
        p, m = t["plain"][k + "_ms"], t["mtlsd"][k + "_ms"]
        t[k + "_ratio"] = m / p if p and m is not None else None
    r = t["allreduce_ratio"]
    t["target_status"] = "n/a" if r is None else ("met" if r <= 2.0 else "missed")
    return t


Bench._training = _training


def median(v):
    """The median of a non-empty list of numbers (the mean of the middle two
    for an even count)."""
    v = sorted(v)
    h = len(v) // 2
    return v[h] if len(v) % 2 else (v[h - 1] + v[h]) / 2


def busy_threads(before, after):
    """Threads that did at least 10% of a process's CPU time between two
    thread_ticks snapshots ({tid: ticks}): how many workers carried the load."""
    d = {t: after[t] - before.get(t, 0) for t in after}
    total = sum(v for v in d.values() if v > 0)
    if total <= 0:
        return 0
    return sum(1 for v in d.values() if v >= 0.1 * total)


def started_workers(line):
    """The workers=K of mtlsd's event=started line, or None."""
    for kv in (line or "").split():
        if kv.startswith("workers="):
            try:
                return int(kv.split("=", 1)[1])
            except ValueError:
                return None
    return None


def load(out):
    """The figures of the run whose raw.jsonl and machine.json are in out."""
    return Bench(out)
