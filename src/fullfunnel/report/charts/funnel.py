"""Section figures of the funnel area: cohorts, breakdowns, velocity and pipeline.

One maker per analysis view: conversion of each step by cohort (immature cohorts
dashed), step conversion per group when the funnel is broken down, the slowest
step in days, open pipeline by stage, its movement, and an ad-hoc step funnel.
They follow the first screen in the report's trends and pipeline sections.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.funnel import FunnelResult
from fullfunnel.analytics.movement import MovementResult
from fullfunnel.analytics.pipeline import PipelineResult
from fullfunnel.analytics.steps import StepsResult
from fullfunnel.analytics.velocity import VelocityResult
from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    GREEN,
    GREY,
    RED,
    money,
    new_figure,
    stage_label,
    stage_segment,
)
from fullfunnel.report.charts._finish import MONEY, stage_order


def cohort_chart(result: FunnelResult, config: Config) -> go.Figure | None:
    """Conversion of each step by cohort; immature cohorts dashed (rate so far)."""
    cohorts = result.cohorts
    if cohorts.empty or result.by is not None:
        return None
    fig = new_figure("", height=360)
    moves = []
    for s, frame in cohorts.groupby("stage", sort=False):
        frame = frame.sort_values("cohort_start")
        if len(frame) < 2:
            continue
        nxt = frame["next_stage"].iloc[0]
        name = f"{stage_label(config, s)} → {stage_label(config, nxt)}"
        mature = frame[~frame["immature"].astype(bool)]
        line = fig.add_scatter(
            x=mature["cohort_start"], y=mature["rate"], mode="lines+markers", name=name,
            legendgroup=name,
        )  # fmt: skip
        del line
        recent = frame[frame["immature"].astype(bool)]
        if not recent.empty:
            join = pd.concat([mature.tail(1), recent])
            fig.add_scatter(
                x=join["cohort_start"], y=join["rate_so_far"], mode="lines",
                line={"dash": "dot"}, name=f"{name} (so far)", legendgroup=name,
                showlegend=False,
            )  # fmt: skip
        if len(mature) >= 4:
            last = mature["rate"].tail(3).mean()
            before = mature["rate"].iloc[:-3].mean()
            moves.append((abs(last - before), name, before, last))
    if not fig.data:
        return None
    if moves:
        _, name, before, last = max(moves)
        direction = "up" if last > before else "down"
        title = (
            f"{name} conversion is {direction}: {last:.0%} in the last three mature cohorts "
            f"vs {before:.0%} before"
        )
    else:
        title = "Conversion by cohort"
    fig.update_layout(title={"text": title}, yaxis={"tickformat": ".0%", "rangemode": "tozero"})
    return fig


def breakdown_chart(result: FunnelResult, config: Config) -> go.Figure | None:
    """With a breakdown: step conversion per group, as a heatmap."""
    by = result.by
    if by is None or result.stages.empty:
        return None
    rows = result.stages.dropna(subset=["conversion"])
    if rows.empty:
        return None
    first = rows.groupby(by)["reached"].max().sort_values(ascending=False).head(15)
    rows = rows[rows[by].isin(first.index)]
    grid = rows.pivot_table(index=by, columns="stage", values="conversion", aggfunc="first")
    grid = grid.reindex(index=first.index, columns=[s for s in config.stage_names if s in grid])
    lead = rows[rows["stage"] == config.stage_names[0]].set_index(by)["conversion"]
    title = f"Conversion by {by}"
    if len(lead) > 1:
        best, worst = lead.idxmax(), lead.idxmin()
        title = (
            f"By {by}: {best} converts best from the first stage ({lead[best]:.0%}), "
            f"{worst} worst ({lead[worst]:.0%})"
        )
    fig = new_figure(title, height=max(300, 40 + 28 * len(grid)))
    fig.add_heatmap(
        z=grid.to_numpy(dtype=float),
        x=[stage_label(config, s) + " →" for s in grid.columns],
        y=[str(i) for i in grid.index],
        colorscale="Blues",
        texttemplate="%{z:.0%}",
        hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>",
        colorbar={"tickformat": ".0%"},
    )
    fig.update_layout(yaxis={"autorange": "reversed"})
    return fig


def velocity_chart(result: VelocityResult, config: Config) -> go.Figure | None:
    """Median and p90 days of each step; the slowest step in the title."""
    if result.by is not None:
        return None
    steps = result.steps[result.steps["contacts"] > 0]
    if steps.empty:
        return None
    labels = [
        f"{stage_label(config, a)} → {stage_label(config, b)}"
        for a, b in zip(steps.from_stage, steps.to_stage, strict=True)
    ]
    adjacent = steps[[config.next_stage(a) == b for a, b in zip(
        steps.from_stage, steps.to_stage, strict=True)]] if len(steps) else steps  # fmt: skip
    before_post = adjacent[
        [stage_segment(config, b) != "post" for b in adjacent.to_stage]
    ] if not adjacent.empty else adjacent  # fmt: skip
    pool = before_post if not before_post.empty else adjacent if not adjacent.empty else steps
    slowest = pool.sort_values("median_days").iloc[-1]
    fig = new_figure(
        f"Slowest step: {stage_label(config, slowest.from_stage)} → "
        f"{stage_label(config, slowest.to_stage)},"
        f" median {slowest.median_days:.0f} days (p90 {slowest.p90_days:.0f})"
    )
    fig.add_bar(name="median", x=labels, y=steps["median_days"], marker_color=BLUE)
    fig.add_bar(name="p90", x=labels, y=steps["p90_days"], marker_color=GREY)
    fig.update_layout(barmode="group", yaxis={"title": "days"})
    return fig


def pipeline_chart(result: PipelineResult, config: Config) -> go.Figure | None:
    """Open pipeline amount by stage, in the config's pipeline order."""
    frame = result.open_by_stage
    if frame.empty:
        return None
    # the config's pipeline order; stages it does not list follow, in the data's order
    rank = {s: i for i, s in enumerate(stage_order(config))}
    frame = frame.assign(_rank=frame["stage"].astype(str).map(rank).fillna(len(rank)))
    frame = frame.sort_values("_rank", kind="stable").drop(columns="_rank")
    top = frame.sort_values("amount", ascending=False).iloc[0]
    total = float(frame["amount"].sum())
    fig = new_figure(
        f"Open pipeline {money(total)}; {money(top['amount'])} "
        f"({top['amount'] / total:.0%}) sits in {top['stage']}"
        if total
        else "No open pipeline"
    )
    fig.add_bar(x=frame["stage"].astype(str), y=frame["amount"], marker_color=BLUE, name="amount")
    fig.update_layout(yaxis={"tickformat": MONEY, "rangemode": "tozero", "title": "open amount"})
    return fig


