"""Plotly figures for results; each title states the finding, not just the measure.

Two kinds of maker:

- ``for_result(name, result, config)``: the figures of one analysis, keyed by the
  analysis name in ``_MAKERS``.
- the first-screen figures (``bookings_chart``, ``funnel_chart``, ``dropoff_chart``,
  ``weight_chart``), which may combine several results.

Makers only read result objects. Results of analyses still taking shape are read
defensively (:func:`attr`, :func:`find_table`): a field that is missing means no
figure, and the report falls back to the result's headline and tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import SEGMENTS, Config
from fullfunnel.result import Result

log = logging.getLogger("fullfunnel.report")

BLUE, LIGHT, GREY, ORANGE, RED, GREEN = (
    "#2f6fab",
    "#9fc2e7",
    "#bcccdc",
    "#d9822b",
    "#c23b22",
    "#3f8f5b",
)
SEGMENT_LABELS = {"tofu": "top", "mofu": "middle", "bofu": "bottom", "post": "post-sale"}

_TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": [BLUE, ORANGE, GREEN, RED, "#7b5ea7", "#6b7c93", "#c9a227", "#2aa1a1"],
        "xaxis": {"gridcolor": "#e4e7eb", "zerolinecolor": "#bcccdc", "automargin": True},
        "yaxis": {"gridcolor": "#e4e7eb", "zerolinecolor": "#bcccdc", "automargin": True},
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        "margin": {"l": 10, "r": 20, "t": 50, "b": 40},
        "hoverlabel": {"font": {"size": 12}},
    }
)


# --- reading results defensively ---------------------------------------------------


def attr(result: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``result`` has and is not None/NaN."""
    for name in names:
        value = getattr(result, name, None)
        if value is None:
            continue
        if isinstance(value, float) and value != value:
            continue
        return value
    return default


def number(result: Any, *names: str) -> float | None:
    value = attr(result, *names)
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def find_table(
    result: Any,
    *,
    names: Iterable[str] = (),
    all_of: Iterable[str] = (),
    any_of: Iterable[str] = (),
) -> pd.DataFrame | None:
    """A non-empty table of ``result``: by field name first, else by its columns."""
    tables = result.tables() if isinstance(result, Result) else {}
    all_of, any_of = list(all_of), list(any_of)
    for name in names:
        frame = tables.get(name)
        if frame is not None and not frame.empty and set(all_of) <= set(map(str, frame.columns)):
            return frame
    if not all_of and not any_of:
        return None
    for frame in tables.values():
        cols = set(map(str, frame.columns))
        if frame.empty or not set(all_of) <= cols:
            continue
        if any_of and not cols & set(any_of):
            continue
        return frame
    return None


def column(frame: pd.DataFrame, *names: str) -> str | None:
    """The first of ``names`` that is a column of ``frame``."""
    for name in names:
        if name in frame.columns:
            return name
    return None


def money(value: float | None) -> str:
    """1234567 → '1.23M', 45600 → '45.6k'."""
    if value is None:
        return "–"
    v = float(value)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:,.3g}{suffix}" if abs(v) / div < 1000 else f"{v / div:,.0f}{suffix}"
    return f"{v:,.0f}"


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}%}"


def new_figure(title: str, *, height: int = 340) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=_TEMPLATE, title={"text": title}, height=height)
    return fig


# --- the first screen ------------------------------------------------------------


