"""Command of lead scoring: score (train, validate, score, explain one lead)."""

from __future__ import annotations

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, spinner, state
from fullfunnel.cli._render import render


@app.command()
def score(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    target: str | None = typer.Option(
        None, help="Stage to predict (default: scoring.target in the config, sql)."
    ),
    horizon: str | None = typer.Option(
        None, help="How far ahead, e.g. 90d, 12w (default: scoring.horizon_days, 90)."
    ),
    explain: str | None = typer.Option(
        None, "--explain", metavar="CONTACT", help="Show why this contact got its score."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Score as of this date."),
    seed: int | None = typer.Option(None, help="Random seed (default: scoring.seed)."),
) -> None:
    """Train the lead-scoring model, score every open contact and write the scores table."""
    st = state(ctx, fmt)
    if explain is not None:
        from fullfunnel.analytics.scoring import explain as run_explain

        render(run_explain(st.warehouse(), explain, config=st.config()), st.format)
        return
    from fullfunnel.analytics.scoring import score as run

    wh, config = st.warehouse(create=True), st.config()
    quiet = st.format is not Format.table
    with spinner("training the lead model and scoring every open contact", quiet=quiet):
        result = run(wh, target=target, horizon=horizon, as_of=as_of, config=config, seed=seed)
    render(result, st.format)
