#!/usr/bin/env python3
"""Follows sessionmesh's change feed with nothing but the standard library.

    examples/python/watch.py [--url ws://127.0.0.1:7070/v1/watch?snapshot=true] [--token TOKEN]

Prints one JSON event per line. On any close (4008 lagging; under
placement 4009 placement changed, 1013 a followed node unreachable) or a
dropped connection it reconnects with the last cursor it saw, as API.md
section 4 describes; the server answers {"type":"reset"} and a snapshot if the cursor
can no longer be resumed.
"""
import argparse, base64, json, os, socket, struct, sys, time, urllib.parse


def connect(url, token):
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port or 80))
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    req = (f"GET {path} HTTP/1.1\r\nHost: {u.hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    if token:
        req += f"Authorization: Bearer {token}\r\n"
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(head.decode(errors="replace").split("\r\n")[0])
    return s


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def frames(s):
    """Yields (opcode, payload) of whole messages: a message the server sent
    in fragments (continuation frames, opcode 0) comes out joined."""
    op, parts = None, []
    while True:
        b0, b1 = read_exact(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", read_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", read_exact(s, 8))[0]
        payload = read_exact(s, n)
        fin, code = b0 & 0x80, b0 & 0x0F
        if code >= 8:  # control frames are never fragmented and may come between fragments
            yield code, payload
            continue
        if code != 0:
            op, parts = code, []
        parts.append(payload)
        if fin:
            yield op, b"".join(parts)
            op, parts = None, []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="ws://127.0.0.1:7070/v1/watch?snapshot=true")
    ap.add_argument("--token", default=os.environ.get("SESSIONMESH_TOKEN"))
    args = ap.parse_args()
    cursor = None
    while True:
        url = args.url
        if cursor:
            u = urllib.parse.urlparse(url)
            q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query) if k not in ("cursor", "snapshot")]
            url = u._replace(query=urllib.parse.urlencode(q + [("cursor", cursor)])).geturl()
        try:
            s = connect(url, args.token)
            for op, payload in frames(s):
                if op == 8:  # close
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                    print(f"# closed by server: {code} {payload[2:].decode(errors='replace')}", file=sys.stderr)
                    break
                if op == 1:
                    event = json.loads(payload)
                    cursor = event.get("cursor", cursor)
                    print(json.dumps(event), flush=True)
        except (ConnectionError, OSError) as e:
            print(f"# {e}; reconnecting", file=sys.stderr)
        time.sleep(1)


if __name__ == "__main__":
    main()
