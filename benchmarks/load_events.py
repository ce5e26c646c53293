"""Load on loopback: concurrent clients post event batches, retry some, lose nothing.

Starts its own ``fullfunnel serve`` on a free 127.0.0.1 port over a fresh DuckDB
file, runs N client threads for a fixed time (each posts batches of new
touchpoints; a share of batches is sent again, as a client does after a timeout,
and any failed request is retried with the same batch), stops the server, and
checks that the warehouse holds exactly the distinct events sent. Prints p50/p99
request latency and events/s; exits 1 if anything was lost or doubled.

    python benchmarks/load_events.py --clients 8 --seconds 20 --batch 100
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

import fullfunnel as ff
from fullfunnel.server.keys import create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fullfunnel", "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped at start: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer /api/health within 60 s")


class Client(threading.Thread):
    """Posts batches until the deadline; re-sends some; retries failures with the same batch."""

    def __init__(self, n: int, url: str, key: str, args, deadline: float) -> None:
        super().__init__(daemon=True)
        self.n, self.url, self.key, self.args, self.deadline = n, url, key, args, deadline
        self.sent: set[str] = set()
        self.latencies: list[float] = []
        self.requests = self.resends = self.retries = self.failures = 0
        self.accepted = self.duplicates = self.rejected = 0
        self.rng = random.Random(n)

    def batch(self, seq: int) -> dict:
        return {
            "events": [
                {
                    "touchpoint_id": f"load-{self.n}-{seq}-{i}",
                    "contact_id": f"load-c{self.rng.randrange(5000)}",
                    "ts": "2026-11-20T10:00:00Z",
                    "channel": self.rng.choice(["webinar", "paid_search", "email"]),
                    "kind": "web_visit",
                }
                for i in range(self.args.batch)
            ]
        }

    def post(self, http: httpx.Client, body: dict) -> bool:
        """One delivery of ``body``, retried until the server acknowledges it."""
        for _attempt in range(10):
            self.requests += 1
            started = time.perf_counter()
            try:
                r = http.post(self.url, json=body, headers={"X-API-Key": self.key})
            except httpx.HTTPError:
                self.failures += 1
                self.retries += 1
                continue
            self.latencies.append(time.perf_counter() - started)
            if r.is_success:
                got = r.json()
                self.accepted += got["accepted"]
                self.duplicates += got["duplicates"]
                self.rejected += got["rejected"]
                return True
            self.failures += 1
            self.retries += 1
        return False

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            seq = 0
            while time.monotonic() < self.deadline:
                body = self.batch(seq)
                seq += 1
                if self.post(http, body):
                    self.sent.update(e["touchpoint_id"] for e in body["events"])
                if self.rng.random() < self.args.resend:  # the answer was "lost": send again
                    self.resends += 1
                    self.post(http, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--resend", type=float, default=0.2, help="share of batches sent twice")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ff-load-"))
    db = tmp / "load.duckdb"
    with ff.connect(db) as wh:
        key = create_key(wh, name="load test", scopes=["write"]).key
    port = free_port()
    server = start_server(db, port)
    url = f"http://127.0.0.1:{port}/api/events"
    try:
        # the server computes the dashboard once at start, holding the warehouse: the
        # first write waits for it, so it is timed apart and not counted
        warm = time.perf_counter()
        first = {"events": [{**Client(0, url, key, args, 0).batch(0)["events"][0]}]}
        first["events"][0]["touchpoint_id"] = "warmup-0"
        httpx.post(url, json=first, headers={"X-API-Key": key}, timeout=300).raise_for_status()
        print(f"first write after start answered in {time.perf_counter() - warm:.1f} s")
        started = time.monotonic()
        clients = [Client(n, url, key, args, started + args.seconds) for n in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    sent = set().union(*(c.sent for c in clients))
    with ff.connect(db) as wh:
        t = wh.table("touchpoints")
        stored = int(t.filter(t.touchpoint_id.startswith("load-")).count().execute())
        distinct = int(
            t.filter(t.touchpoint_id.startswith("load-")).touchpoint_id.nunique().execute()
        )
    lat = np.array([x for c in clients for x in c.latencies]) * 1000
    total = lambda name: sum(getattr(c, name) for c in clients)  # noqa: E731
    print(f"clients {args.clients}, {args.seconds:g} s, {args.batch} events per batch")
    print(
        f"requests {total('requests'):,} (re-sent batches {total('resends'):,}, "
        f"retries after failure {total('retries'):,})"
    )
    print(
        f"events sent (distinct) {len(sent):,}; stored {stored:,} (distinct {distinct:,}); "
        f"acknowledged as duplicates {total('duplicates'):,}; rejected {total('rejected'):,}"
    )
    if len(lat):
        print(
            f"latency per request: p50 {np.percentile(lat, 50):.1f} ms, "
            f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms"
        )
    print(f"throughput {len(sent) / elapsed:,.0f} events/s stored ({elapsed:.1f} s)")
    ok = stored == distinct == len(sent) and total("rejected") == 0
    print("nothing lost, nothing doubled" if ok else "MISMATCH: events lost or doubled")
    if os.environ.get("FULLFUNNEL_KEEP_LOAD_DB"):
        print(f"warehouse kept at {db}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
