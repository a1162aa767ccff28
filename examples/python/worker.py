#!/usr/bin/env python3
"""A worker that keeps its state in a session and picks it up after kill -9.

    worker.py --url http://127.0.0.1:7070 --session job-1 --steps 100

Each step's progress is written to the session's variables before the next
step starts, so a new worker (after a crash or on another machine) resumes
from the last acknowledged step. Needs clients/python on PYTHONPATH.
"""
import argparse
import time

from sessionmesh import Client, NotFound


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.05)
    a = ap.parse_args()
    c = Client(a.url)
    c.create(id=a.session, variables={"step": 0, "total": 0})
    s = c.get(a.session)
    step, total = s["variables"]["step"], s["variables"]["total"]
    print(f"resumed at step {step}", flush=True)
    while step < a.steps:
        step += 1
        total += step  # the "work"
        c.patch(a.session, variables={"step": step, "total": total})
        time.sleep(a.delay)
    print(f"done: step {step} total {total}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except NotFound:
        raise SystemExit("session disappeared (expired or deleted)")
