#!/usr/bin/env python3
"""peer.py: plain-TCP peers for mtlsd's end-to-end tests.

An independent implementation on the plain side of the proxy (the TLS side
is tested with OpenSSL's s_client, curl and Python's ssl).  Addresses are
HOST:PORT or unix:/path.  Servers print "ready" once listening.

  echo       --listen A                 echo each connection; EOF -> shut write
  dies       --listen A --after N       read N bytes, then reset the connection
  reply      --listen A                 read a line, answer "got:LINE", close
  roundtrip  --connect A --bytes N      send N random bytes, half-close, read
             [--source HOST]            the echo; exit 0 iff sha256 matches
                                        (from HOST, when given)
  halfclose  --connect A --send TEXT    send, shut write, print the whole reply
  silent     --connect A --within S     send nothing; exit 0 iff the peer
                                        closes within S seconds (prints when)
  hold       --connect A                connect, print "connected", hold until
                                        stdin closes; exit 0
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time


def sockaddr(addr):
    if addr.startswith("unix:"):
        return socket.AF_UNIX, addr[5:]
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def listen(addr):
    fam, sa = sockaddr(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_UNIX:
        try:
            os.unlink(sa)
        except FileNotFoundError:
            pass
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(sa)
    s.listen(128)
    print("ready", flush=True)
    return s


def connect(addr, timeout=30, source=None):
    fam, sa = sockaddr(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(sa)
    return s


def serve(s, handler):
    while True:
        c, _ = s.accept()
        print("accepted", flush=True)
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def echo_one(c):
    try:
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        # Wait for the other side to finish before closing.
        c.settimeout(30)
        while c.recv(1 << 16):
            pass
    except OSError:
        pass
    finally:
        c.close()


def cmd_echo(a):
    serve(listen(a.listen), echo_one)


def cmd_dies(a):
    def die(c):
        got = 0
        try:
            while got < a.after:
                d = c.recv(min(1 << 16, a.after - got))
                if not d:
                    break
                got += len(d)
                c.sendall(d)
        except OSError:
            pass
        # SO_LINGER 0: close() sends RST, as a crashing process would.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    serve(listen(a.listen), die)


def cmd_reply(a):
    def answer(c):
        try:
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(4096)
                if not d:
                    break
                line += d
            c.sendall(b"got:" + line)
        except OSError:
            pass
        c.close()
    serve(listen(a.listen), answer)


class HashingReader:
    """Reads s to EOF in a thread of its own, hashing what arrives: .h (sha256),
    .n (bytes) and .err (the OSError, if one ended it).  join() waits."""

    def __init__(self, s):
        self.h, self.n, self.err = hashlib.sha256(), 0, None
        self.s = s
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        try:
            while True:
                d = self.s.recv(1 << 18)
                if not d:
                    break
                self.h.update(d)
                self.n += len(d)
        except OSError as e:
            self.err = e

    def join(self):
        self.t.join()


def cmd_roundtrip(a):
    s = connect(a.connect, timeout=a.timeout, source=a.source)
    sent = hashlib.sha256()
    err = []
    rd = HashingReader(s)
    left = a.bytes
    chunk = os.urandom(1 << 20)
    start = time.monotonic()
    try:
        while left > 0:
            # Vary the data between chunks so a replayed chunk would show.
            piece = hashlib.sha256(str(left).encode()).digest() + chunk
            piece = piece[:min(left, len(piece))]
            s.sendall(piece)
            sent.update(piece)
            left -= len(piece)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append(e)
    rd.join()
    err += [rd.err] if rd.err else []
    secs = time.monotonic() - start
    match = rd.n == a.bytes and sent.digest() == rd.h.digest()
    print("sent=%d received=%d sha256_sent=%s sha256_received=%s match=%s secs=%.3f%s"
          % (a.bytes, rd.n, sent.hexdigest(), rd.h.hexdigest(),
             "yes" if match else "no", secs,
             (" error=%s" % err[0]) if err else ""))
    sys.exit(0 if match else 1)


def cmd_halfclose(a):
    s = connect(a.connect)
    try:
        s.sendall(a.send.encode())
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        # The far side may refuse and close before we are done sending:
        # that is an answer too (an empty reply), not a failure here.
        sys.stderr.write("halfclose: %s while sending\n" % e)
    out = b""
    try:
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            out += d
    except ConnectionResetError:
        sys.stderr.write("halfclose: connection reset after %d bytes\n" % len(out))
    sys.stdout.write(out.decode(errors="replace"))
    sys.stdout.flush()


def cmd_silent(a):
    s = connect(a.connect)
    start = time.monotonic()
    s.settimeout(a.within)
    try:
        while s.recv(4096):
            pass
        closed = True
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    print("closed=%s after=%.2f" % ("yes" if closed else "no", time.monotonic() - start))
    sys.exit(0 if closed else 1)


def cmd_hold(a):
    s = connect(a.connect)
    print("connected", flush=True)
    sys.stdin.read()
    s.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--listen", required=True)
    d = sub.add_parser("dies")
    d.add_argument("--listen", required=True)
    d.add_argument("--after", type=int, required=True)
    y = sub.add_parser("reply")
    y.add_argument("--listen", required=True)
    r = sub.add_parser("roundtrip")
    r.add_argument("--connect", required=True)
    r.add_argument("--bytes", type=int, required=True)
    r.add_argument("--timeout", type=float, default=60)
    r.add_argument("--source")
    h = sub.add_parser("halfclose")
    h.add_argument("--connect", required=True)
    h.add_argument("--send", required=True)
    s = sub.add_parser("silent")
    s.add_argument("--connect", required=True)
    s.add_argument("--within", type=float, required=True)
    o = sub.add_parser("hold")
    o.add_argument("--connect", required=True)
    a = p.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
