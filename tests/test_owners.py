"""The rep scorecard on the deal table of tests/data/shapes/deals, by hand (see
tests/test_ingest_shapes.py): per owner, office and manager, with intervals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

import fullfunnel as ff
from fullfunnel.analytics.groups import NOT_LISTED
from fullfunnel.analytics.owners import rep_scorecard
from fullfunnel.analytics.stats import wilson
from fullfunnel.ingest import ingest

DEALS = Path(__file__).parent / "data" / "shapes" / "deals"
AT = datetime(2017, 3, 31)


def test_scorecard_by_hand(wh):
    ingest(wh, [DEALS])
    r = rep_scorecard(wh, as_of=AT)
    owners = r.by_owner.set_index("owner")
    darcel = owners.loc["Darcel Schlecht"]  # won 4514 and 50, lost one
    assert (darcel.won, darcel.lost, darcel.won_amount) == (2, 1, 4564)
    lo, hi = wilson(2, 3, confidence=0.9)
    assert (darcel.win_rate_low, darcel.win_rate_high) == (pytest.approx(lo), pytest.approx(hi))
    assert owners.loc["Moses Frase", "open_deals"] == 1  # the Prospecting deal, no dates
    offices = r.by_office.set_index("office")
    assert offices.loc["East", ["won", "lost", "won_amount"]].tolist() == [3, 0, 1054 + 588 + 1026]
    assert set(r.by_manager.manager) == {
        "Dustin Brinkmann",
        "Melvin Marxen",
        "Cara Losch",
        "Summer Sewald",
        "Celia Rouche",
    }
    assert r.headline()[1].startswith("most won: Darcel Schlecht (4,564 from 2 deals")


def test_owner_missing_from_the_sales_team_table_is_shown_apart(wh, tmp_path):
    ingest(wh, [DEALS / "sales_pipeline.csv"])
    teams = tmp_path / "sales_teams.csv"
    teams.write_text("sales_agent,manager,regional_office\nMoses Frase,Cara Losch,East\n")
    ingest(wh, [teams])
    offices = rep_scorecard(wh, as_of=AT).by_office.set_index("office")
    assert offices.loc["East", "won"] == 2  # Moses Frase's two wins
    assert offices.loc[NOT_LISTED, "won"] == 7


def test_no_owner_no_scorecard(wh):
    r = rep_scorecard(wh, as_of=AT)
    assert r.by_owner.empty and r.headline() == ["no deal names its owner: no rep scorecard"]


def _reps(wh) -> None:
    """Four contacts: Ann owns c1 and c2, Bob c3, c4 has no owner; the sales-team table
    puts Ann in East and Bob in West. c1-c3 became MQLs on 01-02 (the marketing → bdr
    handoff, SLA 2 days): bdr touched c1 the next day (met), c3 after 8 days (late),
    and never c2 (dropped by 02-01)."""
    import pandas as pd

    day = pd.Timestamp
    wh.load(
        "contacts",
        pd.DataFrame(
            {
                "contact_id": ["c1", "c2", "c3", "c4"],
                "created_at": [day("2024-01-01")] * 4,
                "owner_id": ["Ann", "Ann", "Bob", None],
            }
        ),
    )
    wh.load(
        "stage_events",
        pd.DataFrame(
            {
                "contact_id": ["c1", "c2", "c3", "c4", "c1", "c2", "c3"],
                "stage": ["lead"] * 4 + ["mql"] * 3,
                "ts": [day("2024-01-01")] * 4 + [day("2024-01-02")] * 3,
                "source": "test",
            }
        ),
    )
    wh.load(
        "touchpoints",
        pd.DataFrame(
            {
                "touchpoint_id": ["t1", "t2", "t3"],
                "contact_id": ["c1", "c3", "c4"],
                "ts": [day("2024-01-03"), day("2024-01-10"), day("2024-01-01")],
                "channel": ["phone", "phone", "webinar"],
                "kind": ["call", "call", "webinar"],
                "team": ["bdr", "bdr", "marketing"],
            }
        ),
    )
    wh.load(
        "owners",
        pd.DataFrame({"owner_id": ["Ann", "Bob"], "office": ["East", "West"]}),
    )


def test_handoffs_by_owner_and_office_by_hand(wh):
    from fullfunnel.analytics.handoffs import handoffs

    _reps(wh)
    r = handoffs(wh, by="owner", as_of="2024-02-01")
    mql = r.by_owner[r.by_owner.stage == "mql"].set_index("owner")
    assert mql.loc["Ann", ["entered", "dropped", "sla_met", "late"]].tolist() == [2, 1, 1, 0]
    assert mql.loc["Bob", ["entered", "dropped", "sla_met", "late"]].tolist() == [1, 0, 0, 1]
    total = r.handoffs.set_index("stage").loc["mql"]
    assert (total.entered, total.dropped) == (3, 1)  # the groups add up to the handoff
    offices = handoffs(wh, by="office", as_of="2024-02-01").by_owner.set_index("office")
    assert offices.loc["East", "dropped_pct"] == 0.5
    assert "Ann at mql: 1 of 2 dropped" in "\n".join(r.headline())


def test_funnel_by_owner_counts_each_reps_contacts(wh):
    from fullfunnel.analytics.funnel import funnel

    _reps(wh)
    stages = funnel(wh, by="owner", as_of="2024-02-01").stages
    reached = stages.set_index(["owner_id", "stage"])["reached"]  # owner: the stage's team
    assert (reached["Ann", "lead"], reached["Ann", "mql"]) == (2, 2)
    assert (reached["Bob", "lead"], reached["Bob", "mql"]) == (1, 1)
    assert (reached["(no owner)", "lead"], reached["(no owner)", "mql"]) == (1, 0)


def test_by_office_without_a_sales_team_table_says_what_to_load(wh):
    from fullfunnel.analytics.handoffs import handoffs
    from fullfunnel.errors import InputError

    ingest(wh, [DEALS / "sales_pipeline.csv"])
    with pytest.raises(InputError, match="no sales-team table is loaded"):
        handoffs(wh, by="office")
    with pytest.raises(InputError, match="use one of owner, manager, office, team"):
        handoffs(wh, by="region")


def test_stuck_by_owner_adds_up_to_the_totals(demo_wh):
    from fullfunnel.analytics.stuck import stuck

    r = stuck(demo_wh, by="owner", limit=5)
    assert int(r.by_owner["stuck"].sum()) == r.total
    assert r.by_owner["value_at_risk"].sum() == pytest.approx(r.value_at_risk)
    assert int(r.by_owner["dormant"].sum()) == r.dormant_total
    assert "by_owner" in r.tables() and "by_owner" not in stuck(demo_wh, limit=5).tables()


def test_rep_scorecard_carries_each_owners_stuck_contacts(demo_wh):
    """The demo's account executives own the deals and its BDRs the contacts: the BDRs
    with stuck contacts get rows of their own, and the column adds up to stuck's total."""
    from fullfunnel.analytics.stuck import stuck

    card = rep_scorecard(demo_wh).by_owner
    total = stuck(demo_wh, limit=0)
    assert int(card["stuck_contacts"].sum()) == total.total
    assert card["stuck_value"].sum() == pytest.approx(total.value_at_risk)
    dealers = card[(card.won + card.lost) > 0]
    assert (dealers.stuck_contacts == 0).all()  # deals and contacts have other owners here
    assert (card.stuck_contacts >= 0).all() and len(card) > len(dealers)


def test_diagnose_by_owner_shows_the_people_per_owner(demo_wh):
    d = ff.diagnose(demo_wh, by="owner")
    tables = d.tables()
    assert int(tables["stuck_by_owner"]["stuck"].sum()) == d.stuck.total
    dropped = tables["handoffs_by_owner"].groupby("stage")["dropped"].sum()
    assert dropped.to_dict() == d.handoffs.handoffs.set_index("stage")["dropped"].to_dict()
    assert any(line.startswith("Most value at risk by owner") for line in d.headline())
    assert "stuck_by_owner" not in ff.diagnose(demo_wh).tables()


def test_the_new_analyses_are_in_the_public_api(demo_wh):
    assert {"ingest", "sync_hubspot", "sync_salesforce", "rep_scorecard"} <= set(ff.__all__)
    card = ff.rep_scorecard(demo_wh)
    assert card.to_arrow().num_rows == len(card.to_pandas()) == len(card.by_owner)
