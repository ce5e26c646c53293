"""The FastAPI application: analyses as JSON, the live dashboard, and event collection.

Routes (OpenAPI at ``/docs`` and ``/redoc``, their assets served by the app):

- ``GET /api/<analysis>``: one analysis with its options as query parameters,
  answering the result object's ``to_dict()``;
- ``GET /api/analyses``: the analyses and their parameters;
- ``GET /api/view``: the report's body rendered for the dashboard's filters;
- ``POST /api/events``: a batch of touchpoint and stage events (needs a key);
- ``GET /``: the dashboard;
- ``GET``/``POST /login``, ``POST /logout``: sign-in sessions for the dashboard;
- ``GET``/``POST /api/keys``, ``POST /api/keys/{key_id}/revoke``: managing keys
  (needs an ``admin`` key);
- ``POST /admin/lend``, ``/admin/return``: a CLI command borrows the DuckDB file
  (:mod:`~fullfunnel.server.lending`; not in the OpenAPI schema).

Routes only parse, check and render: every number comes from the analyses. One
lock serialises warehouse access (an embedded DuckDB connection is not shared
across threads); results are cached per parameters until events arrive or a
borrowing command gives the warehouse back.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fullfunnel import __version__
from fullfunnel.analytics.registry import ANALYSES, AS_OF
from fullfunnel.config import Config, default_config
from fullfunnel.errors import (
    FullfunnelError,
    MissingExtraError,
    WarehouseError,
)
from fullfunnel.notify.schedule import for_service
from fullfunnel.server import params as P
from fullfunnel.server.docs import add_offline_docs
from fullfunnel.server.lending import LEND_PATH, RETURN_PATH, TOKEN_HEADER
from fullfunnel.server.logs import RequestLog
from fullfunnel.warehouse import Warehouse, connect

try:
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response

    from fullfunnel.server.access import Access, add_key_routes, add_login_routes
    from fullfunnel.server.dashboard import add_dashboard_routes
    from fullfunnel.server.drill import add_drill_routes
    from fullfunnel.server.intake import add_event_route
    from fullfunnel.server.service import KEY_HEADER, HTTPError, Service
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("fullfunnel serve", "server", "fastapi") from exc

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


def create_app(
    wh_url_or_warehouse: str | Warehouse | None = None,
    config: Config | None = None,
    *,
    as_of: datetime | None = None,
    require_login: bool = False,
) -> FastAPI:
    """The ASGI app over a warehouse (URL or :class:`Warehouse`) and a config.

    ``as_of`` pins "today" (for a demo warehouse generated with a past date).
    ``require_login`` makes every read (the analyses, the dashboard) need a read key
    or a sign-in, whatever ``server.require_key_for_reads`` says: ``fullfunnel
    serve`` passes it when it listens beyond loopback (:mod:`~fullfunnel.server.access`).

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
    svc = Service(wh, config, as_of)
    schedule = for_service(svc)  # alerts and the digest, when [alerts] notify has targets

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # compute the unfiltered dashboard in the background: the first visit finds it
        svc.warming = (0, len(svc.dashboard))  # the dashboard says so until it is done
        threading.Thread(target=_quietly, args=(svc.warm_up,), daemon=True).start()
        if schedule is not None:
            schedule.start()
        yield
        if schedule is not None:
            schedule.stop.set()

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
    app.state.schedule = schedule
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

    _add_error_handlers(app)

    # who may read, write and manage keys: a key in a header, or a sign-in session
    access = Access(svc, require_login=require_login)
    app.state.access = access
    read_access, write_access = access.read, access.write

    _add_meta_routes(app, svc, read_access)
    _add_lending_routes(app, svc)
    for name in ANALYSES:
        _add_analysis_route(app, svc, name, read_access)
    add_event_route(app, svc, write_access)
    add_drill_routes(app, svc, read_access)
    add_dashboard_routes(app, svc, access)
    add_login_routes(app, svc, access)
    add_key_routes(app, svc, access)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers {"error": "..."}: what is wrong and how to fix it."""

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
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


def _add_lending_routes(app: FastAPI, svc: Service) -> None:
    """``/admin/lend`` and ``/admin/return``: a CLI command on the same DuckDB file
    borrows the warehouse (:mod:`~fullfunnel.server.lending`); only with the token of
    the server's announcement, which only its owner can read."""

    def borrower(request: Request, body: dict[str, Any]) -> int:
        token = request.headers.get(TOKEN_HEADER, "")
        if svc.lend_token is None or not secrets.compare_digest(token, svc.lend_token):
            raise HTTPError(403, "lending needs the token of the server's announcement")
        pid = body.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            raise HTTPError(400, 'send {"pid": <the borrowing process>}')
        return pid

    @app.post(LEND_PATH, include_in_schema=False)
    def lend(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        svc.lend(borrower(request, body))
        return {"lent": True}

    @app.post(RETURN_PATH, include_in_schema=False)
    def give_back(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"returned": svc.lock.give_back(borrower(request, body))}


def _add_meta_routes(app: FastAPI, svc: Service, read_access: Callable) -> None:
    """``/api/health`` and ``/api/analyses``."""
    wh = svc.wh

    @app.get("/api/health", tags=["meta"], summary="Is the service up")
    def health() -> dict[str, Any]:
        warming = svc.warming
        return {
            "status": "ok",
            "version": __version__,
            "engine": wh.name,
            # the start-up warm-up: the dashboard is ready once it is done
            "ready": warming is None,
            "warming": {"done": warming[0], "of": warming[1]} if warming else None,
        }

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


def _add_analysis_route(app: FastAPI, svc: Service, name: str, read_access: Callable) -> None:
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
        with svc.lock:
            when = P.check(AS_OF, as_of, wh=svc.wh, config=svc.config) if as_of else None
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
        + (f" --{analysis.switch}" if analysis.switch else "")
        + (" …`" if analysis.valued_switch else "`")
        + f"; it returns a {analysis.result.rpartition(':')[2]} as JSON.",
    )


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # a failed warm-up only means the first visit computes
        import logging

        logging.getLogger("fullfunnel.server").warning("warm-up skipped: %s", exc)


def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, default=str), media_type="application/json")


__all__ = ["create_app"]
