#!/usr/bin/env python3
"""Soak: a 3-node cluster under mixed load for a while, with faults.

    bench/soak/soak.py [--minutes 30] [--rss-mib 512] [--bin build-release/sessionmesh]

Clients create, patch, read, watch, delete and let sessions expire (ttl 2 s)
on all three nodes at once. Every `--fault-every` seconds (default 60) one
fault, in turn: kill -9 of a node and its restart; a partition of one node
for 10 s (the test-only fault switch); a rolling restart (SIGTERM, start,
each node in turn). At the end, after the faults heal:
  - every acknowledged write is present on every node, or was later deleted
    (or expired, for the short-lived ones);
  - no deleted session came back;
  - no node's RSS went past --rss-mib (sampled every second).
Prints its figures; BENCHMARKS.md keeps them. Not part of CI.
"""
import argparse, json, os, random, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap = argparse.ArgumentParser()
ap.add_argument("--minutes", type=float, default=30)
ap.add_argument("--rss-mib", type=int, default=512)
ap.add_argument("--fault-every", type=float, default=60)
ap.add_argument("--bin", default=os.path.join(ROOT, "build-release", "sessionmesh"))
ap.add_argument("--seed", type=int, default=int(time.time()))
args = ap.parse_args()
sys.argv = [sys.argv[0], args.bin]
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402
from harness import Node, converged, wait_until, watch  # noqa: E402

rng = random.Random(args.seed)
print(f"soak: seed {args.seed}, {args.minutes} min, RSS bound {args.rss_mib} MiB", flush=True)
extra = ["--max-sessions", "0", "--reaper-interval", "1"]
a = Node("soak-a", extra=extra)
b = Node("soak-b", seeds=[a.gaddr], extra=extra)
c = Node("soak-c", seeds=[a.gaddr], extra=extra)
nodes = [a, b, c]
for n in nodes:
    n.seeds = [x.gaddr for x in nodes]
    n.start_timeout = 120  # a restart replays what 30 minutes wrote
starts = []  # seconds from exec to /healthz, per restart


def _kill_left():  # a soak that stops early leaves no node running
    for n in nodes:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.kill()


import atexit  # noqa: E402
atexit.register(_kill_left)
wait_until(lambda: all(sum(s == "alive" for s in x.members().values()) == 3 for x in nodes), timeout=30)

lock = threading.Lock()
acked = {}        # id -> last acknowledged variables["n"]
deleted = set()   # ids whose delete was acknowledged (and not re-created after)
short = set()     # ids created with a 2 s TTL: may expire
down = set()
stop = threading.Event()
stats = {"writes": 0, "reads": 0, "retries": 0, "errors": 0, "events": 0}
peak = {n.name: 0 for n in nodes}


def call(method, path, body=None, home=[0]):
    """Each client keeps to one node and moves on only when it fails or
    drains (503), as a client with node affinity does: a delete then a write
    of the same session on two nodes, the second not yet told of the delete,
    is the AP case API.md section 2 describes (the delete stands)."""
    for attempt in range(50):
        n = nodes[home[0] % 3]
        if n.name in down:
            home[0] += 1
            continue
        try:
            st, out = n.req(method, path, body, timeout=5)
        except Exception:
            st, out = None, None
        if st in (None, 503):
            with lock:
                stats["retries"] += 1
            home[0] += 1
            time.sleep(0.02)
            continue
        return st, out
    return None, None


def client(k):
    home = [k]
    i = 0
    while not stop.is_set():
        i += 1
        sid = f"soak-{k}-{i % 500}"
        op = rng.random()
        if op < 0.35:
            ttl = 2 if rng.random() < 0.1 else 3600
            st, _ = call("POST", "/v1/sessions", {"id": sid, "ttl_s": ttl, "variables": {"n": i}}, home)
            if st in (200, 201):
                with lock:
                    if st == 201:
                        acked[sid] = i
                        deleted.discard(sid)
                        (short.add if ttl == 2 else short.discard)(sid)
        elif op < 0.65:
            st, _ = call("PUT", f"/v1/sessions/{sid}/variables/n", i, home)
            if st == 200:
                with lock:
                    acked[sid] = i
                    deleted.discard(sid)
        elif op < 0.9:
            call("GET", f"/v1/sessions/{sid}", None, home)
            with lock:
                stats["reads"] += 1
        else:
            st, _ = call("DELETE", f"/v1/sessions/{sid}", None, home)
            if st == 204:
                with lock:
                    acked.pop(sid, None)
                    deleted.add(sid)
        with lock:
            stats["writes"] += op < 0.65 or op >= 0.9


