"""Latency of ``fullfunnel serve`` and the size of the report, on the demo.

Generates the balanced demo company into a DuckDB file in a temporary directory,
starts a real ``fullfunnel serve`` (uvicorn) on a free loopback port with
``--as-of`` pinned, and times, from the process's start: when ``/api/health``
answers; the first dashboard load right after start (while the start-up warm-up
computes the unfiltered dashboard, ``GET /`` answers a page saying how far it is);
when the warm-up is done (``/api/health`` says ``ready``; an older tree without it
answers the first ``GET /`` after the warm-up); the first dashboard load once warm;
the first and repeated (cached) calls of a few routes;
and, in a second start, the first API call right after start. Then it writes
``fullfunnel report`` (server stopped) and weighs it and ``GET /report.html``;
last, in a fresh process, it times each analysis of ``run_all`` (what the
warm-up and the report compute) to show where the first load's time goes.

    python benchmarks/bench_serve.py [--contacts 20000] [--warm 20] [--period 2026-Q3]
    PYTHONPATH=OTHER/src python benchmarks/bench_serve.py --src OTHER/src   # another tree

Every subprocess (generation, server, report, analysis timings) runs
``--python`` (default: this interpreter) with ``--src`` first on its
``PYTHONPATH``, so another source tree of fullfunnel is measured the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

AS_OF = "2026-11-23"
TARGET_DASHBOARD_S = 2.0
TARGET_WARM_MS = 200.0
TARGET_REPORT_MB = 1.5

# run in the measured tree: the demo company into a DuckDB file
GENERATE = """
import sys
from datetime import datetime
import fullfunnel as ff
wh = ff.connect(sys.argv[1])
ff.generate_demo(wh, contacts=int(sys.argv[2]), as_of=datetime.fromisoformat(sys.argv[3]))
wh.close()
"""

# run in the measured tree: seconds of each analysis of run_all, in order
ANALYSES = """
import json, sys, time
from datetime import datetime
import fullfunnel as ff
try:
    from fullfunnel.analytics.registry import run_all
except ImportError:
    from fullfunnel.analyses import run_all
t0 = time.perf_counter()
wh = ff.connect(sys.argv[1])
config = ff.load_config()
marks = [("connect", t0, time.process_time())]
run_all(wh, config, datetime.fromisoformat(sys.argv[2]),
        progress=lambda name: marks.append((name, time.perf_counter(), time.process_time())))
