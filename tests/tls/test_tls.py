"""TLS on REST and the change feed (issue 10, API.md section 1), against real
processes and certificates made here with the openssl CLI: curl --cacert,
plain HTTP refused and counted, the Python client over https:// and wss://,
certificate rotation on SIGHUP, a bad certificate refused by reload with
the running one kept, mutual TLS, a conditional write relayed to its owner
over mutual TLS, and a bad certificate at start.

  python3 tests/tls/test_tls.py BUILD/sessionmesh SOURCE_ROOT
"""
import json, os, shutil, signal, ssl, subprocess, sys, threading, time, urllib.request

BIN, ROOT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import harness  # noqa: E402
from harness import TMP, check, failures, free_port, wait_until  # noqa: E402
import sessionmesh  # noqa: E402

D = os.path.join(TMP, "pki")
os.makedirs(D)


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, cwd=D)


def make_ca(name):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}")


def make_cert(name, ca, san="IP:127.0.0.1,DNS:localhost"):
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    with open(os.path.join(D, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
       "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return os.path.join(D, f"{name}.pem"), os.path.join(D, f"{name}.key")


def p(name):
    return os.path.join(D, name)


class TlsNode:
    def __init__(self, name, cert, key, extra=()):
        self.name, self.http, self.gossip = name, free_port(), free_port()
        self.cert, self.key = p(name + "-serving.pem"), p(name + "-serving.key")
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        self.args = [BIN, "serve", "--node-id", name, "--data-dir", os.path.join(TMP, name), "--http",
                     f"127.0.0.1:{self.http}", "--gossip", f"127.0.0.1:{self.gossip}", "--tls-cert", self.cert,
                     "--tls-key", self.key, "--log-level", "info"] + list(extra)
        self.log = open(os.path.join(TMP, name + ".log"), "ab")
        self.proc = subprocess.Popen(self.args, stderr=self.log)

    def url(self, path=""):
        return f"https://127.0.0.1:{self.http}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def ctx(cafile, cert=None):
    c = ssl.create_default_context(cafile=cafile)
    if cert:
        c.load_cert_chain(*cert)
    return c


def get(url, context, method="GET", body=None, headers=None):
    r = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                               headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(r, context=context, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def up(node, context):
    def ok():
        try:
            return get(node.url("/healthz"), context)[0] == 200
        except Exception:
            return False
    return wait_until(ok, timeout=10) is not None


def issuer_of(port, context):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with context.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return dict(x[0] for x in t.getpeercert()["issuer"])["commonName"]


def curl(*args):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True,
                          text=True).stdout


nodes = []
try:
    make_ca("ca1")
    make_ca("ca2")
    a_cert = make_cert("a", "ca1")
    a_cert2 = make_cert("a2", "ca2")
    b_cert = make_cert("b", "ca1")
    client = make_cert("client", "ca1", san="DNS:client")
    ca1, ca2 = ctx(p("ca1.pem")), ctx(p("ca2.pem"))

    # --- one node, server TLS only
    a = TlsNode("a", *a_cert, extra=["--adapter", "local", "--config", p("a.toml")])
    with open(p("a.toml"), "w") as f:
        f.write("")
    nodes.append(a)
    check(up(a, ca1), "a TLS node answers /healthz over https")
    code = curl("--cacert", p("ca1.pem"), "-X", "POST", "-H", "Content-Type: application/json", "-d",
                '{"id":"t1"}', a.url("/v1/sessions"))
    check(code == "201", f"curl --cacert creates a session ({code})")
    check(curl(f"http://127.0.0.1:{a.http}/healthz") == "000", "plain HTTP on the TLS port is refused")
    check(curl(a.url("/healthz")) == "000", "a client that does not trust the CA is refused")
    st, body, _ = get(a.url("/metrics"), ca1)
    n = [l for l in body.decode().splitlines() if l.startswith("sessionmesh_http_tls_handshake_failures_total")]
    check(n and int(n[0].split()[1]) >= 2, f"failed handshakes are counted ({n})")

    # --- the Python client over https:// and wss://
    c = sessionmesh.Client([a.url()], ssl_context=ca1)
    check(c.get("t1")["id"] == "t1", "the Python client reads over https://")
    got = []
    stop = threading.Event()

    def watcher():
        for ev in c.watch(prefix="w-", stop=stop):
            if ev["type"] == "put":
                got.append(ev["id"])
                stop.set()

    t = threading.Thread(target=watcher)
    t.start()
    # Write until the watcher (connecting in its thread) sees one: its feed starts at its handshake.
    wait_until(lambda: (c.create(f"w-{time.time()}"), bool(got))[1], timeout=10, step=0.1)
    t.join(timeout=10)
    stop.set()
    check(got and got[0].startswith("w-"), f"the Python client's watch works over wss:// ({got})")

    # --- rotation: the files change, SIGHUP, new connections see the new certificate
    check(issuer_of(a.http, ca1) == "ca1", "before rotation the node shows the ca1 certificate")
    shutil.copy(a_cert2[0], a.cert)
    shutil.copy(a_cert2[1], a.key)
    a.proc.send_signal(signal.SIGHUP)
    rotated = None
    t0 = time.time()
    while time.time() - t0 < 5:
        try:
            if issuer_of(a.http, ca2) == "ca2":
                rotated = time.time() - t0
                break
        except Exception:
            time.sleep(0.1)
    check(rotated is not None, f"SIGHUP rotates the certificate without a restart ({rotated and round(rotated, 2)} s)")
    check(get(a.url("/v1/sessions/t1"), ca2)[0] == 200, "the session is still there after rotation (no restart)")

    # --- a bad certificate on reload: refused, the running one kept
    with open(a.cert, "w") as f:
        f.write("not a certificate\n")
    st, body, _ = get(a.url("/v1/admin/reload"), ca2, method="POST")
    check(st == 400 and b"tls-cert" in body, f"reload with a bad certificate is 400 naming it ({st} {body[:120]})")
    check(get(a.url("/healthz"), ca2)[0] == 200, "after the refused reload the running certificate still serves")

    # --- mutual TLS, two nodes, a conditional write relayed to its owner over TLS
    b_args = ["--tls-client-ca", p("ca1.pem"), "--adapter", "replicated"]
    b = TlsNode("b", *b_cert, extra=b_args)
    nodes.append(b)
    bc = TlsNode("c", *make_cert("c", "ca1"), extra=b_args + ["--seeds", f"127.0.0.1:{b.gossip}"])
    nodes.append(bc)
    mctx = ctx(p("ca1.pem"), client)
    check(up(b, mctx) and up(bc, mctx), "two nodes with mutual TLS answer a client with a certificate")
    check(curl("--cacert", p("ca1.pem"), b.url("/healthz")) == "000",
          "mutual TLS: a client without a certificate is refused")
    check(curl("--cacert", p("ca1.pem"), "--cert", client[0], "--key", client[1], b.url("/healthz")) == "200",
          "mutual TLS: curl with a client certificate gets 200")

    def two_alive():
        st, body, _ = get(b.url("/v1/cluster"), mctx)
        return st == 200 and sum(m["status"] == "alive" for m in json.loads(body)["members"]) == 2
    check(wait_until(two_alive, timeout=15) is not None, "the two TLS nodes see each other")
    # A session owned by c, written conditionally through b: relayed over TLS.
    sid = None
    for i in range(200):
        st, body, _ = get(b.url("/v1/sessions"), mctx, method="POST", body={"id": f"r-{i}"})
        if json.loads(body)["owner"] == "c":
            sid = f"r-{i}"
            break
    check(sid is not None, f"a session owned by c ({sid})")
    ok = wait_until(lambda: get(bc.url(f"/v1/sessions/{sid}"), mctx)[0] == 200, timeout=5)
    st, body, hdrs = get(b.url(f"/v1/sessions/{sid}"), mctx)
    version = json.loads(body)["version"]
    st, body, hdrs = get(b.url(f"/v1/sessions/{sid}/variables/x"), mctx, method="PUT", body=1,
                         headers={"If-Match": version})
    check(st == 200 and hdrs.get("X-Served-By") == f"127.0.0.1:{bc.http}",
          f"If-Match on b is relayed to the owner c over mutual TLS ({st}, served by {hdrs.get('X-Served-By')}, "
          f"{body[:120]})")

    # --- placement over mutual TLS: the list and the change feed of the whole
    # cluster ask the other node over TLS, with this node's client certificate.
    p_args = ["--tls-client-ca", p("ca1.pem"), "--adapter", "replicated", "--replicas", "1"]
    pd = TlsNode("d", *make_cert("d", "ca1"), extra=p_args)
    nodes.append(pd)
    pe = TlsNode("e", *make_cert("e", "ca1"), extra=p_args + ["--seeds", f"127.0.0.1:{pd.gossip}"])
    nodes.append(pe)
    check(up(pd, mctx) and up(pe, mctx), "two placement nodes (--replicas 1) with mutual TLS")

    def placed():
        st, body, _ = get(pd.url("/v1/cluster"), mctx)
        return st == 200 and sum(m["status"] == "alive" for m in json.loads(body)["members"]) == 2
    check(wait_until(placed, timeout=15) is not None, "the two placement nodes see each other")
    time.sleep(1)
    pc = sessionmesh.Client([pd.url()], ssl_context=mctx)
    seen, stop2 = set(), threading.Event()

    def follow():
        for ev in pc.watch(prefix="pw-", stop=stop2):
            if ev["type"] == "put":
                seen.add(ev["id"])

    ft = threading.Thread(target=follow)
    ft.start()
    k = [0]

    def probe():
        k[0] += 1
        get(pe.url("/v1/sessions"), mctx, method="POST", body={"id": f"pw-probe-{k[0]}"})
        return bool(seen)
    wait_until(probe, timeout=10, step=0.2)
    made = [f"pw-{i}" for i in range(60)]
    bad = [i for i in made if get(pe.url("/v1/sessions"), mctx, method="POST", body={"id": i})[0] != 201]
    ok = wait_until(lambda: set(made) <= seen, timeout=10)
    stop2.set()
    ft.join(timeout=10)
    held = [json.loads(get(n.url("/v1/stats"), mctx)[1])["current_sessions"] for n in (pd, pe)]
    check(not bad and ok is not None and all(held),
          f"a watcher on d over wss:// gets the 60 creates made through e, both nodes holding some "
          f"({len(set(made) & seen)} seen, held {held})")
    st, body, _ = get(pd.url("/v1/sessions?prefix=pw-&limit=1000"), mctx)
    listed = [e["id"] for e in json.loads(body)["sessions"]] if st == 200 else []
    check(set(made) <= set(listed) and listed == sorted(set(listed)),
          f"a list through d names every session of both nodes, over TLS ({st}, {len(listed)} listed)")

    # --- a bad certificate at start: a one-line reason, non-zero exit
    bad = subprocess.run([BIN, "serve", "--node-id", "bad", "--in-memory", "--http", f"127.0.0.1:{free_port()}",
                          "--tls-cert", p("nope.pem"), "--tls-key", p("nope.key")], capture_output=True, text=True,
                         timeout=10)
    check(bad.returncode == 2 and "tls-cert" in bad.stderr, f"a missing certificate is exit 2 naming it "
          f"(exit {bad.returncode}: {bad.stderr.strip()[-160:]})")
    with open(p("garbage.key"), "w") as f:
        f.write("garbage\n")
    badkey = subprocess.run([BIN, "serve", "--node-id", "bad", "--in-memory", "--http", f"127.0.0.1:{free_port()}",
                             "--tls-cert", a_cert[0], "--tls-key", p("garbage.key")], capture_output=True, text=True,
                            timeout=10)
    check(badkey.returncode == 2 and "tls-key" in badkey.stderr and len(badkey.stderr.strip().splitlines()) == 1,
          f"an unreadable key is exit 2 with one line naming it ({badkey.returncode}: {badkey.stderr.strip()[-160:]})")
    half = subprocess.run([BIN, "serve", "--node-id", "bad", "--in-memory", "--tls-cert", a_cert[0]],
                          capture_output=True, text=True, timeout=10)
    check(half.returncode == 2 and "tls-key" in half.stderr, f"--tls-cert without --tls-key is exit 2 "
          f"({half.returncode}: {half.stderr.strip()[-120:]})")
finally:
    for n in nodes:
        try:
            n.stop()
        except Exception:
            n.proc.kill()
harness.finish("all TLS checks passed")
