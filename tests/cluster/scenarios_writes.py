"""Cluster scenarios of the write path: acks=N with fsync=always and kill -9,
acks that cannot be met never holding up reads, counters raced from many
clients, conditional writes decided by the session's owner."""
from harness import *  # noqa: F401,F403

def durable_acks():
    """With --fsync always, a peer acknowledges a delta only once its log
    holds it (the ack waits for the WAL's group commit, never on the gossip
    thread): acks=2 writes from 20 clients all answer 200, and after both
    nodes are killed -9 and restarted every acknowledged write is on both."""
    fa = Node("fa", extra=["--fsync", "always"])
    fb = Node("fb", seeds=[fa.gaddr], extra=["--fsync", "always"])
    t = wait_until(lambda: all(sum(1 for s in x.members().values() if s == "alive") == 2 for x in (fa, fb)))
    check(t is not None, f"fsync=always pair sees each other ({t and round(t, 2)} s)")
    fa.req("POST", "/v1/sessions", {"id": "dur"})
    answers = []

    def writer(i):
        for k in range(10):
            st, _ = fa.req("PUT", f"/v1/sessions/dur/variables/w{i}_{k}?acks=2&timeout_ms=3000", k, timeout=10)
            answers.append(st)

    ws = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    check(answers.count(200) == 200, f"200 acks=2 writes with fsync=always answered 200 ({answers.count(200)})")
    for n in (fa, fb):
        n.kill9()
    for n in (fa, fb):
        n.start()
    for n in (fa, fb):
        st, body = n.req("GET", "/v1/sessions/dur")
        have = set(body["variables"]) if st == 200 else set()
        missing = {f"w{i}_{k}" for i in range(20) for k in range(10)} - have
        check(not missing, f"{n.name} holds every acknowledged write after kill -9 ({len(missing)} missing)")
    for n in (fa, fb):
        n.kill9()


def acks_never_block_reads(nodes):
    """Writes waiting on acks that cannot be met (c cut off from a) do not
    hold up a GET on the same node: no I/O thread waits on a peer."""
    import http.client
    a, _, c = nodes
    a.req("POST", "/v1/admin/faults", {"block": ["c"]})
    c.req("POST", "/v1/admin/faults", {"block": ["a"]})
    a.req("POST", "/v1/sessions", {"id": "hold"})
    answers = []

    def writer(i):
        t0 = time.time()
        st, body = a.req("PUT", f"/v1/sessions/hold/variables/w{i}?acks=3&timeout_ms=1500", i, timeout=10)
        answers.append((st, body and body.get("error", {}).get("code"), time.time() - t0))

    def get_round():
        conn = http.client.HTTPConnection("127.0.0.1", a.http, timeout=5)
        lat = []
        t_end = time.time() + 1.0
        while time.time() < t_end:
            t0 = time.time()
            conn.request("GET", "/v1/sessions/hold")
            r = conn.getresponse()
            r.read()
            lat.append(time.time() - t0 if r.status == 200 else 99.0)  # a failed GET counts as a stall
        conn.close()
        return sorted(lat)

    worst = None
    for attempt in range(2):  # one retry: a noisy machine may stall any process once
        answers.clear()
        ws = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
        for w in ws:
            w.start()
        time.sleep(0.1)
        lat = get_round()
        for w in ws:
            w.join()
        worst = lat[-1]
        print(f"     {len(lat)} GETs during 10 held acks=3 writes: median {lat[len(lat) // 2] * 1000:.2f} ms, "
              f"max {worst * 1000:.1f} ms", flush=True)
        if worst < 0.05:
            break
    check(len(answers) == 10 and all(st == 504 and code == "acks_timeout" and dt >= 1.4 for st, code, dt in answers),
          "10 acks=3 writes with a peer cut off each waited their timeout and answered 504"
          + ("" if all(st == 504 and code == "acks_timeout" and dt >= 1.4 for st, code, dt in answers)
             else f" (got {sorted((st, code, round(dt, 2)) for st, code, dt in answers)})"))
    check(worst is not None and worst < 0.05, f"no GET waited past 50 ms meanwhile (max {worst * 1000:.1f} ms)")
    a.req("POST", "/v1/admin/faults", {"block": []})
    c.req("POST", "/v1/admin/faults", {"block": []})
    t = settled(nodes)
    check(t is not None, f"every node alive again after the cut ({t and round(t, 2)} s)")


