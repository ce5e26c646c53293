"""The attribute command: multi-touch attribution and ROI at any funnel stage."""

from __future__ import annotations

from pathlib import Path

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state
from fullfunnel.cli._render import render

MODEL_HELP = (
    "first_touch, last_touch, linear, time_decay, u_shaped, w_shaped, full_path, "
    "markov or shapley (default: attribution.default_model in the config, markov)."
)


@app.command()
def attribute(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    conversion: str = typer.Option(
        "mql", help="The stage to attribute: mql, sql, opportunity, customer (any stage)."
    ),
    by: str = typer.Option("channel", help="Credit channel, campaign or tactic."),
    level: str = typer.Option("contact", help="Journeys per contact or per account."),
    value: str | None = typer.Option(
        None, help="count, pipeline (opportunity amount) or bookings (won amount); default count."
    ),
    lookback_days: float | None = typer.Option(
        None, help="Touches this many days before the conversion count (default: config, 365)."
    ),
    since: str | None = typer.Option(None, help="Conversions and cost from this day on."),
    as_of: str | None = typer.Option(None, "--as-of", help="Use only data known on this date."),
    compare: bool = typer.Option(
        False, "--compare", help="Every model side by side, with how each rank moves."
    ),
    paths: Path | None = typer.Option(
        None, "--paths", help="A ChannelAttribution path file (CSV) instead of the warehouse."
    ),
    path_col: str = typer.Option("path", help="Path column of --paths."),
    conv_col: str = typer.Option("total_conversions", help="Conversions column of --paths."),
    value_col: str | None = typer.Option(None, help="Value column of --paths."),
    null_col: str | None = typer.Option(None, help="Non-converting count column of --paths."),
    sep: str = typer.Option(">", help="Separator between the channels of a path."),
) -> None:
    """Which channels, campaigns and tactics create a stage, what they cost, and how sure."""
    from fullfunnel.analytics.attribution import attribute as run
    from fullfunnel.analytics.attribution import compare_models, read_paths_file

    st = state(ctx, fmt)
    source = (
        read_paths_file(
            paths,
            path_col=path_col,
            conv_col=conv_col,
            value_col=value_col,
            null_col=null_col,
            sep=sep,
        )
        if paths is not None
        else st.warehouse()
    )
    options = dict(
        conversion=conversion,
        by=by,
        level=level,
        value=value,
        lookback_days=lookback_days,
        since=since,
        as_of=as_of,
        config=st.config(),
    )
    result = compare_models(source, **options) if compare else run(source, model=model, **options)
    render(result, st.format)
