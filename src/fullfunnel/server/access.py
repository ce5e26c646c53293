"""Who may do what: API keys in a header, and sign-in sessions for the dashboard.

Reads (the analyses, ``/api/view``, ``/report.html`` and the dashboard) need a key
with the ``read`` scope, or a session, when the app is created with
``require_login=True`` (``fullfunnel serve`` passes it when it listens beyond
loopback) or when ``server.require_key_for_reads`` is set; otherwise they are open.
Writing events needs a ``write`` key and managing keys (``/api/keys``) an ``admin``
key, always in a header: a session opens reads only, so no other site can make a
signed-in browser post anything.

``POST /login`` checks a key for the read scope and answers a cookie holding a
random session id; the session (the key's id and scopes, an expiry) lives in this
process' memory only, never the key. Each request re-reads the key, so revoking it
ends its sessions at once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from fullfunnel.errors import ConfigError
from fullfunnel.server.keys import (
    DEFAULT_SCOPES,
    create_key,
    grants,
    key_by_id,
    list_keys,
    lookup_key,
    revoke_key,
)
from fullfunnel.server.logs import KEY_ID
from fullfunnel.server.service import HTTPError, Service, presented_key

SESSION_COOKIE = "fullfunnel_session"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
LOGIN_ERROR = "not a valid read key"
_CHECKED = "fullfunnel.session"  # the request's session, once looked up
_MAX_LOGIN_BODY = 4096  # a key and a path; anything larger is not a sign-in


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a ``--host`` value) listens on this machine only.

    ``0.0.0.0``, ``::`` and any name but ``localhost`` count as beyond loopback.

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.5")]
    [True, True, True, False, False]
    """
    host = (host or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_path(target: str | None) -> str:
    """``target`` when it is a path on this server (where a sign-in may send the
    browser next), else ``/``: never another site (``//evil.example``, ``https://…``).

    >>> local_path("/?period=2026-Q3"), local_path("//evil.example/"), local_path("https://x")
    ('/?period=2026-Q3', '/', '/')
    """
    if (
        not target
        or len(target) > 2000
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in (LOGIN_PATH, LOGOUT_PATH):
        return "/"
    return target


@dataclasses.dataclass
class Session:
    """A signed-in browser: the key it signed in with (id only), its scopes, and
    when it ends (``time.monotonic`` seconds)."""

    key_id: str
    scopes: tuple[str, ...]
    expires: float


class Sessions:
    """Sign-in sessions in memory, by their random id; they end on expiry, on
    sign-out, or when their key is revoked (and when the server stops)."""

    def __init__(self, hours: float) -> None:
        if not hours > 0:
            raise ConfigError(f"server.session_hours must be above 0, not {hours}")
        self.seconds = float(hours) * 3600
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, key_id: str, scopes: tuple[str, ...]) -> str:
        """A new session for key ``key_id``; its id, the cookie's only content."""
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for old in [s for s, v in self._by_id.items() if v.expires <= now]:
                del self._by_id[old]
            self._by_id[sid] = Session(key_id, scopes, now + self.seconds)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session ``sid``, or None (unknown or expired)."""
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
            if session is not None and session.expires <= time.monotonic():
                del self._by_id[sid]
                return None
            return session

    def end(self, sid: str | None) -> None:
        """End session ``sid`` (sign-out)."""
        with self._lock:
            self._by_id.pop(sid or "", None)

    def end_key(self, key_id: str) -> None:
        """End every session of key ``key_id`` (it was revoked)."""
        with self._lock:
            for sid in [s for s, v in self._by_id.items() if v.key_id == key_id]:
                del self._by_id[sid]


class Access:
    """The checks the routes depend on: ``read``, ``write`` and ``admin`` (FastAPI
    dependencies that leave the key's id for the request log), and ``signed_in``
    for pages, which send a browser to the sign-in instead of answering 401."""

    def __init__(self, svc: Service, *, require_login: bool) -> None:
        self.svc = svc
        self.require_login = require_login
        # reads need a key or a session: beyond loopback always, on loopback if configured
        self.reads_locked = require_login or bool(svc.settings["require_key_for_reads"])
        self.sessions = Sessions(svc.settings["session_hours"])

    def session(self, request: Request) -> Session | None:
        """The request's live session, its scopes re-read from the key (None once
        the key is revoked or gone: the session ends then)."""
        if _CHECKED in request.scope:  # already looked up for this request
            return request.scope[_CHECKED]
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid)
        if session is not None:
            with self.svc.lock:
                info = key_by_id(self.svc.wh, session.key_id)
            if info is None or info.revoked:
                self.sessions.end(sid)
                session = None
            else:
                session.scopes = info.scopes
        request.scope[_CHECKED] = session
        return session

    def read(self, request: Request) -> None:
        """Reads: open unless locked; then a ``read`` key in a header or a session."""
        if not self.reads_locked:
            return
        key = presented_key(request)
        if key:
            request.scope[KEY_ID] = self.svc.check_key(key, "read")
            return
        session = self.session(request)
        if session is not None and grants(session.scopes, "read"):
            request.scope[KEY_ID] = session.key_id
            return
        raise HTTPError(
            401,
            "this needs an API key with the 'read' scope: send it as the X-API-Key header "
            f"or 'Authorization: Bearer KEY', or sign in at {LOGIN_PATH}",
        )

    def write(self, request: Request) -> None:
        """Posting events: a key with the ``write`` scope, in a header."""
        request.scope[KEY_ID] = self.svc.check_key(presented_key(request), "write")

    def admin(self, request: Request) -> None:
        """Managing keys: a key with the ``admin`` scope, in a header."""
        request.scope[KEY_ID] = self.svc.check_key(presented_key(request), "admin")

    def signed_in(self, request: Request) -> bool:
        """For pages: whether the request may see data (False: send it to the
        sign-in); a wrong key in a header still answers 403."""
        try:
            self.read(request)
        except HTTPError as exc:
            if exc.status == 401:
                return False
            raise
        return True

    def login_redirect(self, request: Request) -> RedirectResponse:
        """To the sign-in page, coming back to this page afterwards."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(local_path(here))}", status_code=303)


