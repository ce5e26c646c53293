"""The dashboard's routes: the page, its body for the filters, the report file, and
the Plotly bundle they load."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from fullfunnel.analytics.period import default_as_of
from fullfunnel.analytics.registry import AS_OF, FILTERS
from fullfunnel.errors import FullfunnelError
from fullfunnel.server import params as P
from fullfunnel.server.access import LOGOUT_PATH, SESSION_COOKIE, Access
from fullfunnel.server.service import Service, checked


def add_dashboard_routes(app: FastAPI, svc: Service, access: Access) -> None:
    """``/api/view``, ``/report.html``, ``/assets/plotly.min.js`` and ``/`` (which
    sends a browser without a key or session to the sign-in when reads are locked)."""
    wh, config = svc.wh, svc.config
    read_access = access.read

    @app.get("/api/view", tags=["dashboard"], summary="The report body for the filters")
    def view(
        period: str | None = Query(None, description="2026-Q4, 2026-11, 2026, or START..END"),
        by: str | None = Query(None, description="Breakdown: a contacts column"),
        team: str | None = Query(None, description="A team of the config"),
        as_of: str | None = Query(None, description="Evaluate as of this date"),
        _: None = Depends(read_access),
    ) -> dict[str, Any]:
        from fullfunnel.report.html import render_content

        given = checked(svc, {"period": period, "by": by, "team": team})
        with svc.lock:
            when = P.check(AS_OF, as_of, wh=wh, config=config) if as_of else None
        results, notes = svc.results(given, when)
        html = svc.rendered(
            ("view", period, tuple(notes)),
            results,
            lambda: render_content(results, config=config, period=period, notes=notes),
        )
        return {"html": html, "filters": given, "analyses": list(results), "notes": notes}

    _add_files(app, svc, read_access)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def dashboard(
        request: Request,
        period: str | None = None,
        by: str | None = None,
        team: str | None = None,
    ) -> Response:
        if not access.signed_in(request):
            return access.login_redirect(request)
        warming = svc.warming
        if warming is not None:  # right after start: say so at once, and look again
            from fullfunnel.server.preparing import render_preparing

            page = render_preparing(*warming)
            return HTMLResponse(page, headers={"Cache-Control": "no-store"})
        from fullfunnel.report.html import render_dashboard  # charts: after the check above

        session = access.session(request) if request.cookies.get(SESSION_COOKIE) else None
        values = {"period": period, "by": by, "team": team}
        try:
            given = checked(svc, values)
        except FullfunnelError:
            given, values = {}, {}
        with svc.lock:
            when = svc.fixed_as_of or default_as_of(svc.wh)[0]
        results, notes = svc.results(given, None)
        filters = {
            "values": values,
            "periods": _recent_periods(when),
            "columns": _breakdowns(svc),
            "teams": list(config.teams),
            "filter_names": list(FILTERS),
            # a signed-in browser gets a sign-out button
            "signed_in": session.key_id if session is not None else None,
            "logout": LOGOUT_PATH,
        }
        page = svc.rendered(
            ("dashboard", json.dumps(filters, sort_keys=True, default=str), tuple(notes)),
            results,
            lambda: render_dashboard(
                results,
                notes=notes,
                config=config,
                title="fullfunnel dashboard",
                filters=filters,
                plotly_src="assets/plotly.min.js",
            ),
        )
        return HTMLResponse(page)


def _add_files(app: FastAPI, svc: Service, read_access: Callable) -> None:
    """``/report.html`` (the report as a file) and the Plotly bundle the pages load."""
    config = svc.config

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

        given = checked(svc, {"period": period})
        results, _notes = svc.results(given, None)
        page = svc.rendered(
            ("report", period),
            results,
            lambda: render_report(results, config=config, title="fullfunnel report", period=period),
        )
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


def _recent_periods(when: datetime) -> list[str]:
    quarters, (y, q) = [], (when.year, (when.month - 1) // 3 + 1)
    for _ in range(6):
        quarters.append(f"{y}-Q{q}")
        y, q = (y, q - 1) if q > 1 else (y - 1, 4)
    return [*quarters, str(when.year), str(when.year - 1)]


def _breakdowns(svc: Service) -> list[str]:
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
