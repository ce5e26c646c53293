"""The FastAPI application: analyses as JSON, the live dashboard, and event collection.

Routes (OpenAPI at ``/docs`` and ``/redoc``, their assets served by the app):

- ``GET /api/<analysis>``: one analysis with its options as query parameters,
  answering the result object's ``to_dict()``;
- ``GET /api/analyses``: the analyses and their parameters;
- ``GET /api/view``: the report's body rendered for the dashboard's filters;
- ``POST /api/events``: a batch of touchpoint and stage events (needs a key);
- ``GET /``: the dashboard.

Routes only parse, check and render: every number comes from the analyses. One
lock serialises warehouse access (an embedded DuckDB connection is not shared
across threads); results are cached per parameters until events arrive.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from fullfunnel import __version__
from fullfunnel.analytics.period import default_as_of
from fullfunnel.analytics.registry import ANALYSES, AS_OF, FILTERS, run
from fullfunnel.config import Config, default_config
from fullfunnel.errors import (
    ConfigError,
    FullfunnelError,
    MissingExtraError,
    WarehouseError,
    did_you_mean,
)
from fullfunnel.result import Result
from fullfunnel.server import params as P
from fullfunnel.server.docs import add_offline_docs
from fullfunnel.server.logs import KEY_ID, RequestLog
from fullfunnel.warehouse import Warehouse, connect

try:
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("fullfunnel serve", "server", "fastapi") from exc

KEY_HEADER = "X-API-Key"
_ERROR = {
    "application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}
}
# every route may answer these, each with {"error": "what is wrong and how to fix it"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter or the body cannot be used as given", "content": _ERROR},
    401: {"description": "An API key is needed", "content": _ERROR},
    403: {"description": "The API key is unknown, revoked or lacks the scope", "content": _ERROR},
    413: {"description": "The body or the batch is too large", "content": _ERROR},
    503: {"description": "The warehouse cannot be read or written", "content": _ERROR},
}


class _Service:
    """The warehouse, its lock, the config and the result cache behind the routes."""

    def __init__(self, wh: Warehouse, config: Config, as_of: datetime | None) -> None:
        self.wh = wh
        self.config = config
        self.fixed_as_of = as_of
        self.lock = threading.RLock()
        self.cache: dict[tuple, tuple[float, Result]] = {}
        self.settings = config["server"]
        chosen = list(self.settings["dashboard_analyses"])
        unknown = [n for n in chosen if n not in ANALYSES]
        if unknown:
            raise ConfigError(
                f"server.dashboard_analyses names unknown analyses {', '.join(unknown)}; "
                f"the analyses are {', '.join(ANALYSES)}."
                + did_you_mean(unknown[0], list(ANALYSES))
            )
        self.dashboard = [n for n in ANALYSES if not chosen or n in chosen]

    def result(self, name: str, options: dict[str, Any], as_of: datetime | None) -> Result:
        """Analysis ``name`` as of ``as_of`` (None: now, or the server's pinned date)."""
        key = (name, as_of, tuple(sorted(options.items())))
        ttl = self.settings["cache_seconds"]
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return hit[1]
            when = as_of or self.fixed_as_of or default_as_of(self.wh)[0]
            result = run(name, self.wh, self.config, when, options)
            if ttl > 0:
                self.cache[key] = (time.monotonic(), result)
            return result

    def results(
        self, given: dict[str, Any], as_of: datetime | None
    ) -> tuple[dict[str, Result], list[str]]:
        """Every analysis for the dashboard's filters (each takes those it knows), and
        notes on the analyses that could not take them.

        An analysis that rejects a filter is shown without the breakdown filters
        (by, team); one that still fails is left out with the reason.
        """
        out: dict[str, Result] = {}
        notes: list[str] = []
        with self.lock:
            for name in self.dashboard:
                try:
                    options = P.prepare(name, given, wh=self.wh, config=self.config)
                    out[name] = self.result(name, options, as_of)
                    continue
                except FullfunnelError as exc:
                    problem = str(exc)
                kept = {k: v for k, v in given.items() if k == "period"}
                if kept != given:
                    try:
                        options = P.prepare(name, kept, wh=self.wh, config=self.config)
                        out[name] = self.result(name, options, as_of)
                        notes.append(f"{name}: shown without the breakdown filters ({problem})")
                        continue
                    except FullfunnelError as exc:
                        problem = str(exc)
                notes.append(f"{name}: not shown for these filters ({problem})")
        return out, notes

    def check_key(self, key: str | None, scope: str) -> str:
        """The id of ``key`` when it is valid for ``scope``; else a 401 or 403."""
        from fullfunnel.server.keys import verify_key

        if not key:
            raise _HTTPError(
                401,
                f"this needs an API key with the '{scope}' scope: send it as the {KEY_HEADER} "
                "header or 'Authorization: Bearer KEY' (create one with "
                "'fullfunnel apikey create --name NAME')",
            )
        with self.lock:
            ok = verify_key(self.wh, key, scope=scope)
        if ok is None:
            raise _HTTPError(
                403, f"API key not valid for '{scope}': unknown, revoked or without that scope"
            )
        return ok


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _presented_key(request: Request) -> str | None:
    key = request.headers.get(KEY_HEADER)
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def create_app(
    wh_url_or_warehouse: str | Warehouse | None = None,
    config: Config | None = None,
    *,
    as_of: datetime | None = None,
) -> FastAPI:
    """The ASGI app over a warehouse (URL or :class:`Warehouse`) and a config.

    ``as_of`` pins "today" (for a demo warehouse generated with a past date).

    >>> app = create_app("duckdb://:memory:")
    >>> sorted(r.path for r in app.routes if r.path.startswith("/api/events"))
    ['/api/events']
    """
    wh = (
        wh_url_or_warehouse
        if isinstance(wh_url_or_warehouse, Warehouse)
        else connect(wh_url_or_warehouse)
    )
    config = config or default_config()
    svc = _Service(wh, config, as_of)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # compute the unfiltered dashboard in the background: the first visit finds it
        threading.Thread(target=_quietly, args=(svc.results, {}, None), daemon=True).start()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="fullfunnel",
        version=__version__,
        description="Full-funnel B2B revenue analytics: every analysis as JSON, the live "
        "dashboard, and real-time collection of touchpoints and stage events.",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    app.state.service = svc
    add_offline_docs(app)
    app.add_middleware(RequestLog)

    origins = list(svc.settings["cors_origins"])
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=[KEY_HEADER, "Authorization", "Content-Type"],
        )

    @app.exception_handler(_HTTPError)
    async def _http_error(request: Request, exc: _HTTPError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(FullfunnelError)
    async def _user_error(request: Request, exc: FullfunnelError) -> JSONResponse:
        # the warehouse failing is the service's problem, not the caller's
        status = 503 if isinstance(exc, WarehouseError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return JSONResponse({"error": "; ".join(problems)}, status_code=422)

    def read_access(request: Request) -> None:
        if svc.settings["require_key_for_reads"]:
            request.scope[KEY_ID] = svc.check_key(_presented_key(request), "read")

    def write_access(request: Request) -> None:
        request.scope[KEY_ID] = svc.check_key(_presented_key(request), "write")

    @app.get("/api/health", tags=["meta"], summary="Is the service up")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "engine": wh.name}

    @app.get("/api/analyses", tags=["meta"], summary="The analyses and their parameters")
    def analyses(_: None = Depends(read_access)) -> dict[str, Any]:
        return {
            name: [
                {
                    "name": p.name,
                    "type": p.kind,
                    "default": p.default,
                    "choices": list(p.option.choices),
                    "help": p.option.help,
                }
                for p in P.params_of(name)
            ]
            for name in ANALYSES
        }

    @app.get("/api/view", tags=["dashboard"], summary="The report body for the filters")
    def view(
        period: str | None = Query(None, description="2026-Q4, 2026-11, 2026, or START..END"),
        by: str | None = Query(None, description="Breakdown: a contacts column"),
        team: str | None = Query(None, description="A team of the config"),
        as_of: str | None = Query(None, description="Evaluate as of this date"),
        _: None = Depends(read_access),
    ) -> dict[str, Any]:
        from fullfunnel.report.html import render_content

        given = _checked(svc, {"period": period, "by": by, "team": team})
        when = P.check(AS_OF, as_of, wh=wh, config=config) if as_of else None
        results, notes = svc.results(given, when)
        html = render_content(results, config=config, period=period, notes=notes)
        return {"html": html, "filters": given, "analyses": list(results), "notes": notes}

    for name in ANALYSES:
        _add_analysis_route(app, svc, name, read_access)

    @app.post(
        "/api/events",
        tags=["events"],
        summary="Collect a batch of touchpoint and stage events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _EVENTS_SCHEMA}},
            }
        },
    )
    async def events(request: Request, _: None = Depends(write_access)) -> Response:
        from fullfunnel.server.events import collect_events

        body = await _read_body(request, svc.settings["max_body_bytes"])
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise _HTTPError(400, f"the body is not valid JSON: {exc!s:.200}") from None
        batch = payload.get("events") if isinstance(payload, dict) else payload
        if not isinstance(batch, list):
            raise _HTTPError(
                400, 'send {"events": [ ... ]} or a JSON array of event objects'
            )  # fmt: skip
        limit = svc.settings["max_batch_events"]
        if len(batch) > limit:
            raise _HTTPError(413, f"{len(batch):,} events in one batch; send at most {limit:,}")
        if not batch:
            raise _HTTPError(400, "the batch is empty; send at least one event")

        def store() -> Result:
            with svc.lock:
                outcome = collect_events(
                    wh,
                    batch,
                    config=config,
                    max_future=timedelta(minutes=svc.settings["max_future_minutes"]),
                )
                if outcome.accepted:
                    svc.cache.clear()
                return outcome

        outcome = await run_in_threadpool(store)
        return _json(outcome.to_dict())

    @app.get(
        "/report.html",
        tags=["dashboard"],
        summary="The executive report as one self-contained HTML file",
        response_class=HTMLResponse,
    )
    def report_file(
        period: str | None = Query(None, description="2026-Q4, 2026-11, 2026, or START..END"),
        _: None = Depends(read_access),
    ) -> Response:
        from fullfunnel.report.html import render_report

        given = _checked(svc, {"period": period})
        results, _notes = svc.results(given, None)
        page = render_report(results, config=config, title="fullfunnel report", period=period)
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="fullfunnel-report.html"'},
        )

    @app.get("/assets/plotly.min.js", include_in_schema=False)
    def plotly_asset(request: Request) -> Response:
        from fullfunnel.report.html import plotly_gzip, plotly_js

        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(plotly_gzip(), media_type="application/javascript", headers=headers)
        return Response(plotly_js(), media_type="application/javascript", headers=headers)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def dashboard(
        request: Request,
        period: str | None = None,
        by: str | None = None,
        team: str | None = None,
    ) -> HTMLResponse:
        from fullfunnel.report.html import render_dashboard

        needs_key = bool(svc.settings["require_key_for_reads"])
        values = {"period": period, "by": by, "team": team}
        try:
            given = _checked(svc, values)
        except FullfunnelError:
            given, values = {}, {}
        when = svc.fixed_as_of or default_as_of(svc.wh)[0]
        results, notes = (None, []) if needs_key else svc.results(given, None)
        filters = {
            "values": values,
            "periods": _recent_periods(when),
            "columns": _breakdowns(svc),
            "teams": list(config.teams),
            "filter_names": list(FILTERS),
            "needs_key": needs_key,
        }
        page = render_dashboard(
            results,
            notes=notes,
            config=config,
            title="fullfunnel dashboard",
            filters=filters,
            plotly_src="assets/plotly.min.js",
        )
        return HTMLResponse(page)

    return app