def bookings_chart(results: Mapping[str, Result], config: Config) -> go.Figure | None:
    """Booked so far against the target, with the forecast's P10–P90 fan and P(hit)."""
    fc = _first(results, "forecast")
    plan = _first(results, "plan")
    src = [r for r in (fc, plan) if r is not None]
    if not src:
        return None
    target = _pick_number(src, "target", "target_amount", "bookings_target")
    booked = _pick_number(
        src, "booked", "booked_to_date", "won_to_date", "already_won", "won_amount", "closed_won"
    )
    p10 = number(fc, "p10", "bookings_p10") if fc else None
    p50 = number(fc, "p50", "bookings_p50", "median") if fc else None
    p90 = number(fc, "p90", "bookings_p90") if fc else None
    p_hit = number(fc, "p_hit", "probability_hit", "hit_probability", "prob_hit", "p_target")
    if p_hit is None and plan is not None:
        p_hit = number(plan, "p_hit", "probability_hit")
    if target is None and p50 is None:
        return None
    fan = _fan_table(fc) if fc is not None else None
    if fan is not None:
        fig = _fan_over_time(fan, target)
    elif fc is not None and p10 is not None and attr(fc, "period_end") is not None:
        fig = _fan_cone(fc, booked, target)
    else:
        fig = _bullet(booked, p10, p50, p90, target)
    parts = []
    if p50 is not None and target:
        parts.append(f"Forecast {money(p50)} vs target {money(target)}")
    elif booked is not None and target:
        parts.append(f"Booked {money(booked)} of the {money(target)} target")
    if p_hit is not None:
        parts.append(f"{p_hit:.0%} chance to hit it")
    if p10 is not None and p90 is not None:
        parts.append(f"likely range {money(p10)}–{money(p90)}")
    period = period_label(fc if fc is not None else plan)
    title = " — ".join(parts[:2]) + (f" ({parts[2]})" if len(parts) > 2 else "")
    if period:
        title = f"{period}: {title}"
    fig.update_layout(title={"text": title})
    return fig


def _bullet(booked, p10, p50, p90, target) -> go.Figure:
    fig = new_figure("", height=250)
    y = ["bookings"]
    if booked is not None:
        fig.add_bar(y=y, x=[booked], orientation="h", name="booked so far", marker_color=BLUE)
    if p10 is not None and p90 is not None:
        fig.add_bar(
            y=y,
            x=[p90 - p10],
            base=[p10],
            orientation="h",
            name="forecast P10–P90",
            marker_color=LIGHT,
            opacity=0.6,
            width=0.35,
        )
    if p50 is not None:
        fig.add_scatter(
            y=y,
            x=[p50],
            mode="markers",
            name="forecast P50",
            marker={"symbol": "diamond", "size": 16, "color": "#102a43"},
        )
    if target:
        fig.add_vline(x=target, line={"color": ORANGE, "width": 3})
        fig.add_annotation(
            x=target, y=1.02, yref="paper", text=f"target {money(target)}", showarrow=False,
            font={"color": ORANGE}, yanchor="bottom",
        )  # fmt: skip
    fig.update_layout(barmode="overlay", yaxis={"visible": False}, xaxis={"rangemode": "tozero"})
    return fig


def _fan_cone(fc: Result, booked: float | None, target: float | None) -> go.Figure:
    """From booked-to-date at ``as_of`` to the P10…P90 spread at the period end."""
    start = pd.Timestamp(attr(fc, "period_start", "as_of"))
    end = pd.Timestamp(attr(fc, "period_end")) - pd.Timedelta(days=1)
    now = pd.Timestamp(attr(fc, "as_of", default=start))
    booked = booked or 0.0
    dist = find_table(fc, names=("distribution",), all_of=("quantile", "bookings"))
    bands = [(0.1, 0.9, "rgba(47,111,171,0.18)", "P10–P90")]
    if dist is not None:
        bands.append((0.25, 0.75, "rgba(47,111,171,0.30)", "P25–P75"))
    fig = new_figure("", height=320)

    def q(level: float) -> float | None:
        if dist is not None:
            hit = dist[(dist["quantile"] - level).abs() < 1e-6]
            if not hit.empty:
                return float(hit["bookings"].iloc[0])
        return number(fc, {0.1: "p10", 0.5: "p50", 0.9: "p90"}.get(level, ""))

    for lo, hi, colour, name in bands:
        low, high = q(lo), q(hi)
        if low is None or high is None:
            continue
        fig.add_scatter(
            x=[now, end, end, now], y=[booked, high, low, booked], fill="toself",
            fillcolor=colour, line={"width": 0}, mode="lines", name=name, hoverinfo="skip",
        )  # fmt: skip
    mid = q(0.5)
    if mid is not None:
        fig.add_scatter(
            x=[now, end], y=[booked, mid], mode="lines+markers", name=f"P50 {money(mid)}",
            line={"color": BLUE, "dash": "dash"},
        )  # fmt: skip
    fig.add_scatter(
        x=[start, now], y=[0, booked], mode="lines+markers", name=f"booked {money(booked)}",
        line={"color": "#102a43", "width": 3},
    )  # fmt: skip
    if target:
        fig.add_scatter(
            x=[start, end], y=[target, target], mode="lines", name=f"target {money(target)}",
            line={"color": ORANGE, "width": 2},
        )  # fmt: skip
    fig.update_layout(yaxis={"rangemode": "tozero", "tickformat": "~s"})
    return fig


