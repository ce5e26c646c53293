"""Vantages: a date the data is read as of, and the period asked about.

A forecast, a backtest and the bookings of several periods read the same tables
at many vantages in one query: each row is repeated once per vantage (``_v``), and
the aggregated answer split back per vantage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import SECONDS_PER_DAY, at_each


@dataclasses.dataclass(frozen=True)
class Vantage:
    """A date the data is read as of, and the period [start, end) asked about."""

    as_of: datetime
    start: datetime
    end: datetime

    @property
    def horizon_days(self) -> float:
        """Days from ``as_of`` to the period end."""
        return (self.end - self.as_of).total_seconds() / SECONDS_PER_DAY

    @property
    def skip_days(self) -> float:
        """Days from ``as_of`` to the period start (0 once it has started)."""
        return max(0.0, (self.start - self.as_of).total_seconds() / SECONDS_PER_DAY)


def at_vantages(t: ir.Table, at: Sequence[Vantage]) -> ir.Table:
    """``t`` once per vantage, with its position ``_v`` and its ``_as_of`` as columns
    (constants for one vantage)."""
    return at_each(t, [{"_v": k, "_as_of": v.as_of} for k, v in enumerate(at)])


def by_vantage(frame: pd.DataFrame, n: int, column: str = "_v") -> list[pd.DataFrame]:
    """The rows of ``frame`` for each of ``n`` vantages (``column`` holds a vantage's
    position), without that column: an empty frame where a vantage has none."""
    parts = dict(tuple(frame.groupby(column)))
    empty = frame.iloc[:0]
    return [parts.get(k, empty).drop(columns=column) for k in range(n)]
