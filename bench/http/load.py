#!/usr/bin/env python3
"""Loads N sessions (sess-000000 ...) each with one 256-byte variable, pipelining
POSTs over a few keep-alive connections."""
import socket, sys, threading

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
value = '"' + 'x' * 254 + '"'

def load(lo, hi):
    s = socket.create_connection((host, port))
    batch = 500
    for start in range(lo, hi, batch):
        reqs = []
        for i in range(start, min(hi, start + batch)):
            body = '{"id":"sess-%06d","variables":{"v":%s}}' % (i, value)
            reqs.append("POST /v1/sessions HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n%s" % (len(body), body))
        s.sendall("".join(reqs).encode())
        want, got, buf = min(hi, start + batch) - start, 0, b""
        while got < want:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed while loading")
            buf += chunk
            while True:
                h = buf.find(b"\r\n\r\n")
                if h < 0:
                    break
                head = buf[:h].decode()
                if not (head.startswith("HTTP/1.1 201") or head.startswith("HTTP/1.1 200")):
                    raise SystemExit("load failed: " + head.splitlines()[0])
                length = int([l.split(":")[1] for l in head.split("\r\n") if l.lower().startswith("content-length")][0])
                if len(buf) < h + 4 + length:
                    break
                buf = buf[h + 4 + length:]
                got += 1
    s.close()

threads = [threading.Thread(target=load, args=(k * n // 4, (k + 1) * n // 4)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(f"loaded {n} sessions")