def period_label(result: Result | None) -> str:
    """'2026-Q4' for a calendar quarter, else 'start..end', from a result's period fields."""
    if result is None:
        return ""
    period = attr(result, "period")
    if period:
        return _period_text(period)
    start, end = attr(result, "period_start"), attr(result, "period_end")
    if start is None or end is None:
        return ""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    months = (end.year - start.year) * 12 + end.month - start.month
    if start.day == 1 and end.day == 1 and start == start.normalize():
        if months == 3 and start.month % 3 == 1:
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        if months == 12 and start.month == 1:
            return str(start.year)
        if months == 1:
            return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d}..{end - pd.Timedelta(days=1):%Y-%m-%d}"


def _fan_table(fc: Result) -> pd.DataFrame | None:
    frame = find_table(fc, all_of=("p10", "p90"), any_of=("date", "week", "day", "month", "ts"))
    if frame is None:
        return None
    return frame


def _fan_over_time(frame: pd.DataFrame, target: float | None) -> go.Figure:
    when = column(frame, "date", "week", "day", "month", "ts")
    fig = new_figure("", height=300)
    x = frame[when]
    fig.add_scatter(x=x, y=frame["p90"], mode="lines", line={"width": 0}, name="P90")
    fig.add_scatter(
        x=x, y=frame["p10"], mode="lines", line={"width": 0}, fill="tonexty",
        fillcolor="rgba(47,111,171,0.2)", name="P10–P90",
    )  # fmt: skip
    mid = column(frame, "p50", "median")
    if mid:
        fig.add_scatter(x=x, y=frame[mid], mode="lines", line={"color": BLUE}, name="P50")
    actual = column(frame, "booked", "actual", "cumulative_booked", "won")
    if actual:
        fig.add_scatter(
            x=x, y=frame[actual], mode="lines", line={"color": "#102a43"}, name="booked"
        )
    if target:
        fig.add_hline(y=target, line={"color": ORANGE, "width": 2, "dash": "dash"})
    return fig


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
        step = f"{_stage(config, weakest.stage)} → {_stage(config, weakest.next_stage)}"
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
    fig.add_trace(
        go.Funnel(
            y=[_stage(config, s) for s in rows["stage"]],
            x=rows["reached"],
            text=text,
            textinfo="text",
            marker={"color": colours},
            connector={"line": {"color": GREY}},
            hovertemplate="%{y}: %{x:,} contacts<extra></extra>",
        )
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10})
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
    labels = [f"{_stage(config, a)} → {_stage(config, b)}" for a, b in zip(
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
    detail = [f"{_share(frame[effort].iloc[i])} of effort goes to the {segs[i]}"]
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
        seg = _segment(config, stage)
        if seg is not None:
            out[seg] = out.get(seg, 0.0) + v / total
    return out


def _share(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.0%}" if v <= 1.0 else f"{v:,.0f}"


def _is_share(frame: pd.DataFrame, col: str | None) -> bool:
    if col is None:
        return False
    values = pd.to_numeric(frame[col], errors="coerce").dropna()
    return bool(len(values)) and bool(values.between(0, 1).all())


# --- section figures, by analysis name ----------------------------------------------


def cohort_chart(result: Result, config: Config) -> go.Figure | None:
    """Conversion of each step by cohort; immature cohorts dashed (rate so far)."""
    cohorts = find_table(result, names=("cohorts",), all_of=("cohort_start", "rate_so_far"))
    if cohorts is None or attr(result, "by") is not None:
        return None
    fig = new_figure("", height=360)
    moves = []
    for s, frame in cohorts.groupby("stage", sort=False):
        frame = frame.sort_values("cohort_start")
        if len(frame) < 2:
            continue
        nxt = frame["next_stage"].iloc[0]
        name = f"{_stage(config, s)} → {_stage(config, nxt)}"
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


def breakdown_chart(result: Result, config: Config) -> go.Figure | None:
    """With a breakdown: step conversion per group, as a heatmap."""
    by = attr(result, "by")
    stages = find_table(result, names=("stages",), all_of=("stage", "conversion"))
    if by is None or stages is None or by not in stages:
        return None
    rows = stages.dropna(subset=["conversion"])
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
        x=[_stage(config, s) + " →" for s in grid.columns],
        y=[str(i) for i in grid.index],
        colorscale="Blues",
        texttemplate="%{z:.0%}",
        hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>",
        colorbar={"tickformat": ".0%"},
    )
    fig.update_layout(yaxis={"autorange": "reversed"})
    return fig


def velocity_chart(result: Result, config: Config) -> go.Figure | None:
    steps = find_table(result, names=("steps",), all_of=("from_stage", "to_stage", "median_days"))
    if steps is None or "group" in steps:
        return None
    steps = steps[steps["contacts"] > 0] if "contacts" in steps else steps
    if steps.empty:
        return None
    labels = [
        f"{_stage(config, a)} → {_stage(config, b)}"
        for a, b in zip(steps.from_stage, steps.to_stage, strict=True)
    ]
    adjacent = steps[[config.next_stage(a) == b for a, b in zip(
        steps.from_stage, steps.to_stage, strict=True)]] if len(steps) else steps  # fmt: skip
    before_post = adjacent[
        [_segment(config, b) != "post" for b in adjacent.to_stage]
    ] if not adjacent.empty else adjacent  # fmt: skip
    pool = before_post if not before_post.empty else adjacent if not adjacent.empty else steps
    slowest = pool.sort_values("median_days").iloc[-1]
    fig = new_figure(
        f"Slowest step: {_stage(config, slowest.from_stage)} → {_stage(config, slowest.to_stage)},"
        f" median {slowest.median_days:.0f} days (p90 {slowest.p90_days:.0f})"
    )
    fig.add_bar(name="median", x=labels, y=steps["median_days"], marker_color=BLUE)
    if "p90_days" in steps:
        fig.add_bar(name="p90", x=labels, y=steps["p90_days"], marker_color=GREY)
    fig.update_layout(barmode="group", yaxis={"title": "days"})
    return fig


def pipeline_chart(result: Result, config: Config) -> go.Figure | None:
    frame = find_table(result, names=("open_by_stage",), all_of=("stage",))
    amount = column(frame, "amount", "value") if frame is not None else None
    if frame is None or amount is None:
        return None
    top = frame.sort_values(amount, ascending=False).iloc[0]
    total = float(frame[amount].sum())
    fig = new_figure(
        f"Open pipeline {money(total)}; {money(top[amount])} "
        f"({top[amount] / total:.0%}) sits in {top['stage']}"
        if total
        else "No open pipeline"
    )
    fig.add_bar(x=frame["stage"].astype(str), y=frame[amount], marker_color=BLUE, name="amount")
    return fig


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
    pile = f"{int(worst[count]):,} at {_stage(config, worst['stage'])}"
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
            x=[_stage(config, st) for st in part["stage"]], y=part[count], name=str(owner),
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
        title = f"Handoff {names[i]}: {_share(frame[dropped].iloc[i])} dropped, never touched"
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


MODEL_NAMES = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "u_shaped",
    "w_shaped",
    "full_path",
    "markov",
    "shapley",
)


