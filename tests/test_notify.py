"""Alerts and the digest: rules by hand, then real sends to a local SMTP server
(aiosmtpd) and a local webhook receiver, each event once per target."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.analytics.stats import wilson
from fullfunnel.analytics.stuck import EVERY
from fullfunnel.cli import app
from fullfunnel.config import config_from_dict
from fullfunnel.errors import ConfigError
from fullfunnel.notify.alerts import check_alerts
from fullfunnel.notify.digest import compose_digest, send_digest, week_of
from fullfunnel.notify.rules import _READERS
from fullfunnel.notify.schedule import Schedule, digest_due, for_service
from fullfunnel.notify.send import targets
from serve_process import free_port

AS_OF = datetime(2026, 11, 23)
runner = CliRunner()


# --- receivers -----------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"mailto://127.0.0.1:{port}?from=fullfunnel@example.com&to=cro@example.com"
    yield inbox
    controller.stop()


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _webhook(port: int):
    server = ThreadingHTTPServer(("127.0.0.1", port), _Hook)
    server.posts = []
    server.url = f"json://127.0.0.1:{port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def hook():
    server = _webhook(free_port())
    yield server
    server.shutdown()


# --- warehouses ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("notify") / "demo.duckdb"
    with ff.connect(str(path)) as wh:
        ff.generate_demo(wh, scenario="balanced", contacts=1500, seed=5, as_of=AS_OF)
    return path


@pytest.fixture(scope="module")
def shared_demo(demo_file):
    with ff.connect(str(demo_file)) as wh:
        yield wh


@pytest.fixture
def demo(shared_demo):
    """The demo warehouse with an empty ledger (the analyses' results stay cached)."""
    for table in ("alert_state", "notifications"):
        empty = shared_demo.table(table).limit(0).to_pyarrow()
        shared_demo.load(table, empty, replace=True)
    return shared_demo


def _config(*rules: dict, notify: list[str] | None = None, **digest):
    return config_from_dict(
        {"alerts": {"rules": list(rules), "notify": notify or []}, "digest": digest}
    )


STUCK_ANY = {"metric": "stuck_count", "above": 0}
P_HIT_UNDER_ONE = {"metric": "p_hit", "below": 0.99}


# --- the rules by hand ---------------------------------------------------------------


def _handoffs(rows):
    frame = pd.DataFrame(rows, columns=["stage", "entered", "pending", "sla_met"])
    due = frame["entered"] - frame["pending"]
    frame["sla_met_pct"] = frame["sla_met"] / due
    frame["sla_met_low"], frame["sla_met_high"] = wilson(frame["sla_met"], due, confidence=0.9)
    frame["from_team"], frame["to_team"], frame["sla_days"] = "marketing", "bdr", 2.0
    return SimpleNamespace(handoffs=frame, judged=True, note=None)


def test_sla_rule_fires_only_when_its_interval_is_under_the_threshold():
    # 50 of 100 due: 50% (interval 42%-58%) is clearly under 80%; 79 of 100 is not
    result = _handoffs([("mql", 110, 10, 50), ("sql", 100, 0, 79), ("customer", 5, 5, 0)])
    readings = _READERS["sla_met"]({"metric": "sla_met", "below": 0.8}, result, None)
    by_key = {r.key: r for r in readings}
    assert by_key["sla_met:mql<0.8"].firing and by_key["sla_met:mql<0.8"].value == 0.5
    assert "50% of 100 handoffs due" in by_key["sla_met:mql<0.8"].message
    assert not by_key["sla_met:sql<0.8"].firing  # 79% but the interval reaches 80%
    assert not by_key["sla_met:customer<0.8"].firing  # nothing due yet
    assert by_key["sla_met:customer<0.8"].value is None


def test_p_hit_and_stuck_rules_by_hand():
    fc = SimpleNamespace(
        period_start=datetime(2026, 10, 1),
        period_end=datetime(2027, 1, 1),
        target=1_000_000.0,
        probability_hit=0.3,
        p10=500_000.0,
        p50=700_000.0,
        p90=900_000.0,
        booked=400_000.0,
    )
    (r,) = _READERS["p_hit"]({"metric": "p_hit", "below": 0.5}, fc, None)
    assert (
        r.firing and r.value == 0.3 and "30%" in r.message and "2026-10-01..2026-12-31" in r.message
    )
    (r,) = _READERS["p_hit"](
        {"metric": "p_hit", "below": 0.5},
        fc.__class__(**{**vars(fc), "target": None, "probability_hit": None}),
        None,
    )
    assert not r.firing and "no target" in r.message
    stuck = SimpleNamespace(judged=True, total=12, value_at_risk=5_000.0, as_of=AS_OF, note=None)
    assert _READERS["stuck_count"]({"above": 11}, stuck, None)[0].firing
    assert not _READERS["stuck_count"]({"above": 12}, stuck, None)[0].firing
    assert _READERS["stuck_value"]({"above": 4_999}, stuck, None)[0].firing
    unjudged = SimpleNamespace(judged=False, note="no touches name a team")
    (r,) = _READERS["stuck_count"]({"above": 0}, unjudged, None)
    assert not r.firing and "cannot be judged" in r.message


def test_rules_are_checked_when_the_config_is_read():
    with pytest.raises(ConfigError, match="Did you mean 'sla_met'"):
        _config({"metric": "sla_mett", "below": 0.8})
    with pytest.raises(ConfigError, match="give below = a number"):
        _config({"metric": "p_hit"})
    with pytest.raises(ConfigError, match="only sla_met and conversion take a stage"):
        _config({"metric": "p_hit", "below": 0.5, "stage": "mql"})
    with pytest.raises(ConfigError, match="not a stage"):
        _config({"metric": "conversion", "stage": "mq"})
    with pytest.raises(ConfigError, match=r"digest\.day"):
        _config(day="mon")


def test_targets_name_the_entry_to_fix(monkeypatch):
    with pytest.raises(ConfigError, match="FF_HOOK, which is not set"):
        targets(_config(notify=["$FF_HOOK"]))
    monkeypatch.setenv("FF_HOOK", "json://127.0.0.1:9/x")
    (t,) = targets(_config(notify=["$FF_HOOK"]))
    assert t.url == "json://127.0.0.1:9/x" and len(t.id) == 16
    with pytest.raises(ConfigError, match="nope://"):
        targets(_config(notify=["nope://secret@host"]))
    assert targets(_config()) == []


# --- real sends ----------------------------------------------------------------------


def test_alerts_go_once_to_email_and_webhook(demo, smtp, hook):
    config = _config(STUCK_ANY, P_HIT_UNDER_ONE)
    to = targets(config, [smtp.url, hook.url])
    first = check_alerts(demo, config, AS_OF, to)
    # the readings are the analyses' own numbers
    stuck = ff.stuck(demo, as_of=AS_OF)
    forecast = ff.forecast(demo, as_of=AS_OF)
    readings = first.readings.set_index("rule")
    assert readings.loc["stuck_count>0", "value"] == stuck.total > 0
    assert readings.loc["p_hit<0.99", "value"] == pytest.approx(forecast.probability_hit)
    assert set(readings["state"]) == {"new"}
    assert len(smtp.mails) == 2 and len(hook.posts) == 2
    subjects = sorted(p["title"] for p in hook.posts)
    assert subjects[0] == f"fullfunnel alert: {stuck.total:,} stuck contacts (alert above 0)"
    assert subjects[1] == (
        f"fullfunnel alert: chance to hit the target {forecast.probability_hit:.0%} "
        "(alert below 99%)"
    )
    assert smtp.mails[0].rcpt_tos == ["cro@example.com"]
    assert set(first.sent["status"]) == {"sent"}

    again = check_alerts(demo, config, AS_OF, to)
    assert len(smtp.mails) == 2 and len(hook.posts) == 2  # nothing twice
    assert set(again.sent["status"]) == {"already sent"}
    assert set(again.readings["state"]) == {"firing"}

    # the target is reached in the first run: the rule clears, one "cleared" message
    target = ff.forecast(demo, as_of=AS_OF).target
    ff.set_target(demo, period="2026-Q4", amount=1)
    try:
        cleared = check_alerts(demo, config, AS_OF, to)
    finally:
        ff.set_target(demo, period="2026-Q4", amount=target)
    states = cleared.readings.set_index("rule")["state"]
    assert states["p_hit<0.99"] == "cleared" and states["stuck_count>0"] == "firing"
    assert len(hook.posts) == 3 and hook.posts[-1]["title"].startswith("fullfunnel alert cleared")
    check_alerts(demo, config, AS_OF, to)
    assert len(hook.posts) == 3 and len(smtp.mails) == 3


def test_a_failed_target_is_tried_again_and_only_it(demo, smtp):
    port = free_port()  # nothing listens there yet
    config = _config(STUCK_ANY)
    to = targets(config, [smtp.url, f"json://127.0.0.1:{port}/hook"])
    first = check_alerts(demo, config, AS_OF, to)
    assert sorted(first.sent["status"]) == ["failed", "sent"]
    assert first.sent.loc[first.sent["status"] == "failed", "error"].iloc[0]
    late = _webhook(port)
    try:
        second = check_alerts(demo, config, AS_OF, to)
        assert sorted(second.sent["status"]) == ["already sent", "sent"]
        assert len(late.posts) == 1 and len(smtp.mails) == 1
    finally:
        late.shutdown()


def test_dry_run_sends_and_writes_nothing(demo, hook):
    config = _config(STUCK_ANY)
    before = {t: demo.count(t) for t in ("alert_state", "notifications")}
    result = check_alerts(demo, config, AS_OF, targets(config, [hook.url]), dry_run=True)
    assert set(result.sent["status"]) == {"would send"} and hook.posts == []
    assert {t: demo.count(t) for t in before} == before
    no_target = check_alerts(demo, config, AS_OF, [])
    assert no_target.dry_run and "no target" in no_target.headline()[1]
    assert {t: demo.count(t) for t in before} == before


def test_digest_once_a_week_with_the_analyses_own_lines(demo, smtp):
    config = _config(top_per_owner=2)
    to = targets(config, [smtp.url])
    first = send_digest(demo, config, AS_OF, to)
    second = send_digest(demo, config, AS_OF + timedelta(days=1), to)  # same ISO week
    assert list(first.sent["status"]) == ["sent"] and list(second.sent["status"]) == [
        "already sent"
    ]
    assert len(smtp.mails) == 1
    assert first.event == f"digest:{week_of(AS_OF)}" == "digest:2026-W48"
    for line in ff.forecast(demo, as_of=AS_OF).headline()[:2]:
        assert line in first.body
    assert ff.pipeline(demo, as_of=AS_OF).headline()[0] in first.body
    # the top stuck contacts per owner, re-derived in pandas
    stuck = ff.stuck(demo, as_of=AS_OF, limit=EVERY).contacts
    owners = demo.table("contacts").select("contact_id", "owner_id").execute()
    expected = (
        stuck.merge(owners, on="contact_id")
        .sort_values(["owner_id", "value", "contact_id"], ascending=[True, False, True])
        .groupby("owner_id")
        .head(2)
    )
    got = first.stuck_by_owner
    assert list(got["contact_id"]) == list(expected["contact_id"])
    assert list(got["owner"]) == list(expected["owner_id"])
    assert f"**{got['owner'].iloc[0]}**" in first.body
    next_week = send_digest(demo, config, AS_OF + timedelta(days=7), to)
    assert list(next_week.sent["status"]) == ["sent"] and len(smtp.mails) == 2


def test_cli_alert_and_digest(demo_file, hook, tmp_path):
    db = str(tmp_path / "demo.duckdb")
    shutil.copy(demo_file, db)
    config = tmp_path / "fullfunnel.toml"
    config.write_text('[[alerts.rules]]\nmetric = "stuck_count"\nabove = 0\n', encoding="utf-8")
    base = ["--db", db, "--config", str(config)]
    out = runner.invoke(
        app, [*base, "alert", "--as-of", "2026-11-23", "--to", hook.url, "-f", "json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["sent"][0]["status"] == "sent" and len(hook.posts) == 1
    out = runner.invoke(app, [*base, "alert", "--as-of", "2026-11-23", "--to", hook.url])
    assert out.exit_code == 0 and "1 already sent" in out.output and len(hook.posts) == 1
    out = runner.invoke(
        app, [*base, "digest", "--as-of", "2026-11-23", "--dry-run", "--to", hook.url]
    )
    assert out.exit_code == 0 and "## Pipeline" in out.output and len(hook.posts) == 1
    out = runner.invoke(app, [*base, "digest", "--as-of", "2026-11-23", "--to", hook.url])
    assert out.exit_code == 0 and len(hook.posts) == 2
    assert hook.posts[-1]["title"] == "fullfunnel weekly digest, 2026-W48"
    out = runner.invoke(app, [*base, "alert", "--to", "nope://x"])
    assert out.exit_code != 0 and "not a URL Apprise can send to" in out.output


# --- the schedule --------------------------------------------------------------------


def test_digest_is_due_from_its_hour_in_the_calendar_time_zone():
    config = config_from_dict(
        {"digest": {"day": "monday", "hour": 8}, "calendar": {"time_zone": "Europe/Berlin"}}
    )
    # Monday 2026-11-23, 08:00 in Berlin is 07:00 UTC
    assert digest_due(config, datetime(2026, 11, 23, 6, 59, tzinfo=UTC)) is None
    due = digest_due(config, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert due is not None and due.hour == 8
    # a server down on Monday sends it later that week; the next week has its own
    assert digest_due(config, datetime(2026, 11, 26, 12, tzinfo=UTC)) == due
    assert digest_due(config, datetime(2026, 11, 30, 6, tzinfo=UTC)) is None
    assert digest_due(config_from_dict({"digest": {"day": ""}}), datetime.now(UTC)) is None


def test_schedule_runs_what_is_due_and_retries_a_failed_digest():
    config = config_from_dict({"alerts": {"check_minutes": 30}, "digest": {"day": "monday"}})
    ran, answers = [], [False, True]
    schedule = Schedule(
        config, lambda: ran.append("alerts"), lambda: ran.append("digest") or answers.pop(0)
    )
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert schedule.tick(monday) == ["alerts", "digest"]  # the digest failed
    assert schedule.tick(monday + timedelta(minutes=1)) == ["digest"]  # tried again, sent
    assert schedule.tick(monday + timedelta(minutes=2)) == []
    assert schedule.tick(monday + timedelta(minutes=30)) == ["alerts"]
    assert ran == ["alerts", "digest", "digest", "alerts"]


def test_serve_runs_the_schedule_on_its_own_connection(demo, hook):
    from fullfunnel.server.app import create_app

    config = _config(STUCK_ANY, notify=[hook.url], day="monday", hour=0)
    api = create_app(demo, config, as_of=AS_OF)
    schedule = api.state.schedule
    assert schedule is not None and create_app(demo, _config()).state.schedule is None
    assert schedule.tick(datetime(2026, 11, 23, 9, tzinfo=UTC)) == ["alerts", "digest"]
    titles = sorted(p["title"] for p in hook.posts)
    assert titles[0].startswith("fullfunnel alert:") and titles[1].startswith("fullfunnel weekly")
    assert schedule.tick(datetime(2026, 11, 23, 9, 1, tzinfo=UTC)) == []
    assert len(hook.posts) == 2
    assert compose_digest(demo, config, AS_OF)[0].event == "digest:2026-W48"
    assert for_service(api.state.service) is not None
