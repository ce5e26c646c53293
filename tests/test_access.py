"""Access by scope (read, write, admin), and the dashboard's sign-in sessions.

The app runs in process on httpx's ASGI transport (the tests' ``AsgiClient``: no
lifespan, so nothing warms up in the background; redirects are not followed,
cookies are kept); the dashboard runs one quick analysis.
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime

import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from conftest import AsgiClient, api_keys
from fullfunnel.config import config_from_dict
from fullfunnel.errors import ConfigError
from fullfunnel.server import create_app
from fullfunnel.server.access import SESSION_COOKIE, Sessions, is_loopback, local_path
from fullfunnel.server.keys import create_key, grants, lookup_key, revoke_key, verify_key

AS_OF = datetime(2026, 11, 23)
QUICK = {"server": {"dashboard_analyses": ["pipeline"]}}


@pytest.fixture(scope="module")
def company():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="balanced", contacts=400, seed=5, as_of=AS_OF)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def keys(company):
    return {**api_keys(company), "admin": create_key(company, name="ops", scopes=["admin"]).key}


class Client(AsgiClient):
    """The app in process, over http or https, with the cookies it was given."""

    def __init__(self, app, base_url: str = "http://testserver") -> None:
        super().__init__(app)
        self.http.base_url = base_url

    @property
    def cookies(self):
        return self.http.cookies


@pytest.fixture
def opened():
    """The clients a test opened, closed after it."""
    out: list[Client] = []
    yield out
    for c in out:
        c.close()


def client(opened, company, *, require_login: bool = False, https: bool = False, **server):
    config = config_from_dict({"server": {**QUICK["server"], **server}})
    app = create_app(company, config, as_of=AS_OF, require_login=require_login)
    opened.append(Client(app, "https://testserver" if https else "http://testserver"))
    return opened[-1]


def sign_in(c: Client, key: str, next_path: str = "/"):
    return c.post("/login", data={"key": key, "next": next_path})


def header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# --- scopes -----------------------------------------------------------------------------


def test_admin_implies_read_and_write_and_write_does_not_imply_read(company):
    assert grants(["admin"], "read") and grants(["admin"], "write") and grants(["admin"], "admin")
    assert not grants(["write"], "read") and not grants(["read", "write"], "admin")
    new = create_key(company, name="boss", scopes=["admin"])
    assert verify_key(company, new.key, scope="read") == new.keys["key_id"].iloc[0]
    assert lookup_key(company, new.key).scopes == ("admin",)


def test_only_an_admin_key_manages_keys(opened, company, keys):
    c = client(opened, company)
    assert c.get("/api/keys").status_code == 401
    for who in ("read", "write", "rw"):
        r = c.get("/api/keys", headers=header(keys[who]))
        assert r.status_code == 403 and "'admin' scope" in r.json()["error"], who
        r = c.post("/api/keys", json={"name": "x"}, headers=header(keys[who]))
        assert r.status_code == 403, who

    listed = c.get("/api/keys", headers=header(keys["admin"]))
    assert listed.status_code == 200
    rows = listed.json()["keys"]
    assert {"ops", "reader", "collector"} <= {r["name"] for r in rows}
    assert "key_hash" not in rows[0] and not any(k in listed.text for k in keys.values())

    created = c.post(
        "/api/keys", json={"name": "ci", "scopes": ["read"]}, headers=header(keys["admin"])
    )
    assert created.status_code == 201
    new, key_id = created.json()["key"], created.json()["keys"][0]["key_id"]
    assert new.startswith(f"ff_{key_id}_") and created.json()["keys"][0]["scopes"] == "read"
    assert new not in c.get("/api/keys", headers=header(keys["admin"])).text  # shown once

    locked = client(opened, company, require_login=True)
    assert locked.get("/api/pipeline", headers=header(new)).status_code == 200
    gone = c.post(f"/api/keys/{key_id}/revoke", headers=header(keys["admin"]))
    assert gone.status_code == 200 and gone.json()["keys"][0]["status"] == "revoked"
    r = locked.get("/api/pipeline", headers=header(new))
    assert r.status_code == 403 and "revoked" in r.json()["error"]

    assert c.post("/api/keys/00000000/revoke", headers=header(keys["admin"])).status_code == 404
    assert c.post("/api/keys/nothex!!/revoke", headers=header(keys["admin"])).status_code == 422
    bad = c.post("/api/keys", json={"name": "x", "scopes": ["root"]}, headers=header(keys["admin"]))
    assert bad.status_code == 400 and "unknown scope" in bad.json()["error"]


def test_admin_reads_and_writes_and_write_does_not_read(opened, company, keys):
    c = client(opened, company, require_login=True)
    event = {"touchpoint_id": "adm-1", "contact_id": "adm-c1", "ts": "2026-11-20T10:00:00Z"}
    event |= {"channel": "webinar", "kind": "form_fill"}
    posted = c.post("/api/events", json={"events": [event]}, headers=header(keys["admin"]))
    assert posted.status_code == 200 and posted.json()["accepted"] == 1
    assert c.get("/api/pipeline", headers=header(keys["admin"])).status_code == 200
    r = c.get("/api/pipeline", headers=header(keys["write"]))
    assert r.status_code == 403 and "needs the 'read' scope" in r.json()["error"]
    assert c.post("/api/events", json=[event], headers=header(keys["read"])).status_code == 403


def test_apikey_create_takes_the_admin_scope(tmp_path):
    from fullfunnel.cli import app

    db = str(tmp_path / "k.duckdb")
    out = CliRunner().invoke(
        app, ["--db", db, "apikey", "create", "--name", "ops", "--scope", "admin"]
    )
    assert out.exit_code == 0 and "scopes admin" in out.output, out.output


# --- reads locked beyond loopback ---------------------------------------------------------


def test_loopback_without_the_setting_changes_nothing(opened, company):
    c = client(opened, company)
    assert c.get("/api/pipeline").status_code == 200
    page = c.get("/")
    assert page.status_code == 200 and "open pipeline" in page.text
    assert "Sign out" not in page.text and 'name="api_key"' not in page.text


@pytest.mark.parametrize("how", ["require_login", "require_key_for_reads"])
def test_locked_reads_need_a_key_or_a_session(opened, company, keys, how):
    c = (
        client(opened, company, require_login=True)
        if how == "require_login"
        else client(opened, company, require_key_for_reads=True)
    )
    for url in ("/api/pipeline", "/api/view", "/api/analyses", "/report.html"):
        r = c.get(url)
        assert r.status_code == 401 and "/login" in r.json()["error"], url
    assert c.get("/api/health").status_code == 200
    page = c.get("/?period=2026-Q3")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/%3Fperiod%3D2026-Q3"
    form = c.get(page.headers["location"])
    assert form.status_code == 200 and "Sign in" in form.text
    assert 'value="/?period=2026-Q3"' in form.text
    assert c.get("/", headers=header(keys["read"])).status_code == 200  # the header path stays


def test_a_wrong_key_gets_the_form_again_and_no_cookie(opened, company, keys):
    c = client(opened, company, require_login=True)
    for bad in ("", "nonsense", "ff_00000000_" + "x" * 40, keys["write"], keys["read"][:-2]):
        r = sign_in(c, bad)
        assert r.status_code == 401 and "not a valid read key" in r.text, bad
        assert "set-cookie" not in r.headers and not c.cookies
    assert c.get("/").status_code == 303
    assert c.post("/login", content=b"key=" + b"x" * 5000).status_code == 413
    assert c.post("/login", content="&".join(f"f{i}=1" for i in range(20))).status_code == 400


def test_a_sign_in_opens_the_dashboard_and_the_api_until_sign_out(opened, company, keys, caplog):
    c = client(opened, company, require_login=True)
    key_id = keys["read"].split("_")[1]
    with caplog.at_level(logging.INFO, logger="fullfunnel.server"):
        r = sign_in(c, keys["read"], "/?period=2026-Q3")
    assert r.status_code == 303 and r.headers["location"] == "/?period=2026-Q3"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here
    sid = c.cookies[SESSION_COOKIE]
    assert len(sid) >= 40 and keys["read"] not in cookie and key_id not in sid
    logged = caplog.text
    assert f'"key_id": "{key_id}"' in logged and keys["read"] not in logged

    page = c.get("/")
    assert page.status_code == 200 and "open pipeline" in page.text
    assert "Sign out" in page.text and keys["read"] not in page.text
    assert c.get("/api/pipeline").status_code == 200
    assert c.get("/api/view").json()["analyses"] == ["pipeline"]
    # a session opens reads only: writing and managing keys take a key in a header
    assert c.post("/api/events", json=[]).status_code == 401

    out = c.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert SESSION_COOKIE not in c.cookies
    assert c.get("/").status_code == 303
    c.cookies.set(SESSION_COOKIE, sid)  # the old id is worth nothing now
    assert c.get("/api/pipeline").status_code == 401


def test_revoking_the_key_ends_its_sessions(opened, company):
    new = create_key(company, name="temp-reader", scopes=["read"])
    c = client(opened, company, require_login=True)
    assert sign_in(c, new.key).status_code == 303
    assert c.get("/api/pipeline").status_code == 200
    revoke_key(company, new.keys["key_id"].iloc[0])  # as 'fullfunnel apikey revoke' does
    assert c.get("/api/pipeline").status_code == 401
    assert c.get("/").status_code == 303
    assert sign_in(c, new.key).status_code == 401


def test_revoking_over_the_api_ends_its_sessions(opened, company, keys):
    new = create_key(company, name="temp-reader-2", scopes=["read"])
    c = client(opened, company, require_login=True)
    assert sign_in(c, new.key).status_code == 303
    key_id = new.keys["key_id"].iloc[0]
    assert c.post(f"/api/keys/{key_id}/revoke", headers=header(keys["admin"])).is_success
    assert c.get("/api/pipeline").status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\r\nSet-Cookie: x=1",
        "/login",
    ],
)
def test_a_sign_in_never_sends_the_browser_elsewhere(opened, company, keys, target):
    assert local_path(target) == "/"
    c = client(opened, company, require_login=True)
    r = sign_in(c, keys["read"], target)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'name="next" value="/"' in c.get("/login", params={"next": target}).text


def test_the_cookie_is_secure_over_https(opened, company, keys):
    c = client(opened, company, require_login=True, https=True)
    r = sign_in(c, keys["read"])
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_sessions_expire(monkeypatch):
    import fullfunnel.server.access as access

    clock = [1000.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: clock[0])
    sessions = Sessions(hours=12)
    sid = sessions.start("abcd1234", ("read",))
    assert sessions.get(sid).key_id == "abcd1234"
    clock[0] += 12 * 3600 - 1
    assert sessions.get(sid) is not None
    clock[0] += 2
    assert sessions.get(sid) is None
    with pytest.raises(ConfigError, match="session_hours"):
        Sessions(hours=0)


# --- serve: beyond loopback turns the sign-in on -----------------------------------------


def test_which_hosts_are_loopback():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "192.168.1.4", "example.com"))


@pytest.mark.parametrize(
    ("host", "locked"), [("0.0.0.0", True), ("10.1.2.3", True), ("127.0.0.1", False)]
)
def test_serve_requires_a_sign_in_beyond_loopback(tmp_path, monkeypatch, host, locked):
    import uvicorn

    from fullfunnel.cli import app
    from fullfunnel.server import logs

    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: ran.update(app=app_, **kw))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # leave the test's handlers be
    monkeypatch.setattr(logs, "log_to_stderr", lambda: None)  # and its logging
    db = str(tmp_path / "s.duckdb")
    out = CliRunner().invoke(app, ["--db", db, "serve", "--host", host, "--port", "8765"])
    assert out.exit_code == 0, out.output
    assert ran["host"] == host and ran["app"].state.access.reads_locked is locked
    said = "sign-in required (listening beyond loopback" in out.output
    assert said is locked, out.output
    if locked:
        c = Client(ran["app"])
        try:
            assert c.get("/").status_code == 303 and c.get("/api/funnel").status_code == 401
            assert c.get("/api/health").status_code == 200
        finally:
            c.close()
