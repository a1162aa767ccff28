"""Client(urls): the REST API with failover and pooled keep-alive
connections, and the change feed as a resuming generator.

Failover: a call goes to the node that answered last; a refused or reset
connection, a timeout, or a 503 draining/unavailable/overloaded moves it to
the next URL (each URL once per call); when all failed it raises
Unavailable. Thread-safe: each thread keeps its own connection per node.

Read-your-writes: every successful write answers a session token
(X-Sessionmesh-Session-Token); the client keeps the entries of every token
it was answered (one per node and node life, the highest write number) and
sends them on every request, so a read on any node sees every write this
client made before it, from any thread. read_your_writes=False turns it off.
"""

import json
import random
import threading
import time
import http.client
import urllib.parse

from .errors import error_for, Unavailable, VersionMismatch, NotFound, Reset

_RETRY_CODES = {"draining", "unavailable", "overloaded"}
_TOKEN = "X-Sessionmesh-Session-Token"
_TOKEN_MAX_ENTRIES = 16


class Client:
    def __init__(self, urls, timeout=5.0, token=None, limits=None, ssl_context=None, read_your_writes=True):
        """ssl_context: for https:// nodes (wss:// for watch), an ssl.SSLContext,
        e.g. ssl.create_default_context(cafile="ca.pem"), with
        load_cert_chain(...) for a node that asks for client certificates;
        None: the system's defaults."""
        if isinstance(urls, str):
            urls = [u for u in urls.split(",") if u]
        if not urls:
            raise ValueError("at least one node URL")
        self._nodes = []
        for u in urls:
            p = urllib.parse.urlsplit(u.rstrip("/"))
            if p.scheme not in ("http", "https") or not p.hostname:
                raise ValueError(f"bad node URL: {u!r}")
            self._nodes.append((p.scheme, p.hostname, p.port or (443 if p.scheme == "https" else 80)))
        self.urls = list(urls)
        self.timeout = timeout
        self.token = token
        self.limits = limits  # e.g. "max_sessions=100" (X-Sessionmesh-Limits)
        self.ssl_context = ssl_context
        self._current = 0
        self._local = threading.local()
        self.read_your_writes = read_your_writes
        self._session_token = {}  # (node, life) -> highest write number, from tokens answered
        self._token_lock = threading.Lock()

    # ---- read-your-writes
    @property
    def session_token(self):
        """The token this client sends: every write it was answered for."""
        with self._token_lock:
            entries = sorted(self._session_token.items(), key=lambda kv: -int(kv[0][1], 16))[:_TOKEN_MAX_ENTRIES]
        return ",".join(f"{node}.{life}.{seq:x}" for (node, life), seq in sorted(entries))

    def _remember_token(self, text):
        with self._token_lock:
            for e in text.split(","):
                parts = e.strip().split(".")
                if len(parts) != 3:
                    continue
                try:
                    seq = int(parts[2], 16)
                    int(parts[1], 16)
                except ValueError:
                    continue
                key = (parts[0], parts[1])
                if seq > self._session_token.get(key, -1):
                    self._session_token[key] = seq

    # ---- transport
    def _conn(self, i):
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        c = conns.get(i)
        if c is None:
            scheme, host, port = self._nodes[i]
            if scheme == "https":
                c = conns[i] = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl_context)
            else:
                c = conns[i] = http.client.HTTPConnection(host, port, timeout=self.timeout)
        return c

    def _drop(self, i):
        c = getattr(self._local, "conns", {}).pop(i, None)
        if c is not None:
            c.close()

    def request(self, method, path, body=None, headers=None, raw=False):
        """One call with failover; returns (status, decoded body, headers)."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        h = {"Accept": "application/json"}
        if data is not None or method in ("POST", "PUT", "PATCH"):
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.limits:
            h["X-Sessionmesh-Limits"] = self.limits
        if self.read_your_writes and self._session_token:
            h[_TOKEN] = self.session_token
        h.update(headers or {})
        n = len(self._nodes)
        start = self._current
        last = None
        for k in range(n):
            i = (start + k) % n
            r = payload = None
            for fresh in (False, True):  # a pooled connection the node closed: once more on a new one
                reused = i in getattr(self._local, "conns", {})
                try:
                    c = self._conn(i)
                    c.request(method, path, body=data, headers=h)
                    r = c.getresponse()
                    payload = r.read()
                    break
                except (OSError, http.client.HTTPException) as e:
                    self._drop(i)
                    last = e
                    r = None
                    if not reused or fresh or isinstance(e, TimeoutError):
                        break
            if r is None:
                self._current = (i + 1) % n
                continue
            decoded = None
            if payload and not raw:
                try:
                    decoded = json.loads(payload)
                except ValueError:
                    decoded = payload.decode("utf-8", "replace")
            elif raw:
                decoded = payload
            if r.status == 503:
                err = decoded.get("error", {}) if isinstance(decoded, dict) else {}
                if err.get("code", "unavailable") in _RETRY_CODES:
                    last = error_for(503, decoded)
                    self._current = (i + 1) % n
                    continue
            self._current = i
            if r.status >= 400:
                raise error_for(r.status, decoded)
            if self.read_your_writes:
                t = r.getheader(_TOKEN)
                if t:
                    self._remember_token(t)
            return r.status, decoded, dict(r.getheaders())
        raise Unavailable(503, "unavailable", f"no node answered: {last}")

    # ---- sessions
    @staticmethod
    def _q(**kw):
        kw = {k: v for k, v in kw.items() if v is not None}
        return ("?" + urllib.parse.urlencode(kw)) if kw else ""

    @staticmethod
    def _id(s):
        return urllib.parse.quote(s, safe="")

    def create(self, id=None, ttl_s=None, metadata=None, variables=None, programs=None, acks=None):
        body = {k: v for k, v in dict(id=id, ttl_s=ttl_s, metadata=metadata, variables=variables,
                                      programs=programs).items() if v is not None}
        return self.request("POST", "/v1/sessions" + self._q(acks=acks), body)[1]

    def get(self, id):
        return self.request("GET", f"/v1/sessions/{self._id(id)}")[1]

    def exists(self, id):
        try:
            self.request("HEAD", f"/v1/sessions/{self._id(id)}")
            return True
        except NotFound:
            return False

    def patch(self, id, if_match=None, acks=None, **fields):
        """fields: metadata, variables, programs (a key set to None is removed), ttl_s, last_worker_id."""
        h = {"If-Match": f'"{if_match}"'} if if_match else None
        return self.request("PATCH", f"/v1/sessions/{self._id(id)}" + self._q(acks=acks), fields, h)[1]

    def update(self, id, fn, attempts=20):
        """Read, fn(session) -> dict of patch fields, write with If-Match; retry on a version mismatch."""
        for attempt in range(1, attempts + 1):
            s = self.get(id)
            fields = fn(s)
            if not fields:
                return s
            try:
                return self.patch(id, if_match=s["version"], **fields)
            except VersionMismatch:
                if attempt == attempts:
                    raise
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))

    def delete(self, id, acks=None):
        self.request("DELETE", f"/v1/sessions/{self._id(id)}" + self._q(acks=acks))

    def touch(self, id):
        return self.request("POST", f"/v1/sessions/{self._id(id)}/touch")[1]

    def set_worker(self, id, worker_id):
        return self.request("PUT", f"/v1/sessions/{self._id(id)}/worker", {"worker_id": worker_id})[1]

    def list(self, prefix="", page_size=1000):
        """Iterates over session summaries (id, owner, expires_at_ms, version), page by page."""
        cursor = None
        while True:
            _, page, _ = self.request("GET", "/v1/sessions" + self._q(prefix=prefix or None, limit=page_size,
                                                                     cursor=cursor))
            yield from page["sessions"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _entry(self, kind, id, name):
        return f"/v1/sessions/{self._id(id)}/{kind}/{self._id(name)}"

    def get_variable(self, id, name):
        return self.request("GET", self._entry("variables", id, name))[1]

    def set_variable(self, id, name, value):
        return self.request("PUT", self._entry("variables", id, name), value)[1]

    def delete_variable(self, id, name):
        self.request("DELETE", self._entry("variables", id, name))

    def get_program(self, id, name):
        return self.request("GET", self._entry("programs", id, name))[1]

    def set_program(self, id, name, value):
        return self.request("PUT", self._entry("programs", id, name), value)[1]

    def delete_program(self, id, name):
        self.request("DELETE", self._entry("programs", id, name))

    def get_global_program(self, id):
        return self.request("GET", f"/v1/programs/{self._id(id)}")[1]

    def set_global_program(self, id, value):
        return self.request("PUT", f"/v1/programs/{self._id(id)}", value)[1]

    def delete_global_program(self, id):
        self.request("DELETE", f"/v1/programs/{self._id(id)}")

    def stats(self):
        return self.request("GET", "/v1/stats")[1]

    def cleanup(self):
        return self.request("POST", "/v1/admin/cleanup")[1]

    # ---- change feed
    def watch(self, prefix="", cursor=None, snapshot=False, reconnect_delay=0.2, stop=None):
        """Yields change events (dicts). Reconnects (failing over across URLs)
        with the last cursor after a disconnect or any close: 4008 (lagging),
        and under placement 4009 (placement changed) or 1013 (a followed node
        is unreachable); a `reset` event is yielded as {"type": "reset"} (a
        snapshot follows).
        stop: a threading.Event checked between messages (every 0.5 s)."""
        import asyncio
        import websockets  # python3-websockets (Debian 12: 10.x, asyncio API)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # websockets 10 looks the loop up when connecting
        n = len(self._nodes)
        i = self._current
        try:
            while stop is None or not stop.is_set():
                scheme, host, port = self._nodes[i % n]
                q = {"prefix": prefix, "snapshot": "true" if snapshot and cursor is None else "false"}
                if cursor:
                    q["cursor"] = cursor
                url = (f"{'wss' if scheme == 'https' else 'ws'}://{host}:{port}/v1/watch?"
                       + urllib.parse.urlencode(q))
                hdrs = {"Authorization": "Bearer " + self.token} if self.token else {}
                tls = {"ssl": self.ssl_context} if scheme == "https" and self.ssl_context is not None else {}
                try:
                    ws = loop.run_until_complete(
                        asyncio.wait_for(websockets.connect(url, extra_headers=hdrs, max_size=None, **tls), self.timeout))
                except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                    i += 1
                    time.sleep(reconnect_delay)
                    continue
                try:
                    while stop is None or not stop.is_set():
                        try:
                            msg = loop.run_until_complete(asyncio.wait_for(ws.recv(), 0.5))
                        except asyncio.TimeoutError:
                            continue
                        ev = json.loads(msg)
                        if ev.get("cursor"):
                            cursor = ev["cursor"]
                        yield ev
                except (OSError, websockets.exceptions.WebSocketException):
                    i += 1
                    time.sleep(reconnect_delay)
                finally:
                    loop.run_until_complete(ws.close())
        finally:
            loop.close()
