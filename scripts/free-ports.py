#!/usr/bin/env python3
"""free-ports.py N: prints N distinct free TCP ports on 127.0.0.1.

All N sockets are bound before any is closed, so the ports differ.  Used
by the end-to-end tests (tests/e2e/lib.sh) and the benchmark (bench/lib.sh).
"""
import socket
import sys

socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
