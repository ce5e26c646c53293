"""Buying-group coverage: a hand-computed case, the role mappings, the demo's planted
effect, the empty warehouse, and contact roles loaded from files."""

from __future__ import annotations

import math
from datetime import datetime

import ibis
import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from conftest import AS_OF
from fullfunnel.analytics.buying_group import (
    NO_ROLES,
    _crm_role,
    _title_role,
    buying_group,
    deals_missing_roles,
)
from fullfunnel.analytics.metrics import deal_kpis
from fullfunnel.analytics.stats import z_value
from fullfunnel.cli import app
from fullfunnel.config import config_from_dict, default_config
from fullfunnel.demo.roles import PLANTED_RATIO
from fullfunnel.errors import ConfigError
from fullfunnel.ingest import ingest, ingest_files, list_rejects

D = datetime


def _small(wh):
    """Three accounts, six contacts, deals won / lost / open (see the expectations)."""
    contacts = [
        ("c1", "A1", "Chief Financial Officer"),
        ("c2", "A1", "Sales Manager"),
        ("c3", "A2", "CFO"),
        ("c4", "A2", "Analyst"),
        ("c5", "A3", "VP Engineering"),
        ("c6", "A3", "Head of Finance"),
    ]
    wh.load(
        "contacts",
        pd.DataFrame(
            {
                "contact_id": [c for c, _, _ in contacts],
                "account_id": [a for _, a, _ in contacts],
                "title": [t for _, _, t in contacts],
                "created_at": [D(2025, 1, 1)] * 6,
            }
        ),
    )
    deals = [  # id, account, status, created, close, amount, owner
        ("o1", "A1", "won", D(2026, 2, 1), D(2026, 5, 1), 10.0, "ae1"),
        ("o2", "A1", "lost", D(2026, 3, 1), D(2026, 6, 1), 20.0, "ae1"),
        ("o3", "A2", "won", D(2026, 1, 10), D(2026, 4, 10), 30.0, "ae2"),
        ("o4", "A3", "lost", D(2026, 1, 1), D(2026, 3, 1), 40.0, "ae2"),
        ("o5", "A3", "open", D(2026, 10, 1), D(2027, 1, 1), 50.0, "ae1"),
        ("o6", "A1", "won", D(2025, 1, 1), D(2025, 6, 1), 60.0, "ae1"),  # before the window
        ("o7", "A2", "open", D(2026, 9, 1), D(2027, 2, 1), 80.0, "ae2"),
    ]
    cols = ["opportunity_id", "account_id", "status", "created_at", "close_date", "amount"]
    frame = pd.DataFrame([d[:6] for d in deals], columns=cols)
    frame["owner_id"] = [d[6] for d in deals]
    frame["stage"] = frame["status"]
    wh.load("opportunities", frame)
    roles = [  # o3, o4 and o7 have none: their groups come from titles
        ("o1", "c1", "Economic Buyer", True),
        ("o1", "c2", "Influencer", False),
        ("o2", "c2", "Decision Maker", True),
        ("o5", "c6", "Executive Sponsor", True),
    ]
    wh.load(
        "opportunity_contacts",
        pd.DataFrame(roles, columns=["opportunity_id", "contact_id", "role", "is_primary"]),
    )
    touches = [
        ("c1", D(2026, 4, 15)),  # o1's economic buyer, engaged
        ("c2", D(2026, 2, 10)),  # o1's champion (in o1's 90 days); o2's buyer too early
        ("c3", D(2026, 3, 1)),  # o3's buyer by title; too early for the open o7
        ("c4", D(2026, 11, 1)),  # o7's user; after o3 closed
        ("c6", D(2025, 12, 15)),  # o4's buyer by title (head of)
        ("c6", D(2026, 11, 15)),  # o5's champion
        ("c5", D(2026, 11, 10)),  # o4's technical evaluator, long after it closed
    ]
    wh.load(
        "touchpoints",
        pd.DataFrame(
            {
                "touchpoint_id": [f"t{i}" for i in range(len(touches))],
                "contact_id": [c for c, _ in touches],
                "ts": [t for _, t in touches],
                "channel": "email",
                "kind": "email",
            }
        ),
    )
    return wh