def _add_analysis_route(app: FastAPI, svc: _Service, name: str, read_access: Callable) -> None:
    """``GET /api/<name>`` with the analysis' registry options as typed query parameters,
    with the defaults the CLI has (the same query gives the same answer as the command)."""
    analysis = ANALYSES[name]
    sig_params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "_auth", inspect.Parameter.KEYWORD_ONLY, default=Depends(read_access), annotation=None
        ),
    ]
    for p in P.params_of(name):
        # choices are listed in the schema and checked by P.check (a 400 that suggests)
        choices = {"enum": list(p.option.choices)} if p.option.choices else None
        sig_params.append(
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(p.default, description=p.option.help, json_schema_extra=choices),
                annotation=p.python_type | None,
            )
        )

    def endpoint(request: Request, **kwargs: Any) -> Response:
        kwargs.pop("_auth", None)
        as_of = kwargs.pop("as_of", None)
        when = P.check(AS_OF, as_of, wh=svc.wh, config=svc.config) if as_of else None
        with svc.lock:
            options = P.prepare(name, kwargs, wh=svc.wh, config=svc.config)
            return _json(svc.result(name, options, when).to_dict())

    endpoint.__signature__ = inspect.Signature(sig_params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"analysis_{name}"
    app.add_api_route(
        f"/api/{name}",
        endpoint,
        methods=["GET"],
        tags=["analyses"],
        summary=f"{name}: {analysis.summary}",
        description=f"The API form of `fullfunnel {analysis.command}"
        + (f" --{analysis.switch}`" if analysis.switch else "`")
        + f"; it returns a {analysis.result.rpartition(':')[2]} as JSON.",
    )


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # a failed warm-up only means the first visit computes
        import logging

        logging.getLogger("fullfunnel.server").warning("warm-up skipped: %s", exc)


def _checked(svc: _Service, values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    with svc.lock:
        for key, value in values.items():
            if value not in (None, ""):
                out[key] = P.check(FILTERS[key], value, wh=svc.wh, config=svc.config)
    return out


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise _HTTPError(400, "Content-Length is not a number") from None
        if size > limit:
            raise _HTTPError(413, f"the body is {size:,} bytes; send at most {limit:,}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _HTTPError(413, f"the body is over {limit:,} bytes; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, default=str), media_type="application/json")


def _recent_periods(when: datetime) -> list[str]:
    quarters, (y, q) = [], (when.year, (when.month - 1) // 3 + 1)
    for _ in range(6):
        quarters.append(f"{y}-Q{q}")
        y, q = (y, q - 1) if q > 1 else (y - 1, 4)
    return [*quarters, str(when.year), str(when.year - 1)]


def _breakdowns(svc: _Service) -> list[str]:
    """What the funnel can be broken down by: contacts text columns other than ids,
    then the owner, and the owner groups a loaded sales-team table gives."""
    from fullfunnel.analytics.groups import BY

    with svc.lock:
        schema = svc.wh.table("contacts").schema()
        teams = svc.wh.count("owners")
    columns = [
        name
        for name, dtype in schema.items()
        if dtype.is_string() and not name.endswith("_id") and name not in ("title",)
    ]
    return [*columns, *(g for g in BY if g == "owner" or teams)]


_EVENTS_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "title": "touchpoint",
                        "type": "object",
                        "required": ["touchpoint_id", "contact_id", "ts", "channel", "kind"],
                        "properties": {
                            "type": {"const": "touchpoint"},
                            "touchpoint_id": {"type": "string", "description": "event id"},
                            "contact_id": {"type": "string"},
                            "ts": {"type": "string", "format": "date-time"},
                            "channel": {"type": "string"},
                            "kind": {"type": "string", "example": "form_fill"},
                            "account_id": {"type": "string"},
                            "campaign": {"type": "string"},
                            "tactic": {"type": "string"},
                            "team": {"type": "string"},
                            "direction": {"enum": ["inbound", "outbound"]},
                            "cost": {"type": "number", "minimum": 0},
                        },
                    },
                    {
                        "title": "stage",
                        "type": "object",
                        "required": ["type", "contact_id", "stage", "ts"],
                        "properties": {
                            "type": {"const": "stage"},
                            "contact_id": {"type": "string"},
                            "stage": {"type": "string", "example": "mql"},
                            "ts": {"type": "string", "format": "date-time"},
                            "owner_team": {"type": "string"},
                            "owner_id": {"type": "string"},
                        },
                    },
                ]
            },
        }
    },
    "example": {
        "events": [
            {
                "touchpoint_id": "web-81723",
                "contact_id": "C0001234",
                "ts": "2026-11-23T10:15:00Z",
                "channel": "webinar",
                "kind": "form_fill",
            },
            {
                "type": "stage",
                "contact_id": "C0001234",
                "stage": "mql",
                "ts": "2026-11-23T10:16:00Z",
            },
        ]
    },
}


__all__ = ["create_app"]
