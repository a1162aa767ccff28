"""The change feed keeps its promises (issue 11, API.md section 4), against
real processes: the change ring and every watcher's queue are bounded in
bytes, a snapshot is streamed as the socket drains, `synced` comes once after
the last replayed or snapshot event, remote changes carry their origin, and
cursors from elsewhere, from before a restart or past the ring get `reset`.
Memory bounds are stated here and printed with what was measured.

  python3 tests/feed/test_feed.py BUILD/sessionmesh SOURCE_ROOT BUILD/tests/feed_readers
"""
import json, os, socket, subprocess, sys, threading, time

BIN, ROOT, READERS = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402
from harness import Node, check, failures, wait_until, watch  # noqa: E402

MB = 1 << 20
BIG = '"' + "e" * (2 * MB) + '"'


def frames(ws):
    """Whole messages (continuation frames joined): yields (opcode, payload)."""
    op, parts = None, []
    while True:
        b0, b1 = watch.read_exact(ws, 2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(watch.read_exact(ws, 2), "big")
        elif n == 127:
            n = int.from_bytes(watch.read_exact(ws, 8), "big")
        payload = watch.read_exact(ws, n)
        code = b0 & 0x0F
        if code >= 8:  # control frames come whole, between fragments
            yield code, payload
            continue
        if code != 0:
            op, parts = code, []
        parts.append(payload)
        if b0 & 0x80:
            yield op, b"".join(parts)


def rss(node):
    for line in open(f"/proc/{node.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def raw(node, method, path, body, headers=()):
    """One request on a fresh connection; returns the status (the body is read and dropped)."""
    s = socket.create_connection(("127.0.0.1", node.http))
    data = body.encode() if isinstance(body, str) else body
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    h, rest = buf.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in h.split(b"\r\n") if l.lower().startswith(b"content-length")][0] or 0)
    while len(rest) < n:
        rest += s.recv(1 << 20)
    s.close()
    return int(h.split(b" ")[1]), rest


def put_many(node, path, count, value="1"):
    """count PUTs on one keep-alive connection, answers asked short (Prefer: return=minimal)."""
    s = socket.create_connection(("127.0.0.1", node.http))
    req = (f"PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nPrefer: return=minimal\r\n"
           f"Content-Length: {len(value)}\r\n\r\n{value}").encode()
    f = s.makefile("rb")
    ok = 0
    for _ in range(count):
        s.sendall(req)
        status = f.readline()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        f.read(length)
        ok += status.split(b" ")[1] == b"200"
    s.close()
    return ok


def cursor_of(node):
    code, body = raw(node, "GET", "/v1/sessions?limit=1", "")
    # The feed's cursor is what a fresh watcher's synced names: read it from one.
    ws = watch.connect(f"ws://127.0.0.1:{node.http}/v1/watch?prefix=none-such&snapshot=true", None)
    for op, payload in frames(ws):
        if op == 1:
            m = json.loads(payload)
            if m["type"] == "synced":
                ws.close()
                return m["cursor"]


def read_until_synced(ws, limit=10 ** 7):
    """Messages up to and including the first synced, then a short look for more synced."""
    out = []
    for op, payload in frames(ws):
        if op == 8:
            out.append({"type": "close", "code": int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0})
            return out
        if op != 1:
            continue
        out.append(json.loads(payload))
        if out[-1]["type"] == "synced" or len(out) >= limit:
            return out
    return out


