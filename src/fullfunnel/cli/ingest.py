"""Commands that load data and check it: ingest csv|parquet|jsonl|hubspot|salesforce,
loads, unload, rejects, quality."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fullfunnel.cli._app import FORMAT_OPTION, Format, State, app, state
from fullfunnel.cli._render import render


class _FilesByDefault(TyperGroup):
    """``ingest FILE…`` is ``ingest files FILE…``: the files' shapes are recognised."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        asks_help = any(a in ("-h", "--help") for a in args) and first is None
        if args and not asks_help and first not in self.commands:
            args = ["files", *args]
        return super().parse_args(ctx, args)


ingest_app = typer.Typer(
    cls=_FilesByDefault,
    help="Load files into the warehouse. 'fullfunnel ingest FILE…' recognises each file "
    "(HubSpot, Salesforce, sfdx JSON, deal tables and their side tables, lead lists…) and "
    "says how it read it; 'ingest csv|parquet|jsonl --mapping' loads any other file. Every "
    "row is loaded or kept in rejects.\n\nExample: fullfunnel ingest sales_pipeline.csv "
    "accounts.csv sales_teams.csv",
)
app.add_typer(ingest_app, name="ingest")

PATHS = typer.Argument(..., help="Files, or directories of files.")
MAPPING = typer.Option(None, "--mapping", "-m", help="Mapping file (TOML); see docs/ingest.md.")
TABLE = typer.Option(
    None, "--table", "-t", help="Canonical table to load (or table = in the mapping)."
)
TIMEZONE = typer.Option(
    None,
    "--timezone",
    help="Time zone of dates without an offset [default: config ingest.timezone].",
)
DATE_FORMAT = typer.Option(
    None, "--date-format", help="strptime format of dates, e.g. '%d/%m/%Y %H:%M'."
)
REPLACE = typer.Option(
    False,
    "--replace",
    help="A corrected file: remove the earlier load of the same path (and source) and load "
    "this one, in one transaction. The same bytes again still change nothing.",
)
_SHOW_AFTER = 1.0  # seconds a file takes before its bar appears


@contextmanager
def _progress(st: State) -> Iterator[Callable[[str, str, float, float], None] | None]:
    """A bar per file on stderr: its phase (hashing, reading, checking, writing), the
    percentage done, elapsed and remaining time. Only in table format on a terminal;
    a file is shown once it has taken a second, and the bars go when the command ends."""
    if st.format is not Format.table:
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    import time

    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    tasks: dict[str, tuple[Any, str, float]] = {}  # file → (task, phase, started)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:

        def show(file: str, phase: str, done: float, total: float) -> None:
            label = f"{phase} {Path(file).name}"
            if file not in tasks:
                task = bar.add_task(label, total=total, completed=done, visible=not _SHOW_AFTER)
                tasks[file] = (task, phase, time.monotonic())
                return
            task, shown, started = tasks[file]
            visible = time.monotonic() - started >= _SHOW_AFTER
            if phase != shown:
                bar.reset(task, total=total, completed=done, description=label, visible=visible)
                tasks[file] = (task, phase, started)
            else:
                bar.update(task, completed=done, visible=visible)

        yield show


def _files(
    ctx: typer.Context,
    fmt: Format | None,
    file_format: str,
    paths: list[Path],
    table: str | None,
    mapping: Path | None,
    timezone: str | None,
    date_format: str | None,
    replace: bool = False,
) -> None:
    from fullfunnel.ingest import ingest_files

    st = state(ctx, fmt)
    with _progress(st) as progress:
        result = ingest_files(
            st.warehouse(create=True),
            paths,
            fmt=file_format,
            table=table,
            mapping=mapping,
            config=st.config(),
            timezone=timezone,
            date_format=date_format,
            progress=progress,
            replace=replace,
        )
    render(result, st.format)


