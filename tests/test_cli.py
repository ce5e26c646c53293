import json

import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    report = path.parent / "report.html"
    result = runner.invoke(
        app,
        [
            "--db",
            str(path),
            "demo",
            "--contacts",
            "3000",
            "--seed",
            "5",
            "--as-of",
            "2026-11-23",
            "--out",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Report written to" in result.output
    assert report.exists() and report.stat().st_size > 10_000
    return path


def test_funnel_json_is_the_result(demo_db):
    out = runner.invoke(
        app,
        [
            "--db",
            str(demo_db),
            "funnel",
            "--by",
            "source_channel",
            "--as-of",
            "2026-11-23",
            "--format",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["kind"] == "funnel" and data["by"] == "source_channel"
    leads = [r for r in data["stages"] if r["stage"] == "lead"]
    assert sum(r["reached"] for r in leads) == 3000


def test_funnel_table_and_csv(demo_db):
    table = runner.invoke(app, ["--db", str(demo_db), "funnel", "--as-of", "2026-11-23"])
    assert table.exit_code == 0 and "contacts entered the funnel" in table.output
    csv = runner.invoke(app, ["--db", str(demo_db), "-f", "csv", "funnel", "--as-of", "2026-11-23"])
    assert csv.output.splitlines()[0].startswith("stage,segment,owner,reached")


def test_velocity_and_pipeline(demo_db):
    import fullfunnel as ff

    as_of = ["--as-of", "2026-11-23"]
    v = runner.invoke(app, ["--db", str(demo_db), "velocity", *as_of, "-f", "json"])
    steps = json.loads(v.stdout)["steps"]
    assert [s["from_stage"] for s in steps][:2] == ["lead", "mql"]
    p = runner.invoke(app, ["--db", str(demo_db), "pipeline", *as_of, "-f", "json"])
    # the CLI shows what the warehouse holds: open deals counted straight from the table
    opp = ff.connect(demo_db).table("opportunities")
    open_now = opp.filter(opp.status == "open").count().execute()
    assert json.loads(p.stdout)["open_count"] == open_now > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["funnel", "--by", "nope"], "is not a contacts column"),
        (["funnel", "--since", "last tuesday"], "write it as YYYY-MM-DD"),
        (["funnel", "--cohort", "week"], "is not one of month, quarter"),
        (["demo", "--scenario", "sideways"], "unknown scenario"),
        # the library names an option as Python does; the CLI says its flag
        (["diagnose", "--lift-points", "200"], "--lift-points 200: give points between"),
        (["stuck", "--team", "sale"], "--team 'sale' is not a team"),
        (["funnel", "--since", "2026-06-01", "--until", "2026-01-01"], "--until is before"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_1(demo_db, args, message):
    out = runner.invoke(app, ["--db", str(demo_db), *args])
    assert out.exit_code == 1
    assert message in out.output
    assert "Traceback" not in out.output


READS = [
    ["funnel"],
    ["velocity"],
    ["pipeline"],
    ["plan"],
    ["forecast"],
    ["stuck"],
    ["handoffs"],
    ["diagnose"],
    ["attribute"],
    ["loads"],
    ["quality"],
    ["rejects"],
    ["target", "list"],
    ["report", "--out", "r.html"],
]


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_a_read_command_on_a_missing_warehouse_creates_nothing(tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "typo.duckdb"
    out = runner.invoke(app, ["--db", str(db), *command])
    assert out.exit_code == 1
    assert f"no warehouse at {db}" in out.output and "fullfunnel demo" in out.output
    assert "Traceback" not in out.output
    assert list(tmp_path.iterdir()) == []


def test_an_empty_result_says_so(tmp_path):
    """Nothing to show is said in words, not as silence; --by on an empty warehouse
    gives the table's columns, no rows."""
    db = str(tmp_path / "empty.duckdb")
    ff.connect(db).close()
    out = runner.invoke(app, ["--db", db, "velocity", "--by", "source_channel"])
    assert out.exit_code == 0, out.output
    assert "velocity: no rows" in out.output
    out = runner.invoke(app, ["--db", db, "velocity", "--by", "source_channel", "--format", "csv"])
    assert out.output.splitlines()[0].startswith("group,from_stage,to_stage,contacts")


def test_quality_counts_what_was_loaded_rejected_and_orphaned(tmp_path):
    import pandas as pd

    import fullfunnel as ff

    db = str(tmp_path / "q.duckdb")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("contact_id,created_at\nc1,2026-01-05\nc2,not a date\nc3,2026-02-01\n")
    events = tmp_path / "events.csv"
    events.write_text(
        "contact_id,stage,ts,source\nc1,mql,2026-01-09,crm\nc9,mql,2026-01-10,crm\n"
        "c3,mql,2026-12-01,form\n"
    )
    for path, table in ((contacts, "contacts"), (events, "stage_events")):
        out = runner.invoke(app, ["--db", db, "ingest", "csv", str(path), "--table", table])
        assert out.exit_code == 0, out.output
    # written past ingest (which rejects it): a touch of a contact that does not exist
    with ff.connect(db) as wh:
        touch = {"touchpoint_id": "t1", "contact_id": "c7", "channel": "email", "kind": "click"}
        wh.load("touchpoints", pd.DataFrame([touch | {"ts": pd.Timestamp("2026-01-02")}]))
    out = runner.invoke(app, ["--db", db, "quality", "--as-of", "2026-11-23", "-f", "json"])
    assert out.exit_code == 0, out.output
    q = json.loads(out.stdout)
    assert (q["loads"], q["rows_in"], q["rows_loaded"], q["rows_rejected"]) == (2, 6, 4, 2)
    rejected = sorted((r["source"], r["reason"].split(":")[0], r["rows"]) for r in q["rejects"])
    assert rejected[0] == ("file:contacts", "created_at", 1)
    assert rejected[1][0] == "file:stage_events" and "unknown contact_id 'c9'" in rejected[1][1]
    assert (q["contacts"], q["orphan_touchpoints"], q["orphan_stage_events"]) == (2, 1, 0)
    # c3's event is after --as-of: one crm event is counted, the form one is not
    assert q["stage_event_sources"] == [{"source": "crm", "events": 1, "contacts": 1}]
    table = runner.invoke(app, ["--db", db, "quality"])
    assert "2 file loads: 4 rows loaded, 2 rejected (33.3%)" in table.output
    assert "1 touchpoints and 0 stage events name a contact" in table.output


def test_config_init_and_show(tmp_path):
    path = tmp_path / "fullfunnel.toml"
    assert runner.invoke(app, ["config", "init", str(path)]).exit_code == 0
    again = runner.invoke(app, ["config", "init", str(path)])
    assert again.exit_code == 1 and "--force" in again.output
    path.write_text(path.read_text().replace("stale_days = 14", "stale_days = 9"))
    shown = runner.invoke(app, ["--config", str(path), "config", "show", "-f", "json"])
    assert json.loads(shown.stdout)["funnel"]["stale_days"] == 9
    path.write_text("[funnel]\nstale_dayz = 1\n")
    bad = runner.invoke(app, ["--config", str(path), "config", "show"])
    assert bad.exit_code == 1 and "Did you mean 'stale_days'" in bad.output


def test_help_is_fast_and_lists_commands():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fullfunnel", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "funnel" in out.stdout
    # heavy libraries are not imported for --help
    imported = out.stderr
    for heavy in ("ibis", "pyspark", "sklearn", "plotly", "pandas"):
        assert f" {heavy}\n" not in imported and f"| {heavy}\n" not in imported, heavy


def test_a_storage_error_is_one_clear_line(tmp_path, monkeypatch):
    import duckdb

    from fullfunnel.cli._app import State

    def unreadable(self):
        raise duckdb.IOException("IO Error: Could not read enough bytes from file")

    monkeypatch.setattr(State, "warehouse", unreadable)
    result = runner.invoke(app, ["--db", str(tmp_path / "w.duckdb"), "funnel"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the warehouse's files cannot be read")
    assert "Could not read enough bytes" in lines[0] and "backup" in lines[0]
    # anything else is a bug, and keeps its traceback
    monkeypatch.setattr(State, "warehouse", lambda self: 1 / 0)
    result = runner.invoke(app, ["--db", str(tmp_path / "w.duckdb"), "funnel"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_table_output_prints_brackets_as_written():
    """Headlines and cells are data, not rich markup: nothing in [brackets] vanishes."""
    import dataclasses

    import pandas as pd
    from rich.console import Console

    from fullfunnel.cli._app import Format
    from fullfunnel.cli._render import render
    from fullfunnel.result import Result

    @dataclasses.dataclass(frozen=True, eq=False)
    class Shown(Result):
        rows: pd.DataFrame

        def headline(self) -> list[str]:
            return ["set [scoring] keep_columns to keep it"]

    console = Console(record=True, width=100)
    render(Shown(rows=pd.DataFrame({"campaign": ["[Webinar] Q1"], "n": [3]})), Format.table,
           console=console)  # fmt: skip
    out = console.export_text()
    assert "set [scoring] keep_columns" in out and "[Webinar] Q1" in out


def test_ids_keep_their_width_when_the_table_fits():
    import pandas as pd
    from rich.console import Console

    from fullfunnel.cli._render import frame_table

    frame = pd.DataFrame({"contact_id": ["C-0000000123456"], "stage": ["mql"], "days": [3.5]})
    narrow = Console(record=True, width=36)  # 15 + 5 + 4 characters, 12 of borders
    narrow.print(frame_table(frame, width=36))
    assert "C-0000000123456" in narrow.export_text()  # fits: kept whole
    wide = pd.DataFrame({f"col_{i}": ["x" * 10] for i in range(6)}).assign(contact_id="C" * 20)
    small = Console(record=True, width=40)
    small.print(frame_table(wide, width=40))
    assert "ids may be shortened to fit" in small.export_text()


def test_funnel_shows_the_latest_cohorts_on_a_terminal(demo_wh):
    f = ff.funnel(demo_wh)
    shown, note = f.display_rows("cohorts", f.cohorts)
    per_step = shown.groupby("stage")["cohort_start"].nunique()
    assert (per_step <= 6).all() and len(shown) < len(f.cohorts)
    assert note.startswith(", the latest 6 of")
    newest = f.cohorts.groupby("stage")["cohort_start"].max()
    assert shown.groupby("stage")["cohort_start"].max().equals(newest)
    assert f.to_dict()["cohorts"] and len(f.to_dict()["cohorts"]) == len(f.cohorts)  # JSON: all


def test_demo_and_the_commands_after_it_give_one_forecast(tmp_path):
    """Without --as-of the demo reads its company as any later command does (the end
    of today), so the demo's P50 is the P50 'fullfunnel plan' gives afterwards."""
    db = tmp_path / "d.duckdb"
    args = ["--db", str(db), "--format", "json"]
    demo = runner.invoke(
        app, [*args, "demo", "--contacts", "1500", "--out", str(tmp_path / "r.html")]
    )
    assert demo.exit_code == 0, demo.output
    shown = json.loads(demo.output)
    plan = json.loads(runner.invoke(app, [*args, "plan"]).output)
    assert shown["as_of"] == plan["as_of"]
    assert shown["results"]["plan"]["forecast_p50"] == plan["forecast_p50"]
