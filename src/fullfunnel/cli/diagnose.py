"""Commands of the diagnosis: stuck, handoffs, diagnose, playbook."""

from __future__ import annotations

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state
from fullfunnel.cli._render import render

AS_OF_OPTION = typer.Option(
    None,
    "--as-of",
    help="Evaluate as of this date [default: the end of today, or the newest event of "
    "an older export].",
)
BY_OWNER_OPTION = typer.Option(
    None,
    "--by",
    help="Also per the contact's owner, or the owner's manager, office or team (from a "
    "sales-team file): owner, manager, office or team.",
)
PERIOD_OPTION = typer.Option(
    None,
    "--period",
    help="A period, e.g. 2026-Q3: one that has ended is seen as it stood at its end.",
)


@app.command()
def stuck(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    stage: str | None = typer.Option(None, help="Only this stage, e.g. mql."),
    team: str | None = typer.Option(None, help="Only stages this team owns, e.g. bdr."),
    limit: int | None = typer.Option(
        None, min=0, help="Stuck contacts to list [default: diagnose.stuck_limit]."
    ),
    by: str | None = BY_OWNER_OPTION,
    as_of: str | None = AS_OF_OPTION,
    period: str | None = PERIOD_OPTION,
) -> None:
    """Contacts over their stage's SLA that no owner has touched lately, ranked; hidden demand."""
    from fullfunnel.analytics.stuck import stuck as run

    st = state(ctx, fmt)
    result = run(
        st.warehouse(),
        stage=stage,
        team=team,
        limit=limit,
        by=by,
        as_of=as_of,
        period=period,
        config=st.config(),
    )
    render(result, st.format)


@app.command()
def handoffs(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    by: str | None = BY_OWNER_OPTION,
    as_of: str | None = AS_OF_OPTION,
    period: str | None = PERIOD_OPTION,
) -> None:
    """Handoffs between teams (time to first touch, SLA met, dropped) and the ownership matrix."""
    from fullfunnel.analytics.handoffs import handoffs as run

    st = state(ctx, fmt)
    result = run(st.warehouse(), by=by, as_of=as_of, period=period, config=st.config())
    render(result, st.format)


@app.command()
def diagnose(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    lift_stage: str | None = typer.Option(
        None, help="What-if: the stage whose conversion to lift, e.g. opportunity."
    ),
    lift_points: float | None = typer.Option(
        None, help="What-if: conversion points to add [default: diagnose.lift_points]."
    ),
    by: str | None = BY_OWNER_OPTION,
    as_of: str | None = AS_OF_OPTION,
    period: str | None = typer.Option(
        None,
        "--period",
        help="The period whose target the lead volume is held against [default: the quarter "
        "of --as-of]; one that has ended is diagnosed as it stood at its end.",
    ),
) -> None:
    """Top-heavy, bottom-heavy or balanced; the problem area, evidence, leaks, people, tactics."""
    from fullfunnel.analytics.diagnose import diagnose as run

    st = state(ctx, fmt)
    result = run(
        st.warehouse(),
        lift_stage=lift_stage,
        lift_points=lift_points,
        by=by,
        as_of=as_of,
        period=period,
        config=st.config(),
    )
    render(result, st.format)


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
