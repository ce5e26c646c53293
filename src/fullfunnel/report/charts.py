"""Plotly figures for results; each title states the finding, not just the measure."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.result import Result


def for_result(name: str, result: Result, config: Config) -> list[go.Figure]:
    """The figures that show ``result`` best (none for results without a chart yet)."""
    maker = _MAKERS.get(name)
    return maker(result, config) if maker else []


def funnel_chart(result: Result, config: Config) -> list[go.Figure]:
    stages: pd.DataFrame = result.stages  # type: ignore[attr-defined]
    if stages.empty or "reached" not in stages or result.by is not None:  # type: ignore[attr-defined]
        return []
    rows = stages[stages["reached"] > 0]
    if rows.empty:
        return []
    weakest = _weakest_step(rows)
    title = "Funnel: contacts reaching each stage"
    if weakest is not None:
        title += (
            f" — weakest step {weakest.stage} → {weakest.next_stage} at {weakest.conversion:.0%}"
            f" vs benchmark {weakest.benchmark:.0%}"
        )
    fig = go.Figure(
        go.Funnel(
            y=[config.stage(s).label for s in rows["stage"]],
            x=rows["reached"],
            textinfo="value+percent previous",
            marker={"color": "#2f6fab"},
        )
    )
    fig.update_layout(title=title, height=420, margin={"l": 160, "r": 20, "t": 60, "b": 20})
    return [fig]


def velocity_chart(result: Result, config: Config) -> list[go.Figure]:
    steps: pd.DataFrame = result.steps  # type: ignore[attr-defined]
    if steps.empty or "group" in steps:
        return []
    steps = steps[steps["contacts"] > 0]
    if steps.empty:
        return []
    labels = [f"{a} → {b}" for a, b in zip(steps.from_stage, steps.to_stage, strict=True)]
    slowest = steps.loc[steps["median_days"].idxmax()]
    fig = go.Figure()
    for col, colour in (("median_days", "#2f6fab"), ("p90_days", "#9fb3c8")):
        fig.add_bar(name=col.replace("_days", ""), x=labels, y=steps[col], marker_color=colour)
    fig.update_layout(
        title=f"Velocity: slowest step {slowest.from_stage} → {slowest.to_stage}, "
        f"median {slowest.median_days:.0f} days",
        barmode="group",
        yaxis_title="days",
        height=380,
    )
    return [fig]


def _weakest_step(rows: pd.DataFrame):
    scored = rows.dropna(subset=["conversion", "benchmark"])
    if scored.empty:
        return None
    gap = scored["conversion"] / scored["benchmark"]
    return scored.loc[gap.idxmin()]


_MAKERS = {"funnel": funnel_chart, "velocity": velocity_chart}
