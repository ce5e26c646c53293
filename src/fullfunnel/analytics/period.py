"""Which date an analysis reads the data as of, and which period it asks about.

*As of*: the date given, else now; but when the newest event in the warehouse is
more than ``STALE_DAYS`` old (a historical export), the end of that event's day,
so that a year-old export is not read as if every open lead had sat idle since.
:func:`default_as_of` also says so in one line, which the faces print.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from fullfunnel._dates import now, parse_period, to_datetime
from fullfunnel.warehouse import Warehouse

STALE_DAYS = 30
_EVENT_TABLES = ("stage_events", "touchpoints", "contacts", "opportunities", "opportunity_history")


def current_quarter(as_of: datetime) -> str:
    """The quarter holding ``as_of``, written as 2026-Q4."""
    return f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"


def newest_event(wh: Warehouse, *, until: datetime | None = None) -> datetime | None:
    """The latest event time in the warehouse up to ``until`` (default now): stage
    events, touches, contact and deal creation, closes of closed deals."""
    until = until or now()
    key = ("newest_event", until.date())
    return wh.memo(key, lambda: _newest(wh, until), reads=_EVENT_TABLES)


def _newest(wh: Warehouse, until: datetime) -> datetime | None:
    cap = ibis.timestamp(until)
    opp = wh.table("opportunities")
    closed = opp.filter(opp.status != "open")
    parts = [
        (wh.table("stage_events"), "ts"),
        (wh.table("touchpoints"), "ts"),
        (wh.table("contacts"), "created_at"),
        (opp, "created_at"),
        (closed, "close_date"),
        (wh.table("opportunity_history"), "ts"),
    ]
    maxes = [t.filter(t[c] <= cap).aggregate(m=t[c].max().cast("timestamp")) for t, c in parts]
    value = ibis.union(*maxes).aggregate(m=lambda t: t.m.max()).execute()["m"].iloc[0]
    return None if value is None or str(value) == "NaT" else _to_datetime(value)


def end_of_day(moment: datetime) -> datetime:
    """The last second of ``moment``'s day."""
    return datetime(moment.year, moment.month, moment.day) + timedelta(days=1, seconds=-1)


def default_as_of(wh: Warehouse) -> tuple[datetime, str | None]:
    """The end of today (so that every command run today reads the same moment), or
    the end of the newest event's day when that is over ``STALE_DAYS`` old; with the
    line that says why (None when it is today)."""
    today = now()
    newest = newest_event(wh, until=end_of_day(today))
    if newest is None or today - newest <= timedelta(days=STALE_DAYS):
        return end_of_day(today), None
    day = datetime(newest.year, newest.month, newest.day)
    as_of = end_of_day(newest)
    note = (
        f"the newest event in the warehouse is from {day:%Y-%m-%d}, "
        f"{(today - newest).days} days ago: the analyses are as of that day "
        "(pass `as_of` DATE to choose another)"
    )
    return as_of, note


def resolve_as_of(wh: Warehouse, as_of: str | datetime | None) -> datetime:
    """``as_of`` when given, else :func:`default_as_of`."""
    given = to_datetime(as_of, name="as_of")
    return given if given is not None else default_as_of(wh)[0]


def period_span(period: str | None) -> tuple[datetime, datetime] | None:
    """``period`` (2026-Q3, 2026-11, START..END) as [start, end) datetimes; None stays None."""
    if period is None:
        return None
    start, end = parse_period(period)
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day)


def snapshot_as_of(
    wh: Warehouse, as_of: str | datetime | None, period: str | None
) -> tuple[datetime, tuple[datetime, datetime] | None]:
    """The moment a snapshot analysis (stuck, handoffs, velocity, diagnose) looks at, and
    the period's span: a period that has ended by ``as_of`` is seen as it stood at its
    end; a current or future one changes nothing but the target it is measured against."""
    as_of_dt, span = resolve_as_of(wh, as_of), period_span(period)
    if span is not None and span[1] <= as_of_dt:
        as_of_dt = span[1]
    return as_of_dt, span


def _to_datetime(value) -> datetime:
    import pandas as pd

    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def created_by(opp: ir.Table, as_of: ir.Value) -> ir.BooleanValue:
    """Whether an opportunity existed at ``as_of``: created by then, or with no
    created date (an export that lacks it): such a deal counts at every as-of."""
    return opp.created_at.isnull() | (opp.created_at <= as_of)
