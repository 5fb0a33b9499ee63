#!/usr/bin/env python3
"""crowd.py: many-socket peers for mtlsd's soak scenarios (tests/soak/) and
their small versions in make test (tests/e2e/t_slow.sh, t_crowd.sh).

peer.py (tests/e2e) runs a thread per connection; these run thousands of
sockets from one thread with selectors, or hold them with plain blocking
sockets.  Each prints one key=value line that the scenario reads.

  echo      --listen A                   echo every connection (selectors);
                                         prints "ready", "accepted" per accept
  sink      --listen A --rate B/s        one connection: read at B bytes/s for
            --slow-secs S                S seconds, then at full speed; at EOF
                                         print received=N sha256=H
  push      --connect A --bytes N        send N bytes, half-close, wait for EOF;
                                         print sent=N sha256=H
  roundtrip --connect A --bytes N        send N bytes at about B bytes/s to an
            --rate B/s                   echo, read them back; match=yes|no
  hold      --connect A --pki D --n N    N mTLS connections (from P threads,
            [--parallel P]               --parallel), each echoes "ping";
                                         print held= refused=, then on each
                                         stdin line echo on all (echoed=K);
                                         close all at EOF
  probe     --connect A --pki D          one mTLS connection and one echo:
                                         ok=yes ms=M
  slow      --connect A --n N            N slowloris clients at once: each sends
            --within S                   nothing, half a ClientHello or 5 bytes,
                                         then holds; print how many connected,
                                         how many mtlsd closed within S seconds
                                         and how many are left open
  hostile   --connect A --kind K|all     for each kind of hostile TLS input, C
            --count C --within S         connections (R for hello_rst), P at a
            [--rst-count R]              time; per kind, how many mtlsd closed
            [--parallel P]               with nothing but alerts sent back
  kinds                                  the kinds of hostile input
"""
import argparse
import errno
import hashlib
import os
import selectors
import socket
import ssl
import struct
import sys
import threading
import time

# tests/e2e/peer.py's HashingReader, shared with the e2e peer.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from peer import HashingReader  # noqa: E402


def addr(a):
    host, port = a.rsplit(":", 1)
    return host, int(port)


def listener(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a))
    s.listen(4096)
    print("ready", flush=True)
    return s


def cmd_echo(a):
    ls = listener(a.listen)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    pending = {}  # sock -> bytes not yet written back
    while True:
        for key, ev in sel.select():
            s = key.fileobj
            if s is ls:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    except OSError as e:  # out of fds: retry later
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            time.sleep(0.01)
                            break
                        raise
                    c.setblocking(False)
                    pending[c] = b""
                    sel.register(c, selectors.EVENT_READ, None)
                    print("accepted", flush=True)
                continue
            try:
                if ev & selectors.EVENT_WRITE:
                    n = s.send(pending[s])
                    pending[s] = pending[s][n:]
                if ev & selectors.EVENT_READ and not pending[s]:
                    d = s.recv(1 << 16)
                    if not d:
                        raise EOFError
                    pending[s] = d
                    n = s.send(d)
                    pending[s] = d[n:]
                sel.modify(s, selectors.EVENT_WRITE if pending[s] else selectors.EVENT_READ)
            except BlockingIOError:
                sel.modify(s, selectors.EVENT_WRITE if pending[s] else selectors.EVENT_READ)
            except (OSError, EOFError):
                sel.unregister(s)
                del pending[s]
                s.close()


class Stream:
    """The bytes a sender sends: 1 MiB chunks, each prefixed by a digest of
    its position so that a replayed or lost chunk shows in the sha256."""

    def __init__(self, total):
        self.left = total
        self.base = os.urandom(1 << 20)
        self.h = hashlib.sha256()

    def next(self, most):
        if self.left <= 0:
            return b""
        piece = (hashlib.sha256(str(self.left).encode()).digest() + self.base)
        piece = piece[:min(self.left, most, len(piece))]
        self.left -= len(piece)
        self.h.update(piece)
        return piece


