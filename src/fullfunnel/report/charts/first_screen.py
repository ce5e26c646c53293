"""The rest of the first screen: the funnel, where it drops off, and where weight goes.

:func:`funnel_chart` shows contacts reaching each stage with the weakest step
against its benchmark, :func:`dropoff_chart` what became of those who reached each
stage (and the money lost there), :func:`weight_chart` effort share against the
share of lost revenue by funnel segment. :func:`leak_table` is the diagnosis'
table of its biggest leaks in money, which the drop-off and leak charts read.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.diagnose import DiagnoseResult
from fullfunnel.analytics.funnel import FunnelResult
from fullfunnel.config import SEGMENTS, Config
from fullfunnel.report.charts._common import (
    BLUE,
    GREY,
    ORANGE,
    RED,
    SEGMENT_LABELS,
    money,
    new_figure,
    share_text,
    stage_label,
    stage_segment,
    weakest_step,
)

# what became of those who reached a stage: stage-table column → (legend name, colour)
_OUTCOMES = {
    "converted": ("moved on", BLUE),
    "exited": ("lost or disqualified", RED),
    "recycled": ("recycled to nurture", ORANGE),
    "stalled": ("stalled past SLA", "#c9a227"),
    "in_flight": ("still in progress", GREY),
}


def funnel_chart(result: FunnelResult, config: Config) -> go.Figure | None:
    """Contacts reaching each stage, with step conversion; the weakest step in the title."""
    if result.by is not None or result.stages.empty:
        return None
    rows = result.stages[result.stages["reached"] > 0]
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
        conv = r.conversion
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
    result: FunnelResult, config: Config, leaks: pd.DataFrame | None = None
) -> go.Figure | None:
    """What became of the contacts that reached each stage, as shares (and value lost).

    ``leaks`` is the diagnosis' table of leaks in money (:func:`leak_table`), if any.
    """
    if result.by is not None or result.stages.empty:
        return None
    rows = result.stages.dropna(subset=["next_stage"])
    rows = rows[rows["reached"] > 0]
    if rows.empty:
        return None
    labels = [f"{stage_label(config, a)} → {stage_label(config, b)}" for a, b in zip(
        rows["stage"], rows["next_stage"], strict=True)]  # fmt: skip
    reached = rows["reached"].astype(float).to_numpy()
    share = {
        c: pd.to_numeric(rows[c], errors="coerce").fillna(0).clip(lower=0).to_numpy() / reached
        for c in _OUTCOMES
    }
    fig = new_figure("", height=360)
    for col, (name, colour) in _OUTCOMES.items():
        fig.add_bar(
            y=labels, x=share[col], name=name, orientation="h",
            marker_color=colour, customdata=rows[col],
            hovertemplate="%{y}: %{x:.0%} (%{customdata:,} contacts)<extra>" + name
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
        lost = share["exited"] + share["stalled"]
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
    """Money lost per stage, from a table of leaks (stage, lost_revenue)."""
    if leaks is None or leaks.empty:
        return {}
    grouped = leaks.groupby("stage")["lost_revenue"].sum()
    return {str(k): float(v) for k, v in grouped.items() if pd.notna(v) and v > 0}


def leak_table(diagnosis: DiagnoseResult | None) -> pd.DataFrame | None:
    """The diagnosis' table of the biggest leaks in money by stage (None: no leaks)."""
    if diagnosis is None or diagnosis.leaks.empty:
        return None
    return diagnosis.leaks


def weight_chart(diagnosis: DiagnoseResult, config: Config) -> go.Figure | None:
    """Effort share against leakage share by funnel segment, with the verdict as title."""
    frame = diagnosis.weight.effort
    if frame.empty:
        return None
    frame = frame[frame["segment"].isin(SEGMENTS)]
    if frame.empty:
        return None
    leak_share = _leak_share_by_segment(diagnosis, config)
    segs = [SEGMENT_LABELS.get(s, s) for s in frame["segment"]]
    verdict = diagnosis.verdict.replace("_", "-")
    area = diagnosis.problem_area.replace("_", " ")
    effort = frame["effort_share"]
    fig = new_figure("", height=320)
    fig.add_bar(x=segs, y=effort, name="share of effort (spend)", marker_color=BLUE)
    i = int(pd.to_numeric(effort, errors="coerce").fillna(0).to_numpy().argmax())
    detail = [f"{share_text(effort.iloc[i])} of effort goes to the {segs[i]}"]
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


def _leak_share_by_segment(diagnosis: DiagnoseResult, config: Config) -> dict[str, float]:
    """Share of the money lost per funnel segment, from every leak of the diagnosis."""
    value = _leak_value(diagnosis.leakage.leaks)
    total = sum(value.values())
    if not total:
        return {}
    out: dict[str, float] = {}
    for stage, v in value.items():
        seg = stage_segment(config, stage)
        if seg is not None:
            out[seg] = out.get(seg, 0.0) + v / total
    return out