def watcher():
    while not stop.is_set():
        n = nodes[rng.randrange(3)]
        if n.name in down:
            time.sleep(0.1)
            continue
        try:
            ws = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?prefix=soak-", None)
            ws.settimeout(5)
            for op, _ in watch.frames(ws):
                if stop.is_set() or n.name in down:
                    break
                if op == 1:
                    with lock:
                        stats["events"] += 1
            ws.close()
        except Exception:
            time.sleep(0.1)


def sampler():
    while not stop.is_set():
        for n in nodes:
            try:
                for line in open(f"/proc/{n.proc.pid}/status"):
                    if line.startswith("VmRSS:"):
                        peak[n.name] = max(peak[n.name], int(line.split()[1]) // 1024)
            except Exception:
                pass
        time.sleep(1)


# Daemon threads: a soak that stops early (a node that does not restart)
# exits at once and its atexit hook kills the nodes; non-daemon clients
# would keep the interpreter, and their retry loops, alive.
threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
threads += [threading.Thread(target=watcher, daemon=True) for _ in range(4)]
threads += [threading.Thread(target=sampler, daemon=True)]
for t in threads:
    t.start()
end = time.time() + args.minutes * 60
faults = ["kill9", "partition", "rolling"]
f = 0
while time.time() < end:
    time.sleep(min(args.fault_every, max(0, end - time.time())))
    if time.time() >= end:
        break
    kind = faults[f % 3]
    f += 1
    print(f"soak: {time.strftime('%H:%M:%S')} fault {kind}; {stats}", flush=True)
    if kind == "kill9":
        n = nodes[rng.randrange(3)]
        down.add(n.name)
        n.kill9()
        time.sleep(3)
        n.start()
        starts.append(n.last_start_s)
        down.discard(n.name)
    elif kind == "partition":
        n = nodes[rng.randrange(3)]
        others = [x.name for x in nodes if x is not n]
        n.req("POST", "/v1/admin/faults", {"block": others})
        for x in nodes:
            if x is not n:
                x.req("POST", "/v1/admin/faults", {"block": [n.name]})
        time.sleep(10)
        for x in nodes:
            x.req("POST", "/v1/admin/faults", {"block": []})
    else:
        for n in nodes:
            down.add(n.name)
            rc = n.term()
            if rc != 0:
                print(f"soak: {n.name} exited {rc} on SIGTERM", flush=True)
            n.start()
            starts.append(n.last_start_s)
            down.discard(n.name)
            wait_until(lambda: all(sum(s == "alive" for s in x.members().values()) == 3 for x in nodes), timeout=30)
stop.set()
for t in threads:
    t.join()
t = wait_until(lambda: converged(nodes), timeout=60)
time.sleep(3)  # the short-lived sessions expire
missing, resurrected = [], []
for sid, v in acked.items():
    for n in nodes:
        st, body = n.req("GET", f"/v1/sessions/{sid}/variables/n")
        if st != 200 and sid not in short:
            missing.append((n.name, sid))
for sid in deleted:
    for n in nodes:
        if n.req("GET", f"/v1/sessions/{sid}")[0] == 200:
            resurrected.append((n.name, sid))
print(f"soak: {args.minutes} min, {f} faults, {stats}")
print(f"soak: converged after the faults in {t and round(t, 2)} s")
print(f"soak: acknowledged and live {len(acked)}, missing {len(missing)} {missing[:5]}")
print(f"soak: deleted {len(deleted)}, came back {len(resurrected)} {resurrected[:5]}")
print(f"soak: peak RSS MiB {peak} (bound {args.rss_mib})")
if starts:
    print(f"soak: restarts {len(starts)}, exec to /healthz median {sorted(starts)[len(starts) // 2]:.2f} s, "
          f"max {max(starts):.2f} s")
for n in nodes:
    n.term()
ok = t is not None and not missing and not resurrected and max(peak.values()) <= args.rss_mib
print("soak: PASS" if ok else "soak: FAIL")
sys.exit(0 if ok else 1)
