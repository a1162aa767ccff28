#!/usr/bin/env python3
"""bench/cluster/placement.py: memory per node and bytes per write, full
replication beside placement (--replicas 2), for clusters of 3, 6 and 9 local
nodes (real processes, loopback, in memory).

    bench/cluster/placement.py [build-release/sessionmesh] [SESSIONS] [SIZES]

For each size (default 3,6,9) and mode (all, 2): SESSIONS sessions (default
30,000) of one 256-byte variable are created through the nodes in turn; once
the nodes together hold every copy (N or 2 per session), it prints the mean
and largest growth of a node's resident memory, the sessions it holds, and the
cluster transport bytes sent per write (all nodes' counters, anti-entropy and
probes included), from just before the writes to just after they settle.
"""
import http.client, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.abspath(__file__))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "..", "build-release", "sessionmesh")
K = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
SIZES = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "3,6,9").split(",")]
TMP = tempfile.mkdtemp(prefix="sm-bench-placement-")
VALUE = "x" * 254  # a 256-byte JSON string


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Node:
    def __init__(self, name, seed, replicas):
        self.name, self.http, self.gossip = name, free_port(), free_port()
        seeds = seed or f"127.0.0.1:{self.gossip}"
        self.proc = subprocess.Popen([BIN, "serve", "--node-id", name, "--in-memory", "--http", f"127.0.0.1:{self.http}",
                                      "--gossip", f"127.0.0.1:{self.gossip}", "--seeds", seeds, "--adapter", "replicated",
                                      "--replicas", replicas, "--max-sessions", "0", "--log-level", "warn"],
                                     stderr=open(os.path.join(TMP, name + ".log"), "ab"))
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit(f"{name} did not start")

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as r:
            return r.read().decode()

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def held(self):
        return json.loads(self.get("/v1/stats"))["current_sessions"]

    def bytes_out(self):
        m = re.search(r"^sessionmesh_transport_bytes_out_total (\d+)", self.get("/metrics"), re.M)
        return int(m.group(1))

    def alive(self):
        return sum(1 for m in json.loads(self.get("/v1/cluster"))["members"] if m["status"] == "alive")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def create(nodes, ids, threads=4):
    def run(k):
        conns = [http.client.HTTPConnection("127.0.0.1", n.http, timeout=30) for n in nodes]
        for i in range(k, len(ids), threads):
            c = conns[i % len(conns)]
            c.request("POST", "/v1/sessions", body=json.dumps({"id": ids[i], "variables": {"v": VALUE}}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status not in (200, 201):
                raise SystemExit(f"create {ids[i]}: {r.status}")
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def one(n, replicas):
    nodes = [Node("n0", None, replicas)]
    for i in range(1, n):
        nodes.append(Node(f"n{i}", nodes[0].gossip and f"127.0.0.1:{nodes[0].gossip}", replicas))
    t0 = time.time()
    while time.time() - t0 < 30 and not all(x.alive() == n for x in nodes):
        time.sleep(0.1)
    time.sleep(2)
    rss0 = [x.rss_kb() for x in nodes]
    out0 = sum(x.bytes_out() for x in nodes)
    copies = K * (n if replicas == "all" else min(int(replicas), n))
    t1 = time.time()
    create(nodes, [f"b-{i}" for i in range(K)])
    while time.time() - t1 < 120 and sum(x.held() for x in nodes) != copies:
        time.sleep(0.2)
    settle = time.time() - t1
    held = [x.held() for x in nodes]
    grow = [(x.rss_kb() - r) * 1024 for x, r in zip(nodes, rss0)]
    out = sum(x.bytes_out() for x in nodes) - out0
    for x in nodes:
        x.stop()
    return {"n": n, "replicas": replicas, "held_mean": sum(held) / n, "mem_mean_mib": sum(grow) / n / 2**20,
            "mem_max_mib": max(grow) / 2**20, "bytes_per_write": out / K, "settle_s": settle,
            "complete": sum(held) == copies}


def main():
    print(f"{K} sessions of one 256-byte variable; {BIN}")
    print("| nodes | replicas | sessions held per node | node memory growth, mean (max) | bytes sent per write | settled |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in SIZES:
        for replicas in ("all", "2"):
            r = one(n, replicas)
            print(f"| {r['n']} | {r['replicas']} | {r['held_mean']:.0f} | {r['mem_mean_mib']:.1f} MiB "
                  f"({r['mem_max_mib']:.1f}) | {r['bytes_per_write']:.0f} | {r['settle_s']:.1f} s"
                  f"{'' if r['complete'] else ' (incomplete)'} |", flush=True)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