def attribution_chart(result: Result, config: Config) -> go.Figure | None:
    """Credit by channel under each model, side by side."""
    frame = find_table(result, names=("compare", "comparison", "models", "credits"))
    key = (
        column(frame, "channel", "campaign", "tactic", "key", "group")
        if frame is not None
        else None
    )
    if frame is not None and key and sum(m in frame for m in MODEL_NAMES) >= 2:
        models = [m for m in MODEL_NAMES if m in frame]
        long = frame.melt(id_vars=[key], value_vars=models, var_name="model", value_name="credit")
    else:
        long = None
        frame = find_table(result, names=("credits", "credit"), all_of=("model",))
        if frame is None:
            frame = find_table(result, all_of=("model",), any_of=("credit", "conversions"))
        if frame is not None:
            key = column(frame, "channel", "campaign", "tactic", "key", "group")
            value = column(frame, "credit", "conversions", "credit_conversions", "value")
            if key and value:
                long = frame[[key, "model", value]].rename(columns={value: "credit"})
        if long is None:
            frame = find_table(result, names=("credits",), any_of=("channel", "campaign", "tactic"))
            if frame is None:
                return None
            key = column(frame, "channel", "campaign", "tactic")
            value = column(frame, "credit", "conversions", "credit_conversions", "value")
            if key is None or value is None:
                return None
            long = frame[[key, value]].rename(columns={value: "credit"})
            long["model"] = str(attr(result, "model", default="model"))
    long = long.copy()
    long["credit"] = pd.to_numeric(long["credit"], errors="coerce").fillna(0)
    totals = long.groupby("model")["credit"].transform("sum").replace(0, float("nan"))
    long["share"] = long["credit"] / totals
    order = long.groupby(key)["share"].mean().sort_values(ascending=False)
    top = order.index[0]
    wins = (
        long.loc[long.groupby("model")["share"].idxmax().dropna().astype(int), key] == top
    ).sum()
    n_models = long["model"].nunique()
    conv = attr(result, "conversion")
    model = attr(result, "model")
    what = f" for {conv} conversions" if conv else ""
    if model and n_models == 1:
        what += f" ({str(model).replace('_', ' ')} model)"
    title = (
        f"{top} earns the most credit{what} in {wins} of {n_models} models "
        f"({order.iloc[0]:.0%} on average)"
        if n_models > 1
        else f"{top} earns the most credit{what} ({order.iloc[0]:.0%})"
    )
    if n_models >= 3:
        grid = long.pivot_table(index=key, columns="model", values="share", aggfunc="sum")
        grid = grid.reindex(index=order.index[:15])
        grid = grid[[m for m in dict.fromkeys(long["model"]) if m in grid.columns]]
        fig = new_figure(title, height=max(300, 60 + 26 * len(grid)))
        fig.add_heatmap(
            z=grid.to_numpy(dtype=float),
            x=[str(m).replace("_", " ") for m in grid.columns],
            y=[str(i) for i in grid.index],
            colorscale="Blues",
            texttemplate="%{z:.0%}",
            hovertemplate="%{y} under %{x}: %{z:.1%} of credit<extra></extra>",
            showscale=False,
        )
        fig.update_layout(yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
        return fig
    fig = new_figure(title, height=340)
    for model, part in long.groupby("model", sort=False):
        part = part.set_index(key).reindex(order.index)
        fig.add_bar(x=[str(i) for i in part.index], y=part["share"], name=str(model))
    fig.update_layout(barmode="group", yaxis={"tickformat": ".0%", "title": "share of credit"})
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
        f"{_stage(config, a)} → {_stage(config, b)}" if b else _stage(config, a)
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
    fig.update_layout(title={"text": title}, barmode="group", yaxis={"autorange": "reversed"})
    return fig


def backtest_chart(result: Result, config: Config) -> go.Figure | None:
    """Past forecasts against what happened: how far to trust the forecast."""
    runs = find_table(result, names=("runs",), all_of=("p10", "p90", "actual"))
    if runs is None:
        return None
    when = column(runs, "as_of", "date")
    if when is None:
        return None
    fig = new_figure("", height=320)
    inside = runs["inside"].astype(bool) if "inside" in runs else None
    fig.add_bar(
        x=runs[when], y=runs["p90"] - runs["p10"], base=runs["p10"], name="forecast P10–P90",
        marker_color=LIGHT, width=1000 * 3600 * 24 * 6,
    )  # fmt: skip
    if "p50" in runs:
        fig.add_scatter(
            x=runs[when], y=runs["p50"], mode="markers", name="forecast P50",
            marker={"symbol": "line-ew-open", "size": 16, "color": BLUE},
        )  # fmt: skip
    colours = [GREEN if v else RED for v in inside] if inside is not None else "#102a43"
    fig.add_scatter(
        x=runs[when], y=runs["actual"], mode="markers", name="actual bookings",
        marker={"symbol": "diamond", "size": 10, "color": colours},
    )  # fmt: skip
    coverage = number(result, "coverage")
    mape = number(result, "mape")
    if coverage is None and inside is not None:
        coverage = float(inside.mean())
    parts = []
    if coverage is not None:
        parts.append(
            f"the actual fell inside the forecast's P10–P90 in {coverage:.0%} of "
            f"{len(runs)} past runs (80% if calibrated)"
        )
    if mape is not None:
        parts.append(f"mean error {mape:.0%}")
    title = "Backtest: " + ", ".join(parts) if parts else "Backtest of past forecasts"
    fig.update_layout(title={"text": title}, yaxis={"tickformat": "~s", "rangemode": "tozero"})
    return fig


def score_chart(result: Result, config: Config) -> go.Figure | None:
    """Contacts and observed conversion by score tier."""
    frame = find_table(result, names=("tiers", "by_tier"), all_of=("tier",))
    if frame is None:
        frame = find_table(result, all_of=("tier",))
    if frame is None:
        return None
    count = column(frame, "contacts", "count", "n", "leads")
    rate = column(frame, "conversion", "rate", "converted_rate", "observed_rate", "mean_score")
    if count is None and rate is None:
        return None
    if count is None:
        grid = frame.groupby("tier", as_index=False)[rate].mean()
    else:
        grid = frame.groupby("tier", as_index=False).agg(
            {count: "sum", **({rate: "mean"} if rate else {})}
        )
    grid = grid.sort_values("tier")
    fig = new_figure("")
    title = "Lead-score tiers"
    if count:
        fig.add_bar(x=grid["tier"].astype(str), y=grid[count], name="contacts", marker_color=BLUE)
    if rate:
        fig.add_scatter(
            x=grid["tier"].astype(str), y=grid[rate], name=rate.replace("_", " "),
            yaxis="y2", mode="lines+markers", marker_color=ORANGE,
        )  # fmt: skip
        fig.update_layout(
            yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "showgrid": False}
        )
        first, last = grid.iloc[0], grid.iloc[-1]
        if count:
            what = "chance" if rate == "mean_score" else rate.replace("_", " ")
            target = attr(result, "target_stage")
            horizon = attr(result, "horizon_days")
            goal = f" to reach {target}" if target else ""
            goal += f" within {horizon} days" if target and horizon else ""
            title = (
                f"Tier {first['tier']}: {int(first[count]):,} leads with a {first[rate]:.0%} "
                f"{what}{goal}, vs {last[rate]:.0%} in tier {last['tier']}"
            )
    fig.update_layout(title={"text": title})
    return fig


