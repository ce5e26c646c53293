"""Live sync from HubSpot and Salesforce, offline: the vendors' own clients talk to
stand-ins that answer in the documented API shapes (tests/crm_servers.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hubspot")
pytest.importorskip("simple_salesforce")
responses = pytest.importorskip("responses")

import fullfunnel as ff  # noqa: E402
from crm_servers import DATA, SF_INSTANCE, HubSpotServer, salesforce_responses  # noqa: E402
from fullfunnel.errors import InputError, SourceError  # noqa: E402
from fullfunnel.sync import hubspot as hs  # noqa: E402
from fullfunnel.sync import sync_hubspot, sync_salesforce  # noqa: E402

TOKEN = "pat-na1-test"


@pytest.fixture
def hubspot():
    with HubSpotServer() as srv:
        yield srv


@pytest.fixture
def wh():
    return ff.connect("duckdb://:memory:")


def _rows(wh, sql: str) -> list[tuple]:
    return wh.engine.con.raw_sql(sql).fetchall()


def _counts(wh) -> dict[str, int]:
    names = ("accounts", "contacts", "opportunities", "stage_events", "touchpoints", "loads")
    return {t: wh.count(t) for t in (*names, "opportunity_history", "spend")}


# --- HubSpot --------------------------------------------------------------------------


def test_hubspot_first_sync_loads_what_an_export_would(wh, hubspot):
    result = sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert result.objects.set_index("object")["pulled"].to_dict() == {
        "companies": 2,
        "contacts": 4,
        "deals": 3,
    }
    assert (wh.count("accounts"), wh.count("contacts"), wh.count("opportunities")) == (2, 4, 3)
    deals = _rows(
        wh,
        "SELECT opportunity_id, contact_id, account_id, status, amount, owner_id "
        "FROM opportunities ORDER BY 1",
    )
    assert deals == [
        ("301", "201", "101", "won", 12000.0, "Sam Seller"),  # owners named by the owners API
        ("302", "203", "101", "open", 8000.0, "Kim Closer"),
        ("303", "202", "102", "lost", 3000.0, "Kim Closer"),
    ]
    # the lifecycle-stage dates are the stage history: 201 went lead → … → customer
    stages = _rows(wh, "SELECT stage FROM stage_events WHERE contact_id = '201' ORDER BY ts")
    assert [s for (s,) in stages] == ["lead", "mql", "sql", "opportunity", "customer"]
    state = _rows(wh, "SELECT object, cursor, cursor_ids FROM sync_state ORDER BY object")
    assert [(o, str(c), ids) for o, c, ids in state] == [
        ("companies", "2024-03-01 08:00:00", "101 102"),
        ("contacts", "2024-04-01 08:00:00", "202 203 204"),
        ("deals", "2024-04-01 08:00:00", "302 303"),
    ]
    assert "hubspot API deals" in "\n".join(result.headline())


def test_hubspot_second_sync_changes_nothing(wh, hubspot):
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    before = _counts(wh)
    again = sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert int(again.objects["pulled"].sum()) == 0
    assert _counts(wh) == before  # not even a load record
    assert "nothing changed since the last sync" in "\n".join(again.headline())
    # the second pull asked from the cursor on, in epoch milliseconds
    bodies = [b for m, p, b in hubspot.requests if p.endswith("/deals/search")]
    assert bodies[-1]["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_lastmodifieddate",
        "operator": "GTE",
        "value": "1711958400000",  # 2024-04-01T08:00:00Z
    }


def test_hubspot_incremental_sync_loads_only_what_changed(wh, hubspot):
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    loads = wh.count("loads")
    deal = hubspot.data["deals"][1]["properties"]
    deal.update(
        dealstage="closedwon",
        closedate="2024-05-01T08:00:00.000Z",
        hs_lastmodifieddate="2024-05-01T08:00:00.000Z",
    )
    result = sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert result.objects.set_index("object")["pulled"].to_dict() == {
        "companies": 0,
        "contacts": 0,
        "deals": 1,
    }
    assert wh.count("loads") == loads + 1
    assert _rows(
        wh, "SELECT status, contact_id FROM opportunities WHERE opportunity_id = '302'"
    ) == [("won", "203")]
    (cursor,) = _rows(wh, "SELECT cursor FROM sync_state WHERE object = 'deals'")[0]
    assert str(cursor) == "2024-05-01 08:00:00"


def test_hubspot_full_sync_pulls_everything_again(wh, hubspot):
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    before = _counts(wh)
    again = sync_hubspot(wh, TOKEN, host=hubspot.url, full=True)
    assert int(again.objects["pulled"].sum()) == 9
    assert set(again.loaded.files["status"]) == {"skipped"}  # the same bytes: no new load
    assert _counts(wh) == before


def test_hubspot_rate_limit_is_retried_with_backoff(wh, hubspot, monkeypatch):
    monkeypatch.setattr(hs, "BACKOFF", 0.01)
    hubspot.fail_next = 2  # two 429s with Retry-After, then answers
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert wh.count("opportunities") == 3
    first = [p for _, p, _ in hubspot.requests[:3]]
    assert first[0] == first[1] == first[2]  # the same request, asked again


def test_hubspot_search_cap_starts_a_new_query_from_the_newest_time(wh, hubspot, monkeypatch):
    monkeypatch.setattr(hs, "_SEARCH_CAP", 2)
    monkeypatch.setattr(hs, "_PAGE", 1)
    hubspot.search_cap = 2
    # three contacts modified at one instant: past the cap no query can reach them all
    with pytest.raises(SourceError, match="more than 2 records share the modification time"):
        sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert wh.count("loads") == 0
    for i, c in enumerate(hubspot.data["contacts"]):
        c["properties"]["lastmodifieddate"] = f"2024-04-0{i + 1}T08:00:00.000Z"
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert (wh.count("contacts"), wh.count("opportunities")) == (4, 3)
    contact_queries = [b for _, p, b in hubspot.requests if p.endswith("/contacts/search")]
    restarted = [b for b in contact_queries if b["filterGroups"] and "after" not in b]
    assert restarted  # a new query, filtered from the newest modification seen


def test_hubspot_refused_token_is_one_clear_error_and_loads_nothing(wh, hubspot):
    with pytest.raises(SourceError, match="HTTP 401: the token was refused"):
        sync_hubspot(wh, "pat-wrong", host=hubspot.url)
    assert wh.count("loads") == 0 and wh.count("sync_state") == 0


def test_hubspot_failure_mid_pull_loads_nothing_and_keeps_the_cursor(wh, hubspot, monkeypatch):
    sync_hubspot(wh, TOKEN, host=hubspot.url)
    state = _rows(wh, "SELECT * FROM sync_state ORDER BY object")
    hubspot.data["contacts"][0]["properties"]["lastmodifieddate"] = "2024-06-01T00:00:00.000Z"
    hubspot.data["deals"][0]["properties"]["hs_lastmodifieddate"] = "2024-06-01T00:00:00.000Z"
    original = hubspot.route

    def broken(method, path, body):
        if "/associations/" in path:
            return 400, {"status": "error", "message": "bad request"}
        return original(method, path, body)

    monkeypatch.setattr(hubspot, "route", broken)
    loads = wh.count("loads")
    with pytest.raises(SourceError, match="deal → contacts associations: HTTP 400"):
        sync_hubspot(wh, TOKEN, host=hubspot.url)
    assert wh.count("loads") == loads  # the changed contact was pulled, not loaded
    assert _rows(wh, "SELECT * FROM sync_state ORDER BY object") == state


@pytest.mark.slow
def test_hubspot_sync_from_the_cli(tmp_path, hubspot):
    db = tmp_path / "w.duckdb"
    env = {
        **os.environ,
        "HUBSPOT_TOKEN": TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "PYTHONPATH": str(Path(__file__).parents[1] / "src"),
    }
    cmd = [sys.executable, "-m", "fullfunnel", "--db", str(db), "sync", "hubspot"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "hubspot deals: 3 records pulled in full" in first.stdout
    second = subprocess.run([*cmd[:-2], "-f", "json", "sync", "hubspot"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert second.returncode == 0, second.stderr
    payload = json.loads(second.stdout)
    assert [o["pulled"] for o in payload["objects"]] == [0, 0, 0]
    pipe = subprocess.run([*cmd[:-2], "pipeline"], env=env, capture_output=True, text=True)
    assert "open pipeline: 1 opportunities, 8,000" in pipe.stdout


# --- Salesforce -----------------------------------------------------------------------


@pytest.fixture
def salesforce():
    data = json.loads((DATA / "salesforce.json").read_text())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        asked = salesforce_responses(rsps, data)
        yield data, asked, rsps


LOGIN = {"instance_url": SF_INSTANCE, "session_id": "00Dxx0000001gPL!token"}


def test_salesforce_first_sync_loads_every_object(wh, salesforce):
    result = sync_salesforce(wh, login=LOGIN)
    pulled = result.objects.set_index("object")["pulled"].to_dict()
    assert pulled == {
        "Account": 2,
        "Contact": 2,
        "Lead": 4,
        "Opportunity": 2,
        "OpportunityHistory": 3,
        "Campaign": 1,
        "CampaignMember": 2,
        "Task": 1,
        "Event": 0,
    }
    # converted leads are their contacts: 2 contacts + 2 open leads
    assert wh.count("contacts") == 4
    deals = _rows(
        wh, "SELECT opportunity_id, contact_id, status, owner_id FROM opportunities ORDER BY 1"
    )
    assert deals == [
        ("006000000000001", "003000000000001", "won", "Sam Seller"),  # via the converted lead
        ("006000000000002", "003000000000002", "open", "Kim Closer"),
    ]
    assert wh.count("opportunity_history") == 3
    touches = _rows(wh, "SELECT contact_id, channel, kind FROM touchpoints ORDER BY ts")
    assert touches[0] == ("003000000000001", "webinar", "campaign_response")
    assert ("00Q000000000003", "phone", "call") in touches


def test_salesforce_second_sync_changes_nothing(wh, salesforce):
    _, asked, _ = salesforce
    sync_salesforce(wh, login=LOGIN)
    before = _counts(wh)
    again = sync_salesforce(wh, login=LOGIN)
    assert int(again.objects["pulled"].sum()) == 0
    assert _counts(wh) == before
    assert any("FROM Opportunity WHERE SystemModstamp >= 2024-03-15T12:00:00Z" in q for q in asked)


def test_salesforce_incremental_sync_keeps_the_lead_link(wh, salesforce):
    data, asked, _ = salesforce
    sync_salesforce(wh, login=LOGIN)
    opp = data["records"]["Opportunity"][1]
    opp.update(StageName="Closed Won", IsWon=True, IsClosed=True, CloseDate="2024-04-01",
               SystemModstamp="2024-04-01T10:00:00.000+0000")  # fmt: skip
    result = sync_salesforce(wh, login=LOGIN)
    pulled = result.objects.set_index("object")["pulled"]
    assert pulled["Opportunity"] == 1
    # the lead converted into it did not change, but is read again for its contact
    assert pulled["Lead"] == 1
    assert any("ConvertedOpportunityId IN ('006000000000002')" in q for q in asked)
    assert _rows(
        wh,
        "SELECT status, contact_id FROM opportunities WHERE opportunity_id = '006000000000002'",
    ) == [("won", "003000000000002")]
    (cursor,) = _rows(wh, "SELECT cursor FROM sync_state WHERE object = 'Lead'")[0]
    assert str(cursor) == "2024-03-01 10:00:00"  # an unchanged lead does not move it back


def test_salesforce_password_login(wh, salesforce):
    _, _, rsps = salesforce
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
        f"<serverUrl>{SF_INSTANCE}/services/Soap/u/59.0/00Dxx0000001gPL</serverUrl>"
        "<sessionId>00Dxx0000001gPL!session</sessionId></result></loginResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    rsps.add(
        responses.POST,
        "https://login.salesforce.com/services/Soap/u/59.0",
        body=envelope,
        status=200,
    )
    login = {"username": "ops@acme.example", "password": "pw", "security_token": "tok"}
    sync_salesforce(wh, login=login)
    assert wh.count("opportunities") == 2
    sent = next(c.request for c in rsps.calls if "Soap" in c.request.url)
    assert "<n1:username>ops@acme.example</n1:username>" in sent.body
    assert "pwtok" in sent.body  # the password with the security token appended


def test_salesforce_refused_login_is_one_clear_error(wh, salesforce):
    _, _, rsps = salesforce
    fault = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
        "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN</faultstring>"
        "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
        "<sf:exceptionMessage>Invalid username, password, security token; or user locked "
        "out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>"
    )
    rsps.add(
        responses.POST, re.compile(r"https://test\.salesforce\.com/.*"), body=fault, status=500
    )
    login = {"username": "u", "password": "p", "security_token": "t", "domain": "test"}
    with pytest.raises(SourceError, match=r"Salesforce login refused.*Invalid username"):
        sync_salesforce(wh, login=login)
    assert wh.count("loads") == 0


def test_salesforce_needs_credentials(wh):
    with pytest.raises(InputError, match="pass `username`, `password` and `security_token`"):
        sync_salesforce(wh, login={})


def test_sync_without_the_extra_says_what_to_install_and_creates_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fullfunnel.cli import app

    monkeypatch.setitem(sys.modules, "hubspot", None)  # as if not installed
    db = tmp_path / "w.duckdb"
    out = CliRunner().invoke(app, ["--db", str(db), "sync", "hubspot", "--token", "x"])
    assert out.exit_code == 1 and "pip install 'fullfunnel[sync]'" in out.output
    assert not db.exists()