def test_hand_computed_coverage_open_deals_and_missing(wh):
    _small(wh)
    config = config_from_dict({"metrics": {"min_observations": 1}})
    r = buying_group(wh, as_of=AS_OF, config=config)
    assert r.judged and (r.closed, r.won, r.known) == (4, 2, 4)
    kpi = deal_kpis(wh, as_of=AS_OF, config=config)
    assert r.closed == kpi.won + kpi.lost  # the shared win rate's deals, o6 outside
    cov = r.coverage.set_index("role")
    eb, ch = cov.loc["economic_buyer"], cov.loc["champion"]
    assert (eb.involved_deals, eb.with_deals, eb.with_won, eb.without_deals) == (4, 3, 2, 1)
    assert eb.without_won == 0 and math.isnan(eb.ratio_low)
    assert "cannot tell, no deal won" in eb.verdict
    assert (ch.with_deals, ch.with_won, ch.without_deals, ch.without_won) == (1, 1, 3, 1)
    assert ch.ratio == pytest.approx(3.0)
    half = z_value(0.9) * math.sqrt(1 / 1 - 1 / 1 + 1 / 1 - 1 / 3)
    assert ch.ratio_low == pytest.approx(3 * math.exp(-half))
    assert ch.ratio_high == pytest.approx(3 * math.exp(half))
    assert "cannot tell whether" in ch.verdict  # 0.78–11.5× straddles 1
    te, user = cov.loc["technical_evaluator"], cov.loc["user"]
    assert (te.involved_deals, te.with_deals, user.involved_deals, user.with_deals) == (1, 0, 1, 0)

    od = r.open_deals
    assert list(od.opportunity_id) == ["o7", "o5"]  # by amount
    o7, o5 = od.iloc[0], od.iloc[1]
    assert (o7.group_from, o7.engaged, o7.missing, o7.missing_count) == (
        "titles",
        "user",
        "economic_buyer, champion",
        2,
    )
    assert o7.involved_only == "economic_buyer"
    assert (o5.group_from, o5.engaged, o5.missing) == ("crm", "champion", "economic_buyer")

    m = r.missing.set_index("owner")
    assert list(m.index) == ["ae2", "ae1"]
    assert m.loc["ae2", "amount_missing"] == 80.0 and m.loc["ae2", "missing_champion"] == 1
    assert m.loc["ae1", "missing_economic_buyer"] == 1 and m.loc["ae1", "missing_champion"] == 0
    short = deals_missing_roles(wh, as_of=AS_OF).execute()
    assert sorted(short.opportunity_id) == ["o5", "o7"]
    assert r.to_dict()["headline"][0].startswith("4 deals closed in the 4 quarters")


def test_inbound_only_touches_and_a_shorter_window_change_engagement(wh):
    _small(wh)
    inbound = config_from_dict({"buying_group": {"engaged_touches": "inbound"}})
    assert not buying_group(wh, as_of=AS_OF, config=inbound).coverage.with_deals.any()
    short = config_from_dict({"buying_group": {"engaged_days": 10}})
    cov = buying_group(wh, as_of=AS_OF, config=short).coverage.set_index("role")
    assert cov.loc["economic_buyer", "with_deals"] == 0  # c1 touched 16 days before o1 closed


def test_by_owner_group_needs_a_sales_team_table(wh):
    _small(wh)
    with pytest.raises(ff.errors.InputError, match="sales-team table"):
        buying_group(wh, as_of=AS_OF, by="manager")
    wh.load("owners", pd.DataFrame({"owner_id": ["ae1", "ae2"], "manager": ["Mia", "Mia"]}))
    m = buying_group(wh, as_of=AS_OF, by="manager").missing
    assert list(m.manager) == ["Mia"] and m.deals_missing.iloc[0] == 2


