"""Section figures of the diagnosis: stuck contacts, handoffs, ownership and leaks.

These show where the team loses contacts it already has: who holds leads past
their SLA, which handoffs between teams are dropped, which team works which part
of the funnel against the plan in the config, and the revenue lost at each stage
with what a few points of conversion there would add.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import SEGMENTS, Config
from fullfunnel.report.charts._common import (
    GREEN,
    RED,
    SEGMENT_LABELS,
    attr,
    column,
    find_table,
    money,
    new_figure,
    number,
    share_text,
    stage_label,
)
from fullfunnel.report.charts._finish import MONEY
from fullfunnel.report.charts.first_screen import leak_table
from fullfunnel.result import Result


def stuck_chart(result: Result, config: Config) -> go.Figure | None:
    """Stuck contacts by stage, coloured by the owning team, with the value at risk."""
    frame = find_table(result, names=("by_stage",), all_of=("stage",))
    if frame is None:
        frame = find_table(result, all_of=("stage",), any_of=("team", "owner", "owner_team"))
    if frame is None:
        return None
    team = column(frame, "owner", "team", "owner_team")
    count = column(frame, "stuck", "contacts", "count", "n", "leads")
    if team is None or count is None:
        return None
    frame = frame[pd.to_numeric(frame[count], errors="coerce").fillna(0) > 0]
    if frame.empty:
        return None
    total = int(frame[count].sum())
    risk = number(result, "value_at_risk")
    by_team = frame.groupby(team)[count].sum().sort_values(ascending=False)
    worst = frame.sort_values(count, ascending=False).iloc[0]
    share = column(frame, "stuck_share")
    pile = f"{int(worst[count]):,} at {stage_label(config, worst['stage'])}"
    if share:
        pile += f", {worst[share]:.0%} of those in it"
    title = (
        f"{total:,} stuck contacts"
        + (f", {money(risk)} expected value at risk" if risk else "")
        + f"; most with {by_team.index[0]} ({pile})"
    )
    fig = new_figure(title)
    value = column(frame, "value_at_risk")
    for owner, part in frame.groupby(team, sort=False):
        fig.add_bar(
            x=[stage_label(config, st) for st in part["stage"]], y=part[count], name=str(owner),
            customdata=part[value] if value else None,
            hovertemplate="%{x}: %{y:,} stuck"
            + (", %{customdata:,.0f} at risk" if value else "") + "<extra></extra>",
        )  # fmt: skip
    fig.update_layout(barmode="stack", yaxis={"title": "stuck contacts"})
    return fig


def handoff_chart(result: Result, config: Config) -> go.Figure | None:
    """SLA met and dropped share per handoff."""
    frame = find_table(result, names=("handoffs", "summary"))
    if frame is None or not column(frame, "dropped_share", "dropped_rate", "dropped_pct"):
        frame = find_table(
            result, any_of=("dropped_share", "dropped_rate", "dropped_pct", "sla_met_share")
        )
    if frame is None:
        return None
    dropped = column(frame, "dropped_share", "dropped_rate", "dropped_pct")
    met = column(frame, "sla_met_share", "sla_met_rate", "sla_met_pct", "sla_met")
    if dropped is None and met is None:
        return None
    if column(frame, "from_team", "from") and column(frame, "to_team", "to"):
        names = [
            f"{a} → {b} ({s})" if "stage" in frame else f"{a} → {b}"
            for a, b, s in zip(
                frame[column(frame, "from_team", "from")],
                frame[column(frame, "to_team", "to")],
                frame["stage"] if "stage" in frame else [""] * len(frame),
                strict=True,
            )
        ]
    else:
        key = column(frame, "handoff", "stage", "to_team", "team")
        if key is None:
            return None
        names = frame[key].astype(str).tolist()
    fig = new_figure("")
    title = "Handoffs"
    if met:
        fig.add_bar(x=names, y=frame[met], name="SLA met", marker_color=GREEN)
    if dropped:
        fig.add_bar(x=names, y=frame[dropped], name="dropped (never touched)", marker_color=RED)
        i = int(pd.to_numeric(frame[dropped], errors="coerce").fillna(0).to_numpy().argmax())
        title = f"Handoff {names[i]}: {share_text(frame[dropped].iloc[i])} dropped, never touched"
    fig.update_layout(title={"text": title}, barmode="group", yaxis={"tickformat": ".0%"})
    return fig


def ownership_chart(result: Result, config: Config) -> go.Figure | None:
    """Share of touches by team × segment, as a heatmap, off-plan cells named."""
    frame = find_table(result, names=("ownership", "ownership_matrix", "matrix"))
    if frame is None:
        return None
    team = column(frame, "team", "owner")
    if team is None:
        return None
    if set(SEGMENTS) & set(frame.columns):
        grid = frame.set_index(team)[[s for s in SEGMENTS if s in frame.columns]]
    elif "segment" in frame:
        value = column(frame, "share", "touch_share", "actual", "touches")
        if value is None:
            return None
        grid = frame.pivot_table(index=team, columns="segment", values=value, aggfunc="sum")
        grid = grid[[s for s in SEGMENTS if s in grid.columns]]
    else:
        return None
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
    flagged = frame[frame["flag"].astype(str) != ""] if "flag" in frame else frame[:0]
    if not flagged.empty and "segment" in flagged and "share" in flagged:
        r = flagged.iloc[0]
        seg = SEGMENT_LABELS.get(r["segment"], r["segment"])
        more = f" (and {len(flagged) - 1} more cell(s) off plan)" if len(flagged) > 1 else ""
        title = f"{r[team]} on the {seg}: {r['flag']}, {r['share']:.0%} of its touches{more}"
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


def leak_chart(result: Result, config: Config) -> go.Figure | None:
    """Revenue lost at each stage, and what a few points of conversion there would add."""
    frame = leak_table(result)
    if frame is None:
        return None
    stage = column(frame, "stage", "from_stage")
    value = column(frame, "lost_revenue", "expected_lost", "revenue_lost", "lost_value")
    if stage is None or value is None:
        return None
    frame = frame.sort_values(value, ascending=False)
    nxt = frame["next_stage"] if "next_stage" in frame else [None] * len(frame)
    labels = [
        f"{stage_label(config, a)} → {stage_label(config, b)}" if b else stage_label(config, a)
        for a, b in zip(frame[stage], nxt, strict=True)
    ]
    fig = new_figure("", height=max(240, 70 + 45 * len(frame)))
    fig.add_bar(
        y=labels, x=frame[value], orientation="h", name="revenue lost", marker_color=RED,
        hovertemplate="%{y}: %{x:,.0f} lost<extra></extra>",
    )  # fmt: skip
    what_if = column(frame, "what_if_bookings")
    lift = number(attr(result, "leakage"), "lift_points") or 5
    title = f"Biggest leak: {labels[0]} loses {money(frame[value].iloc[0])}"
    if what_if:
        fig.add_bar(
            y=labels, x=frame[what_if], orientation="h", marker_color=GREEN,
            name=f"bookings added by +{lift:g} points of conversion",
        )  # fmt: skip
        title += f"; +{lift:g} points there adds {money(frame[what_if].iloc[0])} of bookings"
    fig.update_layout(
        title={"text": title},
        barmode="group",
        yaxis={"autorange": "reversed"},
        xaxis={"tickformat": MONEY, "rangemode": "tozero"},
    )
    return fig
