"""The account level: account stages from contacts and deals, by hand and on the demo,
and every --level account analysis speaking of accounts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.analytics.accounts import account_config, account_level
from fullfunnel.analytics.registry import ANALYSES, LEVEL
from fullfunnel.cli import app
from fullfunnel.config import config_from_dict, default_config
from fullfunnel.errors import ConfigError
from fullfunnel.result import at_level

AS_OF = datetime(2026, 11, 23)


def ago(days: float) -> pd.Timestamp:
    return pd.Timestamp(AS_OF - timedelta(days=days))


def load_accounts_case(wh):
    """Three accounts (engaged: 2 contacts at lead within 90 days; mqa: 1 at mql).

    A: leads 100 and 80 days ago (20 apart: engaged 80 days ago); one MQL 50 days ago
    B: leads 300 and 100 days ago (200 apart: not engaged by contacts); an MQL 90 days
       ago (mqa, and so engaged, implied)
    C: one lead; deals: created 200 days ago, won 150 and 20 days ago (expansion)
    D: leads 400 and 100 days ago, both disqualified: never engaged, not in the funnel
    E: two leads 10 days apart (engaged 290 days ago), both disqualified, its deal
       lost 200 days ago: it exits closed lost then
    """
    contacts = pd.DataFrame(
        {
            "contact_id": ["a1", "a2", "b1", "b2", "c1", "x1", "d1", "d2", "e1", "e2"],
            # x1 has no account
            "account_id": ["A", "A", "B", "B", "C", None, "D", "D", "E", "E"],
            "created_at": [
                *(ago(d) for d in (100, 80, 300, 100, 250, 10)),
                *(ago(d) for d in (400, 100, 300, 290)),
            ],
        }
    )
    events = pd.DataFrame(
        [
            ("a2", "mql", ago(50)),
            ("b2", "mql", ago(90)),
            ("d1", "disqualified", ago(350)),
            ("d2", "disqualified", ago(60)),
            ("e1", "disqualified", ago(250)),
            ("e2", "closed_lost", ago(200)),
        ],
        columns=["contact_id", "stage", "ts"],
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3"],
            "contact_id": ["c1", "c1", "e2"],
            "account_id": ["C", "C", None],  # o3's account is its contact's
            "created_at": [ago(200), ago(60), ago(280)],
            "status": ["won", "won", "lost"],
            "amount": [1000.0, 500.0, 700.0],
            "close_date": [ago(150), ago(20), ago(200)],
        }
    )
    wh.load_many({"contacts": contacts, "stage_events": events, "opportunities": opps})
    return wh


def test_account_stages_by_hand(wh):
    view, config = account_level(load_accounts_case(wh), default_config())
    got = view.table("stage_events").execute().set_index(["contact_id", "stage"]).ts
    assert got[("A", "engaged")] == ago(80)
    assert got[("A", "mqa")] == ago(50)
    assert ("B", "engaged") not in got.index and got[("B", "mqa")] == ago(90)
    assert got[("C", "opportunity")] == ago(200)
    assert (got[("C", "customer")], got[("C", "expansion")]) == (ago(150), ago(20))
    assert not any(a == "D" for a, _ in got.index)
    assert (got[("E", "engaged")], got[("E", "closed_lost")]) == (ago(290), ago(200))
    f = ff.funnel(view, config=config, as_of=AS_OF)
    reached = f.stages.set_index("stage").reached
    # C reached customer (implying the stages before); B's engaged is implied by its
    # mqa, C's by its deal; D never engaged: it is not in the account funnel
    assert reached.to_dict() == {
        "engaged": 4,
        "mqa": 4,  # C and E by their deals (implied)
        "opportunity": 2,  # C, and E by its lost deal
        "customer": 1,
        "expansion": 1,
    }
    assert f.stages.set_index("stage").exited.to_dict()["opportunity"] == 1  # E
    accounts = view.table("contacts").execute().set_index("contact_id")
    assert set(accounts.index) == {"A", "B", "C", "E"}  # x1 has no account; D never engaged
    assert accounts.loc["B", "created_at"] == ago(90)  # entered the funnel at its mqa


def test_on_the_demo_account_stages_match_a_pandas_reading_and_the_planted_truth():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=3000, seed=3, as_of=AS_OF)
    config = default_config()
    view, accounts = account_level(wh, config)
    got = view.table("stage_events").execute()
    got = got.groupby("stage").contact_id.nunique().to_dict()
    # the same rules read straight from the tables
    tl = ff.timeline(wh, config, as_of=AS_OF).execute()
    c = wh.table("contacts").execute()[["contact_id", "account_id"]].dropna()
    j = tl.merge(c, on="contact_id")
    lead = j.dropna(subset=["reached_lead_at"]).sort_values(["account_id", "reached_lead_at"])
    gap = lead.groupby("account_id").reached_lead_at.diff()
    engaged = lead[gap <= pd.Timedelta(days=90)].account_id.nunique()
    mqa = j.dropna(subset=["reached_mql_at"]).account_id.nunique()
    o = wh.table("opportunities").execute()
    won = o[o.status == "won"].groupby("account_id").size()
    assert got["engaged"] == engaged and got["mqa"] == mqa
    assert got["opportunity"] == o.account_id.nunique()
    assert (got["customer"], got.get("expansion", 0)) == (len(won), int((won >= 2).sum()))
    f = ff.funnel(view, config=accounts, as_of=AS_OF)
    assert f.stages.set_index("stage").reached["customer"] == len(won)
    # the planted truth, counted from the simulated journeys and deals themselves:
    # every account stage's reach (the earlier ones implied by later ones) recovered
    t = wh.table("demo_truth").execute()
    planted = t[t.fact == "account_stage_reached"].set_index("subject").value.astype(int)
    assert list(planted.index) == list(accounts.stage_names)
    assert f.stages.set_index("stage").reached.to_dict() == planted.to_dict()
    entered = int(f.stages.reached.iloc[0])
    assert entered < wh.count("accounts")  # an account whose contacts never engaged: not in
    assert at_level(f, "account").headline()[0] == f"{entered:,} accounts entered the funnel"


@pytest.mark.parametrize("command", ["funnel", "velocity", "stuck", "handoffs", "diagnose"])
def test_every_level_account_command_speaks_of_accounts(tmp_path, command):
    db = tmp_path / "a.duckdb"
    with ff.connect(str(db)) as wh:
        load_accounts_case(wh)
    runner = CliRunner()
    out = runner.invoke(
        app, ["--db", str(db), "-f", "json", command, "--level", "account", "--as-of", "2026-11-23"]
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["grain"] == "account"
    assert not any("contact" in line for line in payload["headline"]), payload["headline"]
    assert ANALYSES[command].option("level") is LEVEL


def test_a_wrong_account_stage_says_what_to_write():
    bad = [{"name": "engaged", "segment": "tofu", "owner": "marketing", "contacts": 2}]
    with pytest.raises(ConfigError, match="give either contact_stage"):
        account_config(config_from_dict({"accounts": {"stages": bad}}))
    odd = [{"name": "x", "segment": "tofu", "owner": "marketing", "deals": "signed"}]
    with pytest.raises(ConfigError, match="deals must be one of created, won, won_again"):
        account_config(config_from_dict({"accounts": {"stages": odd}}))


def test_the_report_at_the_account_level(tmp_path):
    db, out = tmp_path / "a.duckdb", tmp_path / "accounts.html"
    with ff.connect(str(db)) as wh:
        ff.generate_demo(wh, contacts=1500, seed=2, as_of=AS_OF)
    runner = CliRunner()
    args = ["--db", str(db), "report", "--level", "account", "--as-of", "2026-11-23"]
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "fullfunnel report (accounts)" in html and "accounts entered the funnel" in html
    bad = runner.invoke(app, ["--db", str(db), "report", "--level", "acount"])
    assert bad.exit_code == 1 and "Did you mean 'account'" in bad.output


def test_the_api_takes_account_stages_at_the_account_level(wh):
    pytest.importorskip("fastapi")
    from conftest import AsgiClient
    from fullfunnel.server.app import create_app

    load_accounts_case(wh)
    client = AsgiClient(create_app(wh))
    params = {"level": "account", "stage": "engaged", "as_of": "2026-11-23"}
    r = client.get("/api/stuck", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["grain"] == "account"
    refused = client.get("/api/stuck", params={**params, "level": "contact"})
    assert refused.status_code == 400 and "engaged" in refused.text