def counter_race(nodes, tag, threads=20, per=10):
    """`threads` clients, spread over the nodes, each doing `per` rounds of
    GET, then PATCH with If-Match (retried on 412). Returns (200s, final)."""
    sid = f"ctr-{tag}"
    st, _ = nodes[0].req("POST", "/v1/sessions", {"id": sid, "variables": {"n": 0}})
    assert st in (200, 201), st
    wait_until(lambda: all(n.req("GET", f"/v1/sessions/{sid}")[0] == 200 for n in nodes), timeout=10)
    oks = []
    errors = []

    def client(k):
        node = nodes[k % len(nodes)]
        done = 0
        while done < per:
            st, s = node.req("GET", f"/v1/sessions/{sid}")
            if st != 200:
                errors.append(("get", st))
                return
            data = json.dumps({"variables": {"n": s["variables"]["n"] + 1}}).encode()
            r = urllib.request.Request(f"http://127.0.0.1:{node.http}/v1/sessions/{sid}", data=data, method="PATCH")
            r.add_header("Content-Type", "application/json")
            r.add_header("If-Match", '"' + s["version"] + '"')
            try:
                with urllib.request.urlopen(r, timeout=10) as resp:
                    resp.read()
                    oks.append(1)
                    done += 1
            except urllib.error.HTTPError as e:
                e.read()
                if e.code == 412:
                    time.sleep(random.uniform(0, 0.005))
                    continue
                errors.append(("patch", e.code))
                return

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    # The final value, once every node has it.
    finals = set()
    def agree():
        finals.clear()
        finals.update(n.req("GET", f"/v1/sessions/{sid}")[1]["variables"]["n"] for n in nodes)
        return len(finals) == 1
    wait_until(agree, timeout=10)
    return len(oks), finals, errors


def conditional_writes():
    # If-Match is decided by the session's owner: concurrent conditional
    # writes through two and three nodes lose no update.
    nodes = cluster(3)
    settled(nodes)
    for k, group in ((2, nodes[:2]), (3, nodes)):
        oks, finals, errors = counter_race(group, f"{k}n")
        check(not errors and oks == 200 and finals == {200},
              f"if-match: 20 clients over {k} nodes: {oks} writes acknowledged, final counter {finals}, errors {errors[:3]}")
    # Global programs replicate like sessions.
    st, _ = nodes[0].req("PUT", "/v1/programs/shared-prog", {"type": "QAChain"})
    t = wait_until(lambda: all(n.req("GET", "/v1/programs/shared-prog") == (200, {"type": "QAChain"}) for n in nodes),
                   timeout=10)
    check(st == 200 and t is not None, f"global programs: a put on one node is read on every node ({t and round(t, 2)} s)")
    nodes[1].req("DELETE", "/v1/programs/shared-prog")
    t = wait_until(lambda: all(n.req("GET", "/v1/programs/shared-prog")[0] == 404 for n in nodes), timeout=10)
    check(t is not None, "global programs: a delete on another node reaches every node")
    fwd = sum(int(l.split()[1]) for n in nodes for l in n.req("GET", "/metrics")[1].decode().splitlines()
              if l.startswith("sessionmesh_http_forwards_total"))
    check(fwd > 0, f"if-match: conditional writes were relayed to the owner ({fwd})")
    # The owner down and not yet known dead: 503, never a silent lost update.
    sid = "ctr-3n"
    owner = nodes[0].req("GET", f"/v1/sessions/{sid}")[1]["owner"]
    other = next(n for n in nodes if n.name != owner)
    victim = next(n for n in nodes if n.name == owner)
    os.kill(victim.proc.pid, signal.SIGSTOP)
    try:
        st, s = other.req("GET", f"/v1/sessions/{sid}")
        data = json.dumps({"variables": {"n": -1}}).encode()
        r = urllib.request.Request(f"http://127.0.0.1:{other.http}/v1/sessions/{sid}", data=data, method="PATCH")
        r.add_header("Content-Type", "application/json")
        r.add_header("If-Match", '"' + s["version"] + '"')
        try:
            with urllib.request.urlopen(r, timeout=15) as resp:
                code, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        check(code in (200, 503), f"if-match: a frozen owner answers 503 (or the write is decided by the next owner): {code}")
        if code == 503:
            check(json.loads(body)["error"]["code"] == "owner_unavailable", "if-match: 503 owner_unavailable")
    finally:
        os.kill(victim.proc.pid, signal.SIGCONT)
    for n in nodes:
        n.kill9()


def delete_unseen():
    """A delete acknowledged by a node that had not yet seen the session
    (its create still on the way, here held back by the fault switch) stands
    once the create arrives: the session does not come back."""
    d1 = Node("del1")
    d2 = Node("del2", seeds=[d1.gaddr])
    wait_until(lambda: d1.members().get("del2") == "alive" and d2.members().get("del1") == "alive")
    for n, other in ((d1, "del2"), (d2, "del1")):
        n.req("POST", "/v1/admin/faults", {"block": [other]})
    st1, _ = d1.req("POST", "/v1/sessions", {"id": "unseen", "variables": {"v": 1}})
    time.sleep(0.2)
    st2 = d2.req("DELETE", "/v1/sessions/unseen")[0]
    check(st1 == 201 and st2 == 204, f"unseen: created on del1, deleted on del2 that never saw it ({st1}, {st2})")
    for n in (d1, d2):
        n.req("POST", "/v1/admin/faults", {"block": []})
    t = wait_until(lambda: converged([d1, d2]), timeout=20)
    check(t is not None and d1.req("GET", "/v1/sessions/unseen")[0] == 404 and
          d2.req("GET", "/v1/sessions/unseen")[0] == 404,
          f"unseen: after the heal the delete stands on both nodes ({t and round(t, 2)} s)")
    d1.term()
    d2.term()