def ring_and_queues(n):
    # 1. The ring: 1,000 one-byte PUTs to a 2 MiB session.
    st, _ = raw(n, "POST", "/v1/sessions", '{"id":"big","variables":{"emb":' + BIG + '}}')
    check(st == 201, f"a 2 MiB session is created ({st})")
    time.sleep(0.3)
    r0 = rss(n)
    ok = put_many(n, "/v1/sessions/big/variables/x", 1000)
    r1 = rss(n)
    grow = (r1 - r0) / MB
    print(f"     ring: 1,000 one-byte PUTs to a 2 MiB session grew RSS by {grow:.0f} MiB (was 2,060 MiB before the bound)")
    check(ok == 1000 and grow < 200, f"ring: RSS growth stays under 200 MiB ({grow:.0f} MiB, {ok} PUTs answered 200)")

    # 2. Two watchers of that session that never read, while 300 more PUTs land.
    idle = [watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?prefix=big", None) for _ in range(2)]
    time.sleep(0.2)
    r0 = rss(n)
    put_many(n, "/v1/sessions/big/variables/x", 300)
    time.sleep(0.3)
    grow = (rss(n) - r0) / MB
    print(f"     two idle watchers of the 2 MiB session through 300 PUTs: RSS grew {grow:.0f} MiB (6,170 MiB before)")
    check(grow < 150, f"idle watchers: RSS growth stays under 150 MiB ({grow:.0f} MiB)")
    # Now one of them reads: it fell off the ring, so it is cut with 4008.
    msgs = read_until_synced(idle[0], limit=5000)
    codes = [m.get("code") for m in msgs if m["type"] == "close"]
    check(codes == [4008], f"a watcher that fell behind the ring gets 4008 when it reads ({codes}, {len(msgs)} messages)")
    for w in idle:
        w.close()

    # 2b. A slow reader goes unnoticed by the others: one watcher never reads
    # while another reads every change; after 20,000 PUTs (past the ring's
    # 16,384 changes) the reader has each one, in order, and no close; the
    # idle one gets 4008 when it finally reads.
    slow = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?prefix=tiny", None)
    fast = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?prefix=tiny", None)
    writes = 20000
    got, closes = [], []

    def reader():
        fast.settimeout(60)
        try:
            for op, payload in frames(fast):
                if op == 8:
                    closes.append(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0)
                    return
                if op == 1:
                    m = json.loads(payload)
                    if m["type"] == "put" and m["id"] == "tiny":
                        got.append(int(m["cursor"].rsplit("-", 1)[-1]))  # incarnation-seq
                    if len(got) >= writes + 1:
                        return
        except Exception as e:
            closes.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    st, _ = raw(n, "POST", "/v1/sessions", '{"id":"tiny"}')
    # 2 KiB values: 40 MiB of events, more than the idle socket's kernel buffers hold
    ok = put_many(n, "/v1/sessions/tiny/variables/x", writes, value='"' + "v" * 2048 + '"')
    t.join(timeout=90)
    distinct = len(set(got)) == len(got) and got == sorted(got)
    check(st == 201 and ok == writes and len(got) == writes + 1 and not closes and distinct,
          f"a reading watcher beside an idle one gets all {writes + 1:,} changes, no close "
          f"({len(got):,} changes, closes {closes}, cursors rising {distinct})")
    msgs = read_until_synced(slow, limit=writes + 2)
    codes = [m.get("code") for m in msgs if m["type"] == "close"]
    check(codes == [4008], f"the idle one, past the ring, gets 4008 when it reads ({codes} after {len(msgs):,} messages)")
    fast.close()
    slow.close()

    # 3. A total size per session: one write past --max-session-bytes is 413.
    st, body = raw(n, "PUT", "/v1/sessions/big/variables/more", BIG)
    check(st == 413 and b"too_large" in body, f"a write past --max-session-bytes answers 413 ({st})")
    st, body = raw(n, "PUT", "/v1/sessions/big/variables/y", "2", headers=[("Prefer", "return=minimal")])
    m = json.loads(body)
    check(st == 200 and set(m) == {"id", "version"} and len(body) < 200,
          f"Prefer: return=minimal answers only id and version ({st}, {len(body)} bytes)")


def snapshots(n, sessions):
    # 4. 200 watchers ask for a snapshot and do not read: each holds about
    # 1 MiB (its queue) plus one page; bound: 400 MiB in all.
    r0 = rss(n)
    idle = [watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?snapshot=true&prefix=sess-", None) for _ in range(200)]
    time.sleep(3)
    grow = (rss(n) - r0) / MB
    print(f"     200 watchers asking for a snapshot of {sessions:,} sessions, not reading: RSS grew {grow:.0f} MiB")
    check(grow < 400, f"snapshot: 200 idle snapshot watchers stay under 400 MiB ({grow:.0f} MiB)")
    for w in idle:
        w.close()
    # 5. 200 watchers that read their snapshot at once (feed_readers, in C++:
    # Python reads about 100k messages a second): each gets every session
    # once, then one synced after the last; RSS sampled meanwhile.
    readers = 200
    r0 = rss(n)
    peak = [r0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(n))
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out = subprocess.run([READERS, "127.0.0.1", str(n.http), "sess-", str(readers), str(sessions)],
                             capture_output=True, text=True, timeout=460)
    finally:
        done.set()
        sampler.join()
    grow = (peak[0] - r0) / MB
    print(f"     {readers} readers of a {sessions:,}-session snapshot: {out.stdout.strip()}; peak RSS growth {grow:.0f} MiB")
    res = json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}
    check(out.returncode == 0 and res.get("complete") == readers,
          f"snapshot: each of {readers} readers got all {sessions:,} sessions once, then one synced "
          f"({res.get('complete')} did; {out.stderr.strip()[:200]})")
    check(grow < 400, f"snapshot: {readers} reading watchers stay under 400 MiB of RSS growth ({grow:.0f} MiB)")


def replay_and_cursors(n):
    # 6. A replay of 5,000 changes ends with exactly one synced, after the last.
    c0 = cursor_of(n)
    for i in range(50):
        put_many(n, f"/v1/sessions/sess-{i:06d}/variables/r", 100, value=str(i))
    ws = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?cursor={c0}", None)
    msgs = read_until_synced(ws)
    ws.close()
    puts = [m for m in msgs if m["type"] == "put"]
    check(len(puts) == 5000 and msgs[-1]["type"] == "synced" and sum(m["type"] == "synced" for m in msgs) == 1,
          f"replay: 5,000 changes, then one synced after the last ({len(puts)} puts, last {msgs[-1]['type']})")
    # 7. Cursors that cannot resume: from another node, past the ring.
    other = c0.split("-")[0][:-1] + ("0" if c0.split("-")[0][-1] != "0" else "1") + "-" + c0.split("-")[1]
    for name, cur in [("another node's incarnation", other), ("malformed", "zzz"), ("in the future", c0.split("-")[0] + "-99999999")]:
        ws = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?cursor={cur}&prefix=sess-00000", None)
        first = read_until_synced(ws, limit=1)
        ws.close()
        check(first and first[0]["type"] == "reset", f"cursor {name} answers reset ({first[:1]})")
    put_many(n, "/v1/sessions/big/variables/x", 100)  # 100 x 2 MiB: the ring drops c0
    ws = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?cursor={c0}&prefix=sess-00000", None)
    first = read_until_synced(ws, limit=1)
    ws.close()
    check(first and first[0]["type"] == "reset", f"a cursor past the ring answers reset ({first[:1]})")
    return c0


def restart_and_origin(n, c0):
    # 8. A cursor from before a restart answers reset.
    n.term()
    n.start()
    ws = watch.connect(f"ws://127.0.0.1:{n.http}/v1/watch?cursor={c0}&prefix=sess-00000", None)
    first = read_until_synced(ws, limit=1)
    ws.close()
    check(first and first[0]["type"] == "reset", f"a cursor from before a restart answers reset ({first[:1]})")
    # 9. Writes made on another node arrive with their origin.
    a = Node("feeda")
    b = Node("feedb", seeds=[a.gaddr])
    wait_until(lambda: a.members().get("feedb") == "alive" and b.members().get("feeda") == "alive", timeout=15)
    ws = watch.connect(f"ws://127.0.0.1:{a.http}/v1/watch?prefix=remote-", None)
    time.sleep(0.2)
    b.req("POST", "/v1/sessions", {"id": "remote-1", "variables": {"v": 1}})
    ws.settimeout(10)
    ev = None
    for op, payload in frames(ws):
        if op == 1:
            ev = json.loads(payload)
            break
    ws.close()
    check(ev and ev["id"] == "remote-1" and ev["origin"] == "feedb",
          f"a write made on b reaches a's watcher with origin feedb ({ev and ev.get('origin')})")
    a.term()
    b.term()


def main():
    n = Node("feed", adapter="local", extra=["--max-sessions", "0", "--max-value-bytes", str(3 * MB),
                                             "--max-session-bytes", str(3 * MB), "--in-memory"])
    ring_and_queues(n)
    sessions = 100000
    import subprocess
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "http", "load.py"), "127.0.0.1", str(n.http),
                    str(sessions)], check=True, capture_output=True)
    snapshots(n, sessions)
    c0 = replay_and_cursors(n)
    restart_and_origin(n, c0)
    n.term()
    if failures:
        print(f"{len(failures)} failed:", *failures, sep="\n  ")
        sys.exit(1)
    print("all feed checks passed")


try:
    main()
finally:
    import signal, subprocess
    for p in subprocess.run(["pgrep", "-f", harness.TMP], capture_output=True, text=True).stdout.split():
        try:
            os.kill(int(p), signal.SIGKILL)
        except Exception:
            pass
