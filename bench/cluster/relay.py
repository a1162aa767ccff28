#!/usr/bin/env python3
"""bench/cluster/relay.py: a read relayed one hop to the replica that holds
it, beside the same read answered by that replica itself (the baseline), in
the same run; and the cluster-wide list under placement beside one node's own.

    bench/cluster/relay.py [build-release/sessionmesh] [SESSIONS]

Two local nodes with --replicas 1 (each holds about half), SESSIONS sessions
(default 20,000) of one 256-byte variable. wrk -t1 -c32 for 5 s, three rounds
each: GET of random sessions held by node b, sent to b (direct) and to a
(relayed to b over kept-alive connections). Prints medians of requests/s
and p50/p99 latency, their ratios, and how many TCP connections were opened
for relays in each relayed round (reuse keeps it near the concurrency). Then the
list: pages of 1,000 through a (both nodes asked) against one node alone
with --replicas all holding the same sessions.
"""
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement as pl  # noqa: E402  (Node, create)

K = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
pl.TMP = tempfile.mkdtemp(prefix="sm-bench-relay-")


def wrk(port, ids, seconds=5):
    lua = os.path.join(pl.TMP, "ids.lua")
    with open(lua, "w") as f:
        f.write("local ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n")
        f.write('request = function() return wrk.format("GET", "/v1/sessions/" .. ids[math.random(#ids)]) end\n')
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", lua, f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(label + r"\s+([\d.]+)(us|ms|s)", out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    return rps, ms("50%"), ms("99%"), "Non-2xx" in out


def active_opens():
    """TCP connections this machine opened so far (/proc/net/snmp ActiveOpens)."""
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def med(xs):
    return sorted(xs)[len(xs) // 2]


def list_all(node, limit=1000):
    cursor, n, t0 = None, 0, time.time()
    while True:
        q = f"/v1/sessions?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(node.get(q))
        n += len(page["sessions"])
        cursor = page["next_cursor"]
        if not cursor:
            return n, time.time() - t0


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    print(f"{K} sessions of one 256-byte variable; {pl.BIN}")
    a = pl.Node("a", None, "1")
    b = pl.Node("b", f"127.0.0.1:{a.gossip}", "1")
    t0 = time.time()
    while time.time() - t0 < 30 and not (a.alive() == 2 and b.alive() == 2):
        time.sleep(0.1)
    time.sleep(2)
    ids = [f"r-{i}" for i in range(K)]
    pl.create([a, b], ids)
    time.sleep(2)
    on_b = []
    for i in ids[:4000]:
        with urllib.request.urlopen(f"http://127.0.0.1:{a.http}/v1/sessions/{i}", timeout=10) as r:
            if r.headers.get("X-Served-By"):
                on_b.append(i)
    direct, relayed, conns = [], [], []
    for _ in range(3):
        direct.append(wrk(b.http, on_b))
        before = active_opens()
        relayed.append(wrk(a.http, on_b))
        conns.append(active_opens() - before - 32)  # less wrk's own 32
    d_rps, d50, d99 = med([x[0] for x in direct]), med([x[1] for x in direct]), med([x[2] for x in direct])
    r_rps, r50, r99 = med([x[0] for x in relayed]), med([x[1] for x in relayed]), med([x[2] for x in relayed])
    errs = any(x[3] for x in direct + relayed)
    print("| GET of a session held by b | requests/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    print(f"| sent to b (direct, the baseline) | {d_rps:,.0f} | {d50:.2f} ms | {d99:.2f} ms |")
    print(f"| sent to a, relayed to b | {r_rps:,.0f} | {r50:.2f} ms | {r99:.2f} ms |")
    print(f"| relayed / direct | {r_rps / d_rps:.2f}x | {r50 / d50:.2f}x | {r99 / d99:.2f}x |")
    print(f"connections opened for relays per 5 s relayed round (32 clients; ActiveOpens less wrk's): {conns}; "
          f"non-2xx answers: {errs}")
    n_cluster, t_cluster = list_all(a)
    for x in (a, b):
        x.stop()
    solo = pl.Node("s", None, "all")
    pl.create([solo], ids)
    n_solo, t_solo = list_all(solo)
    solo.stop()
    print(f"list of {K} in pages of 1,000: through a with --replicas 1 on 2 nodes {t_cluster * 1000:.0f} ms "
          f"({n_cluster} listed); one node alone {t_solo * 1000:.0f} ms ({n_solo} listed); "
          f"{t_cluster / t_solo:.2f}x")
    shutil.rmtree(pl.TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
