"""The shared KPIs: one value everywhere, age-aware money that the future bears out,
reviews of past periods, and no claim without the data behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from conftest import AS_OF, AsgiClient
from fullfunnel.analytics.metrics import deal_kpis, kpi_window, stage_conversion
from fullfunnel.analytics.period import default_as_of
from fullfunnel.analytics.registry import run
from fullfunnel.cli import app
from fullfunnel.config import default_config
from fullfunnel.errors import InputError
from fullfunnel.report.view import build_view

CONFIG = default_config()
SHOWN = ("funnel", "pipeline", "plan", "forecast", "targets", "diagnose", "stuck", "review")


@pytest.fixture(scope="module")
def results(demo_wh):
    return {name: run(name, demo_wh, CONFIG, AS_OF) for name in SHOWN}


def test_kpi_window_is_the_trailing_quarters_or_a_past_period():
    w = kpi_window(datetime(2026, 11, 23), CONFIG)
    assert (w.start, w.end, w.basis) == (datetime(2025, 10, 1), datetime(2026, 10, 1), "trailing")
    assert w.description == "the 4 quarters 2025-10-01..2026-09-30"
    past = kpi_window(datetime(2026, 11, 23), CONFIG, (datetime(2026, 7, 1), datetime(2026, 10, 1)))
    assert past.basis == "period" and past.label == "2026-07-01..2026-09-30"
    # a period still running is not a window of closed deals: the trailing quarters are
    now = kpi_window(datetime(2026, 11, 23), CONFIG, (datetime(2026, 10, 1), datetime(2027, 1, 1)))
    assert now.basis == "trailing"


def test_every_shared_kpi_has_one_value_wherever_it_appears(results, demo_wh):
    pipe, plan, fc = results["pipeline"], results["plan"], results["forecast"]
    diag, targets = results["diagnose"], results["targets"]
    kpis = deal_kpis(demo_wh, as_of=AS_OF, config=CONFIG)
    win, deal = kpis.win_rate.value, kpis.average_deal.value
    assert kpis.won + kpis.lost > 300 and 0.2 < win < 0.4
    # win rate and average deal: pipeline, plan, diagnose; the forecast draws new wins
    # from the same deals
    assert pipe.win_rate == plan.kpis.win_rate.value == diag.weight.close_ratio == win
    assert pipe.average_deal == plan.average_deal == diag.weight.average_deal == deal
    assert fc.expected_new / fc.expected_new_wins == pytest.approx(deal)
    # the quarter's target and what it has booked
    quarter = targets.targets[targets.targets.period_start == pd.Timestamp("2026-10-01")]
    assert plan.target == fc.target == diag.weight.bookings_target == quarter.amount.iloc[0]
    assert plan.booked == fc.booked == quarter.booked.iloc[0]
    # open pipeline, what it is expected to yield, the chance to hit
    assert pipe.open_amount == plan.open_pipeline == fc.open_amount
    assert plan.expected_open == fc.expected_open and plan.expected_new == fc.expected_new
    assert plan.probability_hit == fc.probability_hit
    # stage conversion: the funnel's, the plan's and the diagnosis' rate per stage
    funnel = results["funnel"].conversion.set_index("stage")["rate"]
    planned = plan.waterfall.set_index("stage")["rate"]
    leaks = diag.leakage.leaks.set_index("stage")["rate"]
    for stage in planned.index:
        assert funnel[stage] == planned[stage] == leaks[stage], stage
    # the figures as the outputs print them
    shown = f"{deal:,.0f}"
    assert shown in " ".join(pipe.headline()) and shown in plan.headline()[0]
    assert f"average deal {shown}" in " ".join(diag.headline())
    assert f"win rate {win:.1%}" in " ".join(pipe.headline())
    assert f"win rate {win:.1%}" in " ".join(diag.headline())
    assert f"chance to hit {fc.probability_hit:.0%}" in " ".join(plan.headline())
    assert f"chance to hit the target of {fc.target:,.0f}: {fc.probability_hit:.0%}" in (
        " ".join(fc.headline())
    )


def test_the_api_and_the_report_show_the_same_kpis(results, demo_wh):
    from fullfunnel.report.charts import money, pct
    from fullfunnel.server import create_app

    pipe, plan = results["pipeline"], results["plan"]
    client = AsgiClient(create_app(demo_wh, as_of=AS_OF))
    try:
        api_pipe = client.get("/api/pipeline").json()
        api_plan = client.get("/api/plan").json()
        api_fc = client.get("/api/forecast").json()
    finally:
        client.close()
    assert api_pipe["kpis"]["win_rate"]["value"] == pipe.win_rate
    assert api_pipe["kpis"]["average_deal"]["value"] == pipe.average_deal
    assert api_plan["average_deal"] == plan.average_deal
    assert api_plan["target"] == api_fc["target"] == plan.target
    assert api_fc["probability_hit"] == api_plan["probability_hit"] == plan.probability_hit
    view = build_view(results, CONFIG)
    cards = {k["label"]: k for k in view["kpis"]}
    assert cards[f"booked of {money(plan.target)} target"]["value"] == money(plan.booked)
    assert cards["chance to hit target"]["value"] == pct(plan.probability_hit)
    assert cards["open pipeline"]["value"] == money(pipe.open_amount)
    assert cards["open pipeline"]["note"] == f"win rate {pct(pipe.win_rate)}"


def test_value_at_risk_is_below_a_year_of_bookings_and_dormant_is_apart(results):
    st, pipe = results["stuck"], results["pipeline"]
    assert 0 < st.value_at_risk < pipe.kpis.won_amount
    assert st.open_value < pipe.kpis.won_amount
    assert st.dormant_total > 0 and st.total > 0
    assert any(line.startswith(f"{st.dormant_total:,} more are dormant") for line in st.headline())
    # no contact at or past the won stage is ever stuck
    assert "customer" not in set(st.by_stage.stage) and "customer" not in set(st.contacts.stage)
    # a dormant contact's chance to move on is under the floor; a stuck one's is not
    assert (st.contacts.chance_to_move_on >= CONFIG["funnel"]["dormant_floor"]).all()


def test_expected_value_of_open_contacts_is_what_they_went_on_to_book(demo_wh):
    """Calibration: a year before the data ends, the age-aware value of every open
    contact against what those contacts actually booked afterwards."""
    then = AS_OF - timedelta(days=365)
    expected = ff.stuck(demo_wh, as_of=then).open_value
    tl = ff.timeline(demo_wh, CONFIG, as_of=then).to_pandas()
    before_won = list(CONFIG.stage_names[: CONFIG.index(CONFIG.won_stage)])
    live = tl[tl.exit.isna() & tl.current_stage.isin(before_won)]
    opp = demo_wh.table("opportunities").to_pandas()
    later = opp[(opp.status == "won") & (opp.close_date > pd.Timestamp(then))]
    actual = later[later.contact_id.isin(live.contact_id)].amount.sum()
    assert actual > 500_000
    assert abs(expected / actual - 1) <= 0.25, (expected, actual)


def test_survival_chance_falls_with_age_and_matches_the_plateau(demo_wh):
    from fullfunnel.analytics.survival import stage_survival

    tl = ff.timeline(demo_wh, CONFIG, as_of=AS_OF)
    s = stage_survival(demo_wh, tl, as_of=AS_OF, config=CONFIG)
    lead = s.curves["lead"]
    chances = lead.conditional([0, 7, 30, 90, 365])
    assert list(chances) == sorted(chances, reverse=True)
    # a fresh lead converts about as often as the mature conversion says
    rate = stage_conversion(demo_wh, tl, as_of=AS_OF, config=CONFIG).set_index("stage")
    assert chances[0] == pytest.approx(rate.loc["lead", "rate"], abs=0.02)
    # a lead a year old has no chance left: converters move on within weeks in the demo
    assert chances[-1] < 0.005
    assert s.p_won("customer", 10.0) == 1.0


def test_a_segment_with_the_history_for_it_gets_its_own_chance(wh):
    """40 webinar MQLs all move on within 4 days, 40 from lists never do; 10 events
    MQLs (too few for a curve) read the stage's."""
    from fullfunnel.analytics.survival import stage_survival

    ts = pd.Timestamp("2026-01-01")
    n = {"webinar": 40, "list": 40, "events": 10}
    channel = [c for c, k in n.items() for _ in range(k)]
    ids = [f"C{i:03d}" for i in range(len(channel))]
    created = [ts + pd.Timedelta(days=i) for i in range(len(ids))]
    wh.load(
        "contacts",
        pd.DataFrame({"contact_id": ids, "created_at": created, "source_channel": channel}),
    )
    moved = [i for i, c in enumerate(channel) if c == "webinar"]
    events = pd.concat(
        [
            pd.DataFrame({"contact_id": ids, "stage": "mql", "ts": created}),
            pd.DataFrame(
                {
                    "contact_id": [ids[i] for i in moved],
                    "stage": "sal",
                    "ts": [created[i] + pd.Timedelta(days=1 + i % 4) for i in moved],
                }
            ),
        ]
    )
    wh.load("stage_events", events)
    as_of = datetime(2026, 12, 1)
    s = stage_survival(wh, ff.timeline(wh, CONFIG, as_of=as_of), as_of=as_of, config=CONFIG)
    assert s.by == "source_channel"
    assert s.segments["mql", "webinar"].ever == pytest.approx(1.0)
    assert s.segments["mql", "list"].ever == 0.0
    table = s.segment_table(30).query("stage == 'mql' and day == 0").set_index("segment")
    assert set(table.index) == {"webinar", "list"}  # events: 10 contacts, no curve of its own
    assert table.loc["list", "p_next"] == 0.0 and table.loc["webinar", "p_next"] == 1.0
    # the stage's curve: 40 of 90 moved on
    assert s.curves["mql"].ever == pytest.approx(40 / 90)


