"""The reverse waterfall: hand-computed arithmetic, as-of correctness, engine aggregates."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.forecast import ForecastResult
from fullfunnel.analytics.metrics import DealKPIs, kpi_window
from fullfunnel.analytics.plan import plan, waterfall
from fullfunnel.analytics.rates import stage_rates
from fullfunnel.analytics.stats import Estimate, Proportion, wilson
from fullfunnel.config import default_config
from fullfunnel.lifecycle import timeline

CONFIG = default_config()
STAGES = ["lead", "mql", "sal", "sql", "opportunity"]


def _rates(enough=(True,) * 5) -> pd.DataFrame:
    rate = np.array([0.5, 0.5, 0.5, 0.5, 0.25])
    to_won = rate[::-1].cumprod()[::-1]
    return pd.DataFrame(
        {
            "stage": STAGES,
            "next_stage": ["mql", "sal", "sql", "opportunity", "customer"],
            "owner": ["marketing", "bdr", "bdr", "sales", "sales"],
            "entered": [1000] * 5,
            "converted": [500] * 5,
            "rate": rate,
            "won_observed": [100] * 5,
            "days_to_won_median": [100.0, 60.0, 50.0, 40.0, 30.0],
            "pace_per_day": [50.0, 10.0, 2.0, 2.0, 1.0],
            "rate_low": rate * 0.9,
            "rate_high": rate * 1.1,
            "to_won": to_won,
            "to_won_low": to_won * 0.8,
            "to_won_high": to_won * 1.25,
            "enough": list(enough),
        }
    )


def _forecast(expected_open=200_000.0, expected_new=40_000.0, open_amount=1_200_000.0):
    return ForecastResult(
        commit=pd.DataFrame(),
        by_team=pd.DataFrame(),
        by_segment=pd.DataFrame(),
        distribution=pd.DataFrame(),
        period_start=datetime(2026, 10, 1),
        period_end=datetime(2027, 1, 1),
        as_of=datetime(2026, 11, 1),
        target=1_000_000,
        booked=400_000,
        p10=500_000,
        p50=640_000,
        p90=800_000,
        mean=640_000,
        probability_hit=0.02,
        expected_new_wins=4.0,
        open_count=50,
        open_amount=open_amount,
        overdue_count=0,
        overdue_amount=0.0,
        unpriced_count=0,
        expected_open=expected_open,
        expected_new=expected_new,
        expected_wins=24.0,
        actual=None,
        sims=1000,
        seed=0,
    )


def _kpis(average=10_000.0) -> DealKPIs:
    window = kpi_window(datetime(2026, 11, 1), CONFIG)
    return DealKPIs(
        window=window,
        as_of=datetime(2026, 11, 1),
        won=100,
        lost=300,
        won_amount=average * 100,
        win_rate=Proportion.of(100, 400, confidence=0.9),
        average_deal=Estimate(average, 100, None, None, 0.9, "mean"),
        sales_cycle_days=Estimate(30.0, 100, None, None, 0.9, "median"),
    )


def _plan(rates, fc=None, target=1_000_000):
    return waterfall(
        rates,
        fc or _forecast(),
        target=target,
        target_basis="given",
        booked=400_000,
        kpis=_kpis(),
        as_of=datetime(2026, 11, 1),
        config=CONFIG,
    )


def test_hand_computed_waterfall():
    # gap 600k / 10k = 60 wins; the forecast expects 200k + 40k inside the period,
    # so 360k (36 wins) is short and is carried up the funnel
    p = _plan(_rates())
    assert p.wins_needed == 60
    assert p.short_amount == pytest.approx(360_000) and p.short_wins == pytest.approx(36)
    w = p.waterfall.set_index("stage")
    expected_more = {"opportunity": 144, "sql": 288, "sal": 576, "mql": 1152}
    for stage, more in expected_more.items():
        assert w.loc[stage, "more_needed"] == pytest.approx(more)
        assert w.loc[stage, "status"] == "in time"
    # a lead entering now would close after the period: no number, no (past) date
    assert w.loc["lead", "status"] == "too late"
    assert np.isnan(w.loc["lead", "more_needed"]) and pd.isna(w.loc["lead", "enter_by"])
    # deadlines: period end (Jan 1) minus the median days to won
    assert w.loc["opportunity", "enter_by"] == pd.Timestamp("2026-12-02")
    assert w.loc["sql", "enter_by"] == pd.Timestamp("2026-11-22")
    assert w.loc["mql", "enter_by"] == pd.Timestamp("2026-11-02")
    assert not w.loc["lead", "in_time"] and w.loc["mql", "in_time"]
    assert w.loc["opportunity", "more_needed_low"] == pytest.approx(36 / (0.25 * 1.25))
    # who makes more contacts enter a stage: the team of the stage before it
    assert (
        w.loc["mql", "created_by"] == "marketing" and w.loc["opportunity", "created_by"] == "sales"
    )
    # coverage: 1.2M open / 600k gap = 2×; a sixth of it closes inside the period: 6× needed
    assert p.coverage == pytest.approx(2.0)
    assert p.coverage_needed == pytest.approx(6.0)
    # the opportunities spread over Nov (30 days) and Dec 1 (1 day)
    m = p.by_month[p.by_month.stage == "opportunity"].set_index("month")["needed"]
    assert m["2026-11"] == pytest.approx(144 * 30 / 31)
    assert m["2026-12"] == pytest.approx(144 / 31)
    # steps in funnel order, each a number and a date; the late stage named once
    assert p.actions[0].startswith("beyond what is expected, 36.0 more won deals are needed")
    assert p.actions[1] == (
        "create 1152 more MQLs than the current pace by 2026-11-02 (range 922–1440; marketing)"
    )
    assert [a.split(" more ")[1].split(" ")[0] for a in p.actions[1:5]] == [
        "MQLs",
        "SALs",
        "SQLs",
        "opportunities",
    ]
    assert p.actions[5] == (
        "new leads would now mostly close after 2026-12-31 (median lead→won 100 days): "
        "the gap must close from MQLs and later"
    )
    assert len(p.actions) == 6
    # the plan shows the forecast's chance: the two cannot disagree
    assert p.probability_hit == 0.02
    assert "chance to hit 2%" in " ".join(p.headline())


def test_no_date_in_the_past_and_the_gap_closes_from_open_deals_when_all_is_late():
    late = _rates().assign(days_to_won_median=[100.0, 90.0, 80.0, 70.0, 65.0])
    p = _plan(late)
    assert not p.waterfall["in_time"].any()
    assert p.waterfall["enter_by"].isna().all() and (p.waterfall["status"] == "too late").all()
    assert not any("create" in a for a in p.actions)
    assert p.actions[-1].endswith(
        "the gap must close from the 50 open opportunities: win 36 more of them than expected"
    )


def test_nothing_short_when_the_forecast_covers_the_gap():
    p = _plan(_rates(), fc=_forecast(expected_open=500_000, expected_new=200_000))
    assert p.short_amount == 0 and p.actions == []
    assert p.wins_needed == 60


def test_too_few_observations_says_so():
    p = _plan(_rates(enough=(True, True, True, False, True)))
    w = p.waterfall.set_index("stage")
    assert np.isnan(w.loc["sql", "more_needed"]) and w.loc["sql", "status"] == "not enough data"
    assert w.loc["opportunity", "more_needed"] == pytest.approx(144)
    assert any(x.startswith("sql: not enough data") for x in p.warnings)
    assert not any("SQLs" in a for a in p.actions)


def test_target_met_says_so():
    p = _plan(_rates(), target=100)
    assert p.wins_needed == 0 and p.actions == []
    assert "already met" in p.headline()[0]


def test_wilson_interval():
    lo, hi = wilson(np.array([0, 10]), np.array([10, 10]), confidence=0.95)
    assert lo[0] == pytest.approx(0) and hi[0] == pytest.approx(0.2775, abs=1e-3)
    assert lo[1] == pytest.approx(0.7225, abs=1e-3) and hi[1] == pytest.approx(1)


@pytest.fixture(scope="module")
def small_demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "demo.duckdb"
    wh = ff.connect(str(path))
    ff.generate_demo(wh, contacts=3000, seed=3, as_of=datetime(2026, 11, 23))
    wh.close()
    return path


def test_stage_event_after_as_of_changes_nothing(small_demo_path, tmp_path):
    import shutil

    path = tmp_path / "copy.duckdb"
    shutil.copy(small_demo_path, path)
    wh = ff.connect(str(path))
    as_of = datetime(2026, 8, 15)
    before = plan(wh, period="2026-Q3", target="1M", as_of=as_of)
    ids = wh.table("contacts").limit(300).execute()["contact_id"]
    later = pd.Timestamp("2026-08-20")
    events = pd.DataFrame({"contact_id": ids, "stage": "customer", "ts": later, "source": "late"})
    wh.load("stage_events", events)
    wh.load(
        "opportunities",
        pd.DataFrame(
            {
                "opportunity_id": ["late1"],
                "created_at": [later],
                "status": ["won"],
                "amount": [5e6],
                "close_date": [later],
            }
        ),
    )
    after = plan(wh, period="2026-Q3", target="1M", as_of=as_of)
    pd.testing.assert_frame_equal(before.waterfall, after.waterfall)
    assert before.expected_open == after.expected_open
    assert before.booked == after.booked
    # and the later data does count when the plan looks later
    assert plan(wh, period="2026-Q3", target="1M", as_of="2026-08-21").booked > before.booked


def test_plan_on_demo(demo_wh):
    p = plan(demo_wh, period="2026-Q4", target="3.5M", as_of="2026-10-05")
    assert p.wins_needed > 0 and p.actions
    w = p.waterfall
    assert w["reliable"].all()
    # the planted win rate (opportunity → customer, 30%) sits inside the interval
    opp = w.set_index("stage").loc["opportunity"]
    assert opp.rate_low - 0.03 <= 0.30 <= opp.rate_high + 0.03
    assert (w["more_needed"].diff().dropna() <= 0).all()  # fewer needed further down
    assert p.to_dict()["wins_needed"] == p.wins_needed


def test_plan_without_target_for_the_current_quarter(wh):
    p = plan(wh, as_of="2026-11-01")
    assert p.headline()[0].startswith("no bookings target for 2026-Q4")
    assert "target set --period 2026-Q4" in p.headline()[0]
    assert plan(wh, period="2026-Q4", as_of="2026-11-01").target is None


def test_a_past_period_is_a_review(small_demo_path):
    wh = ff.connect(str(small_demo_path))
    p = plan(wh, period="2026-Q3", target="1M", as_of="2026-11-23")
    # the plan as it stood when the quarter began, and what the quarter booked
    assert p.as_of == datetime(2026, 7, 1)
    assert p.actual == ff.pipeline(wh, period="2026-Q3", as_of="2026-11-23").kpis.won_amount
    assert p.headline()[0].startswith("the period has ended: it booked")


def _tiny(wh):
    c = pd.Timestamp
    wh.load(
        "contacts",
        pd.DataFrame({"contact_id": ["c1", "c2", "c3", "c4"], "created_at": [c("2026-01-10")] * 4}),
    )
    ev = [
        ("c1", "mql", "2026-01-20"),
        ("c1", "sal", "2026-01-25"),
        ("c1", "sql", "2026-02-01"),
        ("c1", "opportunity", "2026-02-10"),
        ("c1", "customer", "2026-03-12"),
        ("c2", "mql", "2026-01-20"),
        ("c2", "disqualified", "2026-02-01"),
    ]
    wh.load(
        "stage_events",
        pd.DataFrame(
            {
                "contact_id": [e[0] for e in ev],
                "stage": [e[1] for e in ev],
                "ts": pd.to_datetime([e[2] for e in ev]),
            }
        ),
    )


def test_stage_rates_engine_conformance(engine_wh):
    _tiny(engine_wh)
    as_of = datetime(2026, 11, 23)
    r = stage_rates(
        engine_wh, timeline(engine_wh, CONFIG, as_of=as_of), as_of=as_of, config=CONFIG
    ).set_index("stage")
    assert list(r["entered"]) == [4, 2, 1, 1, 1]
    assert list(r["converted"]) == [2, 1, 1, 1, 1]
    assert r.loc["lead", "to_won"] == pytest.approx(0.25)
    assert r.loc["lead", "days_to_won_median"] == pytest.approx(61)
    assert r.loc["opportunity", "days_to_won_median"] == pytest.approx(30)
    assert not r["enough"].any()  # 4 contacts are far too few


def test_open_deals_engine_conformance(engine_wh):
    from fullfunnel.analytics.deals import open_deals
    from fullfunnel.analytics.vantage import Vantage

    ts = pd.Timestamp
    engine_wh.load(
        "opportunities",
        pd.DataFrame(
            {
                "opportunity_id": ["h1", "h2", "h3", "o1"],
                "created_at": [ts("2026-01-01")] * 3 + [ts("2026-10-01")],
                "status": ["won", "won", "won", "open"],
                "amount": [10.0, 20.0, 30.0, 100.0],
                "close_date": [ts("2026-02-01")] * 3 + [pd.NaT],
                "owner_team": ["sales"] * 4,
            }
        ),
    )
    engine_wh.load(
        "opportunity_history",
        pd.DataFrame(
            {
                "opportunity_id": ["h1", "h1", "h2", "h3", "o1", "o1"],
                "stage": [
                    "discovery",
                    "closed_won",
                    "discovery",
                    "discovery",
                    "discovery",
                    "proposal",
                ],
                "ts": pd.to_datetime(
                    [
                        "2026-01-01",
                        "2026-02-01",
                        "2026-01-01",
                        "2026-01-01",
                        "2026-10-01",
                        "2026-10-20",
                    ]
                ),
            }
        ),
    )
    at = Vantage(datetime(2026, 10, 10), datetime(2026, 10, 1), datetime(2027, 1, 1))
    deals, probabilities = open_deals(engine_wh, [at], config=CONFIG)
    deal = deals.iloc[0]
    assert len(deals) == 1 and not deal.overdue
    assert deal.pipeline_stage == "discovery"  # the move to proposal comes after as_of
    assert deal.bucket == 1  # 9 days old
    # every past deal of that age won within the 82 days left: too few to trust a
    # stage cell, so the age-only rate, pooled, applies
    assert deal.probability == pytest.approx(1.0)
    cells = probabilities[probabilities["group"] == "discovery"].set_index("bucket")
    assert cells.loc[1, "at_risk"] == 3 and cells.loc[1, "won"] == 3


def test_cli(small_demo_path, tmp_path):
    import json
    import shutil

    from typer.testing import CliRunner

    from fullfunnel.cli import app

    path = tmp_path / "cli.duckdb"
    shutil.copy(small_demo_path, path)
    run = CliRunner().invoke
    db = ["--db", str(path)]
    out = run(app, [*db, "target", "set", "--period", "2026-12", "--bookings", "250k"])
    assert out.exit_code == 0, out.output
    listed = json.loads(run(app, [*db, "-f", "json", "target", "list"]).output)
    assert 250_000 in [t["amount"] for t in listed["targets"]]
    p = run(app, [*db, "-f", "json", "plan", "--period", "2026-Q4", "--as-of", "2026-10-15"])
    assert p.exit_code == 0, p.output
    assert json.loads(p.output)["kind"] == "plan"
    args = ["forecast", "--period", "2026-Q4", "--as-of", "2026-11-01", "--sims", "300"]
    f = run(app, [*db, "-f", "json", *args])
    assert json.loads(f.output)["sims"] == 300
    b = run(
        app,
        [*db, "forecast", "--backtest", "--periods", "1", "--sims", "200", "--as-of", "2026-11-23"],
    )
    assert b.exit_code == 0 and "inside P10–P90" in b.output
    bad = run(app, [*db, "target", "set", "--period", "2026-Q4", "--bookings", "lots"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output


def test_stage_rates_judge_maturity_by_the_configured_quantile(demo_wh):
    from conftest import AS_OF
    from fullfunnel.config import config_from_dict

    tl = timeline(demo_wh, CONFIG, as_of=AS_OF)
    p90 = stage_rates(demo_wh, tl, as_of=AS_OF, config=CONFIG).set_index("stage")
    median = config_from_dict({"funnel": {"maturity_quantile": 0.5}})
    p50 = stage_rates(demo_wh, tl, as_of=AS_OF, config=median).set_index("stage")
    # a contact is mature sooner under the median: more of the window counts
    assert (p50["entered"] >= p90["entered"]).all()
    assert (p50["entered"] > p90["entered"]).any()
