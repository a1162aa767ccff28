#!/usr/bin/env python3
"""bench/cluster: three local nodes (real processes, loopback).

    bench/cluster/run.py [build/sessionmesh] [SESSIONS]

1. replication delay under ~5k writes/s (SM_RATE=N for another rate): PUTs on node a (pipelined), each
   timed from send to its `put` event on node b's WebSocket feed; p50/p99.
2. heal after a partition: SESSIONS sessions everywhere, node c cut off,
   1% of them rewritten on a, heal; seconds until the Merkle roots agree and
   bytes on the wire meanwhile (all nodes' transport counters), beside the
   encoded size of the differing records (WAL bytes of those writes on a) and
   beside a full-state exchange (the snapshot size of one node).
3. kill -9 of c: seconds until its sessions' owner moves (default settings).
4. online migration: a local node with SESSIONS sessions switches to the
   replicated adapter and joins a and b (POST /v1/admin/migrate) while a
   client writes to it; the migration's duration, and the client's write
   latency p50/p99 during it beside the same client before it (baseline).
"""
import importlib.util, json, os, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.abspath(__file__))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "..", "build", "sessionmesh")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
spec = importlib.util.spec_from_file_location("watch", os.path.join(ROOT, "..", "..", "examples", "python", "watch.py"))
watch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watch)
TMP = tempfile.mkdtemp(prefix="sm-bench-cluster-")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Node:
    def __init__(self, name, seed=None, adapter="replicated"):
        self.name, self.http, self.gossip = name, free_port(), free_port()
        seeds = seed or f"127.0.0.1:{self.gossip}"
        self.proc = subprocess.Popen([BIN, "serve", "--node-id", name, "--data-dir", os.path.join(TMP, name),
                                      "--http", f"127.0.0.1:{self.http}", "--gossip", f"127.0.0.1:{self.gossip}",
                                      "--seeds", seeds, "--adapter", adapter, "--fsync", "batch",
                                      "--max-sessions", str(N * 2), "--test-faults", "--log-level", "error"])
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1); return
            except Exception:
                time.sleep(0.05)

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=30) as r:
            return r.read()

    def post(self, path, body):
        r = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=json.dumps(body).encode(), method="POST")
        r.add_header("Content-Type", "application/json")
        return urllib.request.urlopen(r, timeout=30).read()

    def cluster(self):
        return json.loads(self.get("/v1/cluster"))

    def metric(self, name):
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


def pipeline(port, reqs, on_sent=None):
    """Sends raw HTTP requests pipelined on one connection; reads all answers."""
    s = socket.create_connection(("127.0.0.1", port))
    got, buf = 0, b""
    def reader():
        nonlocal got, buf
        while got < len(reqs):
            chunk = s.recv(1 << 20)
            if not chunk: break
            buf += chunk
            while True:
                h = buf.find(b"\r\n\r\n")
                if h < 0: break
                head = buf[:h].decode()
                ln = int([l.split(":")[1] for l in head.split("\r\n") if l.lower().startswith("content-length")][0])
                if len(buf) < h + 4 + ln: break
                buf = buf[h + 4 + ln:]
                got += 1
    t = threading.Thread(target=reader); t.start()
    for i, r in enumerate(reqs):
        s.sendall(r)
        if on_sent: on_sent(i)
    t.join(); s.close()