def test_a_past_period_is_reviewed_against_the_planted_truth(demo_wh):
    r = ff.review(demo_wh, period="2026-Q3", as_of=AS_OF)
    truth = demo_wh.table("demo_truth").to_pandas()
    booked = truth[(truth.fact == "bookings") & (truth.subject == "2026-07-01")].value.iloc[0]
    target = truth[(truth.fact == "bookings_target") & (truth.subject == "2026-07-01")]
    assert r.actual.amount == pytest.approx(booked)
    assert r.target.amount == target.value.iloc[0]
    assert r.by_week.bookings.sum() == pytest.approx(booked)
    assert r.by_week.cumulative.iloc[-1] == pytest.approx(booked)
    assert r.by_week.week.iloc[0] == pd.Timestamp("2026-07-01")  # not the Monday before
    assert r.forecast_at_start.as_of == datetime(2026, 7, 1)
    assert r.kpis.window.label == "2026-07-01..2026-09-30"
    assert r.headline()[0].startswith("review of 2026-07-01..2026-09-30: booked")
    assert set(r.stages.change) <= {"worse", "better", "too close to call", "not enough data"}
    with pytest.raises(InputError, match="has not ended"):
        ff.review(demo_wh, period="2026-Q4", as_of=AS_OF)
    # a report of the current period reviews the quarter before it
    assert ff.review(demo_wh, as_of=AS_OF).period_start == datetime(2026, 7, 1)