marks.append(("", time.perf_counter(), time.process_time()))
print(json.dumps([[a[0], b[1] - a[1], b[2] - a[2]] for a, b in zip(marks, marks[1:])]))
"""

# run in the measured tree: where its fullfunnel comes from
WHICH = "import fullfunnel; print(fullfunnel.__version__, fullfunnel.__file__)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tree:
    """The interpreter and source tree every subprocess runs fullfunnel from."""

    def __init__(self, python: str, src: str | None) -> None:
        self.python = python
        self.env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if src:
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(Path(src).resolve()), os.environ.get("PYTHONPATH")) if p
            )

    def run(self, *args: str) -> str:
        """Its stdout; ``self.cpu_s`` the CPU seconds it used."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [self.python, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if out.returncode:
            raise SystemExit(f"{' '.join(args[:3])} failed:\n{out.stderr[-3000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
        return out.stdout

    def cli(self, *args: str) -> str:
        return self.run("-m", "fullfunnel", *args)

    def serve(self, db: Path, port: int, log: Path) -> subprocess.Popen:
        command = ["-m", "fullfunnel", "--db", str(db), "serve", "--port", str(port)]
        return subprocess.Popen(
            [self.python, *command, "--as-of", AS_OF],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=self.env,
        )


class Server:
    """``fullfunnel serve`` from its start: ``started`` is the monotonic time of the
    spawn, ``health_s`` the seconds until ``/api/health`` answered."""

    def __init__(self, tree: Tree, db: Path, log: Path) -> None:
        self.log = log
        port = free_port()
        self.started = time.perf_counter()
        self.proc = tree.serve(db, port, log)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
        deadline = self.started + 120
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"fullfunnel serve exited:\n{log.read_text()[-3000:]}")
            try:
                if self.http.get("/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit("fullfunnel serve did not answer /api/health within 120 s")
        self.health_s = time.perf_counter() - self.started

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far (every thread; Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, route: str) -> tuple[float, httpx.Response]:
        """Seconds to answer ``route`` (body read), and the answer (must be a 200)."""
        t = time.perf_counter()
        r = self.http.get(route)
        elapsed = time.perf_counter() - t
        if r.status_code != 200:
            raise SystemExit(f"GET {route}: {r.status_code} {r.text[:500]}")
        return elapsed, r

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def p95(values: list[float]) -> float:
    v = sorted(values)
    return v[int(0.95 * (len(v) - 1))]


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="demo contacts")
    parser.add_argument("--warm", type=int, default=20, help="repeated calls per route")
    parser.add_argument("--period", default="2026-Q3", help="the quarter of the filtered view")
    parser.add_argument("--src", help="source tree put first on the subprocesses' PYTHONPATH")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run them with")
    parser.add_argument("--no-analyses", action="store_true", help="skip the per-analysis timing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tree = Tree(args.python, args.src)
    version, where = tree.run("-c", WHICH).split()

    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-serve-"))
    db = tmp / "demo.duckdb"
    t = time.perf_counter()
    tree.run("-c", GENERATE, str(db), str(args.contacts), AS_OF)
    generate_s = time.perf_counter() - t

    routes = ["/api/funnel", "/api/pipeline", "/api/view", f"/api/view?period={args.period}", "/"]
    calls: dict[str, tuple[float, list[float]]] = {}
    load = os.getloadavg()[0]
    server = Server(tree, db, tmp / "serve-1.log")
    try:
        health = (server.health_s, server.cpu_s())
        first_dashboard_s, first_page = server.get("/")
        preparing = "Preparing the dashboard" in first_page.text
        while not server.http.get("/api/health").json().get("ready", True):
            time.sleep(0.1)
        warmed = (time.perf_counter() - server.started, server.cpu_s())
        cpu = server.cpu_s()
        warm_dashboard_s, page = server.get("/")
        warm_dashboard = (warm_dashboard_s, server.cpu_s() - cpu)
        for route in routes:
            first, _ = server.get(route)
            calls[route] = (first, [server.get(route)[0] for _ in range(args.warm)])
        report_route_s, report_page = server.get("/report.html")
        dashboard_mb = len(page.content) / 1e6
        report_route_mb = len(report_page.content) / 1e6
    finally:
        server.stop()

    # a second start: the first API call right after start (it waits for the warm-up)
    server = Server(tree, db, tmp / "serve-2.log")
    try:
        first_api_s, _ = server.get("/api/funnel")
        first_api = (time.perf_counter() - server.started, server.cpu_s())
    finally:
        server.stop()

    out = tmp / "report.html"
    t = time.perf_counter()
    tree.cli("--db", str(db), "report", "--out", str(out), "--as-of", AS_OF)
    report_s, report_cpu_s = time.perf_counter() - t, tree.cpu_s
    report_mb = out.stat().st_size / 1e6

    analyses = [] if args.no_analyses else json.loads(tree.run("-c", ANALYSES, str(db), AS_OF))

    print(
        f"fullfunnel serve on the {args.contacts:,}-contact demo as of {AS_OF} "
        f"({os.cpu_count()} cores; fullfunnel {version} from {Path(where).parent})"
    )
    print(
        f"demo generated in {generate_s:.1f} s into {db}; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print()
    print(f"{'start-up':44} {'seconds':>8} {'CPU s':>7}  target")
    rows = [
        ("/api/health answers, from the spawn", *health, None),
        (
            "first GET / right after start"
            + (" (says: preparing)" if preparing else " (with its data)"),
            first_dashboard_s,
            None,
            TARGET_DASHBOARD_S,
        ),
        ("warm-up done (/api/health ready), from the spawn", *warmed, None),
        ("first dashboard load with its data, once warm", *warm_dashboard, TARGET_DASHBOARD_S),
        ("first GET /api/funnel right after start", first_api_s, None, None),
        ("  (2nd start) answered, from the spawn", *first_api, None),
    ]
    for label, value, cpu_s, target in rows:
        aim = f"<= {target:g} s  {verdict(value, target)}" if target else ""
        used = "" if cpu_s is None else f"{cpu_s:7.1f}"
        print(f"  {label:42} {value:8.2f} {used:>7}  {aim}")
    print()
    print(
        f"{'route (after the warm-up)':44} {'first ms':>9} {'median ms':>10} {'p95 ms':>8}  "
        f"target (warm, {args.warm} calls)"
    )
    for route, (first, warm) in calls.items():
        median = statistics.median(warm)
        target = 1000 * TARGET_DASHBOARD_S if route == "/" else TARGET_WARM_MS
        print(
            f"  {'GET ' + route:42} {1000 * first:9.0f} {1000 * median:10.1f} "
            f"{1000 * p95(warm):8.1f}  <= {target:g} ms  {verdict(1000 * p95(warm), target)}"
        )
    print()
    print(f"{'size':44} {'MB':>8} {'seconds':>8} {'CPU s':>7}  target")
    for label, mb, seconds, cpu_s in (
        ("fullfunnel report (the whole command)", report_mb, report_s, f"{report_cpu_s:7.1f}"),
        ("GET /report.html (results cached)", report_route_mb, report_route_s, ""),
        ("GET / (the dashboard page, warm)", dashboard_mb, warm_dashboard_s, ""),
    ):
        aim = f"<= {TARGET_REPORT_MB:g} MB  {verdict(mb, TARGET_REPORT_MB)}"
        aim = aim if "report" in label else ""
        print(f"  {label:42} {mb:8.2f} {seconds:8.2f} {cpu_s:>7}  {aim}")
    if analyses:
        total = sum(a[1] for a in analyses)
        print()
        print(f"where the warm-up's time goes: run_all in a fresh process, {total:.1f} s")
        print(f"  {'analysis':42} {'seconds':>8} {'CPU s':>7}  share")
        for name, seconds, cpu_s in sorted(analyses, key=lambda a: -a[1]):
            print(f"  {name:42} {seconds:8.2f} {cpu_s:7.1f}  {100 * seconds / total:4.1f}%")
    if args.keep:
        print(f"\nkept {tmp}")
    else:
        for f in sorted(tmp.iterdir()):
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
