"""The performance suite: every analysis, step by step, at growing sizes.

For each size it generates a demo company with the demo generator, writes it to
Parquet, then (in a fresh process, so that figures do not include the generator)
times each step and its peak resident memory: ingest into the warehouse, the
lifecycle timeline, every analysis registered in ``fullfunnel.analytics.registry.ANALYSES``
(whatever is registered when the script runs), and the HTML report; end to end
is ingest + analyses + report. Side by side, in another fresh process, a plain
pandas lifecycle + funnel on the same files (``pandas_baseline.py``), and, each in its own
process too, one hand-written DuckDB query and a polars lazy plan on the same
files (``baselines.py``; polars is optional: ``pip install polars``), all checked
to give the same numbers, with each one's time as a multiple of the fastest.

    python benchmarks/run.py                                # 100k and 1M contacts
    python benchmarks/run.py --touchpoints 10000000         # sized by touchpoints
    python benchmarks/run.py --contacts 100000 --db spark://local[2]
    python benchmarks/run.py --contacts 1000000 --threads 2 --memory-limit 4GB

Peak memory is the high-water mark of resident memory during the step (Linux
``VmHWM``, reset before each step), summed over the process and its children
(the JVM on Spark). Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AS_OF = datetime(2026, 11, 23)
# Touchpoints per contact of the balanced demo (measured: 6,438,824 for 1M contacts).
TOUCHES_PER_CONTACT = 6.44
# Touchpoints per contact that one more unit of the scenario's ``tofu_touches`` adds:
# a Poisson count per lead, 1.5x for the 15% of high-intent contacts.
TOUCHES_PER_TOFU_UNIT = 1 + 0.5 * 0.15
TABLES = (
    "accounts",
    "contacts",
    "stage_events",
    "touchpoints",
    "opportunities",
    "opportunity_history",
    "spend",
    "targets",
)
# Above this many contacts the demo company is generated in parts (the generator
# holds ~5.7 GB per million contacts).
CHUNK_CONTACTS = 1_000_000
ID_COLUMNS = {"account_id", "contact_id", "touchpoint_id", "opportunity_id"}


# --- memory --------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> None:
    """Start a new high-water mark of resident memory (Linux ≥ 4.0)."""
    for pid in _tree(os.getpid()):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def peak_mb() -> float:
    """Peak resident memory since the last reset, over this process and its children."""
    return sum(_status_kb(pid, "VmHWM") for pid in _tree(os.getpid())) / 1024


# --- child processes -------------------------------------------------------------------


class Steps:
    """Times and peak memory of named steps, as JSON-ready records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str, **extra: Any) -> Iterator[dict[str, Any]]:
        rec: dict[str, Any] = {"step": name, **extra}
        print(f"  {name} …", file=sys.stderr, flush=True)
        reset_peak()
        t0 = time.perf_counter()
        try:
            yield rec
        except Exception as exc:
            rec["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            traceback.print_exc(file=sys.stderr)
        rec["seconds"] = time.perf_counter() - t0
        rec["peak_mb"] = peak_mb()
        self.records.append(rec)


def child_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Simulate the demo company and write each table to Parquet.

    Above ``CHUNK_CONTACTS`` the company is generated as independent parts of at most
    that many contacts (each its own seed, its ids prefixed so they stay unique),
    appended to the same files, so that memory stays that of one part; spend and
    targets are summed over the parts.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fullfunnel.demo import SCENARIOS, _simulate
    from fullfunnel.schema import table_spec

    scenario = SCENARIOS[spec["scenario"]]
    if spec.get("touches_per_contact"):
        # more (or fewer) top-of-funnel marketing touches per lead: the same company
        # with the touch density of the size asked for
        extra = (spec["touches_per_contact"] - TOUCHES_PER_CONTACT) / TOUCHES_PER_TOFU_UNIT
        scenario = dataclasses.replace(scenario, tofu_touches=scenario.tofu_touches + extra)

    out = Path(spec["data"])
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    n, parts = spec["contacts"], -(-spec["contacts"] // CHUNK_CONTACTS)
    writers: dict[str, Any] = {}
    summed: dict[str, list[Any]] = {"spend": [], "targets": []}
    rows = dict.fromkeys(TABLES, 0)
    with steps.step("generate and write parquet", parts=parts):
        for part in range(parts):
            size = n // parts + (part < n % parts)
            seed = spec["seed"] if parts == 1 else spec["seed"] * 1000 + part
            tables = _simulate(scenario, size, seed, AS_OF)
            for name in TABLES:
                table = tables[name]
                if parts > 1:
                    for col in ID_COLUMNS & set(table.column_names):
                        tagged = pc.binary_join_element_wise(f"P{part}-", table[col], "")
                        table = table.set_column(table.schema.get_field_index(col), col, tagged)
                if name in summed:
                    summed[name].append(table.to_pandas())
                    continue
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                writers[name].write_table(table.cast(writers[name].schema))
                rows[name] += table.num_rows
            del tables
        for writer in writers.values():
            writer.close()
        for name, frames in summed.items():
            key = [k for k in table_spec(name).key if k in frames[0].columns]
            frame = (
                pd.concat(frames)
                .groupby(key, as_index=False, dropna=False)
                .agg({c: ("sum" if c == "amount" else "first") for c in frames[0] if c not in key})
            )
            pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet"
            )
            rows[name] = len(frame)
    (out / "rows.json").write_text(json.dumps(rows))
    return {"steps": steps.records, "rows": rows}


def child_analyse(spec: dict[str, Any]) -> dict[str, Any]:
    """Ingest the Parquet files, then run the lifecycle, every analysis and the report."""
    import fullfunnel as ff
    from fullfunnel.analytics.registry import ANALYSES, run
    from fullfunnel.lifecycle import timeline
    from fullfunnel.report import write_report
    from fullfunnel.warehouse import ParquetFile

    data = Path(spec["data"])
    config = ff.default_config()
    steps = Steps()
    with steps.step("connect"):
        wh = ff.connect(spec["db"])
    with steps.step("ingest"):
        # the engine reads the files itself, in one transaction: no rows pass through Python
        wh.load_many({name: ParquetFile(data / f"{name}.parquet") for name in TABLES}, replace=True)
    with steps.step("lifecycle") as rec:
        # materialised once here and shared by every analysis below, as in any run
        rec["rows"] = int(timeline(wh, config, as_of=AS_OF).count().execute())
    results: dict[str, Any] = {}
    for name in ANALYSES:
        if name in spec.get("skip", ()):
            continue
        with steps.step(name, analysis=True):
            results[name] = run(name, wh, config, AS_OF)
    with steps.step("report"):
        write_report(data / "report.html", results, config=config)
    with steps.step("export journeys for ChannelAttribution"):
        # the Markov journeys of the attribution analysis (every contact's channel path
        # to an opportunity), for the reference package to model in its own process
        from fullfunnel.analytics.attribution.journeys import journey_paths

        paths = journey_paths(
            wh,
            config,
            conversion="opportunity",
            value="pipeline",
            lookback_days=config["attribution"]["lookback_days"],
            as_of=AS_OF,
        )
        cols = ["path", "conversions", "value", "nulls"]
        paths.frame[cols].to_parquet(data / "journeys.parquet", index=False)
    funnel = results.get("funnel")
    check = None
    if funnel is not None:
        cols = ["stage", "reached", "converted", "conversion"]
        cols += ["median_days", "p75_days", "p90_days"]
        check = funnel.stages[cols].to_dict(orient="records")
    wh.close()
    ran = [n for n in ANALYSES if n not in spec.get("skip", ())]
    return {"steps": steps.records, "analyses": ran, "funnel": check}


def child_pandas(spec: dict[str, Any]) -> dict[str, Any]:
    """The plain-pandas lifecycle + funnel on the same files."""
    sys.path.insert(0, str(HERE))
    import pandas as pd
    import pandas_baseline as pb

    data = Path(spec["data"])
    steps = Steps()
    frames: dict[str, pd.DataFrame] = {}
    with steps.step("pandas: read parquet"):
        frames["contacts"] = pd.read_parquet(data / "contacts.parquet")
        frames["events"] = pd.read_parquet(data / "stage_events.parquet")
    with steps.step("pandas: lifecycle"):
        tl = pb.lifecycle(frames["contacts"], frames["events"], AS_OF)
    with steps.step("pandas: funnel"):
        result = pb.funnel(tl)
    return {"steps": steps.records, "funnel": result.to_dict(orient="records")}


def child_duckdb(spec: dict[str, Any]) -> dict[str, Any]:
    """Lifecycle + funnel as one hand-written DuckDB query on the same files."""
    sys.path.insert(0, str(HERE))
    import baselines

    steps = Steps()
    with steps.step("duckdb query: connect"):
        con = baselines.duckdb_connect(spec.get("threads"), spec.get("memory_limit"))
    # the query reads the Parquet files itself: the read is part of the step
    with steps.step("duckdb query: lifecycle + funnel", method=True):
        result = baselines.duckdb_query(Path(spec["data"]), AS_OF, con)
    con.close()
    return {"steps": steps.records, "funnel": result.to_dict(orient="records")}


def child_polars(spec: dict[str, Any]) -> dict[str, Any]:
    """Lifecycle + funnel as one polars lazy plan on the same files; skipped, with a
    note, when polars is not installed."""
    sys.path.insert(0, str(HERE))
    if spec.get("threads"):
        os.environ["POLARS_MAX_THREADS"] = str(spec["threads"])  # read at import
    import baselines

    steps = Steps()
    with steps.step("polars lazy: import"):
        available = baselines.polars_available()
    if not available:
        note = "polars is not installed: its baseline is skipped (pip install polars)"
        print(f"  {note}", file=sys.stderr)
        return {"steps": [], "skipped": note}
    # the plan scans the Parquet files itself: the read is part of the step
    with steps.step("polars lazy: lifecycle + funnel", method=True):
        result = baselines.polars_lazy(Path(spec["data"]), AS_OF)
    return {"steps": steps.records, "funnel": result.to_dict(orient="records")}


def child_markov(spec: dict[str, Any]) -> dict[str, Any]:
    """fullfunnel's exact Markov model against ChannelAttribution's, on the same paths:
    the company's journeys, then (``markov_journeys``) that many synthetic ones."""
    sys.path.insert(0, str(HERE))
    import bench_attribution as ba
    import pyarrow.parquet as pq

    rows = []
    sources = [("company journeys", lambda: pq.read_table(Path(spec["data"]) / "journeys.parquet"))]
    if spec.get("markov_journeys"):
        n = spec["markov_journeys"]
        sources.append((f"{n:,} synthetic journeys", lambda: ba.journeys(n)))
    for name, load in sources:
        table = load()
        credits, agg_s, solve_s, _, distinct = ba.ours(table, 1)
        ref, ref_s, _ = ba.reference(table, 1)
        ref = ref.reindex(credits.index)
        total = float(credits.conversions.sum())
        rows.append(
            {
                "journeys": name,
                "paths": distinct,
                "ours_s": agg_s + solve_s,
                "reference_s": ref_s,
                "delta": float((credits.conversions - ref.total_conversions).abs().max()) / total,
            }
        )
        del table
    return {"markov": rows}


# The command a user runs for each analysis (``--cli``), as of the suite's date; the
# scores' command writes them, so it runs last, and ``report`` runs every analysis.
PERIOD = "2026-Q4"
COMMANDS: dict[str, list[str]] = {
    "funnel": ["funnel"],
    "velocity": ["velocity"],
    "pipeline": ["pipeline"],
    "reps": ["reps"],
    "movement": ["movement"],
    "buying_group": ["buying-group"],
    "steps": ["funnel", "--steps", "stage:lead,stage:mql,stage:sql,stage:opportunity"],
    "data_quality": ["quality"],
    "plan": ["plan", "--period", PERIOD],
    "forecast": ["forecast", "--period", PERIOD],
    "backtest": ["forecast", "--backtest", "--sims", "1000"],
    "review": ["review", "--period", "2026-Q3"],
    "targets": ["target", "list"],
    "diagnose": ["diagnose"],
    "stuck": ["stuck"],
    "handoffs": ["handoffs"],
    "attribution": ["attribute", "--conversion", "opportunity", "--value", "pipeline"],
    "attribution_compare": ["attribute", "--compare"],
    "report": ["report", "--out", "{data}/report-cli.html"],
    "scoring": ["score"],
}


def cli_commands(db: str, data: Path, analyses: list[str]) -> dict[str, dict[str, Any]]:
    """Each analysis as its ``fullfunnel`` command, one fresh process each: the wall
    time a user waits (start-up, connect, the timeline, the analysis, the printed
    table) and the process's peak resident memory (its own; on Spark the JVM's is
    not in it). Output goes to /dev/null; a failed command is recorded, not fatal."""
    out: dict[str, dict[str, Any]] = {}
    names = [n for n in COMMANDS if n in analyses or n == "report"]
    names += [n for n in analyses if n not in COMMANDS]  # registered, no command known
    as_of = AS_OF.date().isoformat()
    for name in names:
        if name not in COMMANDS:
            out[name] = {"error": "no command known to the suite"}
            continue
        args = [a.format(data=data) for a in COMMANDS[name]]
        cmd = [sys.executable, "-m", "fullfunnel", "--db", db, *args, "--as-of", as_of]
        print(f"  fullfunnel {' '.join(args)} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stderr = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        rec: dict[str, Any] = {
            "command": "fullfunnel " + " ".join(COMMANDS[name]).replace("{data}/", ""),
            "seconds": time.perf_counter() - started,
            "peak_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        }
        if proc.returncode != 0:
            said = stderr.decode(errors="replace").strip().splitlines() or ["?"]
            rec["error"] = f"exit {proc.returncode}: {said[-1]}"
        out[name] = rec
    return out


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": child_generate,
    "analyse": child_analyse,
    "pandas": child_pandas,
    "duckdb": child_duckdb,
    "polars": child_polars,
    "markov": child_markov,
}


def in_child(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``kind`` in a fresh Python process; its result comes back as JSON."""
    out = HERE / f".{kind}-{os.getpid()}.json"
    cmd = [sys.executable, __file__, "--child", kind, json.dumps({**spec, "out": str(out)})]
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"the {kind} step failed (exit {proc.returncode}); see the output above")
    result = json.loads(out.read_text())
    out.unlink()
    result["wall"] = time.perf_counter() - started
    return result


# --- the run ---------------------------------------------------------------------------


def machine() -> str:
    import duckdb
    import ibis
    import pandas

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"ibis {ibis.__version__}, pandas {pandas.__version__}; load average {load} "
        "(other work on the machine slows every figure)"
    )


def db_url(template: str, data: Path, threads: int | None, memory_limit: str | None) -> str:
    """The warehouse URL of one run: a fresh DuckDB file next to the data by default."""
    if template == "duckdb":
        path = data / "bench.duckdb"
        for p in (path, Path(f"{path}.wal")):
            p.unlink(missing_ok=True)
        url = f"duckdb://{path}"
    else:
        url = template
    if url.startswith("duckdb"):
        opts = {"threads": threads, "memory_limit": memory_limit}
        query = "&".join(f"{k}={v}" for k, v in opts.items() if v is not None)
        if query:
            url += ("&" if "?" in url else "?") + query
    return url


def one_size(
    n: int, args: argparse.Namespace, markov_journeys: int | None = None
) -> dict[str, Any]:
    density = f"-{args.touches_per_contact:g}tpc" if args.touches_per_contact else ""
    data = args.data_dir / f"{args.scenario}-{n}-{args.seed}{density}"
    spec = {"contacts": n, "seed": args.seed, "scenario": args.scenario, "data": str(data)}
    spec["touches_per_contact"] = args.touches_per_contact
    spec["skip"] = args.skip
    out: dict[str, Any] = {"contacts": n}
    if args.reuse and (data / "rows.json").exists():
        print(f"[{n:,}] reusing {data}", file=sys.stderr)
        out["generate"] = {"steps": [], "rows": json.loads((data / "rows.json").read_text())}
    else:
        print(f"[{n:,}] generating the demo company into {data}", file=sys.stderr)
        out["generate"] = in_child("generate", spec)
    out["rows"] = out["generate"]["rows"]
    url = db_url(args.db, data, args.threads, args.memory_limit)
    print(f"[{n:,}] analysing on {url}", file=sys.stderr)
    out["analyse"] = in_child("analyse", {**spec, "db": url})
    if args.cli:
        print(f"[{n:,}] each analysis from the command line", file=sys.stderr)
        out["cli"] = cli_commands(url, data, out["analyse"]["analyses"])
    if not args.no_pandas:
        print(f"[{n:,}] plain pandas lifecycle + funnel", file=sys.stderr)
        out["pandas"] = in_child("pandas", spec)
    if not args.no_baselines:
        engine = {**spec, "threads": args.threads, "memory_limit": args.memory_limit}
        print(f"[{n:,}] one hand-written DuckDB query: lifecycle + funnel", file=sys.stderr)
        out["duckdb"] = in_child("duckdb", engine)
        print(f"[{n:,}] polars lazy lifecycle + funnel", file=sys.stderr)
        out["polars"] = in_child("polars", engine)
    if not args.no_reference:
        print(f"[{n:,}] Markov attribution against ChannelAttribution", file=sys.stderr)
        out["markov"] = in_child("markov", {**spec, "markov_journeys": markov_journeys})
    if args.db == "duckdb" and not args.keep:
        for p in data.glob("bench.duckdb*"):
            p.unlink()
    return out


# The lifecycle + funnel of each method: (name in the figures, the part of a run
# holding its funnel, the steps that make up its time).
METHODS = (
    ("fullfunnel", "analyse", ("lifecycle", "funnel")),
    ("pandas", "pandas", ("pandas: lifecycle", "pandas: funnel")),
    ("the DuckDB query", "duckdb", ("duckdb query: lifecycle + funnel",)),
    ("polars lazy", "polars", ("polars lazy: lifecycle + funnel",)),
)
# fullfunnel's funnel table rounds days to 2 decimals: against it, days agree to half
# of that; the baselines do not round, and share the quantile definition (linear
# interpolation between the closest ranks), so between them days agree to 1e-9
ROUNDED_DAYS_TOLERANCE = 0.005 + 1e-9


def agreement(run: dict[str, Any]) -> str:
    """Whether every method gives the same funnel numbers, compared pair by pair:
    reached and converted exactly, conversion to 1e-6, the median/p75/p90 days to
    1e-9 (to ``ROUNDED_DAYS_TOLERANCE`` against fullfunnel's rounded days)."""
    sys.path.insert(0, str(HERE))
    import baselines

    found = {name: run.get(part, {}).get("funnel") for name, part, _ in METHODS}
    found = {name: recs for name, recs in found.items() if recs}
    if len(found) < 2:
        return "not compared"
    bad = []
    names = list(found)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            tol = ROUNDED_DAYS_TOLERANCE if "fullfunnel" in (a, b) else baselines.DAYS_TOLERANCE
            diff = baselines.differences(found[a], found[b], days_tolerance=tol)
            if diff:
                bad.append(f"{a} vs {b}: " + "; ".join(diff[:3]))
    if bad:
        return "DIFFER: " + " | ".join(bad)
    return (
        f"identical across {', '.join(names)} (counts exact, conversion to 1e-6, days to "
        "1e-9; to 0.005 against fullfunnel, whose table rounds days to 2 decimals)"
    )


def method_times(recs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each method's lifecycle + funnel: seconds (its steps summed) and peak MB."""
    out = {}
    for name, _, steps in METHODS:
        found = [recs.get(s) for s in steps]
        if all(found) and not any("error" in s for s in found):
            out[name] = {
                "seconds": sum(s["seconds"] for s in found),
                "peak_mb": max(s["peak_mb"] for s in found),
            }
    return out


def speed_lines(run: dict[str, Any], recs: dict[str, dict[str, Any]]) -> list[str]:
    """Lifecycle + funnel of every method, fastest first, each as a multiple of the
    fastest, and whether their numbers agree."""
    times = method_times(recs)
    if len(times) < 2:
        return []
    order = sorted(times, key=lambda name: times[name]["seconds"])
    best = order[0]
    lines = [
        f"{run['contacts']:,} contacts, lifecycle + funnel, each in its own process "
        "(the DuckDB query and polars read the Parquet files inside their time; "
        "fullfunnel reads its warehouse, pandas' read is timed apart):"
    ]
    for name in order:
        t = times[name]
        ratio = t["seconds"] / times[best]["seconds"] if times[best]["seconds"] else float("nan")
        vs = "the fastest" if name == best else f"{ratio:.1f}× {best}"
        lines.append(f"- {name} {t['seconds']:.2f} s / {t['peak_mb']:,.0f} MB ({vs})")
    for part in ("duckdb", "polars"):
        if run.get(part, {}).get("skipped"):
            lines.append(f"- {run[part]['skipped']}")
    lines.append(f"- results: {agreement(run)}")
    return lines


def table(runs: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table: a row per step, time and peak memory per size."""
    names: list[str] = []
    by_size: list[dict[str, dict[str, Any]]] = []
    for r in runs:
        recs = {}
        for part in ("generate", "analyse", "pandas", "duckdb", "polars"):
            for rec in r.get(part, {}).get("steps", []):
                recs[rec["step"]] = rec
                if rec["step"] not in names:
                    names.append(rec["step"])
        analyse = r["analyse"]["steps"]
        body = [
            s
            for s in analyse
            if s.get("analysis") or s["step"] in ("ingest", "lifecycle", "report")
        ]
        recs["end to end"] = {
            "seconds": sum(s["seconds"] for s in body),
            "peak_mb": max((s["peak_mb"] for s in body), default=0),
        }
        times = method_times(recs)
        if "fullfunnel" in times:
            recs["fullfunnel: lifecycle + funnel"] = times["fullfunnel"]
        if "pandas" in times:
            recs["pandas: lifecycle + funnel"] = times["pandas"]
        by_size.append(recs)
    names = [n for n in names if n != "connect"]
    names.insert(names.index("report") + 1, "end to end")
    # the sums of lifecycle + funnel, beside the steps they sum
    if any("fullfunnel: lifecycle + funnel" in r for r in by_size):
        names.insert(names.index("end to end") + 1, "fullfunnel: lifecycle + funnel")
    if any("pandas: lifecycle + funnel" in r for r in by_size):
        names.insert(names.index("pandas: funnel") + 1, "pandas: lifecycle + funnel")
    head = "| step | " + " | ".join(
        f"{r['contacts']:,} contacts ({r['rows']['touchpoints'] / 1e6:.1f}M touchpoints): "
        "s / peak MB"
        for r in runs
    )
    growth = len(runs) > 1
    head += " | growth (time ratio / size ratio) |" if growth else " |"
    lines = [head, "|" + "---|" * (len(runs) + 1 + growth)]
    for name in names:
        cells = []
        for recs in by_size:
            rec = recs.get(name)
            if rec is None:
                cells.append("—")
            elif "error" in rec:
                cells.append(f"error: {rec['error']}")
            else:
                cells.append(f"{rec['seconds']:.2f} / {rec['peak_mb']:,.0f}")
        row = f"| {name} | " + " | ".join(cells)
        if growth:
            a, b = by_size[0].get(name), by_size[-1].get(name)
            size = runs[-1]["contacts"] / runs[0]["contacts"]
            ok = a and b and "error" not in a and "error" not in b and a["seconds"] > 0
            row += f" | {b['seconds'] / a['seconds']:.1f} / {size:.0f}" if ok else " | —"
        lines.append(row + " |")
    speed = []
    for r, recs in zip(runs, by_size, strict=True):
        speed += speed_lines(r, recs)
    for r in runs:
        for m in r.get("markov", {}).get("markov", []):
            speed.append(
                f"{r['contacts']:,} contacts, Markov (order 1) on {m['journeys']} "
                f"({m['paths']:,} distinct paths): fullfunnel exact {m['ours_s']:.2f} s vs "
                f"ChannelAttribution {m['reference_s']:.2f} s = "
                f"{m['reference_s'] / m['ours_s']:.1f}x; largest per-channel difference "
                f"{m['delta']:.2%} of conversions (its simulation noise)"
            )
    return "\n".join([*lines, "", *speed])


def cli_table(runs: list[dict[str, Any]]) -> str:
    """The ``--cli`` figures as a Markdown table: a row per command, a column per size."""
    runs = [r for r in runs if "cli" in r]
    if not runs:
        return ""
    names = list(dict.fromkeys(n for r in runs for n in r["cli"]))
    head = "| analysis | command | " + " | ".join(
        f"{r['contacts']:,} contacts: s / peak MB" for r in runs
    )
    lines = [head + " |", "|" + "---|" * (len(runs) + 2)]
    for name in names:
        recs = [r["cli"].get(name) for r in runs]
        command = next((rec["command"] for rec in recs if rec and "command" in rec), "—")
        cells = [
            "—"
            if rec is None
            else f"error: {rec['error']}"
            if "error" in rec
            else f"{rec['seconds']:.2f} / {rec['peak_mb']:,.0f}"
            for rec in recs
        ]
        lines.append(f"| {name} | `{command}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, nargs="+", help="sizes in contacts")
    parser.add_argument(
        "--touchpoints",
        type=int,
        nargs="+",
        help=f"sizes in touchpoints (≈{TOUCHES_PER_CONTACT} per contact in the demo)",
    )
    parser.add_argument(
        "--touches-per-contact",
        type=float,
        help=f"touchpoints per contact (default: the demo's ≈{TOUCHES_PER_CONTACT}); "
        "more top-of-funnel touches per lead",
    )
    parser.add_argument("--db", default="duckdb", help="duckdb (a fresh file), or a URL")
    parser.add_argument("--threads", type=int, help="DuckDB threads")
    parser.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 4GB")
    parser.add_argument("--scenario", default="balanced")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--reuse", action="store_true", help="reuse generated Parquet files")
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB file")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the hand-written DuckDB query and the polars lazy baselines",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the ChannelAttribution comparison"
    )
    parser.add_argument(
        "--markov-journeys",
        type=int,
        help="also compare Markov attribution on this many synthetic journeys (e.g. 10000000)",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time each analysis as its fullfunnel command, a fresh process each",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--skip", nargs="+", default=[], metavar="ANALYSIS", help="leave these analyses out"
    )
    args = parser.parse_args(argv)
    sizes = list(args.contacts or [])
    per_contact = args.touches_per_contact or TOUCHES_PER_CONTACT
    sizes += [round(t / per_contact) for t in args.touchpoints or []]
    sizes = sorted(set(sizes or [100_000, 1_000_000]))
    print(f"machine: {machine()}", file=sys.stderr)
    runs = []
    for n in sizes:
        # the synthetic journeys do not depend on the size: compared once, with the largest
        synthetic = args.markov_journeys if n == sizes[-1] else None
        runs.append(one_size(n, args, synthetic))
        print(table(runs[-1:]), file=sys.stderr)  # so far, in case a larger size fails
    analyses = runs[-1]["analyse"]["analyses"]
    print(f"\nmachine: {machine()}")
    print(
        f"warehouse: {args.db}  threads: {args.threads or 'all'}  memory limit: "
        f"{args.memory_limit or 'default'}"
    )
    print(f"analyses run: {', '.join(analyses)}")
    print(f"analyses left out: {', '.join(args.skip) or 'none'}\n")
    print(table(runs))
    if args.cli:
        print(f"\neach analysis from the command line, a fresh process each:\n{cli_table(runs)}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=1))


def _child_main(kind: str, spec_json: str) -> None:
    spec = json.loads(spec_json)
    result = CHILDREN[kind](spec)
    Path(spec["out"]).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2], sys.argv[3])
    else:
        main()
        shutil.rmtree(HERE / "__pycache__", ignore_errors=True)
