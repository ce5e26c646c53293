"""Pipeline movement: the waterfall between two dates, by hand, on the demo, and agreeing
with 'pipeline' on the open pipeline at the end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app
from fullfunnel.errors import InputError

S, E = datetime(2026, 11, 2), datetime(2026, 11, 23)


def _opps(rows: list[tuple]) -> pd.DataFrame:
    cols = ["opportunity_id", "created_at", "status", "amount", "close_date", "owner_id"]
    return pd.DataFrame(rows, columns=cols).assign(stage="discovery")


@pytest.fixture
def small():
    """Six deals, each taking one kind of step between S and E."""
    d = timedelta(days=1)
    wh = ff.connect("duckdb://:memory:")
    wh.load(
        "opportunities",
        _opps(
            [
                ("O1", S - 30 * d, "open", 150.0, E + 30 * d, "ann"),  # raised 100 → 150
                ("O2", S - 30 * d, "won", 200.0, S + 5 * d, "ann"),  # won
                ("O3", S + 1 * d, "lost", 50.0, S + 9 * d, "bob"),  # created, then lost
                ("O4", S + 2 * d, "open", 60.0, E + 9 * d, "bob"),  # created at 80, cut to 60
                ("O5", S - 90 * d, "won", 999.0, S - 10 * d, "bob"),  # closed before: no step
                ("O6", S - 30 * d, "open", 400.0, E + 60 * d, "ann"),  # raised after E
            ]
        ),
    )
    wh.load(
        "opportunity_history",
        pd.DataFrame(
            [
                ("O1", "discovery", S - 10 * d, 100.0),
                ("O1", "proposal", S + 2 * d, 150.0),
                ("O4", "discovery", S + 2 * d, 80.0),
                ("O4", "proposal", S + 6 * d, 60.0),
                ("O6", "discovery", S - 5 * d, 300.0),
                ("O6", "proposal", E + 1 * d, 400.0),
            ],
            columns=["opportunity_id", "stage", "ts", "amount"],
        ),
    )
    return wh


def test_the_waterfall_by_hand(small):
    r = ff.movement(small, since=S, until=E)
    got = r.waterfall.set_index("step")
    expected = {
        "opening": (3, 600.0),  # O1 100, O2 200, O6 300 (its raise comes after E)
        "created": (2, 130.0),  # O3 50, O4 at its first amount 80
        "amount up": (1, 50.0),  # O1
        "amount down": (1, -20.0),  # O4
        "won": (1, -200.0),  # O2
        "lost": (1, -50.0),  # O3
        "closing": (3, 510.0),  # O1 150, O4 60, O6 300
    }
    for step, (deals, amount) in expected.items():
        assert (got.loc[step, "deals"], got.loc[step, "amount"]) == (deals, amount), step
    assert r.history and r.until == E + timedelta(days=1) - timedelta(seconds=1)
    assert "600 (3 deals) → 510 (3 deals), -90" in r.headline()[0]


def test_per_owner_the_groups_add_up_to_the_total(small):
    r = ff.movement(small, since=S, until=E, by="owner")
    per = r.by_group.set_index("owner")
    assert per.loc["ann", "closing_amount"] == 450.0 and per.loc["bob", "closing_amount"] == 60.0
    for step in r.waterfall.itertuples():
        name = step.step.replace(" ", "_")
        assert per[f"{name}_amount"].sum() == pytest.approx(step.amount)
        assert per[f"{name}_deals"].sum() == step.deals


def test_since_must_come_before_until(small):
    with pytest.raises(InputError, match=r"^since is not before until"):
        ff.movement(small, since=E, until=S)


def test_on_the_demo_the_steps_add_up_and_the_end_is_pipeline_s_open_pipeline():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=4000, seed=5, as_of=E)
    r = ff.movement(wh, since=datetime(2026, 8, 1), as_of=E)
    w = r.waterfall.set_index("step")
    moved = w.loc[["opening", "created", "amount up", "amount down", "won", "lost"]]
    assert moved["amount"].sum() == pytest.approx(w.loc["closing", "amount"])
    deals = w.loc["opening", "deals"] + w.loc["created", "deals"]
    assert deals - w.loc["won", "deals"] - w.loc["lost", "deals"] == w.loc["closing", "deals"]
    pipe = ff.pipeline(wh, as_of=r.until)
    assert w.loc["closing", "amount"] == pytest.approx(pipe.open_amount + pipe.overdue_amount)
    assert w.loc["closing", "deals"] == pipe.open_count + pipe.overdue_count
    assert r.overdue_amount_at_close == pytest.approx(pipe.overdue_amount)
    # the won step is the deals closed won in the window, counted straight from the table
    o = wh.table("opportunities").execute()
    won = o[(o.status == "won") & (o.close_date > r.since) & (o.close_date <= r.until)]
    assert (w.loc["won", "deals"], -w.loc["won", "amount"]) == (len(won), won.amount.sum())


def test_the_cli_command(tmp_path, small):
    db = tmp_path / "m.duckdb"
    with ff.connect(str(db)) as wh:
        for name in ("opportunities", "opportunity_history"):
            wh.load(name, small.table(name).execute())
    runner = CliRunner()
    base = ["--db", str(db), "movement", "--since", "2026-11-02", "--until", "2026-11-23"]
    table = runner.invoke(app, base)
    assert table.exit_code == 0 and "moved by: created 130 (2)" in table.output
    out = runner.invoke(app, ["-f", "json", *base[:2], *base[2:], "--by", "owner"])
    payload = json.loads(out.stdout)
    assert payload["kind"] == "pipeline movement" and len(payload["by_group"]) == 2
    bad = runner.invoke(
        app, [*base[:2], "movement", "--since", "2026-12-01", "--until", "2026-11-01"]
    )
    assert bad.exit_code == 1 and "--since is not before until" in bad.output


def test_by_default_it_runs_from_this_week_s_monday(small):
    r = ff.movement(small, as_of=datetime(2026, 11, 25, 15))  # a Wednesday
    assert r.since == datetime(2026, 11, 23)
    r = ff.movement(small, as_of=datetime(2026, 11, 23))  # Monday at midnight: last week
    assert r.since == datetime(2026, 11, 16)
