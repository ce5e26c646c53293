"""Drill down: ``GET /api/records/{kind}``, the records behind a count, a page at a time
or all of them as a CSV download (:mod:`fullfunnel.analytics.records`).

Values are checked as :mod:`fullfunnel.server.params` checks an analysis' options
(a bad one answers 400 naming the parameter and the fix) and only become Ibis
literals. Reads hold the service lock, as every other route does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse

from fullfunnel.analytics.period import default_as_of
from fullfunnel.analytics.records import KINDS, Selection, csv_chunks, select_records
from fullfunnel.analytics.registry import AS_OF, Option
from fullfunnel.errors import InputError
from fullfunnel.result import jsonable
from fullfunnel.server import params as P
from fullfunnel.server.service import Service

MAX_LIMIT = 1000
FORMATS = ("json", "csv")
# how each filter is checked before it reaches the records (the stage of a deal is its
# pipeline stage, checked against the opportunities by the records themselves)
_OPTIONS = {
    "period": Option("period", check="period"),
    "team": Option("team", check="team"),
    "conversion": Option("conversion", check="stage"),
    "stage": Option("stage", check="stage"),
    "by": Option("by", check="breakdown"),
    "deal_by": Option("by", check="deal_group"),
}
_DESCRIPTIONS = {
    "stage": "contacts: a funnel stage (default: the first); deals: a pipeline stage",
    "period": "2026-Q3, 2026-11, 2026, or START..END (reached, closed or touched in it)",
    "by": "A breakdown: a contacts column or owner group (deals: or an accounts column)",
    "value": "The group of the breakdown to list (with by), e.g. DE",
    "team": "What a team owns: its stages (contacts), its deals, its touches",
    "channel": "touches: only this channel",
    "state": "contacts: reached (default), in_stage or stuck",
    "status": "deals: open (default), overdue, won or lost",
    "conversion": "touches: only those the attribution of this stage credits",
    "as_of": "Evaluate as of this date",
    "limit": f"Rows per page (at most {MAX_LIMIT})",
    "offset": "Rows to skip",
    "format": "json (a page) or csv (every row, as a download)",
}


def _q(name: str, default: Any = None) -> Any:
    return Query(default, description=_DESCRIPTIONS[name])


def add_drill_routes(app: FastAPI, svc: Service, read_access: Callable) -> None:
    """``GET /api/records/{kind}`` and ``GET /api/records/{kind}.csv``."""

    def answer(
        request: Request, kind: str, fmt: str, limit: int, offset: int, given: dict[str, Any]
    ) -> Response:
        if fmt not in FORMATS:
            raise InputError(f"format '{fmt}' must be one of {', '.join(FORMATS)}")
        if not 0 <= limit <= MAX_LIMIT:
            raise InputError(
                f"limit {limit}: give 0 to {MAX_LIMIT} rows a page; page on with offset, "
                "or ask format=csv for every row"
            )
        if offset < 0:
            raise InputError(f"offset {offset}: give 0 or more rows to skip")
        with svc.lock:
            filters = _checked(svc, kind, given)
            when = svc.fixed_as_of or default_as_of(svc.wh)[0]
            filters["as_of"] = filters.get("as_of") or when
            sel = select_records(svc.wh, kind, config=svc.config, **filters)
            if fmt == "csv":
                return _csv(kind, sel)
            total, amount = sel.totals()
            rows = sel.page(limit, offset)
        more = offset + limit < total and limit > 0
        return Response(
            _dumps(
                {
                    "kind": kind,
                    "filters": sel.filters,
                    "as_of": sel.as_of,
                    "total": total,
                    "amount": amount,
                    "limit": limit,
                    "offset": offset,
                    "rows": rows,
                    "next": _next(request, offset + limit) if more else None,
                }
            ),
            media_type="application/json",
        )

    @app.get(
        "/api/records/{kind}.csv",
        tags=["drill down"],
        summary="Every record behind a count, as a CSV download",
    )
    def records_csv(
        request: Request,
        kind: str,
        filters: dict[str, Any] = _FILTERS,
        _: None = Depends(read_access),
    ) -> Response:
        return answer(request, kind, "csv", 0, 0, filters)

    @app.get(
        "/api/records/{kind}",
        tags=["drill down"],
        summary="The records behind a count: contacts, deals or touches, a page at a time",
    )
    def records_page(
        request: Request,
        kind: str,
        filters: dict[str, Any] = _FILTERS,
        limit: int = _q("limit", 100),
        offset: int = _q("offset", 0),
        format: str = _q("format", "json"),
        _: None = Depends(read_access),
    ) -> Response:
        return answer(request, kind, format, limit, offset, filters)


def _filters(
    stage: str | None = _q("stage"),
    period: str | None = _q("period"),
    by: str | None = _q("by"),
    value: str | None = _q("value"),
    team: str | None = _q("team"),
    channel: str | None = _q("channel"),
    state: str | None = _q("state"),
    status: str | None = _q("status"),
    conversion: str | None = _q("conversion"),
    as_of: str | None = _q("as_of"),
) -> dict[str, Any]:
    """The filters both routes take, as query parameters (checked by :func:`_checked`)."""
    return dict(
        stage=stage,
        period=period,
        by=by,
        value=value,
        team=team,
        channel=channel,
        state=state,
        status=status,
        conversion=conversion,
        as_of=as_of,
    )


_FILTERS = Depends(_filters)


def _checked(svc: Service, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """The filters given, each checked (a 400 names the parameter and the fix)."""
    if kind not in KINDS:
        raise InputError(f"kind '{kind}' must be one of {', '.join(KINDS)} (/api/records/KIND)")
    out: dict[str, Any] = {}
    for name, v in given.items():
        if v is None or v == "":
            continue
        if name == "as_of":
            out[name] = P.check(AS_OF, v, wh=svc.wh, config=svc.config)
            continue
        key = "deal_by" if name == "by" and kind == "deals" else name
        if name == "stage" and kind != "contacts":
            key = ""  # a pipeline stage: the records check it against the deals
        option = _OPTIONS.get(key, Option(name))
        out[name] = P.check(option, v, wh=svc.wh, config=svc.config)
    return out


def _csv(kind: str, sel: Selection) -> StreamingResponse:
    """Every row as CSV, read under the lock, sent in chunks."""
    chunks: Iterator[bytes] = csv_chunks(sel.to_pyarrow())
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="fullfunnel-{kind}.csv"'},
    )


def _next(request: Request, offset: int) -> str:
    """The URL of the next page: the same query with the offset moved on."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    return f"{request.url.path}?{urlencode([*query, ('offset', str(offset))])}"


def _dumps(payload: dict[str, Any]) -> str:
    import json

    return json.dumps(jsonable(payload), default=str)
