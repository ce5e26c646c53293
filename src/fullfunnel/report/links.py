"""Links from the numbers in the report's tables to the records behind them.

Each count or amount of the funnel's stage table, the pipeline's tables, the stuck
tables and the attribution's channel table links to ``api/records/{kind}`` (the
drill-down route, :mod:`fullfunnel.server.drill`) with the filters the result was
computed with: its period, breakdown group and as-of moment, read from the result
itself, so the list behind a link holds exactly the records counted. The links are
relative: they work where ``fullfunnel serve`` serves the dashboard (``/``) and the
report (``/report.html``); a report opened from a file shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from fullfunnel.analytics.attribution import AttributionResult
from fullfunnel.analytics.funnel import FunnelResult
from fullfunnel.analytics.groups import NO_OWNER
from fullfunnel.analytics.pipeline import PipelineResult
from fullfunnel.analytics.stuck import StuckResult
from fullfunnel.config import Config
from fullfunnel.result import Result

ROUTE = "api/records/"
# a column → the link of one row's number in it (the row as a dict; None: no link)
Links = Mapping[str, Callable[[dict[str, Any]], str | None]]


def url(kind: str, **filters: Any) -> str:
    """The relative URL of the records of ``kind`` with ``filters`` (None left out)."""
    given = {k: _text(v) for k, v in filters.items() if v is not None and not _missing(v)}
    return ROUTE + kind + ("?" + urlencode(given) if given else "")


def table_links(name: str, label: str, result: Result, config: Config) -> Links:
    """The links of table ``label`` of analysis ``name`` (none for other tables)."""
    if result.grain != "contact":
        return {}  # the records are contacts, deals and touches; not accounts
    if isinstance(result, FunnelResult) and label == "stages":
        return _funnel(result)
    if isinstance(result, PipelineResult):
        return _pipeline(result, label)
    if isinstance(result, StuckResult) and label in ("by_stage", "by_owner"):
        return _stuck(result, label)
    if isinstance(result, AttributionResult) and label == "credits":
        return _channels(result, config)
    return {}


def _funnel(r: FunnelResult) -> Links:
    period = _period(r.since, r.until, r.as_of)
    as_of = _moment(r.as_of)

    def group(row: dict[str, Any]) -> dict[str, Any]:
        if r.by is None:
            return {}
        value = row[r.by]
        # the funnel's owner breakdown is named after its column (owner_id)
        by = "owner" if r.by == "owner_id" and value == NO_OWNER else r.by
        return {"by": by, "value": value}

    return {
        "reached": lambda row: url(
            "contacts", stage=row["stage"], period=period, as_of=as_of, **group(row)
        ),
        "in_stage": lambda row: url(
            "contacts", stage=row["stage"], state="in_stage", as_of=as_of, **group(row)
        ),
    }


def _pipeline(r: PipelineResult, label: str) -> Links:
    as_of = _moment(r.as_of)
    if label == "open_by_stage":
        link = lambda row: url("deals", stage=row["stage"], as_of=as_of)  # noqa: E731
        return {"opportunities": link, "amount": link}
    if r.by and label == f"by_{r.by}":
        w = r.kpis.window
        window = f"{w.start:%Y-%m-%d}..{w.end - timedelta(days=1):%Y-%m-%d}"

        def deals(status: str, period: str | None = None) -> Callable[[dict[str, Any]], str]:
            return lambda row: url(
                "deals", status=status, period=period, by=r.by, value=row[r.by],
                as_of=as_of,
            )  # fmt: skip

        won, lost = deals("won", window), deals("lost", window)
        live, late = deals("open"), deals("overdue")
        return {
            "won": won,
            "won_amount": won,
            "lost": lost,
            "open_deals": live,
            "open_amount": live,
            "overdue_deals": late,
            "overdue_amount": late,
        }
    return {}


def _stuck(r: StuckResult, label: str) -> Links:
    as_of = _moment(r.as_of)  # a past period's stuck are as of its end: the moment says it
    if label == "by_stage":
        link = lambda row: url("contacts", state="stuck", stage=row["stage"], as_of=as_of)  # noqa: E731
        return {"stuck": link}
    if r.by is None:
        return {}
    by = r.by
    return {"stuck": lambda row: url("contacts", state="stuck", by=by, value=row[by], as_of=as_of)}


def _channels(r: AttributionResult, config: Config) -> Links:
    """The touches column: the touches the attribution's journeys hold per channel.
    Only for channels at the contact level with the configured lookback (what the
    records can reproduce)."""
    lookback = float(config["attribution"]["lookback_days"])
    if r.by != "channel" or r.level != "contact" or r.lookback_days != lookback:
        return {}
    if r.as_of is None:
        return {}
    as_of = _moment(r.as_of)
    return {
        "touches": lambda row: url(
            "touches", channel=row["channel"], conversion=r.conversion, as_of=as_of
        )
    }


def _period(since: datetime | None, until: datetime | None, as_of: datetime) -> str | None:
    """The funnel's since..until as a period (every reach is by ``as_of``)."""
    if since is None and until is None:
        return None
    start = since or datetime(1900, 1, 1)
    end = until or as_of
    return f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


def _moment(as_of: datetime) -> str:
    """The as-of moment to the second, as the analysis read it."""
    return pd.Timestamp(as_of).to_pydatetime().replace(microsecond=0).isoformat()


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
