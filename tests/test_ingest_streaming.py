"""Loads that keep the rows in the engines: Parquet hand-over, atomicity, progress."""

from __future__ import annotations

import os
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fullfunnel.errors import InputError
from fullfunnel.ingest import files, ingest_files
from fullfunnel.ingest.progress import PHASES
from fullfunnel.warehouse import ParquetFile

ROWS = 300


def _contacts(wh) -> None:
    wh.load("contacts", {"contact_id": ["C1", "C2"], "created_at": [datetime(2024, 1, 1)] * 2})


def _snapshot(wh) -> dict[str, int]:
    return {t: wh.count(t) for t in ("contacts", "stage_events", "touchpoints", "loads")}


def _touchpoints_csv(path: Path, rows: int = ROWS, bad: int = 0) -> Path:
    """``rows`` touchpoints of C1/C2, the last ``bad`` with a date that is not one."""
    lines = ["touchpoint_id,contact_id,ts,channel,kind"]
    for i in range(rows):
        ts = "someday" if i >= rows - bad else f"2024-03-{1 + i % 28:02d} 10:00"
        lines.append(f"T{i},C{1 + i % 2},{ts},email,email")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


# --- Warehouse.load_many from Parquet files ----------------------------------------


def _write(tmp_path: Path, name: str, table: pa.Table) -> ParquetFile:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return ParquetFile(path)


def test_parquet_files_are_cast_and_upserted_like_arrow(engine_wh, tmp_path):
    berlin = timezone(timedelta(hours=1))
    contacts = pa.table(
        {
            "contact_id": ["a", "b", "b"],
            "created_at": pa.array(
                [datetime(2024, 1, 1, 9, tzinfo=berlin)] * 3, pa.timestamp("us", tz="+01:00")
            ),
            "employees": pa.array([10, 20, 30], pa.int32()),
            "persona": ["x", "first", "last"],
        }
    )
    engine_wh.load("contacts", {"contact_id": ["a"], "created_at": [datetime(2023, 1, 1)]})
    written = engine_wh.load_many({"contacts": _write(tmp_path, "c", contacts)})
    assert written == {"contacts": 3}
    got = engine_wh.table("contacts").order_by("contact_id").to_pandas()
    assert got.contact_id.tolist() == ["a", "b"]
    assert got.created_at.tolist() == [datetime(2024, 1, 1, 8)] * 2  # naive UTC
    assert got.employees.tolist() == [10, 30]  # the last row of a key wins
    assert got.persona.tolist() == ["x", "last"]


def test_other_ibis_engines_load_parquet_files_too(tmp_path):
    import ibis

    from fullfunnel.warehouse import Warehouse, _GenericEngine

    wh = Warehouse(_GenericEngine(ibis.duckdb.connect()), "generic://test")
    events = pa.table(
        {"contact_id": ["a", "a"], "stage": ["mql"] * 2, "ts": [datetime(2024, 1, 2)] * 2}
    )
    assert wh.load_many({"stage_events": _write(tmp_path, "e", events)}) == {"stage_events": 2}
    assert wh.count("stage_events") == 1
    wh.close()


def test_parquet_files_are_checked_before_anything_is_written(wh, tmp_path):
    no_ts = _write(tmp_path, "a", pa.table({"contact_id": ["a"], "stage": ["mql"]}))
    with pytest.raises(InputError, match="missing required column"):
        wh.load("stage_events", no_ts)
    nulls = _write(
        tmp_path,
        "b",
        pa.table({"contact_id": ["a", None], "created_at": [datetime(2024, 1, 1)] * 2}),
    )
    with pytest.raises(InputError, match="contact_id is empty in 1 row"):
        wh.load("contacts", nulls)
    unknown = _write(
        tmp_path,
        "c",
        pa.table({"contact_id": ["a"], "stage": ["mql"], "ts": [datetime(2024, 1, 1)], "x": [1]}),
    )
    with pytest.raises(InputError, match="unknown column"):
        wh.load("stage_events", unknown)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot be read as Parquet"):
        wh.load("contacts", ParquetFile(tmp_path / "junk.parquet"))
    assert wh.count("contacts") == wh.count("stage_events") == 0