def cmd_sink(a):
    ls = listener(a.listen)
    c, _ = ls.accept()
    print("accepted", flush=True)
    h = hashlib.sha256()
    n = 0
    start = time.monotonic()
    slow_until = start + a.slow_secs
    while True:
        now = time.monotonic()
        if now < slow_until:
            # Read one slice, then wait for the rate's due time.
            d = c.recv(4096)
            due = start + (n + len(d)) / a.rate
            if due > now:
                time.sleep(min(due - now, slow_until - now))
        else:
            d = c.recv(1 << 18)
        if not d:
            break
        h.update(d)
        n += len(d)
    print("received=%d sha256=%s secs=%.1f" % (n, h.hexdigest(), time.monotonic() - start),
          flush=True)
    c.close()


def cmd_push(a):
    s = socket.create_connection(addr(a.connect), timeout=a.timeout)
    st = Stream(a.bytes)
    err = ""
    try:
        while True:
            piece = st.next(1 << 20)
            if not piece:
                break
            s.sendall(piece)
        s.shutdown(socket.SHUT_WR)
        while s.recv(1 << 16):
            pass
    except OSError as e:
        err = " error=%s" % e
    print("sent=%d sha256=%s%s" % (a.bytes - st.left, st.h.hexdigest(), err), flush=True)
    sys.exit(1 if err else 0)


def cmd_roundtrip(a):
    s = socket.create_connection(addr(a.connect), timeout=a.timeout)
    st = Stream(a.bytes)
    err = []
    rd = HashingReader(s)
    start = time.monotonic()
    sent = 0
    try:
        while True:
            piece = st.next(1 << 16)
            if not piece:
                break
            s.sendall(piece)
            sent += len(piece)
            ahead = start + sent / a.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append(e)
    rd.join()
    err += [rd.err] if rd.err else []
    match = rd.n == a.bytes and rd.h.digest() == st.h.digest()
    print("sent=%d received=%d match=%s secs=%.1f%s" % (
        sent, rd.n, "yes" if match else "no", time.monotonic() - start,
        (" error=%s" % err[0]) if err else ""), flush=True)
    sys.exit(0 if match else 1)


def client_ctx(pki):
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
    return ctx


def mtls_echo(ctx, a, timeout=10):
    s = ctx.wrap_socket(socket.create_connection(addr(a), timeout=timeout),
                        server_hostname="localhost")
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        d = s.recv(4 - len(got))
        if not d:
            break
        got += d
    if got != b"ping":
        s.close()
        raise OSError("no echo")
    return s