def _stage(config: Config, stage: Any) -> str:
    """Short stage label for charts: the config's stage name (lead, MQL, SAL…)."""
    text = str(stage)
    return text.upper() if text in ("mql", "sal", "sql") else text


def _segment(config: Config, stage: str) -> str | None:
    return next((s.segment for s in config.stages if s.name == stage), None)


def weakest_step(rows: pd.DataFrame):
    if "benchmark" not in rows or "conversion" not in rows:
        return None
    scored = rows.dropna(subset=["conversion", "benchmark"])
    if "immature" in scored:
        scored = scored[~scored["immature"].astype(bool)]
    if scored.empty:
        return None
    gap = scored["conversion"].astype(float) / scored["benchmark"].astype(float)
    return scored.loc[gap.idxmin()]


def _first(results: Mapping[str, Result], *names: str) -> Result | None:
    for name in names:
        if name in results:
            return results[name]
    for result in results.values():
        if getattr(result, "title", None) in names:
            return result
    return None


def _pick_number(results: list[Result], *names: str) -> float | None:
    for r in results:
        value = number(r, *names)
        if value is not None:
            return value
    return None


def _period_text(period: Any) -> str:
    if isinstance(period, str):
        return period
    if isinstance(period, list | tuple) and len(period) == 2:
        return f"{period[0]}..{period[1]}"
    return str(period)


