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
    steps = ["opening", "created", "pulled in", "pushed out", "amount up", "amount down"]
    moved = w.loc[[*steps, "won", "lost"]]
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


@pytest.fixture
def dated():
    """Deals whose close dates moved between S and E (the scope: 2026-Q4)."""
    d, q1 = timedelta(days=1), datetime(2027, 1, 15)
    wh = ff.connect("duckdb://:memory:")
    wh.load(
        "opportunities",
        _opps(
            [
                ("P1", S - 30 * d, "open", 100.0, datetime(2026, 12, 13), "ann"),  # pulled in
                ("P2", S - 30 * d, "open", 70.0, datetime(2027, 2, 1), "ann"),  # pushed out
                ("P3", S - 30 * d, "open", 50.0, datetime(2026, 12, 20), "bob"),  # stays
                ("P4", S - 30 * d, "won", 80.0, S + 6 * d, "bob"),  # pulled in, then won
                ("P5", S - 30 * d, "open", 30.0, q1, "bob"),  # in Q1 throughout
                ("P6", S + 1 * d, "open", 40.0, datetime(2026, 12, 30), "ann"),  # created
            ]
        ),
    )
    wh.load(
        "opportunity_history",
        pd.DataFrame(
            [
                ("P1", "discovery", S - 30 * d, 100.0, datetime(2027, 1, 20)),
                ("P1", "proposal", S + 3 * d, 100.0, datetime(2026, 12, 13)),
                ("P2", "discovery", S - 30 * d, 70.0, datetime(2026, 12, 1)),
                ("P2", "proposal", S + 4 * d, 70.0, datetime(2027, 2, 1)),
                ("P4", "discovery", S - 20 * d, 80.0, q1),
                ("P4", "closed_won", S + 6 * d, 80.0, S + 6 * d),
            ],
            columns=["opportunity_id", "stage", "ts", "amount", "close_date"],
        ),
    )
    return wh


def test_deals_pulled_into_and_pushed_out_of_a_quarter_by_hand(dated):
    r = ff.movement(dated, since=S, until=E, closing="2026-Q4")
    got = r.waterfall.set_index("step")
    expected = {
        "opening": (2, 120.0),  # P2 70 (then due in Q4), P3 50
        "created": (1, 40.0),  # P6
        "pulled in": (2, 180.0),  # P1 100, P4 80
        "pushed out": (1, -70.0),  # P2
        "amount up": (0, 0.0),
        "amount down": (0, 0.0),
        "won": (1, -80.0),  # P4
        "lost": (0, 0.0),
        "closing": (3, 190.0),  # P1, P3, P6
    }
    for step, (deals, amount) in expected.items():
        assert (got.loc[step, "deals"], got.loc[step, "amount"]) == (deals, amount), step
    assert (r.slipped, r.advanced, r.advanced_amount) == (0, 1, 100.0)  # P1 came forward
    assert "pipeline closing in 2026-Q4" in r.headline()[0]
    assert "pulled in 180 (2), pushed out 70 (1)" in r.headline()[1]


def test_without_a_scope_nothing_is_pulled_in_but_moved_dates_are_counted(dated):
    r = ff.movement(dated, since=S, until=E)
    got = r.waterfall.set_index("step")
    assert (got.loc["opening", "deals"], got.loc["opening", "amount"]) == (5, 330.0)
    assert (got.loc["pulled in", "deals"], got.loc["pushed out", "deals"]) == (0, 0)
    assert (got.loc["closing", "deals"], got.loc["closing", "amount"]) == (5, 290.0)
    assert (r.slipped, r.slipped_amount, r.advanced) == (1, 70.0, 1)  # P2 later, P1 earlier
    assert "give `closing` (e.g. a quarter)" in "\n".join(r.headline())


