#!/usr/bin/env python3
"""pp2.py: an independent PROXY protocol v2 implementation for the tests.

  backend PORT [HOST]       reads a v2 header, prints what it says, echoes
  KIND PORT PKI             a load balancer: sends a KIND header (proxy,
                            local, none, v1, badver, short, garbage), then
                            TLS with PKI's client certificate
parse() and header() are imported by tunnel.py.
"""
import socket, ssl, struct, sys, threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"

def parse(hdr):
    """Independent PROXY v2 parser: returns a dict, raises on anything odd."""
    assert hdr[:12] == SIG, "signature"
    ver_cmd, fam, length = hdr[12], hdr[13], struct.unpack("!H", hdr[14:16])[0]
    assert ver_cmd >> 4 == 2, "version"
    body = hdr[16:16 + length]
    out = {"cmd": ver_cmd & 15, "tlvs": {}}
    if fam == 0x11:
        s, d, sp, dp = struct.unpack("!4s4sHH", body[:12])
        out["src"] = "%s:%d" % (socket.inet_ntop(socket.AF_INET, s), sp)
        out["dst"] = "%s:%d" % (socket.inet_ntop(socket.AF_INET, d), dp)
        body = body[12:]
    elif fam == 0x21:
        s, d, sp, dp = struct.unpack("!16s16sHH", body[:36])
        out["src"] = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, s), sp)
        body = body[36:]
    while body:
        t, l = body[0], struct.unpack("!H", body[1:3])[0]
        out["tlvs"][t] = body[3:3 + l]
        body = body[3 + l:]
    return out

def backend(port, host="127.0.0.1"):
    """Reads a PROXY v2 header, then prints what it says, then echoes."""
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(8); print("ready", flush=True)
    while True:
        c, _ = s.accept()
        hdr = b""
        while len(hdr) < 16:
            hdr += c.recv(16 - len(hdr))
        need = 16 + struct.unpack("!H", hdr[14:16])[0]
        while len(hdr) < need:
            hdr += c.recv(need - len(hdr))
        p = parse(hdr)
        ssl_tlv = p["tlvs"].get(0x20, b"")
        sub, i = {}, 5
        while i < len(ssl_tlv):
            t, l = ssl_tlv[i], struct.unpack("!H", ssl_tlv[i + 1:i + 3])[0]
            sub[t] = ssl_tlv[i + 3:i + 3 + l].decode()
            i += 3 + l
        print("header src=%s dst=%s peer_id=%s client=%d verify=%d version=%s cn=%s" % (
            p.get("src"), p.get("dst"), p["tlvs"].get(0xE0, b"").decode(),
            ssl_tlv[0] if ssl_tlv else -1,
            struct.unpack("!I", ssl_tlv[1:5])[0] if ssl_tlv else -1,
            sub.get(0x21), sub.get(0x22)), flush=True)
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
        c.close()

def header(src, sport, dst, dport, local=False):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return SIG + bytes([0x20 if local else 0x21, 0x11]) + struct.pack("!H", len(body)) + body

def lb_client(port, pki, prefix, expect):
    """A load balancer: sends prefix bytes, then TLS with a client cert."""
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(prefix)
    try:
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"hello\n")
        got = t.recv(100)
        print("reply=%s" % got.decode().strip())
    except (ssl.SSLError, OSError) as e:
        print("refused: %s" % e.__class__.__name__)

if __name__ == "__main__":
    what = sys.argv[1]
    if what == "backend":
        backend(int(sys.argv[2]), *sys.argv[3:4])
    else:
        port, pki = int(sys.argv[2]), sys.argv[3]
        prefix = {
            "proxy": header("203.0.113.7", 4242, "10.0.0.5", 443),
            "local": header("0.0.0.0", 0, "0.0.0.0", 0, local=True),
            "none": b"",
            "v1": b"PROXY TCP4 203.0.113.7 10.0.0.5 4242 443\r\n",
            "badver": SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12,
            "short": SIG + b"\x21\x11\x00\x04" + b"\x00" * 4,
            "garbage": b"GET / HTTP/1.1\r\n\r\n",
        }[what]
        lb_client(port, pki, prefix, None)