def test_a_failure_after_the_first_parquet_table_leaves_every_table_as_before(
    engine_wh, tmp_path, monkeypatch
):
    _contacts(engine_wh)
    before = _snapshot(engine_wh)
    tables = {
        "contacts": _write(
            tmp_path,
            "contacts",
            pa.table({"contact_id": ["C1", "C3"], "created_at": [datetime(2024, 2, 1)] * 2}),
        ),
        "stage_events": _write(
            tmp_path,
            "events",
            pa.table({"contact_id": ["C3"], "stage": ["mql"], "ts": [datetime(2024, 2, 2)]}),
        ),
        "loads": pa.table({"load_id": ["L1"], "source": ["test"], "status": ["loaded"]}),
    }
    original = engine_wh.engine.upsert
    calls = []

    def failing(spec, data, *, replace):
        calls.append(spec.name)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(spec, data, replace=replace)

    monkeypatch.setattr(engine_wh.engine, "upsert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        engine_wh.load_many(tables)
    assert calls == ["contacts", "stage_events"]
    assert _snapshot(engine_wh) == before
    created = engine_wh.table("contacts").created_at.execute().tolist()
    assert created == [datetime(2024, 1, 1)] * 2  # C1 not replaced either
    monkeypatch.setattr(engine_wh.engine, "upsert", original)
    assert engine_wh.load_many(tables) == {"contacts": 2, "stage_events": 1, "loads": 1}
    assert engine_wh.count("contacts") == 3


# --- the loader hands files over, never rows ----------------------------------------


class _Spy:
    """A DuckDB connection that counts the rows every fetch brings into Python."""

    def __init__(self, con, fetched: list[int]) -> None:
        self._con = con
        self._fetched = fetched

    def execute(self, *args, **kwargs):
        self._con.execute(*args, **kwargs)
        return self

    def _count(self, result):
        rows = getattr(result, "num_rows", None)
        self._fetched.append(rows if rows is not None else len(result))
        return result

    def fetchall(self):
        return self._count(self._con.fetchall())

    def fetchone(self):
        row = self._con.fetchone()
        self._fetched.append(1)
        return row

    def fetch_arrow_table(self, *args):
        return self._count(self._con.fetch_arrow_table(*args))

    def fetchdf(self, *args, **kwargs):
        return self._count(self._con.fetchdf(*args, **kwargs))

    def __getattr__(self, name):
        if name.startswith(("fetch", "df", "arrow", "pl", "to_")):
            raise AssertionError(f"unexpected fetch {name}")
        return getattr(self._con, name)


def test_accepted_and_rejected_rows_never_enter_python(wh, tmp_path, monkeypatch):
    _contacts(wh)
    fetched: list[int] = []
    real = files.private_connection
    monkeypatch.setattr(files, "private_connection", lambda **kw: _Spy(real(**kw), fetched))
    handed: dict[str, object] = {}
    load_many = wh.load_many

    def spy_load_many(tables, **kwargs):
        handed.update(tables)
        return load_many(tables, **kwargs)

    monkeypatch.setattr(wh, "load_many", spy_load_many)
    src = _touchpoints_csv(tmp_path / "touches.csv", bad=100)
    result = ingest_files(wh, [src], table="touchpoints")
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (ROWS, 200, 100)
    assert wh.count("touchpoints") == 200 and wh.count("rejects") == 100
    # only counts, table names and the reasons' summary came back: never the rows
    assert fetched and max(fetched) < 10 and sum(fetched) < 50
    assert isinstance(handed["touchpoints"], ParquetFile)
    assert isinstance(handed["rejects"], ParquetFile)
    assert isinstance(handed["loads"], pa.Table)


def test_temporary_files_are_removed_after_a_load_and_after_a_failure(wh, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    killed, running = scratch / "fullfunnel-load-killed", scratch / "fullfunnel-load-running"
    for left in (killed, running):
        left.mkdir()
        (left / "touchpoints.parquet").write_bytes(b"...")
    two_days_ago = datetime.now().timestamp() - 2 * 86400
    os.utime(killed, (two_days_ago, two_days_ago))
    _contacts(wh)
    ingest_files(wh, [_touchpoints_csv(tmp_path / "a.csv", bad=3)], table="touchpoints")
    # a load killed long ago is swept; one that may still run is left alone
    assert [d.name for d in scratch.glob("fullfunnel-load-*")] == [running.name]
    running.rename(scratch / "elsewhere")
    before = _snapshot(wh)
    seen = []

    def failing(tables, **kwargs):
        seen.extend(Path(t.path).exists() for t in tables.values() if isinstance(t, ParquetFile))
        raise RuntimeError("disk full")

    monkeypatch.setattr(wh, "load_many", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_files(wh, [_touchpoints_csv(tmp_path / "b.csv", 50, bad=2)], table="touchpoints")
    assert seen == [True, True, True]  # rows, rejects, load_keys: there while read
    assert not list(scratch.glob("fullfunnel-load-*"))
    assert _snapshot(wh) == before


def test_too_little_memory_names_the_setting_and_changes_nothing(wh, tmp_path):
    from fullfunnel.config import config_from_dict
    from fullfunnel.errors import ConfigError

    src = tmp_path / "accounts.csv"
    src.write_text("account_id,name\nA1,Acme\n")
    small = config_from_dict({"ingest": {"memory_limit": "100MB"}})
    with pytest.raises(ConfigError, match=r"accounts\.csv: .*\[ingest\] memory_limit = '100MB'"):
        ingest_files(wh, [src], table="accounts", config=small)
    bad = config_from_dict({"ingest": {"memory_limit": "lots"}})
    with pytest.raises(ConfigError, match="not a size DuckDB knows"):
        ingest_files(wh, [src], table="accounts", config=bad)
    assert wh.count("accounts") == wh.count("loads") == 0


# --- progress -----------------------------------------------------------------------


def _record():
    events: list[tuple[str, str, float, float]] = []
    return events, lambda file, phase, done, total: events.append((file, phase, done, total))


def _phases(events, file):
    out: dict[str, list[tuple[float, float]]] = {}
    for f, phase, done, total in events:
        if f == file:
            out.setdefault(phase, []).append((done, total))
    return out


def test_progress_reports_each_phase_in_order_and_monotone_to_the_end(wh, tmp_path):
    _contacts(wh)
    src = _touchpoints_csv(tmp_path / "touches.csv", bad=5)
    events, record = _record()
    ingest_files(wh, [src], table="touchpoints", progress=record)
    order = list(dict.fromkeys(phase for _, phase, _, _ in events))
    assert order == list(PHASES)
    phases = _phases(events, str(src))
    size = os.path.getsize(src)
    assert phases["hashing"][0] == (0, size) and phases["hashing"][-1] == (size, size)
    for phase, seen in phases.items():
        done = [d for d, _ in seen]
        assert done == sorted(done), phase
        assert seen[-1][0] == seen[-1][1], phase  # ends at its total (100%)
        assert {t for _, t in seen} == {size if phase == "hashing" else 100.0}
    # the same bytes again: hashed, then nothing more
    events.clear()
    ingest_files(wh, [src], table="touchpoints", progress=record)
    assert [p for _, p, _, _ in events] == ["hashing"] * len(events)
    assert events[-1][2:] == (size, size)


def test_progress_follows_the_engine_while_a_statement_runs(monkeypatch):
    """While a step runs, the engine's percentage (polled) moves the bar within the step."""
    from fullfunnel.ingest import progress as progress_module

    monkeypatch.setattr(progress_module, "_POLL_SECONDS", 0.001)

    class Engine:  # query_progress as DuckDB answers it: -1 before a statement runs
        def __init__(self) -> None:
            self.answers = [-1.0, 10.0, 40.0, 30.0, 80.0]
            self.told = threading.Event()

        def query_progress(self) -> float:
            if len(self.answers) == 1:
                self.told.set()
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    engine = Engine()
    events: list[float] = []
    meter = progress_module.Meter(lambda f, p, done, total: events.append(done), "x")
    meter.start("checking", weights=(1, 1))
    with meter.step(engine):
        assert engine.told.wait(10)  # the statement "runs" until every answer was read
    assert events == [0.0, 5.0, 20.0, 40.0, 50.0]  # first of two equal steps; never back
    with meter.step():
        pass
    meter.finish()
    assert events[-1] == 100.0


def test_load_many_reports_rows_written_and_restores_the_engine_settings(wh, tmp_path):
    raw = wh.con.con
    setting = "SELECT current_setting('enable_progress_bar_print')"
    before = raw.execute(setting).fetchone()
    seen: list[tuple[float, float]] = []
    contacts = pa.table({"contact_id": ["a", "b"], "created_at": [datetime(2024, 1, 1)] * 2})
    events = pa.table({"contact_id": ["a"], "stage": ["mql"], "ts": [datetime(2024, 1, 2)]})
    wh.load_many(
        {"contacts": _write(tmp_path, "c", contacts), "stage_events": events},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (2, 3) in seen and seen[-1] == (3, 3)
    assert all(0 <= done <= total == 3 for done, total in seen)
    assert raw.execute(setting).fetchone() == before


def test_cli_ingest_with_the_progress_bar_on(tmp_path, monkeypatch):
    from fullfunnel.cli import app
    from fullfunnel.cli import ingest as cli_ingest

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich treats stderr as a terminal
    monkeypatch.setattr(cli_ingest, "_SHOW_AFTER", 0.0)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,name\n" + "".join(f"A{i},Acme {i}\n" for i in range(50)))
    db = str(tmp_path / "w.duckdb")
    out = CliRunner().invoke(app, ["--db", db, "ingest", "csv", str(accounts), "-t", "accounts"])
    assert out.exit_code == 0, out.output
    assert "50 rows in, 50 loaded" in click.unstyle(out.stdout)
    assert "writing accounts.csv" in out.stderr and "100%" in out.stderr
    quiet = CliRunner().invoke(app, ["--db", db, "--format", "json", "loads"])
    assert quiet.exit_code == 0 and "%" not in quiet.stderr
