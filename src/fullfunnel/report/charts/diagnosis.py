"""Section figures of the diagnosis: stuck contacts, handoffs, ownership and leaks.

These show where the team loses contacts it already has: who holds leads past
their SLA, which handoffs between teams are dropped, which team works which part
of the funnel against the plan in the config, and the revenue lost at each stage
with what a few points of conversion there would add.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.diagnose import DiagnoseResult
from fullfunnel.analytics.handoffs import HandoffsResult
from fullfunnel.analytics.stuck import StuckResult
from fullfunnel.config import SEGMENTS, Config
from fullfunnel.report.charts._common import (
    GREEN,
    RED,
    SEGMENT_LABELS,
    money,
    new_figure,
    share_text,
    stage_label,
)
from fullfunnel.report.charts._finish import MONEY
from fullfunnel.report.charts.first_screen import leak_table


def stuck_chart(result: StuckResult, config: Config) -> go.Figure | None:
    """Stuck contacts by stage, coloured by the owning team, with the value at risk."""
    frame = result.by_stage
    if frame.empty:
        return None
    frame = frame[frame["stuck"] > 0]
    if frame.empty:
        return None
    total = int(frame["stuck"].sum())
    risk = result.value_at_risk
    by_team = frame.groupby("owner")["stuck"].sum().sort_values(ascending=False)
    worst = frame.sort_values("stuck", ascending=False).iloc[0]
    pile = f"{int(worst['stuck']):,} at {stage_label(config, worst['stage'])}"
    pile += f", {worst['stuck_share']:.0%} of those in it"
    title = (
        f"{total:,} stuck contacts"
        + (f", {money(risk)} expected value at risk" if risk else "")
        + f"; most with {by_team.index[0]} ({pile})"
    )
    fig = new_figure(title)
    for owner, part in frame.groupby("owner", sort=False):
        fig.add_bar(
            x=[stage_label(config, st) for st in part["stage"]], y=part["stuck"], name=str(owner),
            customdata=part["value_at_risk"],
            hovertemplate="%{x}: %{y:,} stuck, %{customdata:,.0f} at risk<extra></extra>",
        )  # fmt: skip
    fig.update_layout(barmode="stack", yaxis={"title": "stuck contacts"})
    return fig


def handoff_chart(result: HandoffsResult, config: Config) -> go.Figure | None:
    """SLA met and dropped share per handoff."""
    frame = result.handoffs
    if frame.empty:
        return None
    names = [
        f"{a} → {b} ({s})"
        for a, b, s in zip(frame["from_team"], frame["to_team"], frame["stage"], strict=True)
    ]
    dropped = frame["dropped_pct"]
    fig = new_figure("")
    fig.add_bar(x=names, y=frame["sla_met_pct"], name="SLA met", marker_color=GREEN)
    fig.add_bar(x=names, y=dropped, name="dropped (never touched)", marker_color=RED)
    i = int(pd.to_numeric(dropped, errors="coerce").fillna(0).to_numpy().argmax())
    title = f"Handoff {names[i]}: {share_text(dropped.iloc[i])} dropped, never touched"
    fig.update_layout(title={"text": title}, barmode="group", yaxis={"tickformat": ".0%"})
    return fig


def ownership_chart(result: HandoffsResult, config: Config) -> go.Figure | None:
    """Share of touches by team × segment, as a heatmap, off-plan cells named."""
    frame = result.matrix
    if frame.empty:
        return None
    grid = frame.pivot_table(index="team", columns="segment", values="share", aggfunc="sum")
    grid = grid[[s for s in SEGMENTS if s in grid.columns]]
    grid = grid.apply(pd.to_numeric, errors="coerce")
    off = []
    for t in grid.index:
        intended = set(config.ownership.get(str(t), ()))
        for s in grid.columns:
            v = grid.loc[t, s]
            if pd.notna(v) and v > 0.05 and s not in intended:
                off.append((v, t, s))
            if s in intended and (pd.isna(v) or v == 0):
                off.append((1.0, t, s))
    title = "Who works which part of the funnel: share of each team's touches"
    flagged = frame[frame["flag"].astype(str) != ""]
    if not flagged.empty:
        r = flagged.iloc[0]
        seg = SEGMENT_LABELS.get(r["segment"], r["segment"])
        more = f" (and {len(flagged) - 1} more cell(s) off plan)" if len(flagged) > 1 else ""
        title = f"{r['team']} on the {seg}: {r['flag']}, {r['share']:.0%} of its touches{more}"
    elif off:
        _, t, s = max(off)
        v = grid.loc[t, s]
        title = (
            f"{t} spends {v:.0%} of its touches on the {SEGMENT_LABELS.get(s, s)}, outside its role"
            if pd.notna(v) and v > 0 and s not in config.ownership.get(str(t), ())
            else f"{t} never works the {SEGMENT_LABELS.get(s, s)}, which it owns"
        )
    fig = new_figure(title, height=300)
    fig.add_heatmap(
        z=grid.to_numpy(dtype=float),
        x=[SEGMENT_LABELS.get(s, s) for s in grid.columns],
        y=[str(t) for t in grid.index],
        colorscale="Blues",
        texttemplate="%{z:.0%}",
        hovertemplate="%{y} on %{x}: %{z:.1%}<extra></extra>",
        showscale=False,
    )
    return fig


def leak_chart(result: DiagnoseResult, config: Config) -> go.Figure | None:
    """What a few points of conversion would add at each stage, beside what its drop-outs
    would have booked had every one moved on (the size of the leak)."""
    frame = leak_table(result)
    if frame is None:
        return None
    # in the diagnosis' order: where better conversion pays most first
    labels = [
        f"{stage_label(config, a)} → {stage_label(config, b)}" if b else stage_label(config, a)
        for a, b in zip(frame["stage"], frame["next_stage"], strict=True)
    ]
    fig = new_figure("", height=max(240, 70 + 45 * len(frame)))
    fig.add_bar(
        y=labels, x=frame["lost_revenue"], orientation="h", marker_color=RED,
        name="what the drop-outs would have booked, had every one moved on",
        hovertemplate="%{y}: %{x:,.0f} had every drop-out moved on<extra></extra>",
    )  # fmt: skip
    lift = result.leakage.lift_points
    fig.add_bar(
        y=labels, x=frame["what_if_bookings"], orientation="h", marker_color=GREEN,
        name=f"bookings added by +{lift:g} points of conversion",
    )  # fmt: skip
    title = (
        f"Better conversion pays most at {labels[0]}: +{lift:g} points there add "
        f"{money(frame['what_if_bookings'].iloc[0])} of bookings a quarter"
    )
    fig.update_layout(
        title={"text": title},
        barmode="group",
        yaxis={"autorange": "reversed"},
        xaxis={"tickformat": MONEY, "rangemode": "tozero"},
    )
    return fig
