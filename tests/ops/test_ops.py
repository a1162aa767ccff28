"""What an operator deploys, checked against the binary (issue 10): the
Prometheus rules and dashboard name only metrics a node exports, the
Kubernetes manifest uses only flags `serve --help` lists and paths a node
answers, the systemd unit and sample config `meson install` puts in place
start a node, the Dockerfile installs the libraries the binary links, the
node's threads are named, and `--huge-pages off` keeps its records off
huge pages.

  python3 tests/ops/test_ops.py BUILD/sessionmesh SOURCE_ROOT
"""
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request

BIN, ROOT = sys.argv[1], sys.argv[2]
BUILD = os.path.dirname(os.path.abspath(BIN))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402  (real processes, free ports, check())
from harness import Node, check, failures, wait_until  # noqa: E402

harness.BIN = BIN
TMP = harness.TMP
HELP = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True).stdout
FLAGS = set(re.findall(r"(--[a-z][a-z0-9-]+)", HELP))


def names_in(expr):
    return set(re.findall(r"\b(sessionmesh_[a-z0-9_]+)", expr))


def exported(text):
    return {l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and not l.startswith("#")}


def main():
    a = Node("opsa")
    b = Node("opsb", seeds=[a.gaddr])
    wait_until(lambda: a.req("GET", "/v1/cluster")[1]["members"] and
               sum(m["status"] == "alive" for m in a.req("GET", "/v1/cluster")[1]["members"]) >= 2, timeout=15)
    a.req("POST", "/v1/sessions", {"id": "ops1"})
    a.req("GET", "/v1/sessions/ops1")
    wait_until(lambda: b"sessionmesh_replication_peer_lag_writes{" in a.req("GET", "/metrics")[1], timeout=10)
    metrics = a.req("GET", "/metrics")[1].decode()
    have = exported(metrics)

    # 1. Prometheus: the rules load, and every metric they (and the dashboard) name exists.
    rules = os.path.join(ROOT, "examples", "prometheus", "alerts.yml")
    r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    check(r.returncode == 0, f"promtool check rules examples/prometheus/alerts.yml ({r.stdout.strip()} {r.stderr.strip()})")
    text = open(rules).read()
    used = names_in(text)
    dash = json.load(open(os.path.join(ROOT, "examples", "prometheus", "grafana-dashboard.json")))
    for p in dash["panels"]:
        for t in p["targets"]:
            used |= names_in(t["expr"])
    missing = sorted(n for n in used if n not in have)
    check(used and not missing, f"every metric the rules and the dashboard name is exported ({len(used)} used; missing {missing})")
    lint = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    check(lint.returncode == 0, f"promtool check metrics on a cluster node ({lint.stdout.strip()} {lint.stderr.strip()})")

    # 2. Kubernetes: flags, probe paths, and what a rolling update needs.
    k8s = open(os.path.join(ROOT, "examples", "kubernetes", "sessionmesh.yaml")).read()
    args = re.findall(r"^\s*- (--[a-z0-9-]+)=", k8s, re.M)
    check(len(args) >= 8 and all(f in FLAGS for f in args),
          f"every flag in the manifest is a serve flag ({[f for f in args if f not in FLAGS]} unknown)")
    for path in re.findall(r"httpGet: \{path: (/[a-z/]+),", k8s):
        st = a.req("GET", path)[0]
        check(st == 200, f"the manifest's probe path {path} answers 200 ({st})")
    for needle in ("kind: StatefulSet", "kind: PodDisruptionBudget", "clusterIP: None", "preStop:",
                   "podAntiAffinity:", "resources:", "runAsNonRoot: true", "volumeClaimTemplates:"):
        check(needle in k8s, f"the manifest has {needle}")
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", k8s).group(1))
    check(grace > 13, f"terminationGracePeriodSeconds ({grace}) is above the drain (10 s) and answer (3 s) bounds")
    drain_path = re.search(r"http://127.0.0.1:7070(/v1/admin/[a-z]+)", k8s).group(1)
    st, body = b.req("POST", drain_path)
    check(st == 200 and body["status"] == "left", f"the preStop path {drain_path} drains a node ({st} {body})")

    # 3. meson install: binary, systemd unit, sample config; the config, every key uncommented, starts a node.
    dest = os.path.join(TMP, "dest")
    r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"meson install --destdir ({r.stderr.strip()[-300:]})")
    found = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
    unit = next((f for f in found if f.endswith("lib/systemd/system/sessionmesh.service")), None)
    toml = next((f for f in found if f.endswith("etc/sessionmesh/sessionmesh.toml")), None)
    exe = next((f for f in found if f.endswith("bin/sessionmesh")), None)
    check(unit and toml and exe, f"meson install puts the binary, the unit and the sample config ({unit}, {toml}, {exe})")
    if unit and toml and exe:
        u = open(os.path.join(dest, unit)).read()
        start = re.search(r"^ExecStart=(\S+) serve (.*)$", u, re.M)
        check(start and start.group(1) == "/" + exe, f"the unit starts the installed binary ({start and start.group(1)})")
        ustart = re.findall(r"(--[a-z0-9-]+)", start.group(2)) if start else []
        check(ustart and all(f in FLAGS for f in ustart), f"the unit's flags are serve flags ({ustart})")
        conf = re.search(r"--config (\S+)", start.group(2)).group(1) if start else ""
        check(conf == "/" + toml, f"the unit reads the installed config ({conf})")
        check(re.search(r"^ExecReload=.*-HUP \$MAINPID", u, re.M) is not None, "systemctl reload sends SIGHUP")
        for opt in ("NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "StateDirectory=sessionmesh"):
            check(opt in u, f"the unit has {opt}")
        sample = open(os.path.join(dest, toml)).read()
        keys = re.findall(r"^# ([a-z0-9-]+) = ", sample, re.M)
        settable = {f[2:] for f in FLAGS} - {"config", "test-faults", "test-clock-offset-ms", "help"}
        check(set(keys) == settable, f"the sample config lists every setting ({sorted(settable ^ set(keys))} differ)")
        full = os.path.join(TMP, "full.toml")
        open(full, "w").write(re.sub(r"^# ([a-z0-9-]+ = )", r"\1", sample, flags=re.M))
        n = Node("opsc", extra=["--config", full], adapter="local")
        check(n.req("GET", "/readyz")[0] == 200, "a node starts on the sample config with every key uncommented")
        n.term()

    # 4. Dockerfile: Debian 12 stages, non-root, a health check, and the libraries the binary links.
    df = open(os.path.join(ROOT, "Dockerfile")).read()
    check(re.search(r"^FROM debian:12 AS build", df, re.M) and re.search(r"^FROM debian:12-slim", df, re.M),
          "the Dockerfile builds on debian:12 and runs on debian:12-slim")
    user = re.search(r"^USER (\S+)", df, re.M)
    check(user and not user.group(1).startswith(("0", "root")), f"the image runs as a non-root user ({user and user.group(1)})")
    check("HEALTHCHECK" in df and "/healthz" in df, "the image has a HEALTHCHECK on /healthz")
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
    pkgs = set()
    for lib in re.findall(r"=> (\S+)", ldd):
        r = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
        if r.returncode != 0:
            r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if r.returncode == 0:
            pkgs.add(r.stdout.split(":")[0])
    base = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:12-slim
    need = sorted(p for p in pkgs - base if not re.search(r"\b" + re.escape(p) + r"\b", df))
    check(pkgs and not need, f"the runtime stage installs every library package the binary links ({need} missing)")
    for f in re.findall(r'"(--[a-z0-9-]+)=', df):
        check(f in FLAGS, f"the image's default command uses serve flag {f}")

    # 5. Threads carry names an operator can tell apart (`top -H`, `ps -L`, perf).
    names = set()
    for t in os.listdir(f"/proc/{a.proc.pid}/task"):
        try:
            names.add(open(f"/proc/{a.proc.pid}/task/{t}/comm").read().strip())
        except OSError:
            pass  # the thread ended meanwhile
    for want in ("sm-http-0", "sm-cluster", "sm-wal-sync", "sm-maintenance", "sm-file-writer"):
        check(want in names, f"a replicated node on a data dir has a thread named {want} ({sorted(names)})")

    # 6. --huge-pages: on (the default) the record arena's chunks are asked for huge pages, off never.
    def asked_huge(pid):
        return any(l.startswith("VmFlags:") and " hg" in l for l in open(f"/proc/{pid}/smaps"))
    check(asked_huge(a.proc.pid), "a node asks for huge pages for its records by default (VmFlags hg)")
    plain = Node("opsd", extra=["--huge-pages", "off"], adapter="local")
    plain.req("POST", "/v1/sessions", {"id": "plain1"})
    check(plain.req("GET", "/v1/sessions/plain1")[0] == 200 and not asked_huge(plain.proc.pid),
          "a node started with --huge-pages off asks for none")
    plain.term()

    for x in (a, b):
        x.term()
    if failures:
        print(f"{len(failures)} failed:", *failures, sep="\n  ")
        sys.exit(1)
    print("all ops checks passed")


main()
