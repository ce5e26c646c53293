"""The first chart of the first screen: bookings against the target, with the forecast.

:func:`bookings_chart` combines the forecast and plan results: booked so far, the
target, P(hit), and the forecast's spread as a fan over time, a cone from today to
the period end, or a bullet when only the quantiles are known. It answers the
first question a leader asks (will we make the number?), so it leads the report.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    LIGHT,
    ORANGE,
    attr,
    column,
    find_table,
    first_result,
    money,
    new_figure,
    number,
    period_label,
    pick_number,
)
from fullfunnel.report.charts._finish import MONEY
from fullfunnel.result import Result


def bookings_chart(results: Mapping[str, Result], config: Config) -> go.Figure | None:
    """Booked so far against the target, with the forecast's P10–P90 fan and P(hit)."""
    fc = first_result(results, "forecast")
    plan = first_result(results, "plan")
    src = [r for r in (fc, plan) if r is not None]
    if not src:
        return None
    target = pick_number(src, "target", "target_amount", "bookings_target")
    booked = pick_number(
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
    fig.update_layout(
        barmode="overlay",
        yaxis={"visible": False},
        xaxis={"rangemode": "tozero", "tickformat": MONEY},
    )
    return fig


def _booked_path(fc: Result, start, now, booked: float) -> tuple[list, list]:
    """Booked so far as a step line: 0 at the start, each week's cumulative bookings at
    the week's end, and the booked total at ``as_of``."""
    weeks = find_table(fc, names=("booked_by_week",), all_of=("week", "cumulative"))
    x, y = [start], [0.0]
    if weeks is not None:
        ends = (pd.to_datetime(weeks["week"]) + pd.Timedelta(days=7)).clip(upper=now)
        x += list(ends[ends < now])
        y += list(weeks["cumulative"][ends < now].astype(float))
    return [*x, now], [*y, booked]


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
    x, y = _booked_path(fc, start, now, booked)
    fig.add_scatter(
        x=x, y=y, mode="lines", name=f"booked {money(booked)}",
        line={"color": "#102a43", "width": 3, "shape": "hv"},
    )  # fmt: skip
    if target:
        fig.add_hline(
            y=target, line={"color": ORANGE, "width": 2}, annotation_text=f"target {money(target)}",
            annotation_position="top left", annotation_font_color=ORANGE,
        )  # fmt: skip
    fig.update_layout(yaxis={"rangemode": "tozero", "tickformat": MONEY})
    return fig


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
