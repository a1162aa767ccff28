"""Real sessionmesh nodes for the Python client's tests: the binary from
SESSIONMESH_BIN (default build/sessionmesh), free loopback ports."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("SESSIONMESH_BIN", os.path.join(ROOT, "build", "sessionmesh"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, extra=(), wait=True):
        self.dir = tempfile.mkdtemp(prefix="sm-py-")
        self.port = free_port()
        self.extra = list(extra)
        self.proc = None
        self.start(wait)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        log = open(os.path.join(self.dir, "node.log"), "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--node-id", "py-" + str(self.port), "--http",
                                      f"127.0.0.1:{self.port}", "--data-dir", os.path.join(self.dir, "data"),
                                      "--max-sessions", "0"] + self.extra, stdout=log, stderr=log)
        if wait:
            self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("node did not get ready: " + open(os.path.join(self.dir, "node.log")).read())

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def node():
    n = Node()
    yield n
    n.stop()
    shutil.rmtree(n.dir, ignore_errors=True)


@pytest.fixture
def pair():
    """Two replicated nodes that gossip with each other."""
    g1, g2 = free_port(), free_port()
    common = ["--adapter", "replicated", "--seeds", f"127.0.0.1:{g1}"]
    a = Node(common + ["--gossip", f"127.0.0.1:{g1}"], wait=False)
    b = Node(common + ["--gossip", f"127.0.0.1:{g2}"], wait=False)
    a.wait_ready()
    b.wait_ready()
    yield a, b
    for n in (a, b):
        n.stop()
        shutil.rmtree(n.dir, ignore_errors=True)
