"""The rep scorecard on the deal table of tests/data/shapes/deals, by hand (see
tests/test_ingest_shapes.py): per owner, office and manager, with intervals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from fullfunnel.analytics.owners import NOT_LISTED, rep_scorecard
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
