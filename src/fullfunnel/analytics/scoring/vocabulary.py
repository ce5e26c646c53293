"""The touch columns of the features: which values of each touch dimension get a column
of their own (the most frequent before the cut-off), and the windows counted."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

import ibis

from fullfunnel._dates import literal
from fullfunnel.schema import TABLES
from fullfunnel.warehouse import Warehouse

# Touch dimensions and the windows (days) counted for each; 0 means "ever".
WINDOWS: dict[str, tuple[int, ...]] = {
    "kind": (7, 30, 90),
    "channel": (90,),
    "team": (7, 30),
    "tactic": (30, 0),
}


# Values per dimension that get their own columns (the most frequent ones).
VOCAB_SIZE = {"kind": 12, "channel": 12, "team": 6, "tactic": 15}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The touch values that get their own columns, and the extra contact columns."""

    touches: dict[str, tuple[str, ...]]
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()

    def columns(self, dim: str) -> list[tuple[str, int, str]]:
        """(value, window, column name) for every count column of ``dim``."""
        return [
            (value, w, touch_column(dim, value, w))
            for value in self.touches.get(dim, ())
            for w in WINDOWS[dim]
        ]


def slug(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_") or "blank"


def touch_column(dim: str, value: str, window: int) -> str:
    return f"{dim}__{slug(value)}__{f'{window}d' if window else 'ever'}"


def vocabulary(
    wh: Warehouse, *, before: datetime, exclude_columns: tuple[str, ...] = ()
) -> Vocabulary:
    """The most frequent kinds, channels, teams and tactics before ``before``, and the
    extra contact columns by type (small queries; values sorted for stable columns)."""
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts < literal(before))
    touches = {}
    for dim, size in VOCAB_SIZE.items():
        col = tp[dim]
        top = (
            tp.filter(col.notnull())
            .group_by(dim)
            .aggregate(n=col.count())
            .order_by([ibis.desc("n"), dim])
            .limit(size)
            .execute()
        )
        values = sorted(str(v) for v in top[dim])
        # distinct values may share a slug; keep the first
        seen: dict[str, str] = {}
        for v in values:
            seen.setdefault(slug(v), v)
        touches[dim] = tuple(seen.values())
    schema = wh.table("contacts").schema()
    canonical = set(TABLES["contacts"].columns)
    cats, nums = [], []
    for name, dtype in schema.items():
        if name in canonical or name in exclude_columns:
            continue
        if dtype.is_string():
            cats.append(name)
        elif dtype.is_numeric() or dtype.is_boolean():
            nums.append(name)
    return Vocabulary(touches, tuple(cats), tuple(nums))
