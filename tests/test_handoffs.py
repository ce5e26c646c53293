"""Handoffs and the ownership matrix: hand-built cases, engines, the demo's planted truth."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.handoffs import handoffs

AS_OF = datetime(2026, 11, 23)  # the demo fixture's as_of too


def ago(days: float) -> pd.Timestamp:
    return pd.Timestamp(AS_OF - timedelta(days=days))


def load_handoff_case(wh):
    """MQLs handed from marketing to bdr (SLA: first bdr touch within 2 days).

    met:       mql 10 d ago, bdr touch 0.5 d later              → touched, SLA met
    late:      mql 10 d ago, bdr touch 5 d later                → touched, late
    dropped:   mql 10 d ago, no bdr touch                       → dropped
    pending:   mql 1 d ago, no touch yet                        → pending (not due)
    before:    mql 10 d ago, bdr touch only before the MQL      → dropped
    recycled:  mql 20 d ago, recycled 15 d ago, no bdr touch    → dropped, recycled
    accepted:  mql 10 d ago, bdr touch 1 d later, sal 8 d ago   → met, accepted
    rejected:  mql 10 d ago, disqualified 9 d ago               → dropped, rejected
    """
    ids = ["met", "late", "dropped", "pending", "before", "recycled", "accepted", "rejected"]
    contacts = pd.DataFrame({"contact_id": ids, "created_at": [ago(30)] * len(ids)})
    mql = {"pending": 1, "recycled": 20}
    events = [(c, "mql", ago(mql.get(c, 10))) for c in ids]
    events += [
        ("recycled", "recycled", ago(15)),
        ("accepted", "sal", ago(8)),
        ("rejected", "disqualified", ago(9)),
    ]
    stage_events = pd.DataFrame(events, columns=["contact_id", "stage", "ts"])
    touches = [
        ("met", 9.5, "bdr", None),
        ("late", 5, "bdr", None),
        ("before", 12, "bdr", None),
        ("accepted", 9, "bdr", None),
        # for the ownership matrix: a tagged bofu tactic, and sales working the top
        ("met", 20, "marketing", "case_studies"),
        ("late", 25, "sales", None),
    ]
    tp = pd.DataFrame(
        [
            (f"t{i}", c, ago(d), "email", "email", team, tactic)
            for i, (c, d, team, tactic) in enumerate(touches)
        ],
        columns=["touchpoint_id", "contact_id", "ts", "channel", "kind", "team", "tactic"],
    )
    wh.load_many({"contacts": contacts, "stage_events": stage_events, "touchpoints": tp})
    return wh


def check_mql_handoff(result) -> None:
    row = result.handoffs.set_index("stage").loc["mql"]
    assert (row.from_team, row.to_team) == ("marketing", "bdr")
    assert row.entered == 8
    assert row.pending == 1
    assert row.touched == 3  # met, late, accepted
    assert row.dropped == 4  # dropped, before, recycled, rejected
    assert row.sla_met == 2 and row.late == 1
    assert row.dropped_pct == pytest.approx(4 / 7)
    assert row.sla_met_pct == pytest.approx(2 / 7)
    assert row.median_days == pytest.approx(1.0)
    assert (row.accepted, row.rejected, row.recycled, row.open) == (1, 1, 1, 5)


def test_hand_built_handoff(wh):
    result = handoffs(load_handoff_case(wh), as_of=AS_OF)
    check_mql_handoff(result)
    assert list(result.handoffs.stage) == ["mql", "sql", "customer"]
    assert result.handoffs.set_index("stage").loc["sql", "entered"] == 0
    team = result.by_team.set_index("to_team").loc["bdr"]
    assert team.dropped == 4 and team.entered == 8


def test_ownership_matrix(wh):
    matrix = handoffs(load_handoff_case(wh), as_of=AS_OF).matrix
    cell = matrix.set_index(["team", "segment"])
    # the tagged tactic puts marketing's only touch in bofu, not in the contact's stage
    assert cell.loc[("marketing", "bofu"), "share"] == 1.0
    assert cell.loc[("marketing", "tofu"), "flag"] == "empty"
    # sales touched a contact at the top: a segment it does not own
    assert cell.loc[("sales", "tofu"), "flag"] == "over-weighted"
    # bdr touches: 'before' was still a lead (tofu), the rest after the mql (tofu)
    assert cell.loc[("bdr", "tofu"), "touches"] == 4
    assert cell.loc[("bdr", "mofu"), "flag"] == "empty"
    shares = matrix.groupby("team")["share"].sum()
    assert shares[shares > 0].round(9).eq(1).all()


def test_engine_conformance(engine_wh):
    result = handoffs(load_handoff_case(engine_wh), as_of=AS_OF)
    check_mql_handoff(result)


def test_untouched_mql_share_is_recovered(demo_wh):
    truth = demo_wh.table("demo_truth")
    planted = truth.filter(truth.fact == "untouched_mql_share").value.execute().iloc[0]
    row = handoffs(demo_wh, as_of=AS_OF).handoffs.set_index("stage").loc["mql"]
    assert row.dropped_pct == pytest.approx(planted, abs=0.02)


def test_empty_warehouse():
    result = ff.handoffs(ff.connect("duckdb://:memory:"), as_of=AS_OF)
    assert result.handoffs["entered"].eq(0).all()
    assert result.to_dict()["kind"] == "handoffs"
