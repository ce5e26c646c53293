"""HubSpot and Salesforce exports, as those products write them, to the funnel by hand.

tests/data/hubspot (as of 2024-12-31): 30 contacts. Contacts 1–29 became leads,
contact 30 is a subscriber only (a lead by the default mapping). Contacts 1–18
reached MQL (9 and 10 have no MQL date: implied by their SQL date), 1–10 SQL,
1–6 opportunity, 1–3 customer, 1 evangelist (advocate). Six deals: 9001–9003
won, 9004 and 9005 lost (9004 also carries contact 5107, an SQL: their journeys
end closed_lost), 9006 open.

tests/data/salesforce (as of 2024-12-31): 20 leads — 8 converted into contacts
(leads 1–5 with opportunities), 4 "Working - Contacted" (sal), 5 "Open - Not
Contacted" (lead), 3 "Closed - Not Converted" (disqualified) — plus 2 contacts
created directly, one with an opportunity. Opportunities: 2 won, 1 lost, 3 open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app
from fullfunnel.config import config_from_dict
from fullfunnel.errors import InputError
from fullfunnel.ingest import ingest_hubspot, ingest_salesforce, list_rejects

DATA = Path(__file__).parent / "data"
AS_OF = datetime(2024, 12, 31)


def _stages(wh, **kw):
    s = ff.funnel(wh, as_of=AS_OF, **kw).stages.set_index("stage")
    return s


def test_hubspot_exports_give_the_hand_computed_funnel(wh):
    result = ingest_hubspot(wh, [DATA / "hubspot"])
    assert result.files.source.tolist() == [
        "hubspot:companies",
        "hubspot:contacts",
        "hubspot:deals",
    ]
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (46, 46, 0)
    s = _stages(wh)
    # HubSpot has no SAL lifecycle stage: the funnel goes mql → sql
    assert s.index.tolist() == ["lead", "mql", "sql", "opportunity", "customer", "advocate"]
    assert s.reached.tolist() == [30, 18, 10, 6, 3, 1]
    assert s.implied.tolist() == [0, 2, 0, 0, 0, 0]
    assert s.in_stage.tolist() == [12, 8, 3, 1, 2, 1]
    assert s.loc["sql", "exited"] == 1 and s.loc["opportunity", "exited"] == 2
    assert s.loc["lead", "conversion"] == pytest.approx(18 / 30)
    opps = wh.table("opportunities").to_pandas().set_index("opportunity_id")
    assert opps.status.value_counts().to_dict() == {"won": 3, "lost": 2, "open": 1}
    assert opps.loc["9006", "stage"] == "contract_sent"
    assert opps.amount.sum() == 24000 + 18500 + 40000 + 12000 + 9000 + 30000
    contacts = wh.table("contacts").to_pandas().set_index("contact_id")
    assert contacts.loc["5101", "source_channel"] == "paid_search"
    assert contacts.loc["5101", "created_at"] == datetime(2024, 1, 3, 9, 22)
    assert "email" not in " ".join(contacts.columns).lower()  # personal data dropped
    assert wh.count("accounts") == 10


def test_hubspot_portal_time_zone_and_hashed_email(wh):
    config = config_from_dict({"ingest": {"timezone": "America/New_York", "personal": "hash"}})
    ingest_hubspot(wh, [DATA / "hubspot"], config=config)
    contacts = wh.table("contacts").to_pandas().set_index("contact_id")
    assert contacts.loc["5101", "created_at"] == datetime(2024, 1, 3, 14, 22)  # EST = UTC-5
    assert len(contacts.loc["5101", "email_sha256"]) == 64


def test_hubspot_stage_mapping_is_overridable(wh):
    config = config_from_dict({"hubspot": {"lifecycle_stages": {"subscriber": ""}}})
    ingest_hubspot(
        wh, [DATA / "hubspot" / "hubspot-crm-exports-all-contacts-2024-12-31.csv"], config=config
    )
    assert wh.count("stage_events") == 29 + 16 + 10 + 6 + 3 + 1


def test_hubspot_unknown_lifecycle_stage_is_rejected_with_the_fix(wh, tmp_path):
    src = DATA / "hubspot" / "hubspot-crm-exports-all-contacts-2024-12-31.csv"
    text = src.read_text("utf-8").replace('"Subscriber"', '"Champion"')
    path = tmp_path / "contacts.csv"
    path.write_text(text, "utf-8")
    result = ingest_hubspot(wh, [path])
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (30, 29, 1)
    reason = list_rejects(wh).rejects.reason[0]
    assert "unknown lifecycle stage 'Champion'" in reason
    assert "[hubspot.lifecycle_stages]" in reason


def test_a_newer_hubspot_export_upserts_and_appends(wh, tmp_path):
    src = DATA / "hubspot" / "hubspot-crm-exports-all-contacts-2024-12-31.csv"
    ingest_hubspot(wh, [src])
    events = wh.count("stage_events")
    # a week later: contact 5120 became an MQL, nothing else changed
    lines = src.read_text("utf-8").splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith('"5120"'))
    cells = lines[row].rstrip("\n").split('","')
    cells[6] = "Marketing Qualified Lead"
    cells[10] = "2024-12-30 10:00"
    lines[row] = '","'.join(cells) + "\n"
    newer = tmp_path / "hubspot-crm-exports-all-contacts-2025-01-07.csv"
    newer.write_text("".join(lines), "utf-8")
    result = ingest_hubspot(wh, [newer])
    assert (result.rows_in, result.rows_loaded) == (30, 30)
    assert wh.count("contacts") == 30
    assert wh.count("stage_events") == events + 1
    contacts = wh.table("contacts").to_pandas().set_index("contact_id")
    assert contacts.loc["5120", "lifecycle_stage"] == "mql"
    assert _stages(wh).loc["mql", "reached"] == 19


def test_not_a_hubspot_export_is_refused(wh):
    with pytest.raises(InputError, match="not a HubSpot contacts, companies or deals export"):
        ingest_hubspot(wh, [DATA / "malformed" / "bom.csv"])


def test_salesforce_exports_give_the_hand_computed_funnel(wh):
    result = ingest_salesforce(wh, [DATA / "salesforce"])
    assert result.files.source.str.removeprefix("salesforce:").tolist() == [
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "OpportunityHistory",
        "Campaign",
        "CampaignMember",
        "Task",
        "Event",
    ]
    assert result.rows_in == result.rows_loaded + result.rows_rejected
    # one campaign member points at a deleted lead
    assert result.rows_rejected == 1
    s = _stages(wh)
    # no Lead Status maps to mql: the funnel goes lead → sal
    assert s.index.tolist() == ["lead", "sal", "sql", "opportunity", "customer", "advocate"]
    assert s.reached.tolist() == [22, 13, 9, 6, 2, 0]
    assert s.in_stage.tolist() == [6, 4, 3, 3, 2, 0]
    assert s.loc["lead", "exited"] == 3 and s.loc["opportunity", "exited"] == 1
    assert wh.count("contacts") == 22
    opps = wh.table("opportunities").to_pandas().set_index("opportunity_id")
    assert opps.status.value_counts().to_dict() == {"open": 3, "won": 2, "lost": 1}
    # the converted lead's opportunity is tied to the contact it became
    assert opps.loc["0065g00000Opp01AAA", "contact_id"] == "0035g00000Con01AAA"
    tp = wh.table("touchpoints").to_pandas()
    assert len(tp) == 12 + 8 + 4
    assert tp.groupby("team").size().to_dict() == {"marketing": 12, "sales": 12}
    spend = wh.table("spend").to_pandas()
    assert spend.amount.sum() == 2500 + 400 + 18000
    assert set(spend.channel) == {"webinar", "email", "events"}
    assert wh.count("opportunity_history") == 11


def test_salesforce_owner_teams_from_config(wh):
    config = config_from_dict({"salesforce": {"owner_teams": {"0055g00000BDR1AAA": "bdr"}}})
    ingest_salesforce(wh, [DATA / "salesforce"], config=config)
    tp = wh.table("touchpoints").to_pandas()
    assert tp.groupby("team").size().to_dict() == {"bdr": 8, "marketing": 12, "sales": 4}


def test_cli_ingest_funnel_loads_rejects(tmp_path):
    db = str(tmp_path / "w.duckdb")
    run = CliRunner().invoke
    out = run(app, ["--db", db, "ingest", "salesforce", str(DATA / "salesforce")])
    assert out.exit_code == 0, out.output
    assert "CampaignMember.csv" in out.output and "1 rejected" in out.output
    again = run(app, ["--db", db, "ingest", "salesforce", str(DATA / "salesforce" / "Lead.csv")])
    assert "already loaded" in again.output
    loads = run(app, ["--db", db, "--format", "json", "loads"])
    assert loads.exit_code == 0 and loads.output.count('"sha256"') == 9
    rejects = run(app, ["--db", db, "--format", "csv", "rejects"])
    assert "00Q5g00000Gone99AA" in rejects.output
    funnel = run(app, ["--db", db, "funnel", "--as-of", "2024-12-31"])
    assert "22 contacts entered the funnel" in funnel.output
    bad = run(
        app, ["--db", db, "ingest", "csv", str(tmp_path / "missing.csv"), "--table", "accounts"]
    )
    assert bad.exit_code == 1
    assert "missing.csv: file not found" in bad.output
    assert "Traceback" not in bad.output
