"""Render a Result as a table (Rich), JSON or CSV; never compute anything."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fullfunnel.cli._app import Format
from fullfunnel.formatting import cell, plain_columns

if TYPE_CHECKING:  # pandas and rich load when something is rendered, not for --help
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from fullfunnel.result import Result


def render(result: Result, fmt: Format, *, console: Console | None = None) -> None:
    """Print ``result``: its headline and tables (as wide as the terminal, or every
    column at full width with ``--wide``), or JSON, or the main table as CSV."""
    from rich.console import Console

    wide = _wide()
    console = console or Console(width=WIDE if wide else None)
    if fmt is Format.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    if fmt is Format.csv:
        print(result.to_frame().to_csv(index=False), end="")
        return
    from fullfunnel.cli._app import as_flags

    lines = result.headline()
    for line in lines:  # data, not markup: "[scoring]" or "[Webinar] Q1" print as written
        console.print(as_flags(line), markup=False)  # an option it advises, as its flag
    tables = {name: frame for name, frame in result.tables().items() if not frame.empty}
    if not lines and not tables:
        console.print(f"{result.title}: no rows (nothing loaded yet, or nothing matches)")
    for name, frame in tables.items():
        shown = [c for c in result.display_columns().get(name, []) if c in frame.columns]
        frame, fewer = result.display_rows(name, frame)
        title = name.replace("_", " ")
        narrowed = not wide and bool(shown) and len(shown) < len(frame.columns)
        if narrowed:
            frame = frame[shown]
        if fewer or narrowed:
            every = "rows and columns: --format csv or json" if fewer else "columns: --wide"
            title += f" (all {every}{fewer})"
        console.print(frame_table(frame, title=title, width=console.width))


WIDE = 10_000  # the console width of --wide: no table is cut or wrapped to fit


def _wide() -> bool:
    """Whether the command was given the global ``--wide``."""
    import click

    ctx = click.get_current_context(silent=True)
    return bool(getattr(ctx.find_root().obj if ctx else None, "wide", False))


_ID_WIDTH = 24  # characters of an id a narrow terminal shows on one line


def frame_table(
    frame: pd.DataFrame, *, title: str | None = None, limit: int = 200, width: int | None = None
) -> Table:
    """``frame`` as a Rich table of at most ``limit`` rows. Ids keep their full width
    (folding past ``_ID_WIDTH``) whenever the table then still fits ``width``; other
    columns shrink to fit, their headers wrapping at spaces."""
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    headers = [str(c).replace("_", " ") for c in frame.columns]
    plain = plain_columns(frame)
    rows = [
        [cell(col, v, plain=str(col) in plain) for col, v in zip(frame.columns, row, strict=True)]
        for row in frame.head(limit).itertuples(index=False)
    ]
    keep = _id_widths(frame.columns, headers, rows, width)
    for i, col in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame[col]) and frame[col].dtype != bool
        table.add_column(
            headers[i],
            justify="right" if numeric else "left",
            min_width=keep.get(i),
            overflow="fold" if i in keep else "ellipsis",
        )
    for r in rows:
        table.add_row(*[Text(v) for v in r])
    notes = []
    if len(frame) > limit:
        notes.append(f"{limit} of {len(frame)} rows shown; use --format csv for all")
    if not keep and _id_columns(frame.columns) and width is not None:
        notes.append("ids may be shortened to fit: widen the terminal or use --format csv")
    table.caption = "; ".join(notes) or None
    return table


def _id_columns(columns) -> list[int]:
    return [i for i, c in enumerate(columns) if str(c) == "id" or str(c).endswith("_id")]


def _id_widths(columns, headers, rows, width: int | None) -> dict[int, int]:
    """Column position → width, for the id columns that fit in full: every other
    column at the narrowest Rich gives it (its longest word), 3 characters of
    border and padding each."""
    ids = _id_columns(columns)
    if not ids:
        return {}
    wanted = {i: min(max((len(r[i]) for r in rows), default=0), _ID_WIDTH) for i in ids}

    def narrowest(i: int) -> int:
        words = [w for text in (headers[i], *(r[i] for r in rows)) for w in text.split()]
        return max((len(w) for w in words), default=1)

    need = sum(wanted.get(i, narrowest(i)) + 3 for i in range(len(columns))) + 1
    return wanted if width is None or need <= width else {}
