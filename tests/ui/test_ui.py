"""The /ui page in a real browser: starts a 3-node cluster with an API token
(real processes, loopback), then runs ui_test.mjs (playwright-core driving
Debian's chromium headless). Screenshots of each view are kept in
<build dir>/meson-logs/ui/. Usage: test_ui.py BIN SOURCE_ROOT BUILD_ROOT"""
import json, os, shutil, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import harness  # noqa: E402  (BIN is argv[1])
from harness import Node, TMP, check, failures, wait_until  # noqa: E402

SRC, BUILD = sys.argv[2], sys.argv[3]
HERE = os.path.join(SRC, "tests", "ui")
ART = os.path.join(BUILD, "meson-logs", "ui")
TOKEN = "ui-test-token-" + str(os.getpid())


def need(what, ok, how):
    if not ok:
        print(f"FAIL {what} is missing: {how}")
        sys.exit(1)


chromium = shutil.which("chromium")
need("chromium", chromium, "apt-get install chromium (scripts/setup.sh --with-test-tools)")
need("node", shutil.which("node"), "apt-get install nodejs (scripts/setup.sh --with-test-tools)")
need("playwright-core", os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")),
     "npm ci --prefix tests/ui (scripts/setup.sh --with-test-tools)")

tok = os.path.join(TMP, "token")
with open(tok, "w") as f:
    f.write(TOKEN + "\n")
extra = ["--api-token-file", tok]


def members(n):
    r = urllib.request.Request(f"http://127.0.0.1:{n.http}/v1/cluster", headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(r, timeout=5) as resp:
        return {m["node_id"]: m["status"] for m in json.loads(resp.read())["members"]}


nodes = []
try:
    a = Node("a", extra=extra)
    b = Node("b", seeds=[a.gaddr], extra=extra)
    c = Node("c", seeds=[a.gaddr], extra=extra)
    nodes = [a, b, c]
    t = wait_until(lambda: all(list(members(x).values()).count("alive") == 3 for x in nodes), timeout=20)
    check(t is not None, f"3 nodes see each other alive ({t and round(t, 2)} s)")
    shutil.rmtree(ART, ignore_errors=True)
    os.makedirs(ART)
    env = dict(os.environ, UI_A=f"http://127.0.0.1:{a.http}", UI_B=f"http://127.0.0.1:{b.http}", UI_TOKEN=TOKEN,
               UI_C_PID=str(c.proc.pid), UI_ARTIFACTS=ART, UI_CHROMIUM=chromium)
    rc = subprocess.run(["node", os.path.join(HERE, "ui_test.mjs")], env=env, timeout=240).returncode
    check(rc == 0, f"the browser checks pass (exit {rc})")
    shots = sorted(os.listdir(ART))
    for name in ["cluster-1280.png", "feed-1280.png", "sessions-1280.png", "cluster-dead-1280.png",
                 "cluster-390.png", "feed-390.png", "sessions-390.png"]:
        p = os.path.join(ART, name)
        ok = os.path.isfile(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(p) > 5000
        check(ok, f"screenshot {name} kept in {ART}")
finally:
    for n in nodes:
        if n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()
harness.finish("all browser checks passed")
