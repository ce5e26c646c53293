"""Weight verdict, problem area, leakage and the composed diagnosis."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.analytics._economics import Economics
from fullfunnel.analytics.diagnose import _focus, _ranked
from fullfunnel.analytics.effort import effort_by_segment
from fullfunnel.analytics.leakage import leak
from fullfunnel.analytics.weight import weight
from fullfunnel.cli import app
from fullfunnel.config import default_config
from fullfunnel.errors import InputError
from fullfunnel.lifecycle import timeline

AS_OF = datetime(2026, 11, 23)
SCENARIOS = ("balanced", "top-heavy", "bottom-heavy")
SEEDS = (1, 2)
CONTACTS = 12_000


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[str, int], ff.analytics.weight.WeightResult]:
    """Each scenario at each seed, generated once for the module."""
    out = {}
    for scenario in SCENARIOS:
        for seed in SEEDS:
            wh = ff.connect("duckdb://:memory:")
            ff.generate_demo(wh, scenario=scenario, contacts=CONTACTS, seed=seed, as_of=AS_OF)
            out[scenario, seed] = weight(wh, as_of=AS_OF)
            wh.close()
    return out


@pytest.fixture(scope="module")
def top_heavy_wh():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="top-heavy", contacts=CONTACTS, seed=3, as_of=AS_OF)
    return wh


@pytest.mark.parametrize("seed", SEEDS)
def test_top_heavy_is_diagnosed_top_heavy_with_a_closing_problem(verdicts, seed):
    result = verdicts["top-heavy", seed]
    assert result.verdict == "top-heavy"
    assert result.problem_area in ("closing new business", "both")
    assert result.top_effort_share >= 0.6
    decided = result.evidence[result.evidence.decides]
    assert "bottom conversion vs benchmark" in set(decided.check)


@pytest.mark.parametrize("seed", SEEDS)
def test_bottom_heavy_is_diagnosed_bottom_heavy_with_a_lead_problem(verdicts, seed):
    result = verdicts["bottom-heavy", seed]
    assert result.verdict == "bottom-heavy"
    assert result.problem_area == "lead generation"
    assert result.leads_per_quarter < 0.85 * result.leads_needed_per_quarter
    assert result.weakest_stage == "lead"


@pytest.mark.parametrize("seed", SEEDS)
def test_balanced_is_diagnosed_balanced(verdicts, seed):
    assert verdicts["balanced", seed].verdict == "balanced"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_verdicts_are_stable_across_seeds(verdicts, scenario):
    found = {(verdicts[scenario, s].verdict, verdicts[scenario, s].problem_area) for s in SEEDS}
    assert len(found) == 1, found


def test_planted_spend_share_is_the_effort(verdicts):
    effort = verdicts["balanced", 1].effort.set_index("segment")
    # the demo's spend split (monthly noise and the window shift it a little)
    assert effort.loc["tofu", "effort_share"] == pytest.approx(0.42, abs=0.05)
    assert effort.loc["bofu", "effort_share"] == pytest.approx(0.25, abs=0.05)


def test_effort_takes_the_segment_from_the_row_then_the_tactic(wh):
    day = (AS_OF - timedelta(days=10)).date()
    spend = pd.DataFrame(
        {
            "date": [day, day, day, date(2020, 1, 1)],
            "channel": ["a", "b", "c", "d"],
            "tactic": ["seo_content", "case_studies", "mystery", "seo_content"],
            "segment": ["post", None, None, None],
            "amount": [10.0, 30.0, 60.0, 1000.0],
        }
    )
    wh.load("spend", spend)
    config = default_config()
    effort, basis = effort_by_segment(wh, timeline(wh, config, as_of=AS_OF), config, AS_OF)
    effort = effort.set_index("segment")
    assert basis == "spend"
    assert effort.loc["post", "spend"] == 10  # its own segment wins over the tactic's
    assert effort.loc["bofu", "spend_share"] == pytest.approx(0.75)  # 30 of 40 assigned
    assert effort.loc["unassigned", "spend"] == 60  # an unknown tactic, no segment
    assert effort.loc["tofu", "spend"] == 0  # outside the window


def test_effort_falls_back_to_marketing_touches(wh):
    contacts = pd.DataFrame(
        {"contact_id": ["a", "b"], "created_at": [pd.Timestamp("2026-10-01")] * 2}
    )
    events = pd.DataFrame(
        {"contact_id": ["b"], "stage": ["opportunity"], "ts": [pd.Timestamp("2026-10-10")]}
    )
    tp = pd.DataFrame(
        {
            "touchpoint_id": ["1", "2", "3", "4"],
            "contact_id": ["a", "a", "b", "b"],
            "ts": pd.to_datetime(["2026-10-02", "2026-10-03", "2026-10-20", "2026-10-21"]),
            "channel": "x",
            "kind": "email",
            "team": ["marketing", "marketing", "marketing", "sales"],
            "tactic": [None, "nurture_email", None, None],
        }
    )
    wh.load_many({"contacts": contacts, "stage_events": events, "touchpoints": tp})
    config = default_config()
    effort, basis = effort_by_segment(wh, timeline(wh, config, as_of=AS_OF), config, AS_OF)
    effort = effort.set_index("segment")
    assert basis == "marketing touches"
    # a: untagged at lead → tofu; tagged nurture → mofu; b: untagged at opportunity → bofu
    assert effort["touches"].to_dict() == {"tofu": 1, "mofu": 1, "bofu": 1, "post": 0}
    assert effort.loc["tofu", "effort_share"] == pytest.approx(1 / 3)


def _economics() -> Economics:
    rates = pd.DataFrame(
        {
            "stage": ["lead", "mql", "opportunity"],
            "next_stage": ["mql", "sql", "customer"],
            "owner": ["marketing", "bdr", "sales"],
            "per_quarter": [1000.0, 200.0, 40.0],
            "rate": [0.2, 0.5, 0.25],
            "benchmark": [0.15, 0.6, 0.3],
        }
    )
    rates["next_to_won"] = [0.5 * 0.25, 0.25, 1.0]
    rates["to_won"] = rates["rate"] * rates["next_to_won"]
    return Economics(
        rates, average_deal=10_000.0, won_deals=10, close_ratio=0.3, won_stage="customer"
    )


def test_leakage_arithmetic():
    result = leak(_economics(), default_config(), AS_OF, lift_stage="mql", lift_points=10)
    leaks = result.leaks.set_index("stage")
    # lead: 800 drop-outs × 12.5% to won × 10,000
    assert leaks.loc["lead", "lost_revenue"] == pytest.approx(800 * 0.125 * 10_000)
    assert leaks.loc["lead", "gap_to_benchmark"] == 0
    # mql: 100 drop-outs × 25% × 10,000; 10 points below benchmark: 200 × 0.1 × 0.25 × 10,000
    assert leaks.loc["mql", "lost_revenue"] == pytest.approx(250_000)
    assert leaks.loc["mql", "gap_to_benchmark"] == pytest.approx(50_000)
    assert leaks.loc["opportunity", "what_if_bookings"] == pytest.approx(40 * 0.1 * 10_000)
    assert list(result.leaks.stage) == ["lead", "opportunity", "mql"]  # biggest first
    assert result.baseline_bookings == pytest.approx(1000 * 0.025 * 10_000)
    assert result.lifted_bookings == pytest.approx(250_000 + 200 * 0.1 * 0.25 * 10_000)
    with pytest.raises(InputError, match="lift_stage 'advocate'"):
        leak(_economics(), default_config(), AS_OF, lift_stage="advocate")


def test_the_stage_to_work_on_first_is_clearly_below_benchmark_or_pays_most_lifted():
    """mql converts 50% (45%–55%) against a 60% benchmark, clearly below: at benchmark
    it adds 200 × 0.1 × 0.25 × 10,000 = 50,000 and comes first, though lead's drop-outs
    are worth far more (1,000,000) and lead beats its benchmark. Without the interval
    nothing is clearly below: the stage where +5 points adds most (lead, 62,500)."""
    econ = _economics()
    econ.rates["rate_low"] = [0.18, 0.45, 0.2]
    econ.rates["rate_high"] = [0.22, 0.55, 0.35]  # opportunity straddles its 30%
    lk = leak(econ, default_config(), AS_OF)
    w = SimpleNamespace(data_note=None, problem_area="closing new business")
    assert list(_ranked(lk.leaks).stage) == ["mql", "lead", "opportunity"]
    stage, why = _focus(lk, w, default_config())
    assert stage == "mql" and "50% (45%–55%), clearly below the benchmark 60%" in why
    assert "would add 50,000 bookings a quarter" in why
    econ.rates["rate_high"] = [0.22, 0.65, 0.35]
    stage, why = _focus(leak(econ, default_config(), AS_OF), w, default_config())
    assert stage == "lead" and why.startswith("no stage is clearly below its benchmark")
    assert "would add the most: 62,500 bookings a quarter, 25% more than today's 250,000" in why
    short = SimpleNamespace(
        data_note=None, problem_area="lead generation", leads_per_quarter=500.0,
        leads_needed_per_quarter=800.0,
    )  # fmt: skip
    assert _focus(lk, short, default_config()) == (
        "lead",
        "500 new leads a quarter against 800 needed",
    )


def test_diagnose_composes_one_page(top_heavy_wh):
    result = ff.diagnose(top_heavy_wh, as_of=AS_OF, lift_stage="opportunity")
    assert result.verdict == "top-heavy"
    lines = result.headline()
    assert lines[0].startswith("Verdict: TOP-HEAVY")
    assert any(line.startswith("What-if: opportunity +5 points") for line in lines)
    assert len(result.leaks) == 3
    assert list(result.leaks.stage) == list(_ranked(result.leakage.leaks).stage[:3])
    assert result.focus_stage == result.leaks.stage[0]
    assert list(result.teams.team) == ["marketing", "bdr", "sales", "am"]
    bdr = result.teams.set_index("team").loc["bdr"]
    assert bdr.dropped > 0 and bdr.stuck > 0
    assert len(result.tactics) == 6 and result.tactics.why.str.len().gt(0).all()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["verdict"] == "top-heavy"
    assert data["weight"]["effort"] and data["stuck"]["by_stage"]


def test_empty_warehouse_gets_no_verdict():
    result = ff.diagnose(ff.connect("duckdb://:memory:"), as_of=AS_OF)
    assert (result.verdict, result.problem_area) == ("not enough data", "not enough data")
    assert result.leaks.empty and result.tactics.empty and result.focus_stage is None
    assert result.headline()[0] == (
        "Verdict: none — not enough data (0 mature leads and 0 closed deals; need 30 of each)"
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("diagnose") / "demo.duckdb"
    with ff.connect(f"duckdb:///{path}") as wh:
        ff.generate_demo(wh, scenario="bottom-heavy", contacts=3000, seed=1, as_of=AS_OF)
    return str(path)


def _run(db: str, *args: str):
    return CliRunner().invoke(app, ["--db", db, *args], catch_exceptions=False)


def test_cli_diagnose_json(demo_db):
    out = _run(demo_db, "diagnose", "--as-of", "2026-11-23", "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["kind"] == "diagnose" and data["verdict"] in ("balanced", "bottom-heavy")
    assert data["headline"][0].startswith("Verdict:")


def test_cli_stuck_handoffs_playbook(demo_db):
    out = _run(demo_db, "stuck", "--as-of", "2026-11-23", "--team", "bdr", "--limit", "3")
    assert out.exit_code == 0 and "stuck contacts" in out.output
    out = _run(demo_db, "handoffs", "--as-of", "2026-11-23", "--format", "csv")
    assert out.exit_code == 0 and out.output.startswith(
        "stage,from_team,to_team,sla_days,entered,dropped_pct"
    )
    out = _run(demo_db, "playbook", "--segment", "bofu", "--format", "json")
    assert out.exit_code == 0 and json.loads(out.output)["tactics"]


def test_cli_user_mistake_is_one_line(demo_db):
    out = CliRunner().invoke(app, ["--db", demo_db, "stuck", "--team", "sale"])
    assert out.exit_code == 1
    assert "Did you mean 'sales'" in out.output and "Traceback" not in out.output