@ingest_app.command("files", hidden=True)
def ingest_recognised(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    save_mapping: Path | None = typer.Option(
        None,
        "--save-mapping",
        help="Also write the mapping each file was read with (a file for one input, a "
        "directory for several), to edit and load with 'ingest csv --mapping'.",
    ),
    timezone: str | None = TIMEZONE,
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Recognise each file's shape and load it, no mapping needed."""
    from functools import partial

    from fullfunnel.ingest import ingest

    run = partial(ingest, save_mapping=save_mapping)
    _export(ctx, fmt, run, paths, timezone, date_format, replace)


@ingest_app.command("csv")
def ingest_csv(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    table: str | None = TABLE,
    mapping: Path | None = MAPPING,
    timezone: str | None = TIMEZONE,
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load CSV files into a canonical table."""
    _files(ctx, fmt, "csv", paths, table, mapping, timezone, date_format, replace)


@ingest_app.command("parquet")
def ingest_parquet(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    table: str | None = TABLE,
    mapping: Path | None = MAPPING,
    timezone: str | None = TIMEZONE,
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load Parquet files into a canonical table."""
    _files(ctx, fmt, "parquet", paths, table, mapping, timezone, date_format, replace)


@ingest_app.command("jsonl")
def ingest_jsonl(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    table: str | None = TABLE,
    mapping: Path | None = MAPPING,
    timezone: str | None = TIMEZONE,
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load JSON-lines files (one object per line) into a canonical table."""
    _files(ctx, fmt, "jsonl", paths, table, mapping, timezone, date_format, replace)


def _export(
    ctx: typer.Context, fmt: Format | None, run: Any, paths, timezone, date_format, replace
):
    st = state(ctx, fmt)
    with _progress(st) as progress:
        result = run(
            st.warehouse(create=True),
            paths,
            config=st.config(),
            timezone=timezone,
            date_format=date_format,
            progress=progress,
            replace=replace,
        )
    render(result, st.format)


@ingest_app.command("hubspot")
def ingest_hubspot(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    timezone: str | None = typer.Option(
        None, "--timezone", help="The HubSpot portal's time zone [default: config ingest.timezone]."
    ),
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load HubSpot contacts, companies and deals exports (recognised by their header)."""
    from fullfunnel.ingest import ingest_hubspot as run

    _export(ctx, fmt, run, paths, timezone, date_format, replace)


@ingest_app.command("salesforce")
def ingest_salesforce(
    ctx: typer.Context,
    paths: list[Path] = PATHS,
    timezone: str | None = TIMEZONE,
    date_format: str | None = DATE_FORMAT,
    replace: bool = REPLACE,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load Salesforce object exports (API field names): Lead, Contact, Account, Opportunity…"""
    from fullfunnel.ingest import ingest_salesforce as run

    _export(ctx, fmt, run, paths, timezone, date_format, replace)


@app.command()
def loads(ctx: typer.Context, fmt: Format | None = FORMAT_OPTION) -> None:
    """List every load: file, sha256, rows in / loaded / rejected."""
    from fullfunnel.ingest import list_loads

    st = state(ctx, fmt)
    render(list_loads(st.warehouse()), st.format)


@app.command()
def unload(
    ctx: typer.Context,
    load_ids: list[str] = typer.Argument(..., help="Load ids, as 'fullfunnel loads' lists them."),
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Remove loads: the rows each still owns, its rejects and its record, in one transaction."""
    from fullfunnel.ingest import unload as run

    st = state(ctx, fmt)
    render(run(st.warehouse(), load_ids), st.format)


@app.command()
def rejects(
    ctx: typer.Context,
    load: str | None = typer.Option(None, "--load", help="Only this load's rejects."),
    limit: int = typer.Option(1000, min=1, help="Show at most this many rows."),
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Show rejected rows with their data-row number, raw text and reason."""
    from fullfunnel.ingest import list_rejects

    st = state(ctx, fmt)
    render(list_rejects(st.warehouse(), load_id=load, limit=limit), st.format)
