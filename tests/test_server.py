"""The REST API in process (httpx's ASGI transport): every route, auth, bad input."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import fullfunnel as ff
from conftest import AsgiClient, api_keys
from fullfunnel.analytics.registry import ANALYSES
from fullfunnel.config import config_from_dict
from fullfunnel.errors import InputError, WarehouseError
from fullfunnel.server import create_app
from fullfunnel.server.events import collect_events
from fullfunnel.server.keys import create_key, list_keys, revoke_key, verify_key
from fullfunnel.server.params import params_of, prepare

AS_OF = datetime(2026, 11, 23)


@pytest.fixture(scope="module")
def demo():
    """A small demo company (writable: the event tests add to it)."""
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="balanced", contacts=1500, seed=3, as_of=AS_OF)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def keys(demo):
    return api_keys(demo)


@pytest.fixture(scope="module")
def client(demo):
    c = AsgiClient(create_app(demo, as_of=AS_OF))
    yield c
    c.close()


def touch(i: int | str, **extra) -> dict:
    return {
        "touchpoint_id": f"t-{i}",
        "contact_id": f"web-{i}",
        "ts": "2026-11-20T10:00:00Z",
        "channel": "webinar",
        "kind": "form_fill",
        **extra,
    }


# --- analyses -----------------------------------------------------------------------


def test_every_analysis_has_a_route_returning_its_result(client):
    paths = client.get("/openapi.json").json()["paths"]
    for name, analysis in ANALYSES.items():
        assert f"/api/{name}" in paths
        if analysis.setting is not None:  # without it, a 400 that says what to give
            refused = client.get(f"/api/{name}")
            assert refused.status_code == 400 and "funnel.steps" in refused.text
        given = {"steps": "stage:lead,stage:mql"} if analysis.setting else {}
        r = client.get(f"/api/{name}", params=given)
        assert r.status_code == 200, (name, r.text[:300])
        body = r.json()
        assert "kind" in body and "headline" in body


def test_analysis_parameters_come_from_the_signature_and_are_documented(client):
    names = {p.name for p in params_of("funnel")}
    assert {"by", "cohort", "since", "until", "within_days", "as_of", "period"} <= names
    listed = client.get("/api/analyses").json()
    assert {p["name"] for p in listed["funnel"]} == names
    spec = client.get("/openapi.json").json()["paths"]["/api/funnel"]["get"]
    assert {p["name"] for p in spec["parameters"]} >= names
    assert client.get("/docs").status_code == 200


def test_funnel_parameters_change_the_answer(client):
    everything = client.get("/api/funnel").json()
    quarter = client.get("/api/funnel", params={"period": "2026-Q3"}).json()
    assert quarter["since"].startswith("2026-07-01")
    assert quarter["until"].startswith("2026-09-30")
    assert quarter["stages"][0]["reached"] < everything["stages"][0]["reached"]
    split = client.get("/api/funnel", params={"by": "source_channel"}).json()
    assert split["by"] == "source_channel"
    assert len({row["source_channel"] for row in split["stages"]}) > 3


def test_owner_breakdowns_through_the_api(client):
    stuck = client.get("/api/stuck", params={"by": "owner"}).json()
    assert sum(r["stuck"] for r in stuck["by_owner"]) == stuck["total"]
    handoffs = client.get("/api/handoffs", params={"by": "owner"}).json()
    dropped = {h["stage"]: h["dropped"] for h in handoffs["handoffs"]}
    for stage, n in dropped.items():
        assert sum(r["dropped"] for r in handoffs["by_owner"] if r["stage"] == stage) == n
    # the demo has no sales-team table: an office breakdown says what to load
    refused = client.get("/api/handoffs", params={"by": "office"})
    assert refused.status_code == 400 and "sales-team table" in refused.text


@pytest.mark.parametrize(
    ("url", "params", "status", "says"),
    [
        ("/api/funnel", {"by": "1; DROP TABLE contacts"}, 400, "not a column"),
        ("/api/funnel", {"by": "sourse_channel"}, 400, "Did you mean 'source_channel'"),
        ("/api/funnel", {"period": "2026-Q9"}, 400, "not understood"),
        ("/api/funnel", {"cohort": "week"}, 400, "one of month, quarter"),
        ("/api/funnel", {"within_days": "soon"}, 422, "within_days"),
        ("/api/funnel", {"as_of": "yesterday"}, 400, "not a date"),
        ("/api/funnel", {"by": "x" * 500}, 400, "longer than"),
        ("/api/view", {"team": "sals"}, 400, "Did you mean 'sales'"),
    ],
)
def test_bad_parameters_are_clear_4xx(client, url, params, status, says):
    r = client.get(url, params=params)
    assert r.status_code == status
    assert says in r.json()["error"]


def test_prepare_maps_period_to_since_until_only_where_there_is_no_period(demo):
    config = ff.default_config()
    got = prepare("funnel", {"period": "2026-11", "segment": "tofu"}, wh=demo, config=config)
    assert got == {"since": datetime(2026, 11, 1), "until": datetime(2026, 11, 30)}
    assert prepare("plan", {"period": "2026-Q4"}, wh=demo, config=config) == {"period": "2026-Q4"}
    with pytest.raises(InputError, match="teams are"):
        prepare("stuck", {"team": "ops"}, wh=demo, config=config)


# --- dashboard --------------------------------------------------------------------


def test_dashboard_is_the_report_with_filters(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.text
    assert 'form class="filters"' in page and 'name="period"' in page and 'name="by"' in page
    assert 'id="what-needs-to-happen"' in page and 'id="data-quality"' in page
    assert 'src="assets/plotly.min.js"' in page
    assert "https://" not in page.split("<body>")[1].split("</main>")[0]
    js = client.get("/assets/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert js.headers["content-encoding"] == "gzip"  # 0.5 MB on the wire
    assert int(js.headers["content-length"]) < 600_000
    plain = client.get("/assets/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == js.content


def test_view_rerenders_the_same_templates_for_the_filters(client):
    whole = client.get("/api/view").json()
    quarter = client.get("/api/view", params={"period": "2026-Q3", "by": "source_channel"})
    assert quarter.status_code == 200
    body = quarter.json()
    assert body["filters"] == {"period": "2026-Q3", "by": "source_channel"}
    assert body["html"] != whole["html"]
    assert 'id="summary"' in body["html"] and "fig-data" in body["html"]
    # a period already over is a review: the plan as it stood then, and what it booked
    assert not any(n.startswith(("plan:", "forecast:")) for n in body["notes"])
    assert "the period has ended: it booked" in body["html"]


def test_a_page_is_rendered_once_per_results_and_again_after_new_data(demo, keys, monkeypatch):
    import fullfunnel.report.html as html

    config = config_from_dict({"server": {"dashboard_analyses": ["funnel", "pipeline"]}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    renders = []
    real = html.render_content
    monkeypatch.setattr(html, "render_content", lambda *a, **k: renders.append(1) or real(*a, **k))
    first = c.get("/api/view", params={"period": "2026-Q3"}).json()["html"]
    assert c.get("/api/view", params={"period": "2026-Q3"}).json()["html"] == first
    assert len(renders) == 1  # the second came from the page cache
    c.get("/api/view", params={"period": "2026-Q2"})
    assert len(renders) == 2  # other filters, another page
    event = {
        "type": "stage",
        "contact_id": "web-page",
        "stage": "lead",
        "ts": "2026-09-22T10:00:00Z",
    }
    h = {"X-API-Key": keys["rw"]}
    assert c.post("/api/events", json=[event], headers=h).json()["accepted"] == 1
    c.get("/api/view", params={"period": "2026-Q3"})
    assert len(renders) == 3  # new data: results and pages computed again
    c.close()


def test_right_after_start_the_dashboard_says_it_is_preparing(demo):
    config = config_from_dict({"server": {"dashboard_analyses": ["pipeline"]}})
    api = create_app(demo, config, as_of=AS_OF)
    svc, c = api.state.service, AsgiClient(api)
    svc.warming = (3, 19)  # as the start-up warm-up leaves it while it runs
    page = c.get("/")
    assert page.status_code == 200 and "Preparing the dashboard" in page.text
    assert "3 of 19 done" in page.text and 'http-equiv="refresh"' in page.text
    assert c.get("/api/health").json()["ready"] is False
    svc.warm_up()
    assert svc.warming is None and c.get("/api/health").json()["ready"] is True
    page = c.get("/")
    assert "Preparing" not in page.text and 'id="summary"' in page.text
    c.close()


# --- events -----------------------------------------------------------------------


def test_events_need_a_write_key(client, keys, demo):
    assert client.post("/api/events", json=[touch("k0")]).status_code == 401
    bad = {"X-API-Key": "ff_00000000_" + "a" * 43}
    assert client.post("/api/events", json=[touch("k0")], headers=bad).status_code == 403
    reader = {"X-API-Key": keys["read"]}
    assert client.post("/api/events", json=[touch("k0")], headers=reader).status_code == 403
    writer = {"Authorization": f"Bearer {keys['write']}"}
    assert client.post("/api/events", json=[touch("k0")], headers=writer).status_code == 200


def test_events_are_validated_deduped_and_stored_once(client, keys, demo):
    h = {"X-API-Key": keys["rw"]}
    before = demo.count("touchpoints"), demo.count("stage_events"), demo.count("contacts")
    batch = [
        touch(1),
        touch(1),  # retried inside the batch
        touch(2, cost=12.5, team="marketing", direction="inbound"),
        {"type": "stage", "contact_id": "web-1", "stage": "mql", "ts": "2026-11-21T09:00:00+01:00"},
        {"type": "stage", "contact_id": "web-1", "stage": "mqll", "ts": "2026-11-21T09:00:00Z"},
        touch(3, ts="2031-01-01T00:00:00Z"),
        touch(4, ts="21/11/2026"),
        touch(5, colour="red"),
        {"touchpoint_id": "t-6", "contact_id": "web-6"},
        touch(7, cost=-1),
        touch(8, team="ops"),
        "not an object",
    ]
    r = client.post("/api/events", json={"events": batch}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert (body["received"], body["accepted"], body["duplicates"], body["rejected"]) == (
        12,
        3,
        1,
        8,
    )
    assert body["contacts_created"] == 2
    reasons = {e["index"]: e["reason"] for e in body["events"]}
    assert "Did you mean 'mql'" in reasons[4]
    assert "in the future" in reasons[5]
    assert "ISO 8601" in reasons[6]
    assert "unknown field 'colour'" in reasons[7]
    assert "missing ts, channel, kind" in reasons[8]
    assert "0 or more" in reasons[9]
    assert "not a team" in reasons[10]
    assert "JSON object" in reasons[11]
    after = demo.count("touchpoints"), demo.count("stage_events"), demo.count("contacts")
    assert after == (before[0] + 2, before[1] + 1, before[2] + 2)
    stored = demo.table("stage_events")
    row = stored.filter(stored.contact_id == "web-1").execute().iloc[0]
    assert row["ts"] == datetime(2026, 11, 21, 8, 0) and row["source"] == "api"
    # the whole batch again: idempotent
    again = client.post("/api/events", json={"events": batch}, headers=h).json()
    assert again["accepted"] == 0 and again["duplicates"] == 4
    assert (demo.count("touchpoints"), demo.count("stage_events")) == after[:2]


def test_new_events_show_in_the_next_answer(client, keys, demo):
    h = {"X-API-Key": keys["rw"]}
    first = client.get("/api/data_quality").json()
    event = {
        "type": "stage",
        "contact_id": "web-live",
        "stage": "lead",
        "ts": "2026-11-22T10:00:00Z",
    }
    assert client.post("/api/events", json=[event], headers=h).json()["accepted"] == 1
    second = client.get("/api/data_quality").json()
    api = {r["source"]: r["events"] for r in second["stage_event_sources"]}
    assert (
        api["api"]
        == {r["source"]: r["events"] for r in first["stage_event_sources"]}.get("api", 0) + 1
    )


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"events": {"a": 1}}', 400, "JSON array"),
        (b'"hello"', 400, "JSON array"),
        (b"[]", 400, "empty"),
        (b"\xff\xfe", 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(client, keys, body, status, says):
    r = client.post("/api/events", content=body, headers={"X-API-Key": keys["rw"]})
    assert r.status_code == status
    assert says in r.json()["error"]


def test_size_and_batch_limits_are_413(demo, keys):
    config = config_from_dict({"server": {"max_body_bytes": 2000, "max_batch_events": 3}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    h = {"X-API-Key": keys["rw"]}
    r = c.post("/api/events", json=[touch(f"l{i}") for i in range(4)], headers=h)
    assert r.status_code == 413 and "at most 3" in r.json()["error"]
    r = c.post("/api/events", json=[touch("big", campaign="x" * 3000)], headers=h)
    assert r.status_code == 413 and "2,000" in r.json()["error"]
    c.close()


def test_a_failed_write_leaves_the_warehouse_as_it_was(demo, monkeypatch):
    before = demo.count("touchpoints"), demo.count("contacts")
    original = demo.engine.upsert

    def fail_on_touchpoints(spec, arrow, *, replace):
        if spec.name == "touchpoints":
            raise RuntimeError("disk full")
        return original(spec, arrow, replace=replace)

    monkeypatch.setattr(demo.engine, "upsert", fail_on_touchpoints)
    with pytest.raises(RuntimeError):
        collect_events(demo, [touch("atomic")], received_at=AS_OF)
    monkeypatch.undo()
    assert (demo.count("touchpoints"), demo.count("contacts")) == before


def test_warehouse_failure_is_503_not_400(demo, keys, monkeypatch):
    c = AsgiClient(create_app(demo, as_of=AS_OF))

    def down(*args, **kwargs):
        raise WarehouseError("cannot write the warehouse: disk full")

    monkeypatch.setattr(demo, "load_many", down)
    r = c.post("/api/events", json=[touch("down")], headers={"X-API-Key": keys["rw"]})
    assert r.status_code == 503
    c.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
_eventish = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["touchpoint", "stage", "other"]) | _json,
        "touchpoint_id": st.text(max_size=8) | _json,
        "contact_id": st.text(max_size=8) | _json,
        "ts": st.sampled_from(["2026-11-20T10:00:00Z", "2026-13-01", "", "1980-01-01"]) | _json,
        "channel": st.text(max_size=8),
        "kind": st.text(max_size=8),
        "stage": st.sampled_from(["mql", "sql", "won", ""]),
        "cost": st.floats(allow_nan=True) | st.integers() | st.text(max_size=3),
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(_eventish | _json, min_size=1, max_size=6))
def test_no_event_batch_gives_a_500(client, keys, batch):
    body = json.dumps({"events": batch}, allow_nan=True)
    r = client.post("/api/events", content=body, headers={"X-API-Key": keys["rw"]})
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        got = r.json()
        assert got["accepted"] + got["duplicates"] + got["rejected"] == len(batch)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=30))
def test_no_query_value_gives_a_500(client, value):
    for name in ("by", "period", "cohort", "since"):
        assert client.get("/api/funnel", params={name: value}).status_code < 500


# --- keys, auth for reads, CORS -------------------------------------------------------


def test_keys_are_stored_hashed_and_revocable(wh):
    new = create_key(wh, name="site", scopes=["write"])
    stored = wh.table("api_keys").execute()
    assert new.key not in stored.to_string()
    assert stored["key_hash"].iloc[0] == hashlib.sha256(new.key.encode()).hexdigest()
    key_id = new.keys["key_id"].iloc[0]
    assert verify_key(wh, new.key, scope="write") == key_id
    assert verify_key(wh, new.key, scope="read") is None
    assert verify_key(wh, new.key[:-2] + "zz", scope="write") is None
    assert verify_key(wh, "ff_short", scope="write") is None
    revoke_key(wh, key_id)
    assert verify_key(wh, new.key, scope="write") is None
    assert list(list_keys(wh).keys["status"]) == ["revoked"]
    with pytest.raises(InputError, match="no API key"):
        revoke_key(wh, "deadbeef")
    with pytest.raises(InputError, match="unknown scope"):
        create_key(wh, name="x", scopes=["root"])


def test_reads_can_require_a_key(demo, keys):
    config = config_from_dict({"server": {"require_key_for_reads": True}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    assert c.get("/api/pipeline").status_code == 401
    assert c.get("/api/pipeline", headers={"X-API-Key": keys["write"]}).status_code == 403
    assert c.get("/api/pipeline", headers={"X-API-Key": keys["read"]}).status_code == 200
    page = c.get("/")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert c.get("/api/view").status_code == 401
    assert c.get("/api/analyses", headers={"X-API-Key": keys["read"]}).status_code == 200
    assert c.get("/api/health").status_code == 200
    c.close()


def test_cors_is_off_unless_configured(demo):
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}
    c = AsgiClient(create_app(demo, as_of=AS_OF))
    r = c.get("/api/health", headers={"Origin": "https://example.com"})
    assert "access-control-allow-origin" not in r.headers
    c.close()
    config = config_from_dict({"server": {"cors_origins": ["https://example.com"]}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    r = c.request("OPTIONS", "/api/health", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://example.com"
    c.close()


# --- CLI --------------------------------------------------------------------------------


def test_apikey_commands(tmp_path):
    from fullfunnel.cli import app

    db = str(tmp_path / "k.duckdb")
    runner = CliRunner()
    made = runner.invoke(app, ["--db", db, "apikey", "create", "--name", "site", "-f", "json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["key"].startswith("ff_")
    listed = runner.invoke(app, ["--db", db, "apikey", "list"])
    assert "site" in listed.output and created["key"] not in listed.output
    key_id = created["keys"][0]["key_id"]
    gone = runner.invoke(app, ["--db", db, "apikey", "revoke", key_id])
    assert gone.exit_code == 0 and "revoked" in gone.output
    bad = runner.invoke(app, ["--db", db, "apikey", "create", "--name", "x", "--scope", "all"])
    assert bad.exit_code == 1 and "unknown scope" in bad.output


def test_serve_says_what_to_install_when_the_extra_is_missing(monkeypatch, tmp_path):
    import sys

    from fullfunnel.cli import app

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "s.duckdb"), "serve"])
    assert r.exit_code == 1
    assert "pip install 'fullfunnel[server]'" in r.output


def test_every_route_is_documented(client):
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    paths = client.get("/openapi.json").json()["paths"]
    for path in [*paths, "/"]:
        documented = path.replace("{name}", "<analysis>")
        if path.removeprefix("/api/") in ANALYSES:
            documented = "/api/<analysis>"
        assert f"`GET {documented}`" in doc or f"`POST {documented}`" in doc, path
    for key in ff.default_config()["server"]:
        assert f"`{key}`" in doc, key


def test_dashboard_analyses_can_be_limited(demo):
    from fullfunnel.errors import ConfigError

    config = config_from_dict({"server": {"dashboard_analyses": ["pipeline", "data_quality"]}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    body = c.get("/api/view").json()
    assert body["analyses"] == ["pipeline", "data_quality"]
    assert c.get("/api/funnel").status_code == 200  # every route stays
    c.close()
    with pytest.raises(ConfigError, match="Did you mean 'pipeline'"):
        create_app(demo, config_from_dict({"server": {"dashboard_analyses": ["pipelin"]}}))


# --- offline docs and request logs ---------------------------------------------------


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_docs_pages_load_their_assets_from_the_app(client, page, assets):
    import re

    r = client.get(page)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", r.text)
    assert urls
    offsite = [u for u in urls if re.match(r"(https?:)?//", u)]
    assert offsite == [], offsite
    assert "cdn" not in r.text.lower()
    served = {u.rsplit("/", 1)[-1]: u for u in urls if u.startswith("/docs-assets/")}
    assert set(served) == assets
    for name, url in served.items():
        asset = client.get(url)
        assert asset.status_code == 200, url
        if name.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
            assert len(asset.content) > 500_000  # the whole bundle, not a stub
    assert "/openapi.json" in urls


def _request_lines(caplog) -> list[dict]:
    return [
        json.loads(rec.getMessage())
        for rec in caplog.records
        if rec.name == "fullfunnel.server" and rec.levelname == "INFO"
    ]


def test_each_request_is_one_json_log_line_with_the_key_id_never_the_key(client, keys, caplog):
    import logging

    key_id = keys["write"].split("_")[1]
    with caplog.at_level(logging.INFO, logger="fullfunnel.server"):
        client.get("/api/health?secret=x")
        client.post("/api/events", json={"events": [touch("log-1")]})
        client.post(
            "/api/events", json={"events": [touch("log-2")]}, headers={"X-API-Key": keys["write"]}
        )
        client.post(
            "/api/events",
            json={"events": [touch("log-3")]},
            headers={"Authorization": f"Bearer {keys['write']}x"},
        )
        client.get("/api/funnel", params={"by": "sourse_channel"})
    lines = _request_lines(caplog)
    assert [(x["method"], x["path"], x["status"], x["key_id"]) for x in lines] == [
        ("GET", "/api/health", 200, None),
        ("POST", "/api/events", 401, None),
        ("POST", "/api/events", 200, key_id),
        ("POST", "/api/events", 403, None),
        ("GET", "/api/funnel", 400, None),
    ]
    assert all(set(x) == {"method", "path", "status", "ms", "key_id"} for x in lines)
    assert all(isinstance(x["ms"], float) and x["ms"] >= 0 for x in lines)
    secret = keys["write"].split("_", 2)[2]
    assert not any(secret in rec.getMessage() for rec in caplog.records)


def test_a_read_with_a_required_key_logs_that_keys_id(demo, keys, caplog):
    import logging

    config = config_from_dict({"server": {"require_key_for_reads": True}})
    c = AsgiClient(create_app(demo, config, as_of=AS_OF))
    with caplog.at_level(logging.INFO, logger="fullfunnel.server"):
        c.get("/api/pipeline", headers={"X-API-Key": keys["read"]})
    c.close()
    (line,) = _request_lines(caplog)
    assert (line["path"], line["status"], line["key_id"]) == (
        "/api/pipeline",
        200,
        keys["read"].split("_")[1],
    )
