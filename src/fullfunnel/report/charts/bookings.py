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

from fullfunnel.analytics.forecast import ForecastResult
from fullfunnel.analytics.plan import PlanResult
from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    LIGHT,
    ORANGE,
    money,
    new_figure,
    of_type,
    period_label,
)
from fullfunnel.report.charts._finish import MONEY
from fullfunnel.result import Result


def bookings_chart(results: Mapping[str, Result], config: Config) -> go.Figure | None:
    """Booked so far against the target, with the forecast's P10–P90 fan and P(hit)."""
    fc, plan = of_type(results, ForecastResult), of_type(results, PlanResult)
    if fc is None and plan is None:
        return None
    target = next((r.target for r in (fc, plan) if r is not None and r.target), None)
    if fc is not None:
        booked, p10, p50, p90 = fc.booked, fc.p10, fc.p50, fc.p90
        p_hit = fc.probability_hit
        fig = _fan_cone(fc, target)
    else:
        booked, p10, p50, p90 = plan.booked, plan.forecast_p10, plan.forecast_p50, plan.forecast_p90
        p_hit = plan.probability_hit
        if target is None and p50 is None:
            return None
        fig = _bullet(booked, p10, p50, p90, target)
    parts = []
    if p50 is not None and target:
        parts.append(f"Forecast {money(p50)} vs target {money(target)}")
    elif target:
        parts.append(f"Booked {money(booked)} of the {money(target)} target")
    else:
        parts.append(f"Forecast {money(p50)}, booked {money(booked)}")
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


def _booked_path(fc: ForecastResult) -> tuple[list, list]:
    """Booked so far as a step line: 0 at the start, each week's cumulative bookings at
    the week's end, and the booked total at ``as_of``."""
    start, now, weeks = pd.Timestamp(fc.period_start), pd.Timestamp(fc.as_of), fc.booked_by_week
    x, y = [start], [0.0]
    if not weeks.empty:
        ends = (pd.to_datetime(weeks["week"]) + pd.Timedelta(days=7)).clip(upper=now)
        x += list(ends[ends < now])
        y += list(weeks["cumulative"][ends < now].astype(float))
    return [*x, now], [*y, fc.booked]


def _fan_cone(fc: ForecastResult, target: float | None) -> go.Figure:
    """From booked-to-date at ``as_of`` to the forecast's spread at the period end."""
    end = pd.Timestamp(fc.period_end) - pd.Timedelta(days=1)
    now, booked = pd.Timestamp(fc.as_of), fc.booked
    dist = fc.distribution
    fig = new_figure("", height=320)

    def q(level: float) -> float:
        hit = dist[(dist["quantile"] - level).abs() < 1e-6] if not dist.empty else dist
        if hit.empty:
            return {0.1: fc.p10, 0.5: fc.p50, 0.9: fc.p90}[level]
        return float(hit["bookings"].iloc[0])

    bands = [(0.1, 0.9, "rgba(47,111,171,0.18)", "P10–P90")]
    if not dist.empty:
        bands.append((0.25, 0.75, "rgba(47,111,171,0.30)", "P25–P75"))
    for lo, hi, colour, name in bands:
        fig.add_scatter(
            x=[now, end, end, now], y=[booked, q(hi), q(lo), booked], fill="toself",
            fillcolor=colour, line={"width": 0}, mode="lines", name=name, hoverinfo="skip",
        )  # fmt: skip
    mid = q(0.5)
    fig.add_scatter(
        x=[now, end], y=[booked, mid], mode="lines+markers", name=f"P50 {money(mid)}",
        line={"color": BLUE, "dash": "dash"},
    )  # fmt: skip
    x, y = _booked_path(fc)
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
