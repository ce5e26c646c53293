"""The playbook command: the tactics library (it reads no warehouse)."""

from __future__ import annotations

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state
from fullfunnel.cli._render import render


@app.command()
def playbook(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    segment: str | None = typer.Option(None, help="tofu, mofu, bofu or post."),
    team: str | None = typer.Option(None, help="marketing, bdr, sales or am."),
    problem: str | None = typer.Option(
        None, help="lead_generation, qualification, closing or expansion."
    ),
) -> None:
    """The tactics library: what each tactic fixes, who runs it, what it moves."""
    from fullfunnel.playbook.recommend import playbook as run

    st = state(ctx, fmt)
    render(run(segment=segment, team=team, problem=problem), st.format)
