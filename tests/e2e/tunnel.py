#!/usr/bin/env python3
"""tunnel.py: helpers for the transparent-route test (t_transparent.sh).

  sniff IFACE FILE           captures every frame on IFACE (AF_PACKET) into
                             FILE, raw and back to back; prints "ready"
  client ADDR PKI NAME DST   an independent tunnel client: TLS 1.3 with PKI's
                             NAME certificate to ADDR (HOST:PORT), then a
                             PROXY v2 header whose destination is DST
                             (HOST:PORT; "none" sends no header but a line
                             of text), then "hello"; prints the reply, or
                             "closed" when the server ends the connection
                             without one
"""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pp2  # noqa: E402


def sniff(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    # A burst must not outrun this loop: a dropped frame could hide a
    # marker.  (SO_RCVBUFFORCE: root, as this test is.)
    s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE
    s.bind((iface, 0))
    with open(path, "wb", buffering=0) as out:
        print("ready", flush=True)
        while True:
            out.write(s.recv(65536))


def client(addr, pki, name, dst):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    ctx.load_cert_chain(pki + "/%s.crt" % name, pki + "/%s.key" % name)
    ctx.check_hostname = False  # the server's identity is not under test here
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    s = socket.create_connection((host, int(port)), timeout=20)
    # A refusal may surface at the handshake, the send or the read (TLS 1.3
    # checks the client's certificate after the client has finished).
    try:
        t = ctx.wrap_socket(s)
        me = t.getsockname()
        if dst == "none":
            t.sendall(b"GET / HTTP/1.0\r\n\r\n")
        else:
            dhost, dport = dst.rsplit(":", 1)
            t.sendall(pp2.header(me[0], me[1], dhost, int(dport)) + b"hello\n")
        got = t.recv(200)
    except (ssl.SSLError, OSError):
        got = b""
    print(got.decode(errors="replace").strip() if got else "closed", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "sniff":
        sniff(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "client":
        client(*sys.argv[2:6])
    else:
        sys.exit("usage: see the docstring")
