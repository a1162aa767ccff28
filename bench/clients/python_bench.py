#!/usr/bin/env python3
"""get/update latency from the Python client at a paced 1,000 ops/s, beside
the transport floor (GET /healthz on the same pooled connection) and
Snakepit's target (R3.3: < 1 ms). Usage: python_bench.py URL SECONDS"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
from sessionmesh import Client  # noqa: E402


def paced(name, n, f):
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / 1000.0
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        a = time.perf_counter()
        f()
        lat.append((time.perf_counter() - a) * 1000)
    lat.sort()
    el = time.perf_counter() - t0
    print(f"python {name:<16s} ops {n:6d}  rate {n / el:7.0f}/s  p50 {lat[n // 2]:6.3f} ms  "
          f"p99 {lat[min(n - 1, int(n * 0.99))]:6.3f} ms  (target < 1 ms)", flush=True)


def main():
    url, secs = sys.argv[1], int(sys.argv[2])
    c = Client([url])
    sid = f"bench-py-{os.getpid()}"
    c.create(id=sid, variables={"n": 0, "payload": "x" * 256})
    n = secs * 1000
    paced("http_healthz", n, lambda: c.request("GET", "/healthz"))
    paced("get", n, lambda: c.get(sid))
    paced("update", n, lambda: c.update(sid, lambda s: {"variables": {"n": s["variables"]["n"] + 1}}))


if __name__ == "__main__":
    main()
