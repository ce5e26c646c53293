"""Commands for hitting the number: target set|list|import, plan, forecast."""

from __future__ import annotations

from pathlib import Path

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state
from fullfunnel.cli._render import render

target_app = typer.Typer(help="Set, list and import bookings targets.")
app.add_typer(target_app, name="target")

PERIOD_HELP = "Period: 2026, 2026-H2, 2026-Q4, 2026-11 or 2026-10-01..2026-12-31."
AS_OF_OPTION = typer.Option(None, "--as-of", help="Use only data known on this date.")


@target_app.command("set")
def target_set(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    period: str = typer.Option(..., help=PERIOD_HELP),
    bookings: str = typer.Option(..., help="Bookings target: 2.5M, 250k or 2500000."),
) -> None:
    """Set (or replace) the bookings target of a period."""
    from fullfunnel.analytics.targets import set_target

    st = state(ctx, fmt)
    render(set_target(st.warehouse(create=True), period=period, amount=bookings), st.format)


@target_app.command("list")
def target_list(
    ctx: typer.Context, fmt: Format | None = FORMAT_OPTION, as_of: str | None = AS_OF_OPTION
) -> None:
    """Every target, with what each period has booked so far and the gap."""
    from fullfunnel.analytics.targets import list_targets

    st = state(ctx, fmt)
    render(list_targets(st.warehouse(), as_of=as_of), st.format)


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


@app.command()
def plan(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    period: str | None = typer.Option(
        None, help=PERIOD_HELP + " [default: the quarter of --as-of]"
    ),
    target: str | None = typer.Option(
        None, help="Bookings target (2.5M); default: the stored target of the period."
    ),
    as_of: str | None = AS_OF_OPTION,
) -> None:
    """Reverse waterfall: what needs to happen, and by when, to hit the target."""
    from fullfunnel.analytics.plan import plan as run

    st = state(ctx, fmt)
    render(
        run(st.warehouse(), period=period, target=target, as_of=as_of, config=st.config()),
        st.format,
    )


@app.command()
def review(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    period: str | None = typer.Option(
        None, help=PERIOD_HELP + " [default: the last complete quarter]"
    ),
    as_of: str | None = AS_OF_OPTION,
) -> None:
    """A past period: target vs actual by week, the forecast made at its start, the leaks."""
    from fullfunnel.analytics.review import review as run

    st = state(ctx, fmt)
    render(run(st.warehouse(), period=period, as_of=as_of, config=st.config()), st.format)


@app.command()
def forecast(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    period: str | None = typer.Option(
        None, help=PERIOD_HELP + " [default: the quarter of --as-of]"
    ),
    as_of: str | None = AS_OF_OPTION,
    sims: int | None = typer.Option(None, help="Simulations [default: from the config]."),
    seed: int | None = typer.Option(None, help="Random seed [default: from the config]."),
    target: str | None = typer.Option(None, help="Target to score P(hit) against."),
    run_backtest: bool = typer.Option(
        False, "--backtest", help="Rerun the forecast as of past dates and score it."
    ),
    periods: int | None = typer.Option(None, help="Past quarters to backtest."),
) -> None:
    """P10/P50/P90 bookings, P(hit target); with --backtest, how far to trust it."""
    st = state(ctx, fmt)
    if run_backtest:
        from fullfunnel.analytics.backtest import backtest

        result = backtest(
            st.warehouse(), periods=periods, as_of=as_of, sims=sims, seed=seed, config=st.config()
        )
    else:
        from fullfunnel.analytics.forecast import forecast as run

        result = run(
            st.warehouse(),
            period=period,
            as_of=as_of,
            target=target,
            sims=sims,
            seed=seed,
            config=st.config(),
        )
    render(result, st.format)