def movement_chart(result: MovementResult, config: Config) -> go.Figure | None:
    """The pipeline waterfall: the opening bar, each step floating from where the last
    left the pipeline, and the closing bar."""
    steps = result.waterfall
    if steps["deals"].sum() == 0:
        return None
    level, bases, heights, colours = 0.0, [], [], []
    for r in steps.itertuples():  # seven steps, not rows of data
        if r.step in ("opening", "closing"):
            bases.append(0.0)
            heights.append(r.amount)
            level = r.amount
            colours.append(BLUE)
        else:
            bases.append(min(level, level + r.amount))
            heights.append(abs(r.amount))
            level += r.amount
            colours.append(GREEN if r.amount > 0 else RED if r.amount < 0 else GREY)
    opening, closing = steps["amount"].iloc[0], steps["amount"].iloc[-1]
    fig = new_figure(
        f"Open pipeline {money(opening)} → {money(closing)} "
        f"({result.since:%Y-%m-%d} to {result.until:%Y-%m-%d})"
    )
    fig.add_bar(
        x=steps["step"],
        y=heights,
        base=bases,
        marker_color=colours,
        name="amount",
        customdata=steps["deals"],
        hovertemplate="%{x}: %{y:,.0f} (%{customdata} deals)<extra></extra>",
    )
    fig.update_layout(yaxis={"tickformat": MONEY, "rangemode": "tozero", "title": "amount"})
    return fig


def steps_chart(result: StepsResult, config: Config) -> go.Figure | None:
    """The ad-hoc funnel: contacts at each step, first at the top, with the share of
    the entrants that got there."""
    steps = result.steps
    if not result.n:
        return None
    labels = [f"{r.step}. {r.label}" for r in steps.itertuples()]
    fig = new_figure(f"{result.n:,} contacts through {len(steps)} steps", height=320)
    fig.add_bar(
        y=labels,
        x=steps["reached"],
        orientation="h",
        name="contacts",
        marker_color=BLUE,
        text=[f"{v:.0%}" for v in steps["share_of_first"]],
        textposition="auto",
        hovertemplate="%{y}: %{x:,} contacts (%{text} of step 1)<extra></extra>",
    )
    fig.update_layout(
        yaxis={"autorange": "reversed", "title": ""},
        xaxis={"tickformat": ",d", "rangemode": "tozero", "title": "contacts"},
    )
    return fig
