"""Render a Result as a table (Rich), JSON or CSV; never compute anything."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fullfunnel.cli._app import Format
from fullfunnel.formatting import cell

if TYPE_CHECKING:  # pandas and rich load when something is rendered, not for --help
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from fullfunnel.result import Result


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