def add_login_routes(app: FastAPI, svc: Service, access: Access) -> None:
    """``GET /login`` (the form), ``POST /login`` (a read key: a session cookie and
    back to the page) and ``POST /logout``; not in the OpenAPI schema."""

    def page(next_path: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        from fullfunnel.report.html import render_login

        html = render_login(
            action=LOGIN_PATH,
            next_path=next_path,
            hours=access.sessions.seconds / 3600,
            error=error,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get(LOGIN_PATH, include_in_schema=False, response_class=HTMLResponse)
    def login_form(next_path: str | None = Query(None, alias="next")) -> HTMLResponse:
        return page(local_path(next_path))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():  # cut off early: never read a large body
            body += chunk
            if len(body) > _MAX_LOGIN_BODY:
                raise HTTPError(
                    413, f"a sign-in is a key and a path: at most {_MAX_LOGIN_BODY} bytes"
                )
        try:
            form = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
        except ValueError:  # more fields than a sign-in has
            raise HTTPError(400, "a sign-in posts two form fields: key and next") from None
        key = (form.get("key") or [""])[0].strip()
        next_path = local_path((form.get("next") or ["/"])[0])
        with svc.lock:
            info = lookup_key(svc.wh, key)
        if info is None or not info.grants("read"):
            return page(next_path, error=LOGIN_ERROR, status=401)
        request.scope[KEY_ID] = info.key_id
        sid = access.sessions.start(info.key_id, info.scopes)
        answer = RedirectResponse(next_path, status_code=303)
        answer.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=int(access.sessions.seconds),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    @app.post(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request) -> Response:
        session = access.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            request.scope[KEY_ID] = session.key_id
        access.sessions.end(request.cookies.get(SESSION_COOKIE))
        answer = RedirectResponse(LOGIN_PATH, status_code=303)
        answer.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer


class NewKey(BaseModel):
    """The body of ``POST /api/keys``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the key is for")
    scopes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCOPES),
        max_length=3,
        description="read, write and/or admin (admin implies read and write)",
    )


_NOT_FOUND = {
    404: {
        "description": "No API key with that id",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
            }
        },
    }
}


def add_key_routes(app: FastAPI, svc: Service, access: Access) -> None:
    """``GET /api/keys``, ``POST /api/keys`` and ``POST /api/keys/{key_id}/revoke``:
    managing keys over the API, with an ``admin`` key (never a session)."""

    @app.get("/api/keys", tags=["keys"], summary="Every API key, without secrets (admin)")
    def keys_list(_: None = Depends(access.admin)) -> Response:
        with svc.lock:
            return _json(list_keys(svc.wh).to_dict())

    @app.post(
        "/api/keys",
        tags=["keys"],
        status_code=201,
        summary="Create an API key; the answer holds it, the only time it is shown (admin)",
    )
    def keys_create(body: NewKey, _: None = Depends(access.admin)) -> Response:
        with svc.lock:
            made = create_key(svc.wh, name=body.name, scopes=body.scopes)
        return _json(made.to_dict(), status=201)

    @app.post(
        "/api/keys/{key_id}/revoke",
        tags=["keys"],
        summary="Revoke an API key: it and its sessions stop working at once (admin)",
        responses=_NOT_FOUND,
    )
    def keys_revoke(
        key_id: str = Path(pattern=r"^[0-9a-f]{8}$", description="The key's id"),
        _: None = Depends(access.admin),
    ) -> Response:
        with svc.lock:
            if key_by_id(svc.wh, key_id) is None:
                raise HTTPError(404, f"no API key with id '{key_id}'; GET /api/keys lists them")
            gone = revoke_key(svc.wh, key_id)
        access.sessions.end_key(key_id)
        return _json(gone.to_dict())


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(payload, default=str), media_type="application/json", status_code=status
    )