Maker = Callable[[Result, Config], "go.Figure | None"]

# analysis name → figure makers, in the order they are shown
_MAKERS: dict[str, list[Maker]] = {
    "funnel": [cohort_chart],
    "velocity": [velocity_chart],
    "pipeline": [pipeline_chart],
    "stuck": [stuck_chart],
    "diagnose": [leak_chart],
    "backtest": [backtest_chart],
    "handoffs": [handoff_chart, ownership_chart],
    "attribution": [attribution_chart],
    "attribute": [attribution_chart],
    "attribution_compare": [attribution_chart],
    "score": [score_chart],
    "scores": [score_chart],
    "scoring": [score_chart],
}


def safely(maker: Callable[..., go.Figure | None], *args: Any) -> go.Figure | None:
    """Run a figure maker; a result shaped unlike what it expects gives no figure."""
    try:
        return maker(*args)
    except Exception as exc:  # a result of unexpected shape must not break the report
        log.warning("figure %s skipped: %s: %s", maker.__name__, type(exc).__name__, exc)
        return None


def for_result(name: str, result: Result, config: Config) -> list[go.Figure]:
    """The figures that show ``result`` best (none for results without a chart yet)."""
    figures = (safely(maker, result, config) for maker in _MAKERS.get(name, []))
    return [f for f in figures if f is not None]
