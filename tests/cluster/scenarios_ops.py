"""Cluster scenarios of operations: online and offline migration between
adapters, and a real network partition between network namespaces."""
import json, os, random, threading, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

from harness import *  # noqa: F401,F403

def migration():
    # 10. Online: a local node switches to the replicated adapter and joins
    #     a running node while a client keeps writing to it: every write is
    #     answered 2xx, every acknowledged write ends up on the cluster.
    p = Node("p")
    m = Node("m", adapter="local")
    for i in range(300):
        m.req("POST", "/v1/sessions", {"id": f"mig{i}", "metadata": {"n": i}, "variables": {"v": [i, "x"]}})
    m.req("PUT", "/v1/sessions/mig0/worker", {"worker_id": "w-7"})
    for k in range(50):
        m.req("POST", "/v1/sessions", {"id": f"live{k}"})
    st, _ = m.req("GET", "/v1/admin/migrate")
    check(st == 404, f"migrate: GET before any migration answers 404 ({st})")
    acked, bad, stop = [], [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            st, _ = m.req("PUT", f"/v1/sessions/live{i % 50}/variables/k", i)
            (acked if st == 200 else bad).append((i, st))
            i += 1
    th = threading.Thread(target=writer)
    th.start()
    time.sleep(0.2)
    st, body = m.req("POST", "/v1/admin/migrate", {"to": "replicated", "seeds": p.gaddr})
    check(st == 202 and body["result"] == "running", f"migrate: POST answers 202 with a running report ({st})")
    st2, body2 = m.req("POST", "/v1/admin/migrate", {"to": "replicated", "seeds": p.gaddr})
    check(st2 == 409 or body2.get("result") == "ok", f"migrate: a second POST while running answers 409 ({st2})")
    t = wait_until(lambda: m.req("GET", "/v1/admin/migrate")[1]["result"] != "running", timeout=30)
    time.sleep(0.3)
    stop.set()
    th.join()
    rep = m.req("GET", "/v1/admin/migrate")[1]
    print(f"     online migration took {rep['duration_ms']} ms: {json.dumps(rep)[:300]}", flush=True)
    check(rep["result"] == "ok" and rep["missing"] == [] and rep["mismatched"] == [] and rep["reason"] is None,
          "migrate: the report says ok, nothing missing or mismatched")
    check(rep["source_sessions"] >= 350 and rep["copied"] >= 350, f"migrate: counts ({rep['source_sessions']}, {rep['copied']})")
    check(not bad and len(acked) > 0, f"migrate: no downtime ({len(acked)} writes acknowledged, failed: {bad[:3]})")
    check(m.req("GET", "/v1/cluster")[1]["adapter"] == "replicated", "migrate: the node now serves the replicated adapter")
    last = {}
    for i, _ in acked:
        last[i % 50] = i
    t = wait_until(lambda: all(p.req("GET", f"/v1/sessions/live{k}/variables/k") == (200, v) for k, v in last.items())
                   and p.req("GET", "/v1/stats")[1]["current_sessions"] >= 350, timeout=15)
    check(t is not None, "migrate: every acknowledged write, before and during the switch, is on the other node")
    s0 = p.req("GET", "/v1/sessions/mig0")[1]
    check(s0["last_worker_id"] == "w-7" and s0["metadata"] == {"n": 0} and s0["variables"] == {"v": [0, "x"]},
          "migrate: content, worker affinity included, is intact")
    m.req("PUT", "/v1/sessions/mig1/variables/after", "switch")
    check(wait_until(lambda: p.req("GET", "/v1/sessions/mig1/variables/after") == (200, "switch")) is not None,
          "migrate: writes after the switch replicate")
    rc = m.term()
    check(rc == 0, f"migrate: the switched node drains and exits 0 on SIGTERM ({rc})")
    m.start()  # the same flags (--adapter local): the data dir says it was migrated
    check(m.req("GET", "/v1/cluster")[1]["adapter"] == "replicated" and
          m.req("GET", "/v1/sessions/mig1/variables/after") == (200, "switch"),
          "migrate: after a restart the node comes back replicated with its data")
    st, body = m.req("POST", "/v1/admin/migrate", {"to": "replicated", "seeds": p.gaddr})
    check(st == 409, f"migrate: a replicated node answers 409 ({st})")
    st, body = m.req("GET", "/v1/admin/migrate")
    check(st == 200 and body["result"] == "ok" and body["copied"] == rep["copied"],
          f"migrate: after the restart GET still answers the last report ({st})")
    m.term()

    # A migration that cannot join rolls back by itself; the node keeps serving.
    r = Node("r", adapter="local")
    r.req("POST", "/v1/sessions", {"id": "keep"})
    for body, code in [({"to": "nosql"}, 400), ([1], 400), ({"to": "replicated", "seeds": "no-port"}, 400)]:
        st, b = r.req("POST", "/v1/admin/migrate", body)
        check(st == code and b["error"]["code"] == "invalid_argument", f"migrate: bad body {json.dumps(body)} answers {code} ({st})")
    dead = f"127.0.0.1:{free_port()}"
    st, _ = r.req("POST", "/v1/admin/migrate", {"to": "replicated", "seeds": dead, "join_timeout_ms": 1500})
    t = wait_until(lambda: r.req("GET", "/v1/admin/migrate")[1]["result"] != "running", timeout=10)
    rep = r.req("GET", "/v1/admin/migrate")[1]
    check(rep["result"] == "rolled_back" and "join" in (rep["reason"] or ""), f"migrate: rolled back ({rep['reason']})")
    check(r.req("GET", "/v1/cluster")[1]["adapter"] == "local" and r.req("GET", "/v1/sessions/keep")[0] == 200
          and r.req("POST", "/v1/sessions", {"id": "after-rollback"})[0] == 201,
          "migrate: after the rollback the node serves the local adapter, reads and writes")
    check(not os.path.exists(os.path.join(r.dir, "replicated")), "migrate: the rolled-back target dir is removed")
    check(r.req("PUT", "/v1/programs/offline-prog", {"v": 1})[0] == 200, "migrate: a global program on the local node")
    rc = r.term()
    check(rc == 0, f"migrate: a rolled-back node exits 0 on SIGTERM ({rc})")

    # 11. Offline: a stopped local node's data dir into the running node.
    rep_path = os.path.join(TMP, "offline-report.json")
    rc = subprocess.run([BIN, "migrate", "--from", r.dir, "--to", f"http://127.0.0.1:{p.http}", "--report", rep_path],
                        capture_output=True, text=True)
    rep = json.load(open(rep_path))
    check(rc.returncode == 0 and rep["result"] == "ok" and rep["source_sessions"] == 2 and rep["copied"] == 2
          and rep["missing"] == [],
          f"offline migrate: exit 0 and an ok report ({rc.returncode}, {rep})")
    check(p.req("GET", "/v1/sessions/after-rollback")[0] == 200, "offline migrate: the sessions are on the target")
    check(p.req("GET", "/v1/programs/offline-prog") == (200, {"v": 1}), "offline migrate: global programs too")
    r.start()
    rc = subprocess.run([BIN, "migrate", "--from", r.dir, "--to", f"http://127.0.0.1:{p.http}"], capture_output=True, text=True)
    check(rc.returncode == 2 and "in use" in rc.stderr, f"offline migrate: a running node's data dir is refused ({rc.stderr.strip()})")
    r.term()
    rc = subprocess.run([BIN, "migrate", "--from", os.path.join(TMP, "nope"), "--to", "http://127.0.0.1:1"],
                        capture_output=True, text=True)
    check(rc.returncode == 2 and rc.stderr.count("\n") == 1, f"offline migrate: a bad data dir exits 2 with one line ({rc.stderr.strip()})")
    p.term()


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True)


