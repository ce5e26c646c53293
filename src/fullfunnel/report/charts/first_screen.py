"""The rest of the first screen: the funnel, where it drops off, and where weight goes.

:func:`funnel_chart` shows contacts reaching each stage with the weakest step
against its benchmark, :func:`dropoff_chart` what became of those who reached each
stage (and the money lost there), :func:`weight_chart` effort share against the
share of lost revenue by funnel segment. :func:`leak_table` finds the diagnosis'
table of leaks in money, which the drop-off, weight and leak charts all read.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import SEGMENTS, Config
from fullfunnel.report.charts._common import (
    BLUE,
    GREY,
    ORANGE,
    RED,
    SEGMENT_LABELS,
    attr,
    column,
    find_table,
    money,
    new_figure,
    share_text,
    stage_label,
    stage_segment,
    weakest_step,
)
from fullfunnel.result import Result


def funnel_chart(result: Result, config: Config) -> go.Figure | None:
    """Contacts reaching each stage, with step conversion; the weakest step in the title."""
    stages = find_table(result, names=("stages",), all_of=("stage", "reached"))
    if stages is None or attr(result, "by") is not None:
        return None
    rows = stages[stages["reached"] > 0]
    if rows.empty:
        return None
    weakest = weakest_step(rows)
    if weakest is not None:
        step = f"{stage_label(config, weakest.stage)} → {stage_label(config, weakest.next_stage)}"
        if weakest.conversion < weakest.benchmark:
            title = (
                f"Weakest step: {step} converts {weakest.conversion:.0%} "
                f"vs a {weakest.benchmark:.0%} benchmark"
            )
        else:
            title = (
                f"Every step converts at or above benchmark; closest to it: {step} at "
                f"{weakest.conversion:.0%} (benchmark {weakest.benchmark:.0%})"
            )
    else:
        title = f"{int(rows['reached'].iloc[0]):,} contacts entered the funnel"
    fig = new_figure(title, height=360)
    text = []
    for r in rows.itertuples():
        conv = getattr(r, "conversion", None)
        step = f" · {conv:.0%} go on" if conv is not None and conv == conv else ""
        text.append(f"{int(r.reached):,}{step}")
    colours = [RED if weakest is not None and s == weakest.stage else BLUE for s in rows["stage"]]
    # a funnel drawn as bars centred on zero (the report's chart library has no funnel trace)
    reached = rows["reached"].astype(float)
    fig.add_bar(
        y=[stage_label(config, s) for s in rows["stage"]],
        x=reached,
        base=-reached / 2,
        orientation="h",
        text=text,
        textposition="auto",
        insidetextanchor="middle",
        marker={"color": colours},
        customdata=rows["reached"],
        hovertemplate="%{y}: %{customdata:,} contacts<extra></extra>",
        showlegend=False,
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10}, bargap=0.15)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(autorange="reversed")
    return fig


def dropoff_chart(
    result: Result, config: Config, leaks: pd.DataFrame | None = None
) -> go.Figure | None:
    """What became of the contacts that reached each stage, as shares (and value lost)."""
    stages = find_table(result, names=("stages",), all_of=("stage", "reached"))
    if stages is None or attr(result, "by") is not None:
        return None
    parts = [c for c in ("converted", "exited", "recycled", "stalled", "in_flight") if c in stages]
    rows = stages.dropna(subset=["next_stage"]) if "next_stage" in stages else stages
    rows = rows[rows["reached"] > 0]
    if rows.empty or len(parts) < 2:
        return None
    names = {
        "converted": ("moved on", BLUE),
        "exited": ("lost or disqualified", RED),
        "recycled": ("recycled to nurture", ORANGE),
        "stalled": ("stalled past SLA", "#c9a227"),
        "in_flight": ("still in progress", GREY),
    }
    labels = [f"{stage_label(config, a)} → {stage_label(config, b)}" for a, b in zip(
        rows["stage"], rows["next_stage"], strict=True)]  # fmt: skip
    reached = rows["reached"].astype(float).to_numpy()
    share = {
        c: pd.to_numeric(rows[c], errors="coerce").fillna(0).clip(lower=0).to_numpy() / reached
        for c in parts
    }
    fig = new_figure("", height=360)
    for col in parts:
        fig.add_bar(
            y=labels, x=share[col], name=names[col][0], orientation="h",
            marker_color=names[col][1], customdata=rows[col],
            hovertemplate="%{y}: %{x:.0%} (%{customdata:,} contacts)<extra>" + names[col][0]
            + "</extra>",
        )  # fmt: skip
    value_by_stage = _leak_value(leaks)
    if value_by_stage:
        stage, value = max(value_by_stage.items(), key=lambda kv: kv[1])
        title = f"Largest leak in money: {money(value)} of expected bookings lost at {stage}"
        fig.add_scatter(
            y=[lab for lab, s in zip(labels, rows["stage"], strict=True) if s in value_by_stage],
            x=[1.0 for s in rows["stage"] if s in value_by_stage],
            mode="text",
            text=[
                f"{money(value_by_stage[s])} lost  " for s in rows["stage"] if s in value_by_stage
            ],
            textposition="middle left",
            textfont={"color": "white"},
            showlegend=False,
            hoverinfo="skip",
        )
    else:
        lost = sum(share[c] for c in parts if c in ("exited", "stalled"))
        i = int(lost.argmax())
        title = (
            f"{labels[i]} leaks most: {lost[i]:.0%} of the {int(reached[i]):,} who reached it "
            "were lost or stalled"
        )
    fig.update_layout(
        title={"text": title},
        barmode="stack",
        yaxis={"autorange": "reversed"},
        xaxis={"tickformat": ".0%", "range": [0, 1]},
    )
    return fig


def _leak_value(leaks: pd.DataFrame | None) -> dict[str, float]:
    if leaks is None or leaks.empty:
        return {}
    stage = column(leaks, "stage", "from_stage")
    value = column(
        leaks, "expected_lost", "revenue_lost", "lost_revenue", "lost_value", "value_lost",
        "expected_revenue_lost", "value", "amount",
    )  # fmt: skip
    if not stage or not value:
        return {}
    grouped = leaks.groupby(stage)[value].sum()
    return {str(k): float(v) for k, v in grouped.items() if pd.notna(v) and v > 0}


def leak_table(diagnosis: Result | None) -> pd.DataFrame | None:
    """The diagnosis table of leaks in money by stage, if the diagnosis has one."""
    if diagnosis is None:
        return None
    frame = find_table(diagnosis, names=("leaks", "leak"))
    if frame is not None and column(frame, "stage", "from_stage"):
        return frame
    return find_table(
        diagnosis,
        all_of=("stage",),
        any_of=("expected_lost", "revenue_lost", "lost_revenue", "lost_value", "value_lost"),
    )


def weight_chart(diagnosis: Result, config: Config) -> go.Figure | None:
    """Effort share against leakage share by funnel segment, with the verdict as title."""
    weight = attr(diagnosis, "weight")
    sources = [r for r in (weight, diagnosis) if isinstance(r, Result)]
    frame = None
    for src in sources:
        frame = find_table(src, names=("effort", "segments", "by_segment"), all_of=("segment",))
        if frame is None:
            frame = find_table(src, all_of=("segment",), any_of=("effort_share", "spend_share"))
        if frame is not None:
            break
    if frame is None:
        return None
    effort = column(frame, "effort_share", "spend_share", "touch_share", "share_effort")
    if effort is None:
        return None
    frame = frame[frame["segment"].isin(SEGMENTS)]
    if frame.empty:
        return None
    leak_share = _leak_share_by_segment(diagnosis, config)
    segs = [SEGMENT_LABELS.get(s, s) for s in frame["segment"]]
    verdict = str(attr(diagnosis, "verdict", default="") or "").replace("_", "-")
    area = str(attr(diagnosis, "problem_area", "problem", default="") or "").replace("_", " ")
    fig = new_figure("", height=320)
    fig.add_bar(x=segs, y=frame[effort], name="share of effort (spend)", marker_color=BLUE)
    i = int(pd.to_numeric(frame[effort], errors="coerce").fillna(0).to_numpy().argmax())
    detail = [f"{share_text(frame[effort].iloc[i])} of effort goes to the {segs[i]}"]
    if leak_share:
        leaks = [leak_share.get(s, 0.0) for s in frame["segment"]]
        fig.add_bar(x=segs, y=leaks, name="share of revenue lost", marker_color=RED)
        k = max(range(len(leaks)), key=leaks.__getitem__)
        detail.append(f"{leaks[k]:.0%} of lost revenue leaks at the {segs[k]}")
    head = verdict.capitalize() if verdict else "Effort against leakage"
    if area and area.lower() not in ("none", "neither"):
        head += f" (problem area: {area})"
    fig.update_layout(
        title={"text": f"{head}: {', while '.join(detail)}"},
        barmode="group",
        yaxis={"tickformat": ".0%"},
    )
    return fig


def _leak_share_by_segment(diagnosis: Result, config: Config) -> dict[str, float]:
    """Share of the money lost per funnel segment, from the diagnosis' leak table."""
    leakage = attr(diagnosis, "leakage")
    frame = None
    for src in (leakage, diagnosis):
        if isinstance(src, Result):
            frame = leak_table(src)
            if frame is not None:
                break
    value = _leak_value(frame)
    total = sum(value.values())
    if not total:
        return {}
    out: dict[str, float] = {}
    for stage, v in value.items():
        seg = stage_segment(config, stage)
        if seg is not None:
            out[seg] = out.get(seg, 0.0) + v / total
    return out
