#!/usr/bin/env python3
"""torch_job.py: helpers for the PyTorch-through-mtlsd test (t_torch.sh).

  job RANK MASTER_PORT MARKER HOLD [join]
        one rank (world size 2, gloo, env:// with MASTER_ADDR 10.77.1.1) of:
        a 4M-float all_reduce whose sum is checked exactly; MARKER-rankR set
        in the store and exchanged by all_gather_object; a few DDP steps on a
        small model, then a hash of the parameters; then "holding" until the
        file HOLD exists, a barrier, "done".  With "join": only the rendezvous
        and a small all_reduce ("joined").
  probe HOST PORT     a TCP connect, 1 s: prints open, refused or timeout
                      (HOST may be fe80::...%IFACE)
  sniff IFACE FILE    every frame on IFACE into FILE (pcap); prints "ready";
                      on SIGTERM drains the socket, prints "drops N"
  scan FILE MARKER A B   frames between the nodes (A, B: their addresses,
                      comma-separated): TCP bytes on port 7443, the other
                      flows between them, and whether MARKER appears in any
                      reassembled TCP stream or anywhere in the capture
"""
import os
import signal
import socket
import struct
import sys
import time


def job(rank, port, marker, hold, mode="full"):
    import datetime
    import hashlib
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="10.77.1.1", MASTER_PORT=port)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=90))
    if mode == "join":
        t = torch.ones(1024)
        dist.all_reduce(t)
        print("joined sum_ok=%d" % int(bool((t == 2).all())), flush=True)
        dist.barrier()
        return

    # Small integers: every partial sum is exact in float32.
    n = 4 << 20
    base = torch.arange(n, dtype=torch.float32) % 1000
    want = base * 3 + 1          # rank 0 sends base, rank 1 sends 2 * base + 1
    mine = lambda: base.clone() if rank == 0 else base * 2 + 1  # noqa: E731
    t = mine()
    dist.all_reduce(t)
    exact = torch.equal(t, want)
    times = []
    for _ in range(5):
        t = mine()
        dist.barrier()           # time the transfer, not the other rank's lag
        t0 = time.perf_counter()
        dist.all_reduce(t)
        times.append(time.perf_counter() - t0)
    print("allreduce exact=%d ms=%.1f" % (exact, sorted(times)[2] * 1e3), flush=True)

    mark = "%s-rank%d" % (marker, rank)
    dist.distributed_c10d._get_default_store().set("marker%d" % rank, mark)
    got = [None, None]
    dist.all_gather_object(got, mark)
    other = dist.distributed_c10d._get_default_store().get("marker%d" % (1 - rank)).decode()
    want_other = "%s-rank%d" % (marker, 1 - rank)
    print("markers ok=%d" % (got[1 - rank] == want_other and other == want_other), flush=True)

    # Different initial weights and data on each rank: DDP's broadcast and
    # gradient averaging are what make the ranks end up equal.
    torch.manual_seed(1234 + rank)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 128))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
    steps = []
    for _ in range(8):
        x, y = torch.randn(32, 256), torch.randn(32, 128)
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
        steps.append(time.perf_counter() - t0)
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().numpy().tobytes())
    print("ddp hash=%s step_ms=%.1f" % (h.hexdigest()[:32], sorted(steps[1:])[3] * 1e3),
          flush=True)

    print("holding", flush=True)
    end = time.monotonic() + 30
    while not os.path.exists(hold) and time.monotonic() < end:
        time.sleep(0.02)
    dist.barrier()
    dist.destroy_process_group()
    print("done", flush=True)


def probe(host, port):
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
        print("open")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    except OSError as e:
        print("error:%s" % e.strerror)


class Stop(Exception):
    pass


def sniff(iface, path):
    def stop(*_):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE (root)
    s.bind((iface, 0))
    out = open(path, "wb")
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 1 << 18, 1))

    def one(frame):
        now = time.time()
        out.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), len(frame), len(frame)))
        out.write(frame)
    print("ready", flush=True)
    try:
        while True:
            one(s.recv(1 << 18))
    except Stop:
        pass
    s.setblocking(False)
    try:
        while True:
            one(s.recv(1 << 18))
    except BlockingIOError:
        pass
    _, drops = struct.unpack("II", s.getsockopt(263, 6, 8))  # PACKET_STATISTICS
    out.close()
    print("drops %d" % drops, flush=True)


def scan(path, marker, a, b):
    a, b = set(a.split(",")), set(b.split(","))
    data = open(path, "rb").read()
    off, frames, between, tls_bytes = 24, 0, 0, 0
    other, flows = set(), {}
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        f = data[off + 16:off + 16 + incl]
        off += 16 + incl
        frames += 1
        etype = struct.unpack_from("!H", f, 12)[0]
        if etype == 0x0800:
            ihl = (f[14] & 15) * 4
            proto, src, dst = f[23], socket.inet_ntop(socket.AF_INET, f[26:30]), \
                socket.inet_ntop(socket.AF_INET, f[30:34])
            l4 = f[14 + ihl:14 + struct.unpack_from("!H", f, 16)[0]]
        elif etype == 0x86dd:
            proto, src, dst = f[20], socket.inet_ntop(socket.AF_INET6, f[22:38]), \
                socket.inet_ntop(socket.AF_INET6, f[38:54])
            l4 = f[54:54 + struct.unpack_from("!H", f, 18)[0]]
        else:
            continue
        if not ((src in a and dst in b) or (src in b and dst in a)):
            continue
        between += 1
        if proto in (1, 58):       # ICMP, ICMPv6 (neighbour discovery)
            continue
        if proto != 6:
            other.add("proto%d %s>%s" % (proto, src, dst))
            continue
        sport, dport, seq = struct.unpack_from("!HHI", l4, 0)
        payload = l4[(l4[12] >> 4) * 4:]
        if 7443 in (sport, dport):
            tls_bytes += len(payload)
        else:
            other.add("tcp %s:%d>%s:%d" % (src, sport, dst, dport))
        if payload:
            segs = flows.setdefault((src, sport, dst, dport), {})
            if len(payload) > len(segs.get(seq, b"")):
                segs[seq] = payload
    seen = marker.encode() in data
    for segs in flows.values():
        isn, stream, end = min(segs), bytearray(), 0
        for seq in sorted(segs, key=lambda s: (s - isn) % (1 << 32)):
            rel, p = (seq - isn) % (1 << 32), segs[seq]
            if rel + len(p) > end:
                stream += p[max(0, end - rel):]
                end = rel + len(p)
        seen = seen or marker.encode() in stream
    print("frames=%d between=%d tls_bytes=%d marker=%s other=%d %s" % (
        frames, between, tls_bytes, "seen" if seen else "absent", len(other),
        " ".join(sorted(other)[:4])))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "job":
        job(int(args[0]), args[1], args[2], args[3], *args[4:])
    elif cmd == "probe":
        probe(*args)
    elif cmd == "sniff":
        sniff(*args)
    elif cmd == "scan":
        scan(*args)
    else:
        sys.exit("usage: see the docstring")