@pytest.mark.parametrize(
    ("title", "role"),
    [
        ("Chief Financial Officer", "economic_buyer"),
        ("CFO", "economic_buyer"),
        ("Head of Growth", "economic_buyer"),
        ("Vice President, Sales", None),
        ("CFO/COO", "economic_buyer"),
        ("Director of Sales", None),  # "cto" inside "director" is not the CTO
        ("CTO", "technical_evaluator"),
        ("IT Manager", "technical_evaluator"),  # technical before user: the first role wins
        ("Head of Engineering", "technical_evaluator"),
        ("marketing manager", "user"),
        (None, None),
    ],
)
def test_titles_map_to_roles(title, role):
    t = ibis.memtable({"title": [title]}, schema={"title": "string"})
    bg = default_config()["buying_group"]
    got = ibis.duckdb.connect().execute(t.select(r=_title_role(t.title, bg))).r[0]
    assert (None if pd.isna(got) else got) == role


def test_crm_roles_map_case_blind_and_add_to_the_defaults():
    values = ["Economic Decision Maker", "business user", " Technical-Buyer ", "Other", "CHAMPION"]
    values += ["Coach", None]
    t = ibis.memtable({"role": values}, schema={"role": "string"})
    con = ibis.duckdb.connect()
    got = con.execute(t.select(r=_crm_role(t.role, default_config()["buying_group"]))).r
    assert [None if pd.isna(x) else x for x in got] == [
        "economic_buyer",
        "user",
        "technical_evaluator",
        None,
        "champion",
        None,
        None,
    ]
    bg = config_from_dict({"buying_group": {"crm_roles": {"Coach": "champion"}}})["buying_group"]
    assert bg["crm_roles"]["coach"] == "champion" and bg["crm_roles"]["evaluator"]
    got = con.execute(t.select(r=_crm_role(t.role, bg))).r
    assert got[5] == "champion"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"required": ["econ_buyer"]}, "Did you mean 'economic_buyer'"),
        ({"titles": {"champion": ["(unclosed"]}}, "not a regular expression"),
        ({"titles": {"buyer": ["cfo"]}}, "titles.buyer is not in roles"),
        ({"crm_roles": {"coach": "coach"}}, "'coach' is not in roles"),
        ({"engaged_touches": "outbound"}, "'any' or 'inbound'"),
    ],
)
def test_bad_buying_group_config_is_a_clear_error(section, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"buying_group": section})


def test_roles_of_ones_own_drop_the_default_titles():
    cfg = config_from_dict({"buying_group": {"roles": ["champion"], "required": ["champion"]}})
    assert set(cfg["buying_group"]["titles"]) == {"champion"}


def test_the_demo_recovers_the_planted_economic_buyer_effect(demo_wh):
    r = buying_group(demo_wh, as_of=AS_OF)
    kpi = deal_kpis(demo_wh, as_of=AS_OF, config=default_config())
    assert r.judged and r.closed == r.known == kpi.won + kpi.lost
    t = demo_wh.table("demo_truth")
    truth = t.filter(t.fact == "buying_group_ratio").execute().set_index("subject").value
    assert truth["economic_buyer"] == PLANTED_RATIO
    eb = r.coverage.set_index("role").loc["economic_buyer"]
    assert eb.ratio_low > 1 and eb.ratio_low <= PLANTED_RATIO <= eb.ratio_high
    assert eb.verdict.startswith("deals with an engaged economic buyer win 2.")
    champion = r.coverage.set_index("role").loc["champion"]
    assert champion.ratio_low <= truth["champion"] <= champion.ratio_high
    assert len(r.open_deals) == r.open_count > 0
    assert r.missing.deals_missing.sum() == (r.open_deals.missing_count > 0).sum()


def test_stuck_and_diagnose_carry_the_missing_role_signal(demo_wh):
    """Stuck contacts at an account whose open deal (buying group known) misses a
    required role are counted and each listed one names the roles of its largest such
    deal; diagnose puts multithreading on its list with the role's measured effect."""
    st = ff.stuck(demo_wh, as_of=AS_OF, limit=100_000)
    deals = deals_missing_roles(demo_wh, as_of=AS_OF).execute()
    deals = deals[(deals.group_from != "none") & deals.account_id.notna()]
    largest = deals.sort_values("amount", ascending=False).groupby("account_id").first()
    listed = st.contacts.dropna(subset=["account_id"])
    hit = listed[listed.account_id.isin(largest.index)]
    assert st.missing_roles_total == len(hit) == hit.missing_roles.notna().sum() > 0
    assert st.missing_roles_accounts == hit.account_id.nunique()
    assert st.missing_roles_amount == pytest.approx(
        deals[deals.account_id.isin(hit.account_id)].amount.sum()
    )
    assert (hit.missing_roles == hit.account_id.map(largest.missing)).all()
    assert any("misses a required buyer role" in line for line in st.headline())
    d = ff.diagnose(demo_wh, as_of=AS_OF)
    assert d.buyer_gap and "miss an engaged economic buyer" in d.buyer_gap
    assert "Stakeholder mapping and multithreading" in set(d.tactics.label)
    assert any(line.startswith("Buying groups: ") for line in d.headline())


