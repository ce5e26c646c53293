"""Correcting a load: ingest --replace and unload, atomic, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app
from fullfunnel.warehouse import _DuckDBEngine

TABLES = ("contacts", "stage_events", "loads", "rejects", "load_keys")


def _run(db: Path, *args: str):
    out = CliRunner().invoke(app, ["--db", str(db), *args])
    assert "Traceback" not in out.output
    return out


def _sql(db: Path, sql: str) -> list[tuple]:
    wh = ff.connect(f"duckdb:///{db}")
    try:
        return wh.con.con.execute(sql).fetchall()
    finally:
        wh.close()


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    return {t: sorted(map(repr, _sql(db, f"SELECT * FROM {t}"))) for t in TABLES}


@pytest.fixture
def contacts(tmp_path) -> tuple[Path, Path, Path]:
    """A warehouse holding one load of contacts.csv (3 contacts, 2 MQL events, 1 reject)."""
    db, f, m = tmp_path / "w.duckdb", tmp_path / "contacts.csv", tmp_path / "m.toml"
    m.write_text('table = "contacts"\n[stages]\nmql = "mql"\n')
    f.write_text(
        "contact_id,created_at,title,mql\n"
        "C1,2024-01-01,CEO,2024-02-01\nC2,2024-01-02,CTO,2024-02-02\nC3,2024-01-03,CFO,\n"
        "C4,not a date,VP,\n"
    )
    out = _run(db, "ingest", "csv", str(f), "-m", str(m))
    assert out.exit_code == 0, out.output
    return db, f, m


def _load_ids(db: Path) -> list[str]:
    return [i for (i,) in _sql(db, "SELECT load_id FROM loads ORDER BY started_at, load_id")]


def test_replace_puts_a_corrected_file_in_the_place_of_its_earlier_load(contacts):
    db, f, m = contacts
    [old] = _load_ids(db)
    # the corrected export: C3 gone, C2's title and MQL date fixed, C4's date fixed
    f.write_text(
        "contact_id,created_at,title,mql\n"
        "C1,2024-01-01,CEO,2024-02-01\nC2,2024-01-02,VP Eng,2024-03-03\nC4,2024-01-04,VP,\n"
    )
    plain = _run(db, "ingest", "csv", str(f), "-m", str(m), "--replace")
    assert plain.exit_code == 0, plain.output
    assert f"replaced load {old}" in plain.output
    assert _sql(db, "SELECT contact_id, title FROM contacts ORDER BY 1") == [
        ("C1", "CEO"),
        ("C2", "VP Eng"),
        ("C4", "VP"),
    ]
    events = _sql(db, "SELECT contact_id, CAST(ts AS DATE)::VARCHAR FROM stage_events ORDER BY 1")
    assert events == [("C1", "2024-02-01"), ("C2", "2024-03-03")]
    [new] = _load_ids(db)
    assert new != old
    assert _sql(db, "SELECT count(*) FROM rejects") == [(0,)]  # the old load's reject went
    # the same bytes again, with or without --replace, change nothing
    before = _snapshot(db)
    for extra in ((), ("--replace",)):
        again = _run(db, "ingest", "csv", str(f), "-m", str(m), *extra)
        assert again.exit_code == 0 and "already loaded" in again.output
    assert _snapshot(db) == before


def test_a_failed_replace_leaves_the_warehouse_as_it_was(contacts, monkeypatch):
    db, f, m = contacts
    before = _snapshot(db)
    f.write_text("contact_id,created_at,title,mql\nC1,2024-01-01,CEO,\n")
    original = _DuckDBEngine.upsert

    def failing(self, spec, data, *, replace):
        if spec.name == "loads":  # the old load removed, the new rows written: then fail
            raise RuntimeError("disk full")
        return original(self, spec, data, replace=replace)

    monkeypatch.setattr(_DuckDBEngine, "upsert", failing)
    out = _run(db, "ingest", "csv", str(f), "-m", str(m), "--replace")
    assert out.exit_code != 0 and isinstance(out.exception, RuntimeError)
    monkeypatch.setattr(_DuckDBEngine, "upsert", original)
    assert _snapshot(db) == before


def test_unload_removes_a_load_and_lists_what_it_removed(contacts, tmp_path):
    db, _, m = contacts
    [first] = _load_ids(db)
    # a later load of another file writes C1 again: C1 is that load's now
    other = tmp_path / "more.csv"
    other.write_text("contact_id,created_at,title,mql\nC1,2024-01-01,Founder,\nC9,2024-01-09,,\n")
    assert _run(db, "ingest", "csv", str(other), "-m", str(m)).exit_code == 0
    out = _run(db, "--format", "json", "unload", first)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert [r["load_id"] for r in result["loads"]] == [first]
    assert {r["table"]: r["rows"] for r in result["removed"]} == {
        "contacts": 2,
        "stage_events": 2,
        "rejects": 1,
    }
    assert _sql(db, "SELECT contact_id, title FROM contacts ORDER BY 1") == [
        ("C1", "Founder"),
        ("C9", None),
    ]
    assert _sql(db, "SELECT count(*) FROM stage_events") == [(0,)]
    assert first not in _load_ids(db) and len(_load_ids(db)) == 1
    assert _sql(db, f"SELECT count(*) FROM load_keys WHERE load_id = '{first}'") == [(0,)]


def test_unload_of_an_unknown_id_names_the_known_ones(contacts):
    db, _, _ = contacts
    before = _snapshot(db)
    [known] = _load_ids(db)
    out = _run(db, "unload", "20990101-000000-abcdef")
    assert out.exit_code == 1
    assert "no load '20990101-000000-abcdef'" in out.output
    assert known in out.output and "fullfunnel loads" in out.output
    assert _snapshot(db) == before


def test_unload_finds_rows_by_a_key_the_file_gives_only_in_part(tmp_path):
    # spend's key is date, channel, campaign, tactic: this file has no tactic column
    db, f = tmp_path / "w.duckdb", tmp_path / "spend.csv"
    f.write_text("date,channel,campaign,amount\n2024-01-01,seo,,10\n2024-01-02,ads,Q1,20\n")
    assert _run(db, "ingest", "csv", str(f), "-t", "spend").exit_code == 0
    [load] = _load_ids(db)
    out = _run(db, "unload", load)
    assert out.exit_code == 0, out.output
    assert "2 spend" in out.output
    assert _sql(db, "SELECT count(*) FROM spend") == [(0,)]