def cmd_hold(a):
    ctx = client_ctx(a.pki)
    held, refused = [], [0]
    start = time.monotonic()
    lock = threading.Lock()

    def opener(k):
        for _ in range(k):
            try:
                s = mtls_echo(ctx, a.connect)
                with lock:
                    held.append(s)
            except OSError:
                with lock:
                    refused[0] += 1

    per = [a.n // a.parallel + (1 if i < a.n % a.parallel else 0) for i in range(a.parallel)]
    ts = [threading.Thread(target=opener, args=(k,)) for k in per]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("held=%d refused=%d secs=%.1f" % (len(held), refused[0], time.monotonic() - start),
          flush=True)
    for _ in sys.stdin:
        ok = 0
        for s in held:
            try:
                s.sendall(b"ping")
                if s.recv(4) == b"ping":
                    ok += 1
            except OSError:
                pass
        print("echoed=%d" % ok, flush=True)
    for s in held:
        s.close()


def cmd_probe(a):
    ctx = client_ctx(a.pki)
    start = time.monotonic()
    try:
        mtls_echo(ctx, a.connect).close()
        print("ok=yes ms=%.1f" % ((time.monotonic() - start) * 1000))
    except OSError as e:
        print("ok=no error=%s" % e)
        sys.exit(1)


def client_hello_tls13():
    """A real TLS 1.3 ClientHello, as Python's ssl (OpenSSL) writes it."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(i, o, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o.read()


def legacy_hello(rec_ver, hello_ver, suites):
    """A ClientHello of an old protocol, by hand (OpenSSL will not send one)."""
    cs = b"".join(struct.pack("!H", x) for x in suites)
    body = (struct.pack("!H", hello_ver) + os.urandom(32) + b"\x00" +
            struct.pack("!H", len(cs)) + cs + b"\x01\x00")
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16" + struct.pack("!HH", rec_ver, len(hs)) + hs


def sslv2_hello(ver):
    specs = bytes.fromhex("0100800700c0030080")
    msg = (b"\x01" + struct.pack("!HHHH", ver, len(specs), 0, 16) + specs + os.urandom(16))
    return struct.pack("!H", 0x8000 | len(msg)) + msg


# kind -> (bytes to send, what then: "eof" half-closes, "hold" waits, "rst" resets)
def hostile_kinds():
    ch = client_hello_tls13()
    big_hs = b"\x01\xff\xff\xff" + os.urandom(16380)
    return {
        "garbage": (os.urandom(4096), "eof"),
        "http": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "eof"),
        "truncated_eof": (ch[:len(ch) // 2], "eof"),
        "truncated_hold": (ch[:len(ch) // 2], "hold"),
        "oversized_record": (b"\x16\x03\x01\xff\xff" + os.urandom(65535), "eof"),
        "oversized_handshake": (b"\x16\x03\x01\x40\x00" + big_hs +
                                b"\x16\x03\x01\x40\x00" + os.urandom(16384), "hold"),
        "empty_records": (b"\x16\x03\x03\x00\x00" * 2000, "hold"),
        "alert_first": (b"\x15\x03\x03\x00\x02\x02\x28", "hold"),
        "ccs_flood": (b"\x14\x03\x03\x00\x01\x01" * 2000, "hold"),
        "sslv2": (sslv2_hello(0x0002), "hold"),
        "sslv2_compat": (sslv2_hello(0x0301), "hold"),
        "sslv3": (legacy_hello(0x0300, 0x0300, [0x000a, 0x002f]), "hold"),
        "tls1.0": (legacy_hello(0x0301, 0x0301, [0xc013, 0x002f]), "hold"),
        "tls1.1": (legacy_hello(0x0301, 0x0302, [0xc013, 0x002f]), "hold"),
        "hello_rst": (ch, "rst"),
    }


def only_alerts(data):
    """Whether what mtlsd sent back is TLS alert records and nothing else."""
    while data:
        if len(data) < 5 or data[0] != 21:
            return False
        n = struct.unpack("!H", data[3:5])[0]
        data = data[5 + n:]
    return True


def hostile_one(a, payload, then):
    """One connection: 'closed' (by mtlsd, with nothing but alerts back),
    'answered' (closed, but something else came back), 'open' or 'sent'."""
    try:
        s = socket.create_connection(addr(a.connect), timeout=a.within)
    except OSError:
        return "connect_failed"
    try:
        s.sendall(payload)
    except OSError:
        pass  # mtlsd may refuse before all of it is sent
    if then == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        return "sent"
    if then == "eof":
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    back = b""
    result = "open"
    end = time.monotonic() + a.within
    try:
        while time.monotonic() < end:
            d = s.recv(1 << 16)
            if not d:
                result = "closed"
                break
            back += d
    except ConnectionResetError:
        result = "closed"
    except socket.timeout:
        pass
    s.close()
    if result == "closed" and not only_alerts(back):
        result = "answered"
    return result


def cmd_hostile(a):
    kinds = hostile_kinds()
    names = list(kinds) if a.kind == "all" else a.kind.split(",")
    failed = 0
    for name in names:
        payload, then = kinds[name]
        count = a.rst_count if then == "rst" and a.rst_count else a.count
        tally = {}
        lock = threading.Lock()

        def runner(k):
            for _ in range(k):
                r = hostile_one(a, payload, then)
                with lock:
                    tally[r] = tally.get(r, 0) + 1

        par = min(a.parallel, count)
        per = [count // par + (1 if i < count % par else 0) for i in range(par)]
        ts = [threading.Thread(target=runner, args=(k,)) for k in per]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        good = "sent" if then == "rst" else "closed"
        passed = tally.get(good, 0) == count
        failed += not passed
        print("kind=%s count=%d %s pass=%s" % (name, count, " ".join(
            "%s=%d" % (k, v) for k, v in sorted(tally.items())), "yes" if passed else "no"),
            flush=True)
    sys.exit(1 if failed else 0)


def cmd_slow(a):
    ch = client_hello_tls13()
    sel = selectors.DefaultSelector()
    socks = []
    start = time.monotonic()
    connect_failed = 0
    for i in range(a.n):
        s = socket.socket()
        s.setblocking(False)
        e = s.connect_ex(addr(a.connect))
        if e not in (0, errno.EINPROGRESS):
            connect_failed += 1
            s.close()
            continue
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, [i, None, None])  # kind, connected, closed
    connected = 0
    connect_ms = []
    closed = 0
    close_at = []
    end = start + a.within
    while time.monotonic() < end and closed + connect_failed < a.n:
        for key, ev in sel.select(timeout=0.2):
            s, st = key.fileobj, key.data
            now = time.monotonic()
            if st[1] is None:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    connect_failed += 1
                    sel.unregister(s)
                    continue
                st[1] = now
                connected += 1
                connect_ms.append((now - start) * 1000)
                kind = st[0] % 3
                try:
                    if kind == 1:
                        s.send(ch[:len(ch) // 2])   # half a ClientHello
                    elif kind == 2:
                        s.send(ch[:5])              # a record header only
                except OSError:
                    pass
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                d = s.recv(4096)
                if d:
                    continue  # an alert; wait for the close
            except BlockingIOError:
                continue
            except OSError:
                pass
            closed += 1
            close_at.append(now - start)
            sel.unregister(s)
    left = connected - closed
    print("n=%d connected=%d connect_failed=%d closed=%d open=%d "
          "max_connect_ms=%.0f first_close_s=%.2f last_close_s=%.2f" % (
              a.n, connected, connect_failed, closed, left,
              max(connect_ms) if connect_ms else 0,
              min(close_at) if close_at else 0, max(close_at) if close_at else 0),
          flush=True)
    for s in socks:
        s.close()
    sys.exit(0 if left == 0 and connect_failed == 0 and connected == a.n else 1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("echo")
    x.add_argument("--listen", required=True)
    x = sub.add_parser("sink")
    x.add_argument("--listen", required=True)
    x.add_argument("--rate", type=float, required=True)
    x.add_argument("--slow-secs", type=float, required=True)
    x = sub.add_parser("push")
    x.add_argument("--connect", required=True)
    x.add_argument("--bytes", type=int, required=True)
    x.add_argument("--timeout", type=float, default=600)
    x = sub.add_parser("roundtrip")
    x.add_argument("--connect", required=True)
    x.add_argument("--bytes", type=int, required=True)
    x.add_argument("--rate", type=float, required=True)
    x.add_argument("--timeout", type=float, default=120)
    for name in ("hold", "probe"):
        x = sub.add_parser(name)
        x.add_argument("--connect", required=True)
        x.add_argument("--pki", required=True)
        if name == "hold":
            x.add_argument("--n", type=int, required=True)
            x.add_argument("--parallel", type=int, default=1)
    x = sub.add_parser("slow")
    x.add_argument("--connect", required=True)
    x.add_argument("--n", type=int, required=True)
    x.add_argument("--within", type=float, required=True)
    x = sub.add_parser("hostile")
    x.add_argument("--connect", required=True)
    x.add_argument("--kind", required=True, help="all, or kinds separated by commas")
    x.add_argument("--count", type=int, default=1)
    x.add_argument("--rst-count", type=int, default=0, help="count for hello_rst")
    x.add_argument("--within", type=float, default=10)
    x.add_argument("--parallel", type=int, default=1)
    x = sub.add_parser("kinds")
    a = p.parse_args()
    if a.cmd == "kinds":
        print(" ".join(hostile_kinds()))
        return
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
