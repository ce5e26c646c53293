"""Dates and periods: parsing user input, and day arithmetic that every engine runs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from fullfunnel.errors import InputError

SECONDS_PER_DAY = 86400
DAYS_PER_QUARTER = 365.25 / 4  # the mean quarter, for rates per quarter and windows


def now() -> datetime:
    """The current time in UTC, without a time zone (the warehouse convention)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def to_datetime(value: str | date | datetime | None, *, name: str = "date") -> datetime | None:
    """Read an ISO date or datetime given by a user; aware values are converted to UTC."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"{name} {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2026-10-01)",
            option=name,
        ) from None
    return to_datetime(parsed)


def epoch_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970: DuckDB's epoch keeps fractions, Spark's drops them."""
    return ts.epoch_seconds().floor()


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``start`` to ``end`` as a fraction, the same on every engine."""
    return (epoch_seconds(end) - epoch_seconds(start)) / SECONDS_PER_DAY


def literal(ts: datetime) -> ir.TimestampScalar:
    return ibis.timestamp(ts.replace(microsecond=0))


def literal_table(rows: list[dict[str, datetime | float]]) -> ir.Table:
    """A small table of timestamps (whole seconds, like :func:`literal`) and numbers,
    one row per dict, to cross-join where a query runs at several dates at once."""
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if isinstance(values[0], datetime):
            columns[name] = pa.array([v.replace(microsecond=0) for v in values], pa.timestamp("us"))
        else:
            columns[name] = pa.array(values)
    return ibis.memtable(pa.table(columns))


def at_each(
    t: ir.Table, rows: list[dict[str, datetime | float]], *, on: str | None = None
) -> ir.Table:
    """``t`` with the values of ``rows`` as columns: constants for one row; for several,
    one copy of ``t`` per row (a cross join with a :func:`literal_table`), or, ``on``
    naming a column ``t`` and the rows share, each row of ``t`` with its own."""
    if len(rows) == 1:
        values = {
            k: literal(v) if isinstance(v, datetime) else ibis.literal(v)
            for k, v in rows[0].items()
        }
        return t.mutate(**{k: v for k, v in values.items() if k != on})
    table = literal_table(rows)
    if on is None:
        return t.cross_join(table)
    return t.inner_join(table, on)


_PERIOD = re.compile(r"^(?P<y>\d{4})(?:-(?:(?P<q>[Qq][1-4])|(?P<h>[Hh][12])|(?P<m>\d{1,2})))?$")


def parse_period(text: str) -> tuple[date, date]:
    """A period as [start, end) dates: 2026, 2026-H2, 2026-Q4, 2026-11, or START..END."""
    text = text.strip()
    if ".." in text:
        a, _, b = text.partition("..")
        start, end = to_datetime(a, name="period"), to_datetime(b, name="period")
        if start is None or end is None or end < start:
            raise InputError(f"period {text!r}: write START..END with START before END")
        return start.date(), end.date() + timedelta(days=1)
    m = _PERIOD.match(text)
    if not m:
        raise InputError(
            f"period {text!r} not understood; use 2026, 2026-H2, 2026-Q4, 2026-11 or "
            "2026-10-01..2026-12-31"
        )
    y = int(m["y"])
    if m["q"]:
        q = int(m["q"][1])
        return date(y, 3 * q - 2, 1), _add_months(date(y, 3 * q - 2, 1), 3)
    if m["h"]:
        h = int(m["h"][1])
        return date(y, 6 * h - 5, 1), _add_months(date(y, 6 * h - 5, 1), 6)
    if m["m"]:
        month = int(m["m"])
        if not 1 <= month <= 12:
            raise InputError(f"period {text!r}: month must be 01 to 12")
        return date(y, month, 1), _add_months(date(y, month, 1), 1)
    return date(y, 1, 1), date(y + 1, 1, 1)


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)
