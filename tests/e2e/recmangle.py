#!/usr/bin/env python3
"""recmangle.py: hostile TLS records, and plain peers, for t_records.sh.

  mangle --app A --listen L --upstream U --mode M --bulk N --sent FILE
      A TCP proxy on L (where an mtlsd client route connects) to U (an mtlsd
      server route), and the app behind the client route (A) in one process,
      so the proxy knows when the handshake is over: the app sends "hello\\n"
      and waits for its echo; every client->server record after that is
      application data.  The app then sends N random bytes (all it sent goes
      to FILE), shuts its write side and reads until the end.  Records are cut
      at their 5-byte headers; application-data record 1 (the second) is:
        none      passed untouched
        replay    sent, then sent again
        reorder   swapped with record 2
        truncate  cut to half its length, then the proxy closes toward U
        oversize  its length rewritten to 16384+256+1, that many bytes sent
        flip      one ciphertext byte flipped
      Prints "at=X echoed=E match=yes|no": X the offset in FILE where the
      first bad record's plaintext begins (TLS 1.3: 17 bytes of overhead a
      record), E the bytes the app got back.
  sink --listen A --dir D
      echo, keeping what connection K sent in D/K.bin; "closed K" at its end
  swap --listen A --expect N --send FILE
      read N bytes, answer "sha256:HEX\\n" and FILE, shut write, drain
  send --connect A --file F --out O [--hold] [--body]
      send F (then shut write, unless --hold), write all received to O
      (--body: what follows the first blank line of an HTTP response)
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import threading

OVERHEAD13 = 17		# tag and inner content type


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def listen(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a))
    s.listen(16)
    return s


def read_all(s, limit=None):
    out = bytearray()
    try:
        while limit is None or len(out) < limit:
            d = s.recv(1 << 16 if limit is None else min(1 << 16, limit - len(out)))
            if not d:
                break
            out += d
    except OSError:
        pass
    return bytes(out)


def records(s):
    """Yields (header, body) of each record from s, then (None, tail)."""
    buf = b""
    while True:
        while len(buf) >= 5 and len(buf) >= 5 + struct.unpack("!H", buf[3:5])[0]:
            n = 5 + struct.unpack("!H", buf[3:5])[0]
            yield buf[:5], buf[5:n]
            buf = buf[n:]
        try:
            d = s.recv(1 << 16)
        except OSError:
            d = b""
        if not d:
            yield None, buf
            return
        buf += d


def mangle(a):
    lsock = listen(a.listen)
    app = socket.create_connection(addr(a.app), timeout=20)
    cli, _ = lsock.accept()
    srv = socket.create_connection(addr(a.upstream), timeout=20)
    cli.settimeout(20)
    armed = threading.Event()
    at = [None]

    def s2c():
        try:
            while True:
                d = srv.recv(1 << 16)
                if not d:
                    break
                cli.sendall(d)
        except OSError:
            pass
        try:
            cli.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    up = [True]		# toward U; once it fails (or after truncate) we drain

    def fwd(data):
        try:
            if up[0]:
                srv.sendall(data)
        except OSError:
            up[0] = False

    def close_up():
        if up[0]:
            up[0] = False
            try:
                srv.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def c2s():
        idx, before, held = 0, len(b"hello\n"), None
        for hdr, body in records(cli):
            if hdr is None:
                fwd(body)
                break
            out = hdr + body
            if armed.is_set() and hdr[0] == 23 and a.mode != "none":
                idx += 1
                if idx == 2:		# application-data record 1: the bad one
                    at[0] = before + (len(body) - OVERHEAD13 if a.mode == "replay" else 0)
                    if a.mode == "replay":
                        out = out + out
                    elif a.mode == "reorder":
                        held, out = out, b""
                    elif a.mode == "truncate":
                        fwd(out[:len(out) // 2])
                        close_up()		# from here on, drained
                        out = b""
                    elif a.mode == "oversize":
                        n = 16384 + 256 + 1
                        out = hdr[:3] + struct.pack("!H", n) + (body + os.urandom(n))[:n]
                    elif a.mode == "flip":
                        m = len(body) // 2
                        out = hdr + body[:m] + bytes([body[m] ^ 0x40]) + body[m + 1:]
                elif idx == 3 and held is not None:
                    out = out + held
                before += len(body) - OVERHEAD13
            fwd(out)
        close_up()

    threads = [threading.Thread(target=f) for f in (s2c, c2s)]
    for t in threads:
        t.start()
    sent = b"hello\n"
    app.sendall(sent)
    echoed = read_all(app, len(sent))
    armed.set()
    bulk = os.urandom(a.bulk)
    sent += bulk		# all of it, though a closed route may take only part
    try:
        app.sendall(bulk)
        app.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    echoed += read_all(app)
    with open(a.sent, "wb") as f:
        f.write(sent)
    for t in threads:
        t.join(20)
    print("at=%s echoed=%d match=%s" % (at[0] if at[0] is not None else len(sent),
          len(echoed), "yes" if echoed == sent else "no"), flush=True)


def serve(a, handler):
    s = listen(a.listen)
    print("ready", flush=True)
    k = 0
    while True:
        c, _ = s.accept()
        k += 1
        c.settimeout(30)
        threading.Thread(target=handler, args=(c, k), daemon=True).start()


def sink(a):
    def one(c, k):
        with open(os.path.join(a.dir, "%d.bin" % k), "wb", buffering=0) as f:
            try:
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    f.write(d)
                    c.sendall(d)
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        c.close()
        print("closed %d" % k, flush=True)
    serve(a, one)


def swap(a):
    with open(a.send, "rb") as f:
        back = f.read()

    def one(c, k):
        got = read_all(c, a.expect)
        try:
            c.sendall(b"sha256:" + hashlib.sha256(got).hexdigest().encode() + b"\n" + back)
            c.shutdown(socket.SHUT_WR)
            read_all(c)
        except OSError:
            pass
        c.close()
        print("conn %d got %d" % (k, len(got)), flush=True)
    serve(a, one)


def send(a):
    s = socket.create_connection(addr(a.connect), timeout=30)
    with open(a.file, "rb") as f:
        s.sendall(f.read())
    if not a.hold:
        s.shutdown(socket.SHUT_WR)
    got = read_all(s)
    if a.body:
        got = got[got.find(b"\r\n\r\n") + 4:] if b"\r\n\r\n" in got else b""
    with open(a.out, "wb") as f:
        f.write(got)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mangle")
    for k in ("--app", "--listen", "--upstream", "--sent"):
        m.add_argument(k, required=True)
    m.add_argument("--mode", required=True,
                   choices=("none", "replay", "reorder", "truncate", "oversize", "flip"))
    m.add_argument("--bulk", type=int, default=256 << 10)
    k = sub.add_parser("sink")
    k.add_argument("--listen", required=True)
    k.add_argument("--dir", required=True)
    w = sub.add_parser("swap")
    w.add_argument("--listen", required=True)
    w.add_argument("--expect", type=int, required=True)
    w.add_argument("--send", required=True)
    s = sub.add_parser("send")
    for k in ("--connect", "--file", "--out"):
        s.add_argument(k, required=True)
    s.add_argument("--hold", action="store_true")
    s.add_argument("--body", action="store_true")
    a = p.parse_args()
    globals()[a.cmd](a)


if __name__ == "__main__":
    main()