def test_an_empty_warehouse_cannot_judge(wh):
    r = buying_group(wh, as_of=AS_OF)
    assert not r.judged and r.headline() == [f"cannot judge: {NO_ROLES}"]
    assert r.coverage.ratio.isna().all() and r.open_deals.empty
    assert r.summary() == [f"Buying groups: cannot judge — {NO_ROLES}"]


def test_deals_without_roles_or_mapped_titles_cannot_be_judged(wh):
    _small(wh)
    wh.load(
        "opportunity_contacts", pd.DataFrame(columns=["opportunity_id", "contact_id"]), replace=True
    )
    titles = {k: [] for k in default_config()["buying_group"]["roles"]}
    config = config_from_dict({"buying_group": {"titles": titles}})
    r = buying_group(wh, as_of=AS_OF, config=config)
    assert not r.judged and r.note == NO_ROLES and "cannot judge" in r.headline()[0]


def _deals_and_people(wh):
    wh.load(
        "contacts",
        pd.DataFrame({"contact_id": ["003A", "003B"], "created_at": [D(2026, 1, 1)] * 2}),
    )
    wh.load(
        "opportunities",
        pd.DataFrame(
            {"opportunity_id": ["006A"], "status": ["open"], "amount": [5.0], "stage": ["x"]}
        ),
    )


def test_salesforce_contact_roles_load_and_unknown_ones_are_rejected(wh, tmp_path):
    _deals_and_people(wh)
    f = tmp_path / "OpportunityContactRole.csv"
    f.write_text(
        "Id,OpportunityId,ContactId,Role,IsPrimary\n"
        "00K1,006A,003A,Economic Buyer,true\n"
        "00K2,006A,003B,Business User,false\n"
        "00K3,006A,003Z,Evaluator,false\n"  # no such contact
        "00K4,006Z,003A,Evaluator,false\n"  # no such deal
    )
    result = ingest(wh, [f])
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)
    rows = wh.table("opportunity_contacts").execute().set_index("contact_id")
    assert rows.loc["003A", "role"] == "Economic Buyer" and bool(rows.loc["003A", "is_primary"])
    reasons = sorted(list_rejects(wh).rejects.reason)
    assert "unknown contact_id '003Z'" in reasons[0]
    assert "unknown opportunity_id '006Z'" in reasons[1]


def test_a_canonical_contact_roles_csv_loads_by_table(wh, tmp_path):
    _deals_and_people(wh)
    f = tmp_path / "roles.csv"
    f.write_text(
        "opportunity_id,contact_id,role,is_primary\n006A,003A,champion,yes\n006B,003A,user,no\n"
    )
    result = ingest_files(wh, [f], table="opportunity_contacts")
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert "unknown opportunity_id '006B'" in list_rejects(wh).rejects.reason[0]
    assert ingest(wh, [f]).rows_loaded == 0  # recognised as the canonical table; loaded already


def test_cli_ingest_csv_with_table(tmp_path):
    db = f"duckdb:///{tmp_path / 'w.duckdb'}"
    _deals_and_people(ff.connect(db))
    f = tmp_path / "roles.csv"
    f.write_text("opportunity_id,contact_id,role\n006A,003B,Decision Maker\n")
    run = CliRunner().invoke(
        app, ["--db", db, "ingest", "csv", str(f), "--table", "opportunity_contacts"]
    )
    assert run.exit_code == 0, run.output
    assert ff.connect(db).count("opportunity_contacts") == 1