def test_a_past_period_is_seen_as_it_stood_at_its_end(demo_wh):
    end = datetime(2026, 10, 1)
    st = ff.stuck(demo_wh, period="2026-Q3", as_of=AS_OF)
    assert st.as_of == end and st.total == ff.stuck(demo_wh, as_of=end).total
    assert ff.handoffs(demo_wh, period="2026-Q3", as_of=AS_OF).as_of == end
    d = ff.diagnose(demo_wh, period="2026-Q3", as_of=AS_OF)
    truth = demo_wh.table("demo_truth").to_pandas()
    target = truth[(truth.fact == "bookings_target") & (truth.subject == "2026-07-01")]
    # the lead need is held against the quarter's own target, the rates read the quarter
    assert d.weight.bookings_target == target.value.iloc[0]
    assert d.weight.target_period == "2026-07-01..2026-09-30"
    rates = d.leakage.leaks.set_index("stage")
    conv = stage_conversion(
        demo_wh,
        ff.timeline(demo_wh, CONFIG, as_of=end),
        as_of=end,
        config=CONFIG,
        period=(datetime(2026, 7, 1), end),
    ).set_index("stage")
    # one quarter of window: per quarter is what reached the stage in it
    assert rates.loc["lead", "per_quarter"] == conv.loc["lead", "reached_in_window"]
    # a period still running moves nothing but the target
    assert ff.stuck(demo_wh, period="2026-Q4", as_of=AS_OF).as_of == AS_OF


def test_report_of_a_past_period_is_a_review(tmp_path):
    db = tmp_path / "demo.duckdb"
    with ff.connect(str(db)) as wh:
        ff.generate_demo(wh, contacts=2000, seed=5, as_of=AS_OF)
    out = tmp_path / "review.html"
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["--db", str(db), "report", "--period", "2026-Q3", "--as-of", "2026-11-23", "-o", str(out)],
    )
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert "review of 2026-07-01..2026-09-30" in page
    assert "the period has ended: it booked" in page  # the plan as it stood on July 1
    plain = runner.invoke(app, ["--db", str(db), "plan", "--as-of", "2026-11-23"])
    assert plain.exit_code == 0 and plain.output.startswith("2026-10-01..2026-12-31")


def _historical(wh) -> None:
    """Contacts and events that end in March 2024: an export a long time old."""
    ts = pd.Timestamp
    ids = [f"c{i}" for i in range(40)]
    wh.load("contacts", pd.DataFrame({"contact_id": ids, "created_at": ts("2024-01-02")}))
    wh.load(
        "stage_events",
        pd.DataFrame({"contact_id": ids[:10], "stage": "mql", "ts": ts("2024-03-14 09:30")}),
    )


