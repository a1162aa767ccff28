"""The cluster tests' harness: real `sessionmesh serve` processes on loopback
ports (Node), waiting, convergence and the check() that records failures.
BIN is the binary under test (argv[1]); TMP holds every node's data dir."""
import importlib.util, json, os, random, threading, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

BIN = sys.argv[1]
_spec = importlib.util.spec_from_file_location(
    "watch", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python", "watch.py"))
watch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(watch)
TMP = tempfile.mkdtemp(prefix="sm-cluster-")
failures = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Node:
    def __init__(self, name, seeds=(), extra=(), adapter="replicated"):
        self.name = name
        self.adapter = adapter
        self.http = free_port()
        self.gossip = free_port()
        self.dir = os.path.join(TMP, name)
        self.seeds = list(seeds)
        self.extra = list(extra)
        self.proc = None
        self.start_timeout = 10  # seconds to answer /healthz (a long soak's data dir may need more)
        self.last_start_s = None
        self.start()

    def start(self):
        seeds = ",".join(self.seeds) if self.seeds else f"127.0.0.1:{self.gossip}"
        args = [BIN, "serve", "--node-id", self.name, "--data-dir", self.dir, "--http", f"127.0.0.1:{self.http}",
                "--gossip", f"127.0.0.1:{self.gossip}", "--seeds", seeds, "--adapter", self.adapter,
                "--test-faults", "--log-level", "warn"] + self.extra
        self.log = open(os.path.join(TMP, self.name + ".log"), "ab")
        self.proc = subprocess.Popen(args, stderr=self.log)
        t0 = time.time()
        while time.time() < t0 + self.start_timeout:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1)
                self.last_start_s = time.time() - t0
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit(f"{self.name} did not answer /healthz within {self.start_timeout} s")

    @property
    def gaddr(self):
        return f"127.0.0.1:{self.gossip}"

    def req(self, method, path, body=None, timeout=5):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data, method=method)
        if data is not None:
            r.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw and resp.headers.get("Content-Type", "").startswith("application/json") else raw
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def term(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def members(self):
        return {m["node_id"]: m["status"] for m in self.req("GET", "/v1/cluster")[1]["members"]}

    def digest(self):
        return self.req("GET", "/v1/cluster")[1]["digest"]


def finish(what="all checks passed"):
    """Ends a test: exit 1 naming how many checks failed (TMP, with the node
    logs, kept), else TMP removed and `what` printed."""
    if failures:
        print(f"{len(failures)} failed; node logs in {TMP}")
        sys.exit(1)
    shutil.rmtree(TMP, ignore_errors=True)
    print(what)


def wait_until(pred, timeout=15, step=0.05):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    return None


def settled(nodes, hold=2.0, timeout=20):
    """Waits until every node sees every node alive and that lasts `hold` s:
    a suspicion raised during a partition can still become a death after
    the heal, before the refutation lands (SWIM), and would move sessions."""
    t0 = time.time()
    since = None
    while time.time() - t0 < timeout:
        ok = all(all(s == "alive" for s in x.members().values()) and len(x.members()) == len(nodes) for x in nodes)
        if ok and since is None:
            since = time.time()
        if not ok:
            since = None
        if since is not None and time.time() - since >= hold:
            return time.time() - t0
        time.sleep(0.1)
    return None


def converged(nodes):
    ds = {n.digest() for n in nodes}
    return len(ds) == 1


def cluster(n, extra=()):
    first = Node("a", extra=extra)
    nodes = [first]
    for i in range(1, n):
        nodes.append(Node(chr(ord("a") + i), seeds=[first.gaddr], extra=extra))
    t = wait_until(lambda: all(sum(1 for s in x.members().values() if s == "alive") == n for x in nodes))
    check(t is not None, f"{n} nodes see each other alive ({t and round(t, 2)} s)")
    return nodes
