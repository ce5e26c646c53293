"""How one value reads in a table, for every face (terminal, report, dashboard).

Shares (a column whose name says rate, conversion, share… ) read as percentages,
large numbers with thousands separators, whole days as dates; missing values are
blank. The faces render with these, so a number reads the same everywhere.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

_PERCENT_HINTS = (
    "rate",
    "conversion",
    "cumulative",
    "share",
    "pct",
    "coverage",
    "probability",
    "benchmark",
)


def is_share(column: str) -> bool:
    """Whether a column holds a share (0–1): one of its words is a share word, so
    ``conversion_rate`` is and ``conversions`` (a count) is not."""
    words = str(column).lower().replace(" ", "_").split("_")
    return any(
        h in words or any(w.startswith(h) and w != h + "s" for w in words) for h in _PERCENT_HINTS
    )


def plain_columns(frame: Any) -> set[str]:
    """The columns of ``frame`` whose name reads as a share but whose values do not
    (a cumulative amount, say): a table shows them as numbers, every row alike."""
    import pandas as pd

    numeric = [
        c
        for c in frame.columns
        if is_share(c) and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool
    ]
    return {str(c) for c in numeric if (frame[c].abs() > 1.5).any()}


def cell(column: str, value: Any, *, plain: bool = False) -> str:
    """``value`` of ``column`` as a table shows it (``plain``: never as a percentage)."""
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)[:16]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        if not plain and is_share(column) and abs(value) <= 1.5:
            return f"{value:.1%}"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return str(value)