def test_the_default_as_of_of_a_historical_export_is_its_last_day(tmp_path):
    db = tmp_path / "old.duckdb"
    with ff.connect(str(db)) as wh:
        _historical(wh)
        as_of, note = default_as_of(wh)
        assert as_of == datetime(2024, 3, 14, 23, 59, 59)
        assert note.startswith("the newest event in the warehouse is from 2024-03-14")
        assert "`as_of`" in note  # the library's name; the CLI says its flag
        from fullfunnel.cli._app import as_flags

        assert "pass --as-of DATE" in as_flags(note)
        # so a lead of two months is two months old, not three years
        assert ff.funnel(wh).as_of == as_of
    runner = CliRunner()
    out = runner.invoke(app, ["--db", str(db), "funnel"])
    assert out.exit_code == 0
    assert "note: the newest event in the warehouse is from 2024-03-14" in out.stderr
    given = runner.invoke(app, ["--db", str(db), "funnel", "--as-of", "2024-06-01"])
    assert "note:" not in given.stderr
    # a current warehouse is read as of the end of today: every command run today agrees
    fresh, note = default_as_of(ff.connect("duckdb://:memory:"))
    assert note is None and (fresh.hour, fresh.minute, fresh.second) == (23, 59, 59)
    assert fresh.date() == datetime.now(UTC).date()


def test_demo_refuses_a_warehouse_with_data_of_its_own(tmp_path):
    db = tmp_path / "real.duckdb"
    with ff.connect(str(db)) as wh:
        _historical(wh)
        with pytest.raises(InputError, match=r"holds data that is not a demo's \(40 contacts\)"):
            ff.generate_demo(wh, contacts=200)
        assert wh.count("contacts") == 40  # nothing replaced
    runner = CliRunner()
    out = runner.invoke(
        app, ["--db", str(db), "demo", "--contacts", "200", "--out", str(tmp_path / "r.html")]
    )
    assert out.exit_code == 1 and "--force" in out.output and "Traceback" not in out.output
    with ff.connect(str(db)) as wh:
        assert wh.count("contacts") == 40
        ff.generate_demo(wh, contacts=200, force=True)
        assert wh.count("contacts") == 200
        ff.generate_demo(wh, contacts=300)  # a demo over a demo needs no --force
        assert wh.count("contacts") == 300


def _mql_list_and_won_deals(wh) -> None:
    """An MQL list and a closed-won deals list: no touches, no owners."""
    ts = pd.Timestamp
    ids = [f"L{i:03d}" for i in range(200)]
    created = [ts("2024-01-01") + pd.Timedelta(days=i) for i in range(200)]
    wh.load("contacts", pd.DataFrame({"contact_id": ids, "created_at": created}))
    won = ids[::4]
    closed = [ts("2024-09-01") + pd.Timedelta(days=i) for i in range(len(won))]
    events = pd.DataFrame({"contact_id": ids, "stage": "mql", "ts": created})
    events = pd.concat(
        [events, pd.DataFrame({"contact_id": won, "stage": "customer", "ts": closed})]
    )
    wh.load("stage_events", events)
    wh.load(
        "opportunities",
        pd.DataFrame(
            {
                "opportunity_id": [f"D{i}" for i in range(len(won))],
                "contact_id": won,
                "created_at": closed,
                "status": "won",
                "amount": 1000.0,
                "close_date": closed,
            }
        ),
    )


def test_without_touches_stuck_and_handoffs_are_not_judged(wh):
    _mql_list_and_won_deals(wh)
    as_of = datetime(2026, 12, 1)
    st = ff.stuck(wh, as_of=as_of)
    assert not st.judged
    assert st.headline()[0] == (
        "cannot judge stuck contacts: the warehouse holds no touchpoints: nothing shows who "
        "worked a contact"
    )
    # the customers have left the mql stage: none is stuck or dormant anywhere
    assert not set(st.contacts.contact_id) & {f"L{i:03d}" for i in range(0, 200, 4)}
    assert "customer" not in set(st.by_stage.stage)
    ho = ff.handoffs(wh, as_of=as_of)
    assert not ho.judged and ho.headline()[0].startswith("cannot judge handoffs")
    assert ho.handoffs["dropped"].isna().all()
    d = ff.diagnose(wh, as_of=as_of)
    lines = " ".join(d.headline())
    assert "Stuck: cannot judge" in lines and "Handoffs: cannot judge" in lines
    assert "dropped" not in lines.lower().replace("cannot judge", "")
    # no spend, no touches: no weight verdict; nothing leaks money: no stage first, no tactics
    assert d.verdict == "effort unknown" and d.focus_stage is None and d.tactics.empty
    assert "none measured" in lines and "Do next" not in lines
    # the funnel keeps to the stages the data records: no implied steps; a step that
    # skips stages is held to the product of their benchmarks
    conv = ff.funnel(wh, as_of=as_of).conversion.set_index("stage")
    assert conv.loc["mql", "next_stage"] == "customer"
    assert conv.loc["mql", "not_recorded"] == ""
    assert conv.loc["mql", "benchmark"] == pytest.approx(0.4 * 0.6 * 0.5 * 0.25)