def netns_partition():
    tag = str(os.getpid() % 100000)  # unique names: runs side by side must not collide
    ns = {"na": ("sm" + tag + "a", "sv" + tag + "a", "10.77.0.1"), "nb": ("sm" + tag + "b", "sv" + tag + "b", "10.77.0.2")}
    for name, (n, dev, ip) in ns.items():
        sh("ip", "netns", "del", n)
    sh("ip", "link", "add", ns["na"][1], "type", "veth", "peer", "name", ns["nb"][1])
    procs = []
    try:
        for name, (n, dev, ip) in ns.items():
            sh("ip", "netns", "add", n)
            sh("ip", "link", "set", dev, "netns", n)
            sh("ip", "netns", "exec", n, "ip", "addr", "add", ip + "/24", "dev", dev)
            sh("ip", "netns", "exec", n, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", n, "ip", "link", "set", "lo", "up")
        for name, (n, dev, ip) in ns.items():
            log = open(os.path.join(TMP, name + ".log"), "ab")
            procs.append(subprocess.Popen(["ip", "netns", "exec", n, BIN, "serve", "--node-id", name, "--data-dir",
                                           os.path.join(TMP, name), "--http", ip + ":7070", "--gossip", ip + ":7946",
                                           "--seeds", "10.77.0.1:7946", "--log-level", "warn"], stderr=log))

        def call(name, method, path, body=None):
            n, _, ip = ns[name]
            args = ["ip", "netns", "exec", n, "curl", "-s", "-m", "3", "-X", method, f"http://{ip}:7070{path}",
                    "-H", "Content-Type: application/json", "-w", "\n%{http_code}"]
            if body is not None:
                args += ["-d", json.dumps(body)]
            out = sh(*args).stdout.rsplit("\n", 1)
            code = int(out[1]) if len(out) == 2 and out[1].isdigit() else 0
            try:
                return code, json.loads(out[0]) if out[0] else None
            except ValueError:
                return code, out[0]

        def digest(name):
            c, b = call(name, "GET", "/v1/cluster")
            return b["digest"] if c == 200 else None

        def alive(name, other):
            c, b = call(name, "GET", "/v1/cluster")
            return c == 200 and any(m["node_id"] == other and m["status"] == "alive" for m in b["members"])

        t = wait_until(lambda: alive("na", "nb") and alive("nb", "na"), timeout=20, step=0.2)
        check(t is not None, "netns: two nodes in separate network namespaces joined over veth")
        call("na", "POST", "/v1/sessions", {"id": "ns1", "variables": {"x": 0}})
        wait_until(lambda: call("nb", "GET", "/v1/sessions/ns1")[0] == 200, timeout=10, step=0.1)
        sh("ip", "netns", "exec", ns["na"][0], "ip", "link", "set", ns["na"][1], "down")  # the partition
        call("na", "PUT", "/v1/sessions/ns1/variables/x", "side-a")
        call("na", "POST", "/v1/sessions", {"id": "only-a"})
        time.sleep(0.2)
        call("nb", "PUT", "/v1/sessions/ns1/variables/x", "side-b")
        call("nb", "POST", "/v1/sessions", {"id": "only-b"})
        time.sleep(1)
        check(digest("na") != digest("nb"), "netns: the two sides diverge while the link is down")
        sh("ip", "netns", "exec", ns["na"][0], "ip", "link", "set", ns["na"][1], "up")
        t = wait_until(lambda: digest("na") == digest("nb") and digest("na") is not None, timeout=30, step=0.2)
        check(t is not None, f"netns: converged {t and round(t, 2)} s after the link came back")
        check(call("na", "GET", "/v1/sessions/ns1/variables/x") == (200, "side-b") and
              call("nb", "GET", "/v1/sessions/ns1/variables/x") == (200, "side-b"), "netns: the later write wins on both")
        check(all(call(n, "GET", f"/v1/sessions/{i}")[0] == 200 for n in ns for i in ("only-a", "only-b")),
              "netns: sessions created on either side exist on both")
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        for name, (n, dev, ip) in ns.items():
            sh("ip", "netns", "del", n)


def rolling_restart():
    """A rolling restart loses nothing: each node of three in turn is sent
    SIGTERM (it drains: refuses writes with 503, hands every change to a
    peer, exits 0) and started again on its data dir, while a client keeps
    writing. The client, like a load balancer, sends each write to a node
    that is up and retries another on a 503 or a refused connection to the
    node being restarted; any other error is a failure. At the end every
    acknowledged write is on every node."""
    import http.client
    unlimited = ["--max-sessions", "0"]
    r1 = Node("roll1", extra=unlimited)
    r2 = Node("roll2", seeds=[r1.gaddr], extra=unlimited)
    r3 = Node("roll3", seeds=[r1.gaddr], extra=unlimited)
    nodes = [r1, r2, r3]
    for n in nodes:  # every node's seeds name all three, as a Kubernetes headless Service does
        n.seeds = [x.gaddr for x in nodes]
    t = wait_until(lambda: all(sum(1 for s in x.members().values() if s == "alive") == 3 for x in nodes), timeout=20)
    check(t is not None, f"rolling: three nodes see each other ({t and round(t, 2)} s)")
    acked, errors, retried = {}, [], [0]
    down = set()
    stop = threading.Event()

    def write_one(i):
        for attempt in range(200):
            n = nodes[(i + attempt) % 3]
            try:
                c = http.client.HTTPConnection("127.0.0.1", n.http, timeout=5)
                c.request("POST", "/v1/sessions", body=json.dumps({"id": f"roll-{i}", "variables": {"i": i}}),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
            except (ConnectionError, OSError) as e:
                if n.name in down:
                    retried[0] += 1
                    time.sleep(0.01)
                    continue
                errors.append(f"roll-{i} on {n.name}: {e!r}")
                return
            if r.status in (200, 201):
                acked[f"roll-{i}"] = i
                return
            if r.status == 503:
                retried[0] += 1
                time.sleep(0.01)
                continue
            errors.append(f"roll-{i} on {n.name}: {r.status}")
            return
        errors.append(f"roll-{i}: no node took it")

    def client():
        i = 0
        while not stop.is_set():
            write_one(i)
            i += 1
            time.sleep(0.002)  # a steady client, not a flood

    th = threading.Thread(target=client)
    th.start()
    for n in nodes:
        time.sleep(0.5)
        down.add(n.name)
        rc = n.term()
        check(rc == 0, f"rolling: {n.name} drains and exits 0 under load ({rc})")
        n.start()
        down.discard(n.name)
        t = wait_until(lambda: all(sum(1 for s in x.members().values() if s == "alive") == 3 for x in nodes), timeout=20)
        check(t is not None, f"rolling: {n.name} is back and every node sees three alive ({t and round(t, 2)} s; "
                             f"{[x.members() for x in nodes]})")
    time.sleep(0.5)
    stop.set()
    th.join()
    check(not errors, f"rolling: the client saw no error but retried 503s and refused connections to the node "
                      f"restarting ({len(errors)} errors: {errors[:3]}; {retried[0]} retries)")
    check(len(acked) > 100, f"rolling: the client kept writing ({len(acked)} acknowledged)")
    t = wait_until(lambda: converged(nodes), timeout=20)
    check(t is not None, f"rolling: the three nodes converge after the restarts ({t and round(t, 2)} s)")
    for n in nodes:
        missing = [k for k in acked if n.req("GET", f"/v1/sessions/{k}")[0] != 200]
        check(not missing, f"rolling: {n.name} holds every acknowledged write ({len(missing)} of {len(acked)} missing)")
    for n in nodes:
        n.term()
