#!/usr/bin/env python3
"""Prints N distinct free TCP ports on 127.0.0.1 for processes the scripts start.

The ports are drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so no
outgoing connection on the machine can take one between this check and the service's bind;
all N are held while choosing, so they are distinct.  Usage: free-ports.py N
"""
import random
import socket
import sys


def ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    low, high = 10000, min(ephemeral_low(), 65536)
    rng = random.SystemRandom()
    held, ports = [], []
    for _ in range(2000):
        if len(ports) == n:
            break
        # Below the ephemeral range when there is room for it; else any port the kernel hands out.
        port = rng.randrange(low, high) if high - low >= 1000 else 0
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        if s.getsockname()[1] in ports:
            s.close()
            continue
        held.append(s)
        ports.append(s.getsockname()[1])
    if len(ports) < n:
        sys.exit(f"free-ports.py: found only {len(ports)} of {n} free ports")
    print(" ".join(map(str, ports)))


if __name__ == "__main__":
    main()
