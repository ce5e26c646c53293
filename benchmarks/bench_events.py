"""Events/s through ``POST /api/events`` on loopback, in batches, with nothing lost.

Starts a real ``fullfunnel serve`` (uvicorn) on a fresh DuckDB file, posts a
bounded number of batches of touchpoint and stage events over one keep-alive
connection (retrying a share of batches whole, as a client would after a
timeout), stops the server, and counts what was stored: every distinct event
sent must be there exactly once.

    python benchmarks/bench_events.py [--batches 40] [--sizes 100,1000,5000] [--retry 0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

import fullfunnel as ff
from fullfunnel.server.keys import create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch(run: str, first: int, size: int, start: datetime) -> list[dict]:
    """``size`` events: four touchpoints for every stage event, ids unique per run."""
    out = []
    for i in range(first, first + size):
        contact = f"{run}-c{i // 8}"
        ts = (start + timedelta(seconds=i)).isoformat() + "Z"
        if i % 5 == 4:
            out.append({"type": "stage", "contact_id": contact, "stage": "mql", "ts": ts})
        else:
            out.append(
                {
                    "touchpoint_id": f"{run}-t{i}",
                    "contact_id": contact,
                    "ts": ts,
                    "channel": random.choice(["webinar", "seo", "paid_search", "email"]),
                    "kind": random.choice(["web_visit", "form_fill", "email_open"]),
                    "campaign": "bench",
                    "cost": 0.5,
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40, help="batches per batch size")
    parser.add_argument("--sizes", default="100,1000,5000", help="batch sizes to measure")
    parser.add_argument("--retry", type=float, default=0.1, help="share of batches sent twice")
    args = parser.parse_args()
    random.seed(1)
    sizes = [int(s) for s in args.sizes.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-events-"))
    db = tmp / "events.duckdb"
    with ff.connect(str(db)) as wh:
        key = create_key(wh, name="bench", scopes=["write", "read"]).key
    port = free_port()
    exe = str(Path(sys.executable).parent / "fullfunnel")
    server = subprocess.Popen(
        [exe, "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    url = f"http://127.0.0.1:{port}"
    rows = []
    sent: dict[str, set] = {}
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as http:
            for _ in range(600):
                try:
                    if http.get("/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            http.get("/api/pipeline")  # waits for the start-up warm-up to release the lock
            start = datetime(2026, 1, 1)
            for size in sizes:
                run = f"b{size}"
                ids: set = set()
                latencies, posted = [], 0
                t0 = time.perf_counter()
                for b in range(args.batches):
                    events = batch(run, b * size, size, start)
                    ids.update(
                        e.get("touchpoint_id") or (e["contact_id"], e["stage"], e["ts"])
                        for e in events
                    )
                    tries = 2 if random.random() < args.retry else 1
                    for _ in range(tries):
                        t = time.perf_counter()
                        r = http.post("/api/events", json={"events": events})
                        latencies.append(time.perf_counter() - t)
                        r.raise_for_status()
                        body = r.json()
                        assert body["rejected"] == 0, body["events"][:3]
                        posted += size
                elapsed = time.perf_counter() - t0
                sent[run] = ids
                lat = sorted(latencies)
                rows.append(
                    {
                        "batch": size,
                        "posts": len(latencies),
                        "events posted": posted,
                        "distinct": len(ids),
                        "seconds": elapsed,
                        "events/s": posted / elapsed,
                        "p50 ms": 1000 * statistics.median(lat),
                        "p95 ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
                    }
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    with ff.connect(str(db)) as wh:
        tp, ev = wh.table("touchpoints"), wh.table("stage_events")
        for row in rows:
            run = f"b{row['batch']}"
            n_tp = tp.filter(tp.touchpoint_id.startswith(f"{run}-")).count().execute()
            n_ev = ev.filter(ev.contact_id.startswith(f"{run}-")).count().execute()
            row["stored"] = int(n_tp + n_ev)
            row["lost"] = len(sent[run]) - row["stored"]
    print(f"POST /api/events on loopback ({os.cpu_count()} cores), DuckDB file {db}")
    head = list(rows[0])
    print(" | ".join(head))
    for row in rows:
        print(
            " | ".join(
                f"{v:,.0f}"
                if isinstance(v, float) and k != "seconds"
                else f"{v:.2f}"
                if isinstance(v, float)
                else f"{v:,}"
                for k, v in row.items()
            )
        )
    if any(row["lost"] for row in rows):
        raise SystemExit("events lost or duplicated: stored != distinct sent")
    print("no event lost: stored = distinct events sent, for every batch size")


if __name__ == "__main__":
    main()
