"""Stuck leads: hand-built definitions, engine conformance, and the demo's planted truth."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.stuck import stuck
from fullfunnel.config import config_from_dict
from fullfunnel.errors import InputError

AS_OF = datetime(2026, 11, 23)  # the demo fixture's as_of too


def ago(days: float) -> pd.Timestamp:
    return pd.Timestamp(AS_OF - timedelta(days=days))


def load_stuck_case(wh):
    """Hand-built contacts, one per rule (SLAs: lead 30, mql 2, opportunity 90; stale 14).

    breach:    mql 10 days ago, never touched by bdr                      → stuck
    touched:   mql 10 days ago, bdr touch 3 days ago                      → not stuck
    stale:     mql 30 days ago, last bdr touch 20 days ago                → stuck
    fresh:     mql 1 day ago, within the SLA                              → not stuck
    exited:    mql 10 days ago, disqualified 5 days ago                   → not stuck
    support:   mql 10 days ago, only marketing (support) touched recently → stuck ("owner")
    deal:      opportunity 100 days ago, open 50,000, no sales touch      → stuck, ranked first
    advocate:  advocate (no SLA)                                          → not stuck
    recycled:  mql 60, recycled 40 days ago (back at lead, SLA 30),
               last marketing touch 20 days ago                           → stuck at lead
    browser:   lead 60 days ago, 4 inbound marketing touches this month   → not stuck (the
               owner touched it), but hidden demand: past the SLA, engaged, never at sales
    """
    ids = [
        "breach",
        "touched",
        "stale",
        "fresh",
        "exited",
        "support",
        "deal",
        "advocate",
        "recycled",
        "browser",
    ]
    contacts = pd.DataFrame(
        {"contact_id": ids, "created_at": [ago(200)] * len(ids), "account_id": "acme"}
    )
    contacts.loc[contacts.contact_id == "browser", "created_at"] = ago(60)
    events = [
        ("breach", "mql", 10),
        ("touched", "mql", 10),
        ("stale", "mql", 30),
        ("fresh", "mql", 1),
        ("exited", "mql", 10),
        ("exited", "disqualified", 5),
        ("support", "mql", 10),
        ("deal", "opportunity", 100),
        ("advocate", "advocate", 50),
        ("recycled", "mql", 60),
        ("recycled", "recycled", 40),
    ]
    stage_events = pd.DataFrame(
        [(c, s, ago(d)) for c, s, d in events], columns=["contact_id", "stage", "ts"]
    )
    touches = [
        ("touched", 3, "bdr", "outbound"),
        ("stale", 20, "bdr", "outbound"),
        ("support", 1, "marketing", "inbound"),
        ("recycled", 20, "marketing", "inbound"),
        *[("browser", d, "marketing", "inbound") for d in (2, 5, 9, 20)],
    ]
    tp = pd.DataFrame(
        [
            (f"t{i}", c, ago(d), "email", "email", team, direction)
            for i, (c, d, team, direction) in enumerate(touches)
        ],
        columns=["touchpoint_id", "contact_id", "ts", "channel", "kind", "team", "direction"],
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1"],
            "contact_id": ["deal"],
            "created_at": [ago(100)],
            "status": ["open"],
            "amount": [50_000.0],
        }
    )
    wh.load_many(
        {
            "contacts": contacts,
            "stage_events": stage_events,
            "touchpoints": tp,
            "opportunities": opps,
        }
    )
    return wh


EXPECTED = {"breach", "stale", "support", "deal", "recycled"}


def test_hand_built_definitions(wh):
    result = stuck(load_stuck_case(wh), as_of=AS_OF)
    found = result.contacts.set_index("contact_id")
    assert set(found.index) == EXPECTED
    assert result.total == len(EXPECTED)
    # the open deal is worth the most: ranked first, its amount is at risk
    assert result.contacts.iloc[0].contact_id == "deal"
    assert result.open_pipeline_at_risk == 50_000
    assert found.loc["recycled", "stage"] == "lead"
    assert found.loc["recycled", "days_in_stage"] == pytest.approx(40)
    assert found.loc["stale", "last_owner_touch_at"] == ago(20)
    assert found.loc["breach", "limit_days"] == 2
    assert found.loc["support", "engagement_short"] == 1
    assert found.loc["support", "last_touch_team"] == "marketing"
    assert found.loc["deal", "account_id"] == "acme"
    by_stage = result.by_stage.set_index("stage")
    assert by_stage.loc["mql", "stuck"] == 3
    assert by_stage.loc["mql", "in_stage"] == 5  # breach, touched, stale, fresh, support
    teams = result.by_team.set_index("team")["stuck"].to_dict()
    assert teams == {"bdr": 3, "marketing": 1, "sales": 1, "am": 0}
    assert list(result.hidden_demand.contact_id) == ["browser"]
    assert result.hidden_demand.iloc[0].engagement_short == 4
    assert result.ranked_by.startswith("value")


def test_support_touches_count_when_configured(wh):
    config = config_from_dict({"diagnose": {"stuck_touch_teams": "all"}})
    result = stuck(load_stuck_case(wh), as_of=AS_OF, config=config)
    assert set(result.contacts.contact_id) == EXPECTED - {"support"}


def test_filters_and_limit(wh):
    load_stuck_case(wh)
    assert set(stuck(wh, as_of=AS_OF, stage="mql").contacts.contact_id) == {
        "breach",
        "stale",
        "support",
    }
    assert set(stuck(wh, as_of=AS_OF, team="sales").contacts.contact_id) == {"deal"}
    assert stuck(wh, as_of=AS_OF, stage="advocate").total == 0  # no SLA: never stuck
    limited = stuck(wh, as_of=AS_OF, limit=2)
    assert len(limited.contacts) == 2 and limited.total == len(EXPECTED)
    with pytest.raises(InputError, match=r"team 'sale'.*Did you mean 'sales'"):
        stuck(wh, as_of=AS_OF, team="sale")


def test_ranked_by_score_when_scores_exist(wh):
    load_stuck_case(wh)
    scores = pd.DataFrame(
        {
            "contact_id": ["breach", "deal"],
            "score": [0.9, 0.1],
            "model_version": "v1",
            "scored_at": [AS_OF, AS_OF],
        }
    )
    wh.load("scores", scores)
    result = stuck(wh, as_of=AS_OF)
    assert result.contacts.iloc[0].contact_id == "breach"
    assert result.ranked_by.startswith("lead score")


def test_p90_rule_uses_historical_dwell(wh):
    config = config_from_dict({"funnel": {"stuck_rule": "p90"}})
    result = stuck(load_stuck_case(wh), as_of=AS_OF, config=config)
    assert result.rule == "p90"
    # no contact ever moved on from mql here, so there is no dwell history to judge it by
    assert "mql" not in set(result.by_stage.stage)


def test_engine_conformance(engine_wh):
    result = stuck(load_stuck_case(engine_wh), as_of=AS_OF)
    assert set(result.contacts.contact_id) == EXPECTED
    assert result.contacts.iloc[0].contact_id == "deal"
    assert result.hidden_demand_total == 1


def test_planted_stuck_leads_are_found(demo_wh):
    result = stuck(demo_wh, as_of=AS_OF, limit=1_000_000)
    truth = demo_wh.table("demo_truth")
    planted = set(truth.filter(truth.fact == "stuck").subject.execute())
    # every contact listed as stuck is one the demo planted as over its limit, untouched
    found = set(result.contacts.contact_id)
    assert found and len(found & planted) / len(found) >= 0.95
    assert result.total == len(found)
    # and the planted ones are all counted: stuck, or dormant (aged out) apart
    over = int(result.by_stage["over_limit"].sum())
    assert over == result.total + result.dormant_total
    assert abs(over - len(planted)) / len(planted) <= 0.05
    # most of them sat so long that their chance to move on is gone: dormant, not at risk
    assert result.dormant_total > 10 * result.total


def test_empty_warehouse():
    result = ff.stuck(ff.connect("duckdb://:memory:"), as_of=AS_OF)
    assert result.total == 0 and result.contacts.empty
    assert result.to_dict()["total"] == 0


def test_diagnosis_names_the_high_score_stalled_leads_to_push(wh):
    load_stuck_case(wh)
    assert ff.diagnose(wh, as_of=AS_OF).push.empty  # no scores yet: nothing to name
    scores = pd.DataFrame(
        {
            "contact_id": ["breach", "deal", "touched"],
            "score": [0.9, 0.4, 0.99],
            "model_version": "v1",
            "scored_at": [AS_OF] * 3,
        }
    )
    wh.load("scores", scores)
    result = ff.diagnose(wh, as_of=AS_OF)
    # "touched" scores highest but is not stuck (bdr touched it 3 days ago)
    assert list(result.push.contact_id[:2]) == ["breach", "deal"]
    assert any("breach (mql" in line for line in result.headline())