def test_per_segment_a_deal_takes_its_account_s_column_or_its_contact_s(dated):
    """P1, P2 are the account A1's (250 employees); P3, P4 name no account but their
    contact is at A2 (20 employees); P5, P6 have neither: "(none)". Employees are
    shown as size bands; a band with no deal in play is left out."""
    dated.load(
        "accounts",
        pd.DataFrame(
            [("A1", "saas", 250), ("A2", "retail", 20), ("A3", "bank", 9000)],
            columns=["account_id", "industry", "employees"],
        ),
    )
    dated.load(
        "contacts",
        pd.DataFrame(
            [("C2", "A2", S - timedelta(days=60))],
            columns=["contact_id", "account_id", "created_at"],
        ),
    )
    opp = dated.table("opportunities").execute()
    opp["account_id"] = opp.opportunity_id.map({"P1": "A1", "P2": "A1"})
    opp["contact_id"] = opp.opportunity_id.map({"P3": "C2", "P4": "C2"})
    dated.load("opportunities", opp)
    r = ff.movement(dated, since=S, until=E, closing="2026-Q4", by="industry")
    per = r.by_group.set_index("industry")
    assert sorted(per.index) == ["(none)", "retail", "saas"]
    assert (per.loc["saas", "pulled_in_amount"], per.loc["saas", "pushed_out_amount"]) == (
        100.0,
        -70.0,
    )
    assert (per.loc["retail", "won_amount"], per.loc["retail", "closing_amount"]) == (-80.0, 50.0)
    assert per.loc["(none)", "created_amount"] == 40.0
    for step in r.waterfall.itertuples():
        assert per[f"{step.step.replace(' ', '_')}_amount"].sum() == pytest.approx(step.amount)
    bands = ff.movement(dated, since=S, until=E, closing="2026-Q4", by="employees").by_group
    assert sorted(bands.employees) == ["(none)", "1–49", "200–999"]
    with pytest.raises(InputError, match="segment, a column of the accounts table"):
        ff.movement(dated, since=S, until=E, by="created_at")


def test_each_load_snapshots_what_changed_and_movement_reads_it(monkeypatch):
    """Without any history export, two loads of the same deals a few days apart are
    enough to see one pushed out of the quarter; loading the same file again adds
    nothing."""
    import fullfunnel._dates as dates

    wh = ff.connect("duckdb://:memory:")
    before = _opps([("Q1", S - 30 * timedelta(days=1), "open", 90.0, datetime(2026, 12, 1), "ann")])
    after = before.assign(close_date=datetime(2027, 1, 10), amount=120.0)
    for moment, frame in ((S + timedelta(days=1), before), (S + timedelta(days=5), after)):
        monkeypatch.setattr(dates, "now", lambda moment=moment: moment)
        wh.load("opportunities", frame)
        wh.load("opportunities", frame)  # the same again: no new snapshot
    assert wh.count("pipeline_snapshots") == 2
    r = ff.movement(wh, since=S + timedelta(days=3), until=E, closing="2026-Q4")
    got = r.waterfall.set_index("step")
    assert (got.loc["opening", "amount"], got.loc["pushed out", "amount"]) == (90.0, -120.0)
    assert got.loc["amount up", "amount"] == 30.0 and got.loc["closing", "deals"] == 0


def test_the_demo_s_planted_close_date_moves_are_found():
    """The demo moves some open deals' close dates (recorded in its history, each a
    planted fact): over the whole history every one is found, later or earlier, and
    the quarter's waterfall adds up with its deals pulled in and pushed out."""
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=4000, seed=5, as_of=E)
    truth = wh.table("demo_truth").execute()
    moves = truth[truth.fact == "close_date_moved"]
    assert (moves.value > 0).sum() > 3 and (moves.value < 0).sum() > 0
    r = ff.movement(wh, since=datetime(2020, 1, 1), as_of=E)
    assert (r.slipped, r.advanced) == ((moves.value > 0).sum(), (moves.value < 0).sum())
    # this month's moves: out of Q4 into Q1 (the same deal leaves one and joins the other)
    q4, q1 = (
        ff.movement(wh, since=datetime(2026, 11, 1), as_of=E, closing=c).waterfall.set_index("step")
        for c in ("2026-Q4", "2027-Q1")
    )
    assert 0 < q4.loc["pushed out", "deals"] <= q1.loc["pulled in", "deals"]
    for w in (q4, q1):
        assert w.amount.iloc[:-1].sum() == pytest.approx(w.loc["closing", "amount"])
