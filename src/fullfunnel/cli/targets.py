"""Commands that write targets: target set, target import (target list is generated)."""

from __future__ import annotations

from pathlib import Path

import typer

from fullfunnel.analytics.registry import PERIOD_HELP
from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state
from fullfunnel.cli._render import render

target_app = typer.Typer(help="Set, list and import bookings targets.")
app.add_typer(target_app, name="target")


@target_app.command("set")
def target_set(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    period: str = typer.Option(..., help=f"Period: {PERIOD_HELP}."),
    bookings: str = typer.Option(..., help="Bookings target: 2.5M, 250k or 2500000."),
) -> None:
    """Set (or replace) the bookings target of a period."""
    from fullfunnel.analytics.targets import set_target

    st = state(ctx, fmt)
    render(set_target(st.warehouse(create=True), period=period, amount=bookings), st.format)


@target_app.command("import")
def target_import(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV, Parquet or JSON-lines file of targets."),
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Load targets from a file: columns period (or period_start, period_end), amount."""
    from fullfunnel.analytics.targets import import_targets

    st = state(ctx, fmt)
    render(import_targets(st.warehouse(create=True), path), st.format)
