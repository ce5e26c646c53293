"""Drill down: the records behind every count agree with the analysis that counted them."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from conftest import SMALL_AS_OF, AsgiClient, load_small_funnel
from fullfunnel.analytics.bookings import bookings
from fullfunnel.analytics.records import records
from fullfunnel.server import create_app

AS_OF = datetime(2026, 11, 23)
Q3 = {"period": "2026-Q3", "as_of": AS_OF.isoformat()}


@pytest.fixture(scope="module")
def demo():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="balanced", contacts=1500, seed=3, as_of=AS_OF)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def client(demo):
    c = AsgiClient(create_app(demo, as_of=AS_OF))
    yield c
    c.close()


def get(client, kind: str, **params) -> dict:
    r = client.get(f"/api/records/{kind}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


# --- every kind against its analysis ---------------------------------------------------


def test_contacts_are_the_funnels_counts(client, demo):
    funnel = ff.funnel(demo, since="2026-07-01", until="2026-09-30", as_of=AS_OF).stages
    for row in funnel.itertuples():
        assert get(client, "contacts", stage=row.stage, **Q3)["total"] == row.reached
        now = get(client, "contacts", stage=row.stage, state="in_stage", as_of=AS_OF.isoformat())
        assert now["total"] == row.in_stage
    split = ff.funnel(demo, by="country", since="2026-07-01", until="2026-09-30", as_of=AS_OF)
    mql = split.stages[split.stages["stage"] == "mql"]
    assert len(mql) > 3
    for row in mql.itertuples():
        got = get(client, "contacts", stage="mql", by="country", value=row.country, **Q3)
        assert got["total"] == row.reached
        assert {r["country"] for r in got["rows"]} <= {row.country, None}


def test_open_deals_are_the_pipelines_open_amount_at_each_stage(client, demo):
    pipe = ff.pipeline(demo, as_of=AS_OF)
    assert not pipe.open_by_stage.empty
    for row in pipe.open_by_stage.itertuples():
        got = get(client, "deals", stage=row.stage, as_of=AS_OF.isoformat())
        assert (got["total"], got["amount"]) == (row.opportunities, pytest.approx(row.amount))
    every = get(client, "deals", as_of=AS_OF.isoformat())
    assert (every["total"], every["amount"]) == (pipe.open_count, pytest.approx(pipe.open_amount))


def test_won_deals_are_the_bookings_of_the_period(client, demo):
    booked = bookings(demo, datetime(2026, 7, 1), datetime(2026, 10, 1), as_of=AS_OF)
    got = get(client, "deals", status="won", **Q3)
    assert booked.deals > 0
    assert (got["total"], got["amount"]) == (booked.deals, pytest.approx(booked.amount))
    assert {r["status"] for r in got["rows"]} == {"won"}


def test_stuck_contacts_are_the_stuck_analysis_own(client, demo):
    result = ff.stuck(demo, as_of=AS_OF)
    assert result.total > 0
    assert get(client, "contacts", state="stuck", as_of=AS_OF.isoformat())["total"] == result.total
    for row in result.by_stage.itertuples():
        got = get(client, "contacts", state="stuck", stage=row.stage, as_of=AS_OF.isoformat())
        assert got["total"] == row.stuck


def test_touches_are_the_attribution_touches_per_channel(client, demo):
    credits = ff.attribute(demo, conversion="opportunity", as_of=AS_OF).credits
    for row in credits.itertuples():
        got = get(
            client,
            "touches",
            channel=row.channel,
            conversion="opportunity",
            as_of=AS_OF.isoformat(),
        )
        assert got["total"] == row.touches
    # in a period, by channel: the touchpoints table itself
    tp = demo.table("touchpoints").execute()
    inside = tp[(tp["ts"] >= "2026-07-01") & (tp["ts"] < "2026-10-01")]
    for channel, n in inside["channel"].value_counts().items():
        assert get(client, "touches", channel=channel, limit=0, **Q3)["total"] == n


# --- pages, CSV, errors --------------------------------------------------------------


def test_pages_cover_every_row_exactly_once(client):
    first = get(client, "contacts", stage="lead", limit=70, **Q3)
    seen, page, pages = [], first, 0
    while True:
        seen += [r["contact_id"] for r in page["rows"]]
        pages += 1
        if page["next"] is None:
            break
        r = client.get(page["next"])
        assert r.status_code == 200
        page = r.json()
    assert first["total"] > 140 and pages == -(-first["total"] // 70)
    assert len(seen) == len(set(seen)) == first["total"]


@pytest.mark.parametrize(
    ("url", "extra"), [("/api/records/deals.csv", {}), ("/api/records/deals", {"format": "csv"})]
)
def test_csv_holds_every_row_and_the_header(client, url, extra):
    params = {"status": "won", "period": "2026", "as_of": AS_OF.isoformat()}
    total = get(client, "deals", **params, limit=1)["total"]
    r = client.get(url, params=params | extra)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="fullfunnel-deals.csv"'
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert len(lines) == total + 1
    header = next(csv.reader(io.StringIO(lines[0])))
    assert header[:3] == ["opportunity_id", "account_id", "contact_id"] and "amount" in header


@pytest.mark.parametrize(
    ("kind", "params", "says"),
    [
        ("contacts", {"stage": "mqll"}, "stage 'mqll' is not a stage"),
        ("contacts", {"period": "2026-Q9"}, "period '2026-Q9' not understood"),
        ("contacts", {"by": "countyr", "value": "DE"}, "Did you mean 'country'"),
        ("contacts", {"by": "country"}, "by and value go together"),
        ("contacts", {"team": "sals"}, "Did you mean 'sales'"),
        ("contacts", {"state": "stuk"}, "Did you mean 'stuck'"),
        ("contacts", {"stage": "sql", "team": "marketing"}, "team marketing: stage sql"),
        ("contacts", {"state": "in_stage", "period": "2026-Q3"}, "period: contacts in a stage"),
        ("contacts", {"limit": "5000"}, "limit 5000: give 0 to 1000"),
        ("contacts", {"format": "xlsx"}, "format 'xlsx'"),
        ("deals", {"stage": "propsal"}, "Did you mean 'proposal'"),
        ("deals", {"status": "closed"}, "status 'closed'"),
        ("deals", {"channel": "seo"}, "channel applies to touches only"),
        ("touches", {"conversion": "mqll"}, "conversion 'mqll'"),
        ("contact", {}, "kind 'contact' must be one of contacts, deals, touches"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(client, kind, params, says):
    r = client.get(f"/api/records/{kind}", params=params)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]


def test_the_route_is_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/records/{kind}", "/api/records/{kind}.csv"} <= set(paths)
    names = {p["name"] for p in paths["/api/records/{kind}"]["get"]["parameters"]}
    assert {"stage", "period", "by", "value", "team", "channel", "limit", "offset"} <= names


# --- the report's links ----------------------------------------------------------------

_LINK = re.compile(r'<a class="drill" href="([^"]+)"[^>]*>([^<]*)</a>')


def test_every_number_linked_in_the_report_is_the_records_total(client, demo):
    from fullfunnel.report.view import build_view

    config = ff.default_config()
    results = {
        "funnel": ff.funnel(
            demo, by="country", since="2026-07-01", until="2026-09-30", as_of=AS_OF
        ),
        "pipeline": ff.pipeline(demo, by="owner", as_of=AS_OF),
        "stuck": ff.stuck(demo, by="owner", as_of=AS_OF),
        "attribution": ff.attribute(demo, conversion="opportunity", as_of=AS_OF),
    }
    view = build_view(results, config)
    tables = "".join(t for s in view["sections"] for _, t in s.tables)
    links = _LINK.findall(tables)
    kinds = {re.match(r"api/records/(\w+)", html.unescape(h))[1] for h, _ in links}
    assert kinds == {"contacts", "deals", "touches"}
    assert len(links) > 50
    shown: dict[str, set[float]] = {}
    for href, text in links:
        shown.setdefault(html.unescape(href), set()).add(float(text.replace(",", "")))
    # each stuck link runs the stuck analysis: a few of them, every other link
    stuck = [h for h in shown if "state=stuck" in h]
    assert len(stuck) >= 3
    for href in stuck[3:]:
        del shown[href]
    for href, numbers in shown.items():
        assert href.startswith("api/records/")  # relative: works under / and /report.html
        got = client.get("/" + href + "&limit=0")
        assert got.status_code == 200, (href, got.text)
        body = got.json()
        assert numbers <= {body["total"], round(body["amount"] or 0)}, (href, numbers, body)


# --- the CLI ----------------------------------------------------------------------------


def test_the_cli_prints_a_page_and_writes_every_row(tmp_path):
    from fullfunnel.cli import app

    db = tmp_path / "d.duckdb"
    with ff.connect(f"duckdb://{db}") as wh:
        ff.generate_demo(wh, contacts=400, seed=2, as_of=AS_OF)
        total = records(wh, "contacts", stage="lead", as_of=AS_OF).total
    base = ["--db", str(db), "records", "contacts", "--stage", "lead", "--as-of", "2026-11-23"]
    runner = CliRunner()
    shown = runner.invoke(app, [*base, "--limit", "5"])
    assert shown.exit_code == 0, shown.output
    assert f"{total:,} contacts" in shown.output and "rows 1–5 shown" in shown.output
    as_json = json.loads(runner.invoke(app, ["-f", "json", *base, "--limit", "3"]).output)
    assert as_json["total"] == total and len(as_json["rows"]) == 3
    out = tmp_path / "leads.csv"
    wrote = runner.invoke(app, [*base, "--csv", str(out)])
    assert wrote.exit_code == 0, wrote.output
    frame = pd.read_csv(out)
    assert len(frame) == total and frame["contact_id"].is_unique
    bad = runner.invoke(app, [*base[:4], "--stage", "mqll"])
    assert bad.exit_code == 1 and "--stage 'mqll'" in bad.output
    # the kind is an argument, and the message names it as one
    kind = runner.invoke(app, ["--db", str(db), "records", "contact"])
    assert kind.exit_code == 1 and "KIND 'contact'" in kind.output and "--kind" not in kind.output
    missing = runner.invoke(app, ["--db", str(tmp_path / "none.duckdb"), "records", "deals"])
    assert missing.exit_code == 1 and not (tmp_path / "none.duckdb").exists()


# --- a hand-computed case --------------------------------------------------------------


def test_a_handful_of_records_by_hand(wh):
    """The five contacts of conftest, three deals and a few touches, against pandas."""
    load_small_funnel(wh)
    touches = pd.DataFrame(
        {
            "touchpoint_id": ["t1", "t2", "t3", "t4", "t5"],
            "contact_id": ["a", "a", "b", "c", "e"],
            "ts": pd.to_datetime(
                ["2024-01-02", "2024-01-18", "2024-01-11", "2024-02-03", "2024-03-02"]
            ),
            "channel": ["seo", "webinar", "seo", "seo", "email"],
            "kind": ["web_visit", "form_fill", "web_visit", "web_visit", "email"],
            "team": ["marketing", "marketing", "bdr", "marketing", "marketing"],
        }
    )
    wh.load("touchpoints", touches)
    at = SMALL_AS_OF
    # mql reached in Jan–Feb 2024: a 01-05, b 01-12, d 02-06, and c implied by its sql 02-10
    got = records(wh, "contacts", stage="mql", period="2024-01-01..2024-02-29", as_of=at)
    assert sorted(got.rows["contact_id"]) == ["a", "b", "c", "d"] and got.total == 4
    assert got.rows.set_index("contact_id")["implied"].to_dict() == {
        "a": False,
        "b": False,
        "c": True,
        "d": False,
    }
    paid = records(wh, "contacts", stage="lead", by="source_channel", value="paid", as_of=at)
    assert sorted(paid.rows["contact_id"]) == ["a", "b"]
    none = records(wh, "contacts", stage="lead", by="source_channel", value="(none)", as_of=at)
    assert list(none.rows["contact_id"]) == ["d"]
    # deals: won in Q1 (o1), lost in Q1 (o2), open at proposal (o3)
    opp = wh.table("opportunities").execute()
    q1 = (opp["close_date"] >= "2024-01-01") & (opp["close_date"] < "2024-04-01")
    for status in ("won", "lost"):
        want = opp[q1 & (opp["status"] == status)]
        got = records(wh, "deals", status=status, period="2024-Q1", as_of=at)
        assert list(got.rows["opportunity_id"]) == list(want["opportunity_id"])
        assert got.amount == want["amount"].sum()
    still = records(wh, "deals", stage="proposal", as_of=at)
    assert (list(still.rows["opportunity_id"]), still.amount) == (["o3"], 800.0)
    # touches of January by channel, and those of one team
    jan = touches[touches["ts"] < "2024-02-01"]
    for channel, n in jan["channel"].value_counts().items():
        got = records(wh, "touches", channel=channel, period="2024-01", as_of=at)
        assert got.total == n
    by_team = records(wh, "touches", team="bdr", as_of=at)
    assert list(by_team.rows["touchpoint_id"]) == ["t3"]
    # pages of one row each hold every touch once
    pages = [records(wh, "touches", limit=1, offset=i, as_of=at).rows for i in range(5)]
    assert sorted(pd.concat(pages)["touchpoint_id"]) == sorted(touches["touchpoint_id"])