def put_req(sid, name, value):
    body = json.dumps(value)
    return (f"PUT /v1/sessions/{sid}/variables/{name} HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def create_req(sid):
    body = json.dumps({"id": sid, "variables": {"v": "x" * 254}})
    return (f"POST /v1/sessions HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def wait(pred, timeout=120, step=0.02):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred(): return time.time() - t0
        time.sleep(step)
    return None


def main():
    a = Node("a"); b = Node("b", f"127.0.0.1:{a.gossip}"); c = Node("c", f"127.0.0.1:{a.gossip}")
    nodes = [a, b, c]
    wait(lambda: all(sum(m["status"] == "alive" for m in x.cluster()["members"]) == 3 for x in nodes))
    print(f"{len(nodes)} nodes up", flush=True)

    # 1. replication delay under ~5k writes/s
    pipeline(a.http, [create_req(f"d{i:04d}") for i in range(1000)])
    wait(lambda: json.loads(b.get("/v1/stats"))["current_sessions"] >= 1000)
    sent, recv = {}, {}
    ws = watch.connect(f"ws://127.0.0.1:{b.http}/v1/watch?prefix=d", None)
    def follow():
        try:
            for op, payload in watch.frames(ws):
                if op == 1:
                    e = json.loads(payload)
                    if e.get("type") == "put": recv.setdefault(e["session"]["variables"].get("k"), time.time())
        except Exception: pass
    threading.Thread(target=follow, daemon=True).start()
    rate = int(os.environ.get("SM_RATE", "5000")); total = rate * 3
    reqs = [put_req(f"d{i % 1000:04d}", "k", i) for i in range(total)]
    t0 = time.time()
    def paced(i):
        sent[i] = time.time()
        target = t0 + i / rate
        if target > sent[i]: time.sleep(target - sent[i])
    pipeline(a.http, reqs, on_sent=paced)
    elapsed = time.time() - t0
    wait(lambda: len(recv) >= total * 0.99, timeout=10)
    ws.close()
    delays = sorted((recv[i] - sent[i]) * 1000 for i in range(total) if i in recv)
    p50 = statistics.median(delays); p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"replication delay at {total / elapsed:.0f} writes/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({len(delays)} of {total} events seen on b)", flush=True)

    # 2. heal after a partition with N sessions and 1% diverged
    for k in range(0, N, 5000):
        pipeline(a.http, [create_req(f"s{i:07d}") for i in range(k, min(N, k + 5000))])
    t = wait(lambda: len({x.cluster()["digest"] for x in nodes}) == 1, timeout=300)
    print(f"{N} sessions on every node ({t and round(t, 1)} s after the load)", flush=True)
    a.post("/v1/admin/faults", {"block": ["c"]}); b.post("/v1/admin/faults", {"block": ["c"]})
    c.post("/v1/admin/faults", {"block": ["a", "b"]})
    time.sleep(0.5)
    wal0 = a.metric("sessionmesh_wal_bytes_total")
    diverged = N // 100
    step = N // diverged
    pipeline(a.http, [put_req(f"s{i:07d}", "v", "y" * 254) for i in range(0, N, step)][:diverged])
    diff_bytes = a.metric("sessionmesh_wal_bytes_total") - wal0
    time.sleep(1.0)
    bytes0 = sum(x.metric("sessionmesh_transport_bytes_out_total") for x in nodes)
    ae_names = ["exchanges", "sketches", "sketch_failures", "records_sent", "records_repaired"]
    ae0 = {k: sum(x.metric(f"sessionmesh_antientropy_{k}_total") for x in nodes) for k in ae_names}
    for x in nodes: x.post("/v1/admin/faults", {"block": []})
    t_heal = wait(lambda: len({x.cluster()["digest"] for x in nodes}) == 1, timeout=120, step=0.01)
    wire = sum(x.metric("sessionmesh_transport_bytes_out_total") for x in nodes) - bytes0
    snap = 0
    for root, _, files in os.walk(os.path.join(TMP, "a")):
        snap += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"heal: {t_heal and round(t_heal, 2)} s, {wire / 1e6:.2f} MB on the wire for {diverged} differing records "
          f"({diff_bytes / 1e6:.2f} MB encoded: {wire / max(diff_bytes, 1):.2f}x); a full-state exchange would move "
          f"{snap / 1e6:.1f} MB ({wire / max(snap, 1):.3f}x of it)", flush=True)
    print("  anti-entropy meanwhile, all nodes: " + ", ".join(
        f"{k} {sum(x.metric(f'sessionmesh_antientropy_{k}_total') for x in nodes) - ae0[k]:.0f}" for k in ae_names),
        flush=True)

    # 3. kill -9 -> ownership moved
    ids = [f"s{i:07d}" for i in range(0, 200)]
    owned = [i for i in ids if json.loads(a.get(f"/v1/sessions/{i}"))["owner"] == "c"][:10]
    c.proc.send_signal(signal.SIGKILL); c.proc.wait()
    t = wait(lambda: all(json.loads(a.get(f"/v1/sessions/{i}"))["owner"] != "c" for i in owned), timeout=30, step=0.01)
    print(f"ownership moved {t and round(t, 2)} s after kill -9 (default settings)", flush=True)

    # 4. online migration of a local node with N sessions into a, b
    m = Node("m", adapter="local")
    for k in range(0, N, 5000):
        pipeline(m.http, [create_req(f"m{i:07d}") for i in range(k, min(N, k + 5000))])
    lat, phase, stop, failed = {"before": [], "during": []}, ["before"], threading.Event(), [0]
    def writer():
        conn = socket.create_connection(("127.0.0.1", m.http))
        i = 0
        while not stop.is_set():
            t1 = time.time()
            conn.sendall(put_req(f"m{i % N:07d}", "w", i))
            buf = b""
            while b"\r\n\r\n" not in buf: buf += conn.recv(65536)
            h = buf.find(b"\r\n\r\n")
            ln = int([l.split(":")[1] for l in buf[:h].decode().split("\r\n") if l.lower().startswith("content-length")][0])
            while len(buf) < h + 4 + ln: buf += conn.recv(65536)
            lat[phase[0]].append((time.time() - t1) * 1000)
            if not buf.split(b" ", 2)[1].startswith(b"2"): failed[0] += 1
            i += 1
            time.sleep(0.001)
        conn.close()
    th = threading.Thread(target=writer); th.start()
    time.sleep(2)
    phase[0] = "during"
    t0 = time.time()
    m.post("/v1/admin/migrate", {"to": "replicated", "seeds": f"127.0.0.1:{a.gossip}"})
    wait(lambda: json.loads(m.get("/v1/admin/migrate"))["result"] != "running", timeout=600, step=0.01)
    took = time.time() - t0
    stop.set(); th.join()
    rep_ = json.loads(m.get("/v1/admin/migrate"))
    def pct(v, q): v = sorted(v); return v[min(len(v) - 1, int(len(v) * q))]
    b0, d0 = lat["before"], lat["during"]
    print(f"online migration of {rep_['source_sessions']} sessions: {rep_['result']} in {rep_['duration_ms']} ms "
          f"({took:.2f} s seen by the client); writes meanwhile p50 {pct(d0, .5):.2f} ms, p99 {pct(d0, .99):.2f} ms "
          f"vs before p50 {pct(b0, .5):.2f} ms, p99 {pct(b0, .99):.2f} ms "
          f"(p99 {pct(d0, .99) / max(pct(b0, .99), 1e-9):.1f}x; {len(d0)} writes, {failed[0]} not 2xx)", flush=True)
    m.proc.send_signal(signal.SIGTERM); m.proc.wait()
    for x in (a, b):
        x.proc.send_signal(signal.SIGTERM); x.proc.wait()


try:
    main()
finally:
    subprocess.run(["pkill", "-9", "-f", TMP])
    subprocess.run(["rm", "-rf", TMP])
