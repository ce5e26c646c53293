"""Render a Result as a table (Rich), JSON or CSV; never compute anything."""

from __future__ import annotations

import json
import math
import numbers
from typing import TYPE_CHECKING, Any

from fullfunnel.cli._app import Format

if TYPE_CHECKING:  # pandas and rich load when something is rendered, not for --help
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from fullfunnel.result import Result

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


def render(result: Result, fmt: Format, *, console: Console | None = None) -> None:
    from rich.console import Console

    console = console or Console()
    if fmt is Format.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    if fmt is Format.csv:
        print(result.to_frame().to_csv(index=False), end="")
        return
    lines = result.headline()
    for line in lines:  # data, not markup: "[scoring]" or "[Webinar] Q1" print as written
        console.print(line, markup=False)
    tables = {name: frame for name, frame in result.tables().items() if not frame.empty}
    if not lines and not tables:
        console.print(f"{result.title}: no rows (nothing loaded yet, or nothing matches)")
    for name, frame in tables.items():
        shown = [c for c in result.display_columns().get(name, []) if c in frame.columns]
        title = name.replace("_", " ")
        if shown and len(shown) < len(frame.columns):
            frame = frame[shown]
            title += " (all columns: --format csv or json)"
        console.print(frame_table(frame, title=title))


def frame_table(frame: pd.DataFrame, *, title: str | None = None, limit: int = 200) -> Table:
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col]) and frame[col].dtype != bool
        # spaces let long headers wrap onto two lines instead of being cut
        table.add_column(str(col).replace("_", " "), justify="right" if numeric else "left")
    for row in frame.head(limit).itertuples(index=False):
        cells = [Text(cell(col, v)) for col, v in zip(frame.columns, row, strict=True)]
        table.add_row(*cells)
    if len(frame) > limit:
        table.caption = f"{limit} of {len(frame)} rows shown; use --format csv for all"
    return table


def cell(column: str, value: Any) -> str:
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
        if is_share(column) and abs(value) <= 1.5:
            return f"{value:.1%}"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return str(value)
