"""Targets: what the period must book, and what it has booked so far.

A target is a row of ``targets`` (period_start, period_end inclusive, metric,
amount). Periods are written the way people say them (2026, 2026-H2, 2026-Q4,
2026-11, 2026-10-01..2026-12-31) and amounts as 2.5M, 250k or 2,500,000.
Booked-to-date is the amount of opportunities won inside the period, as known
at ``as_of``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from fullfunnel._dates import parse_period, to_datetime
from fullfunnel.analytics.bookings import bookings
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

METRICS = ("bookings", "pipeline")
_AMOUNT = re.compile(r"^\$?(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMbB]?)$")
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_amount(text: str | float | int) -> float:
    """An amount as people write it: 2.5M, 250k, 2500000, 2,500,000 or $1.2m.

    >>> parse_amount("2.5M"), parse_amount("250k"), parse_amount("2,500,000")
    (2500000.0, 250000.0, 2500000.0)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _AMOUNT.match(str(text).strip().replace(",", "").replace("_", ""))
        if not m:
            raise InputError(f"amount {text!r} not understood; write it as 2.5M, 250k or 2500000")
        value = float(m["num"]) * _UNITS[m["unit"].lower()]
    if value < 0:
        raise InputError(f"amount {text!r} must not be negative")
    return value


def period_bounds(period: str | tuple[date, date]) -> tuple[datetime, datetime]:
    """A period as [start, end) datetimes."""
    start, end = parse_period(period) if isinstance(period, str) else period
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day)


@dataclasses.dataclass(frozen=True, eq=False)
class TargetsResult(Result):
    """Targets with what each period has booked so far (bookings targets)."""

    title = "targets"
    targets: pd.DataFrame
    as_of: datetime

    def headline(self) -> list[str]:
        lines = []
        for r in self.targets.itertuples():
            if r.metric == "bookings" and r.amount:
                lines.append(
                    f"{r.period_start:%Y-%m-%d}..{r.period_end:%Y-%m-%d}: target "
                    f"{r.amount:,.0f}, booked {r.booked:,.0f} ({r.attainment:.0%}), "
                    f"gap {r.gap:,.0f}"
                )
        return lines or ["no targets set: fullfunnel target set --period 2026-Q4 --bookings 2.5M"]


def list_targets(wh: Warehouse, *, as_of: str | datetime | None = None) -> TargetsResult:
    """Every target, with booked-to-date and the gap for bookings targets.

    >>> import fullfunnel as ff
    >>> ff.list_targets(ff.connect("duckdb://:memory:")).targets.shape[0]
    0
    """
    as_of_dt = resolve_as_of(wh, as_of)
    t = wh.table("targets")
    frame = t.order_by(["period_start", "metric"]).execute()
    rows = []
    for r in frame.itertuples():  # one row per target: a handful, not data rows
        start = pd.Timestamp(r.period_start).to_pydatetime()
        end = pd.Timestamp(r.period_end).to_pydatetime() + timedelta(days=1)
        done = bookings(wh, start, end, as_of=as_of_dt) if r.metric == "bookings" else None
        amount, deals = (done.amount, done.deals) if done else (0.0, 0)
        rows.append(
            {
                "period_start": pd.Timestamp(r.period_start),
                "period_end": pd.Timestamp(r.period_end),
                "metric": r.metric,
                "amount": float(r.amount),
                "booked": amount,
                "won_deals": deals,
                "gap": max(float(r.amount) - amount, 0.0),
                "attainment": amount / r.amount if r.amount else float("nan"),
            }
        )
    columns = ["period_start", "period_end", "metric", "amount", "booked", "won_deals", "gap"]
    out = pd.DataFrame(rows, columns=[*columns, "attainment"])
    return TargetsResult(targets=out, as_of=as_of_dt)


def set_target(
    wh: Warehouse,
    *,
    period: str,
    amount: str | float,
    metric: str = "bookings",
    as_of: str | datetime | None = None,
) -> TargetsResult:
    """Set (or replace) the ``metric`` target of ``period``; returns every target."""
    if metric not in METRICS:
        raise InputError(f"metric {metric!r} unknown; use one of {', '.join(METRICS)}")
    start, end = parse_period(period)
    wh.load(
        "targets",
        pd.DataFrame(
            {
                "period_start": [start],
                "period_end": [end - timedelta(days=1)],
                "metric": [metric],
                "amount": [parse_amount(amount)],
            }
        ),
    )
    return list_targets(wh, as_of=as_of)


def import_targets(
    wh: Warehouse, path: str | Path, *, as_of: str | datetime | None = None
) -> TargetsResult:
    """Load targets from a CSV, Parquet or JSON-lines file.

    Each row names its period either as ``period`` (2026-Q4, 2026-11, …) or as
    ``period_start`` and ``period_end`` (inclusive); ``amount`` (or a ``bookings``
    column) takes 2.5M-style amounts; ``metric`` defaults to bookings.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"targets file {p} not found")
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".jsonl": _read_jsonl}
    reader = readers.get(p.suffix.lower())
    if reader is None:
        raise InputError(f"{p}: use a .csv, .parquet or .jsonl file of targets")
    raw = reader(p, dtype=str) if reader is pd.read_csv else reader(p)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if "amount" not in raw.columns and "bookings" in raw.columns:
        raw = raw.rename(columns={"bookings": "amount"}).assign(metric="bookings")
    if "amount" not in raw.columns:
        raise InputError(f"{p}: needs an 'amount' (or 'bookings') column")
    rows = []
    for i, r in enumerate(raw.to_dict(orient="records"), start=2):  # row 1 is the header
        where = f"{p} row {i}"
        try:
            if pd.notna(r.get("period")) and r.get("period") is not None:
                start, end = parse_period(str(r["period"]))
                last = end - timedelta(days=1)
            elif pd.notna(r.get("period_start")) and pd.notna(r.get("period_end")):
                start, last = (
                    to_datetime(str(r["period_start"])).date(),
                    to_datetime(str(r["period_end"])).date(),
                )
            else:
                raise InputError("give 'period' (2026-Q4) or 'period_start' and 'period_end'")
            metric = str(r.get("metric") or "bookings").strip()
            if metric not in METRICS:
                raise InputError(f"metric {metric!r} unknown; use {', '.join(METRICS)}")
            rows.append((start, last, metric, parse_amount(str(r["amount"]))))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    frame = pd.DataFrame(rows, columns=["period_start", "period_end", "metric", "amount"])
    if not frame.empty:
        wh.load("targets", frame)
    return list_targets(wh, as_of=as_of)


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)
