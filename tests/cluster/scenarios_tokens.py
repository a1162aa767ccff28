"""Read-your-writes across nodes (X-Sessionmesh-Session-Token): write on one
node, read on another at once, with the token and without it."""
import http.client, json, time

from harness import check

TOKEN = "X-Sessionmesh-Session-Token"


class Conn:
    """One kept-alive HTTP connection to a node (urllib opens one per request)."""

    def __init__(self, node):
        self.c = http.client.HTTPConnection("127.0.0.1", node.http, timeout=10)

    def req(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.c.request(method, path, body=data, headers=h)
        r = self.c.getresponse()
        raw = r.read()
        return r.status, dict(r.getheaders()), raw


def pairs(a, b, n, use_token, sid):
    """n write-on-a, read-on-b pairs of one variable; returns (stale, sent-with-token, waited)."""
    wa, rb = Conn(a), Conn(b)
    st, h, _ = wa.req("POST", "/v1/sessions", {"id": sid, "ttl_seconds": 3600})
    token = h.get(TOKEN, "")
    stale = errors = 0
    for i in range(n):
        st, h, _ = wa.req("PUT", f"/v1/sessions/{sid}/variables/v", i, {TOKEN: token} if use_token else None)
        if st != 200:
            errors += 1
            continue
        if use_token:
            token = h.get(TOKEN, token)
        st, h, raw = rb.req("GET", f"/v1/sessions/{sid}/variables/v", None, {TOKEN: token} if use_token else None)
        if st != 200 or json.loads(raw) != i:
            stale += 1
    return stale, errors


def read_your_writes(nodes, n=10000):
    a, b, c = nodes[:3]
    # The token names the write: node, life, number.
    wa = Conn(a)
    st, h, _ = wa.req("POST", "/v1/sessions", {"id": "rw-shape"})
    tok = h.get(TOKEN, "")
    check(st == 201 and len(tok.split(".")) == 3, f"a write answers a session token ({tok!r})")
    st, h2, _ = wa.req("PUT", "/v1/sessions/rw-shape/variables/x", 1, {TOKEN: tok})
    check(h2.get(TOKEN, "") not in ("", tok) and h2[TOKEN].split(".")[0] == tok.split(".")[0],
          f"the next write on the same node answers a later entry for it ({h2.get(TOKEN)!r})")
    st, h3, _ = Conn(c).req("PUT", "/v1/sessions/rw-shape/variables/y", 2, {TOKEN: h2[TOKEN]})
    check(len(h3.get(TOKEN, "").split(",")) == 2, f"a write on another node adds its entry ({h3.get(TOKEN)!r})")
    st, _, _ = Conn(b).req("GET", "/v1/sessions/rw-shape", None, {TOKEN: "not-a-token"})
    check(st == 400, f"a malformed token is 400 ({st})")
    st, hh, raw = Conn(b).req("GET", "/v1/sessions/rw-shape", None, {TOKEN: h3[TOKEN]})
    body = json.loads(raw) if st == 200 else {}
    check(st == 200 and body.get("variables", {}).get("x") == 1 and body["variables"].get("y") == 2,
          "a read with the merged token on a third node sees both writes")

    # 10,000 write-on-a, read-on-b pairs: with the token none is stale.
    t0 = time.time()
    stale, errors = pairs(a, b, n, True, "rw-token")
    dt = time.time() - t0
    check(stale == 0 and errors == 0, f"{n} write-on-a, read-on-b pairs with the token: {stale} stale, {errors} errors ({dt:.1f} s)")
    stale_without, errors = pairs(a, b, n // 5, False, "rw-plain")
    print(f"info without the token: {stale_without} of {n // 5} reads on b were stale", flush=True)
    mb = b.req("GET", "/metrics")[1]
    mb = mb.decode() if isinstance(mb, bytes) else ""
    lines = [l for l in mb.splitlines() if l.startswith("sessionmesh_token_reads_total")]
    print("info b: " + "; ".join(lines), flush=True)
    check(any('outcome="met"' in l and not l.endswith(" 0") for l in lines), "b counts the token reads it answered at once")
