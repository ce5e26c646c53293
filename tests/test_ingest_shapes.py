"""``fullfunnel ingest FILE…`` with no mapping: each shape recognised, read as stated,
and the figures after it checked by hand.

tests/data/shapes/deals (a deal table with its side tables, 2016–17): 13 deals —
9 won (1054 + 4514 + 50 + 588 + 517 + 49 + 57 + 601 + 1026 = 8456), 2 lost, one
Engaging (no amount, no close date), one Prospecting (no dates at all). Sales teams:
Central closed 3 won (Darcel 4514 + 50, Anna 49) and 2 lost (Cecily, Darcel).

tests/data/shapes/olist (an MQL list and the closed deals naming their MQL): 7 MQLs,
3 won (5420…, a555…, 3271…).
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app
from fullfunnel.errors import InputError
from fullfunnel.ingest import ingest, ingest_files
from fullfunnel.ingest.shapes import recognise

SHAPES = Path(__file__).parent / "data" / "shapes"
DEALS = SHAPES / "deals"


@pytest.mark.parametrize(
    ("path", "name", "table"),
    [
        (DEALS / "sales_pipeline.csv", "deal table", "opportunities"),
        (DEALS / "accounts.csv", "account table", "accounts"),
        (DEALS / "sales_teams.csv", "sales-team table", "owners"),
        (DEALS / "products.csv", "product table", "products"),
        (SHAPES / "olist" / "olist_marketing_qualified_leads_dataset.csv", "MQL list", "contacts"),
        (SHAPES / "olist" / "olist_closed_deals_dataset.csv", "closed-deals list", "stage_events"),
        (SHAPES / "PathData.csv", "ChannelAttribution path file", ""),
        (SHAPES / "Opportunity-sfdx.json", "sfdx Opportunity tree export", "opportunities"),
        (SHAPES / "sf_opportunity_report.csv", "Salesforce Opportunity export", "opportunities"),
        (SHAPES / "hubspot_deals_internal.csv", "HubSpot deals export", "opportunities"),
    ],
)
def test_each_shape_is_recognised(path, name, table):
    shape = recognise(path)
    assert (shape.name, shape.table) == (name, table)


def test_deal_table_reads_each_column_as_stated():
    shape = recognise(DEALS / "sales_pipeline.csv")
    assert shape.columns == {
        "opportunity_id": "opportunity_id",
        "stage": "deal_stage",
        "status": "deal_stage",
        "created_at": "engage_date",
        "close_date": "close_date",
        "amount": "close_value",
        "owner_id": "sales_agent",
        "account_id": "account",
        "product": "product",
    }
    assert shape.mapping.values["status"] == {
        "Engaging": "open",
        "Lost": "lost",
        "Prospecting": "open",
        "Won": "won",
    }


def test_deal_table_and_side_tables_give_the_hand_computed_pipeline(wh):
    result = ingest(wh, [DEALS])
    assert result.rows_rejected == 0
    assert list(result.files["tables"]) == [
        "accounts",
        "owners",
        "products",
        "opportunities",
    ]  # what others point at loads first
    assert any("read as deal table" in n for n in result.files["note"])
    p = ff.pipeline(wh, as_of=datetime(2017, 3, 31), by="office")
    assert (p.kpis.won, p.kpis.lost) == (9, 2)
    assert p.kpis.won_amount == pytest.approx(8456)
    assert p.open_count == 2 and p.unpriced_count == 2  # Engaging and Prospecting
    # both are MG Advanced deals: at the product table's list price, named apart
    assert (p.list_priced_count, p.list_price_amount) == (2, 2 * 3393)
    assert p.open_amount == 0
    assert "worth 6,786 at list price (not added in)" in p.headline()[1]
    central = p.scorecard.set_index("office").loc["Central"]
    assert (central.won, central.lost) == (3, 2)
    assert central.won_amount == pytest.approx(4613)
    assert central.win_rate == pytest.approx(0.6)
    assert central.win_rate_low < 0.6 < central.win_rate_high


def test_scorecard_by_owner_and_manager(wh):
    ingest(wh, [DEALS])
    at = datetime(2017, 3, 31)
    owners = ff.pipeline(wh, as_of=at, by="owner").scorecard.set_index("owner")
    assert owners.loc["Darcel Schlecht", ["won", "lost"]].tolist() == [2, 1]
    assert owners.loc["James Ascencio", "open_deals"] == 1
    managers = ff.pipeline(wh, as_of=at, by="manager").scorecard.set_index("manager")
    assert managers.loc["Cara Losch", "won"] == 3  # Moses Frase 2, Niesha Huffines 1
    with pytest.raises(InputError, match="by 'region'"):
        ff.pipeline(wh, as_of=at, by="region")


def test_mql_list_and_closed_deals_give_a_two_stage_funnel(wh):
    ingest(wh, [SHAPES / "olist"])
    f = ff.funnel(wh, as_of=datetime(2018, 5, 9))
    assert list(f.stages["stage"]) == ["mql", "customer", "advocate"]
    mql = f.stages.set_index("stage").loc["mql"]
    assert (mql.reached, mql.converted) == (7, 3)
    assert mql.benchmark == pytest.approx(0.4 * 0.6 * 0.5 * 0.25)  # the skipped steps'
    assert f.conversion.set_index("stage").loc["mql", "next_stage"] == "customer"
    v = ff.velocity(wh, as_of=datetime(2018, 5, 9))
    steps = list(zip(v.steps.from_stage, v.steps.to_stage, strict=True))
    assert steps == [("mql", "customer"), ("customer", "advocate")]


def test_two_stage_funnel_reads_the_same_in_funnel_plan_velocity_and_diagnose(wh):
    """Side by side, the step mql → customer has one rate and one speed: 2 of 6 mature
    MQLs (all history: the window holds too few), and a median of 26.8 days over the
    3 that converted (5.8, 26.8 and 30.9 days)."""
    ingest(wh, [SHAPES / "olist"])
    at = datetime(2018, 5, 9)
    conv = ff.funnel(wh, as_of=at).conversion.set_index("stage").loc["mql"]
    assert (conv.converted, conv.entered, conv.source) == (2, 6, "all history")
    step = ff.plan(wh, target=100_000, as_of=at).waterfall.set_index("stage").loc["mql"]
    assert step.rate == pytest.approx(2 / 6) and step.observations == 6
    median = ff.velocity(wh, as_of=at).steps.set_index("from_stage").loc["mql", "median_days"]
    assert step.days_to_won_median == pytest.approx(median) == pytest.approx(26.85, abs=0.01)
    evidence = ff.diagnose(wh, as_of=at).weight.evidence.set_index("check")
    assert evidence.loc["bottom conversion vs benchmark", "finding"].startswith(
        "mql → customer: 33.3%"
    )


def test_sfdx_tree_export_loads_without_ids_or_created_dates(wh):
    result = ingest(wh, [SHAPES / "Opportunity-sfdx.json"])
    assert result.rows_loaded == 2
    p = ff.pipeline(wh, as_of=datetime(2024, 12, 31))
    assert p.kpis.won == 1 and p.kpis.won_amount == 75000
    assert p.overdue_count == 1  # prospecting, closing 2021: overdue, not pipeline
    assert p.kpis.sales_cycle_days.value is None


def test_report_with_labels_and_day_first_dates(wh):
    result = ingest(wh, [SHAPES / "sf_opportunity_report.csv"])
    assert result.rows_rejected == 0
    notes = " ".join(result.files["note"])
    assert "Probability (%) → Probability" in notes and "%d/%m/%Y" in notes
    opp = wh.table("opportunities").to_pandas().set_index("opportunity_id")
    assert opp.loc["0065g000003", "probability"] == pytest.approx(0.9)
    assert opp.loc["0065g000003", "forecast_category"] == "commit"
    assert opp.loc["0065g000001", "amount"] == 12000
    assert pd_isna(opp.loc["0065g000004", "amount"])  # open, not yet priced


def test_hubspot_internal_names_bom_and_semicolons(wh):
    ingest(wh, [SHAPES / "hubspot_deals_internal.csv"])
    opp = wh.table("opportunities").to_pandas().set_index("opportunity_id")
    assert opp["status"].to_dict() == {"101": "won", "102": "lost", "103": "open"}
    assert opp.loc["103", "probability"] == pytest.approx(0.8)


def test_path_file_is_pointed_at_attribute_and_its_columns_found(wh):
    result = ingest(wh, [SHAPES / "PathData.csv"])
    assert result.files["status"].tolist() == ["not loaded"]
    assert "attribute --paths" in result.files["note"][0]
    paths = ff.read_paths_file(SHAPES / "PathData.csv")
    assert paths.total_value == pytest.approx(14.095)  # total_conversion_value, not the count
    assert paths.frame["nulls"].sum() == 20  # total_null found by itself


def test_unknown_shape_lists_its_columns(tmp_path, wh):
    f = tmp_path / "mystery.csv"
    f.write_text("foo,bar\n1,2\n")
    with pytest.raises(InputError, match=r"could not be placed.*--mapping"):
        ingest(wh, [f])
    assert wh.table("loads").count().execute() == 0


def test_saved_mapping_loads_the_same_rows(tmp_path):
    saved = tmp_path / "deals.toml"
    a = ff.connect("duckdb://:memory:")
    ingest(a, [DEALS / "sales_pipeline.csv"], save_mapping=saved)
    mapping = tomllib.loads(saved.read_text())
    assert mapping["table"] == "opportunities" and mapping["values"]["status"]["Won"] == "won"
    b = ff.connect("duckdb://:memory:")
    ingest_files(b, [DEALS / "sales_pipeline.csv"], mapping=saved)
    cols = ["opportunity_id", "status", "amount", "owner_id"]
    left = a.table("opportunities").select(cols).order_by("opportunity_id").to_pandas()
    right = b.table("opportunities").select(cols).order_by("opportunity_id").to_pandas()
    assert left.equals(right)


def test_cli_ingest_without_subcommand(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "w.duckdb")
    runner = CliRunner()
    out = runner.invoke(app, ["--db", db, "ingest", str(DEALS)])
    assert out.exit_code == 0, out.output
    assert "read as deal table" in out.output and "sales_agent → owner_id" in out.output
    again = runner.invoke(app, ["--db", db, "ingest", str(DEALS)])
    assert again.output.count("already loaded") == 4  # the same files change nothing
    args = ["--db", db, "pipeline", "--by", "office", "--as-of", "2017-03-31"]
    card = runner.invoke(app, args)
    assert card.exit_code == 0 and "by office: win rate with its 90% interval" in card.output
    rows = runner.invoke(app, ["--format", "json", *args])
    assert {r["office"] for r in json.loads(rows.output)["scorecard"]} == {
        "Central",
        "East",
        "West",
    }
    sub = runner.invoke(app, ["--db", db, "ingest", "csv", "--help"])
    assert sub.exit_code == 0 and "--mapping" in sub.output


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_counts_named_like_shares_are_not_percentages():
    from fullfunnel.cli._render import cell

    assert cell("conversions", 0.5) == "0.5"  # a fractional credit, not 50%
    assert cell("conversion_rate", 0.5) == "50.0%"
    assert cell("win_rate_low", 0.25) == "25.0%"


def test_after_a_load_the_date_range_and_misspelt_names_are_said(wh):
    result = ingest(wh, [DEALS])
    lines = result.headline()
    assert "the warehouse's data runs from 2016-10-20 to 2017-03-18" in " ".join(lines)
    # the deal table writes GTXPro, the product table GTX Pro
    assert any("'GTXPro' (1) is 'GTX Pro'" in line for line in lines)
    assert not any("account name(s)" in line for line in lines)  # every account is listed


def test_headcount_ranges_and_excel_mangled_ranges_load_as_their_lower_bound(wh, tmp_path):
    f = tmp_path / "accounts.csv"
    f.write_text(
        'account_id,name,employees\nA1,a,250\nA2,b,11-50\nA3,c,"1,001-5,000"\n'
        "A4,d,1000+\nA5,e,01-May\nA6,f,Nov-50\nA7,g,lots\n"
    )
    result = ingest(wh, [f])
    assert result.rows_rejected == 1  # 'lots' is no headcount, and says so
    got = wh.table("accounts").to_pandas().set_index("account_id")["employees"].to_dict()
    assert got == {"A1": 250, "A2": 11, "A3": 1001, "A4": 1000, "A5": 1, "A6": 11}
    assert "is not a number of employees" in result.reasons["reason"][0]


def test_undated_lead_list_gives_conversion_by_source_and_names_what_it_skips(wh):
    """tests/data/shapes/Leads.csv: Reference 9 of 10 converted, Google 3 of 12,
    Direct Traffic 6 of 14; 'Select' is a placeholder, read as empty."""
    result = ingest(wh, [SHAPES / "Leads.csv"])
    assert result.rows_loaded == 36 and result.files["tables"][0] == "leads"
    f = ff.funnel(wh)
    assert (f.lead_rate.k, f.lead_rate.n) == (18, 36)
    by_source = f.leads.set_index("source")
    assert by_source.loc["Reference", ["leads", "converted"]].tolist() == [10, 9]
    assert by_source.loc["Google", "rate"] == pytest.approx(3 / 12)
    assert "need dated events and are skipped" in f.headline()[1]
    spec = ff.funnel(wh, by="specialization").leads.set_index("specialization")
    assert spec.loc["(none)", "leads"] == 10  # every fourth row of each source says Select
    with pytest.raises(InputError, match="undated lead list"):
        ff.score(wh)
    with pytest.raises(InputError, match="not a column of the lead list"):
        ff.funnel(wh, by="nope")
