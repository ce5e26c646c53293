"""Commands that reach people who don't open the tool: alert, digest."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, spinner, state
from fullfunnel.cli._render import render

if TYPE_CHECKING:
    from fullfunnel.result import Result

TO_OPTION = typer.Option(
    None,
    "--to",
    help="Send to this Apprise URL instead of [alerts] notify (repeat for more).",
)
DRY_RUN_OPTION = typer.Option(
    False, "--dry-run", help="Show what would be sent; send and record nothing."
)
AS_OF_OPTION = typer.Option(None, "--as-of", help="Read the data as of this date.")


@app.command()
def alert(
    ctx: typer.Context,
    to: list[str] | None = TO_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    as_of: str | None = AS_OF_OPTION,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Read the [alerts] rules and send each alert that is new (once per event)."""
    from fullfunnel.notify.alerts import check_alerts

    _send(ctx, fmt, to, dry_run, as_of, "reading the alert rules", check_alerts)


@app.command()
def digest(
    ctx: typer.Context,
    to: list[str] | None = TO_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    as_of: str | None = AS_OF_OPTION,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Send the weekly digest: headline KPIs, what moved, top stuck per owner (once a week)."""
    from fullfunnel.notify.digest import send_digest

    _send(ctx, fmt, to, dry_run, as_of, "composing the digest", send_digest)


def _send(ctx, fmt, to, dry_run, as_of, doing: str, send: Callable[..., Result]) -> None:
    """The targets first (a bad URL stops before any work), then ``send`` as of the
    date given (else the default as-of), rendered."""
    from fullfunnel.analytics.period import resolve_as_of
    from fullfunnel.notify.send import targets

    st = state(ctx, fmt)
    config = st.config()
    to_ = targets(config, to or ())
    wh = st.warehouse()
    with spinner(doing, quiet=st.format is not Format.table):
        result = send(wh, config, resolve_as_of(wh, as_of), to_, dry_run=dry_run)
    render(result, st.format)
