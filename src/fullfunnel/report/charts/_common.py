"""What every figure maker shares: colours, the Plotly template, label formatting.

Makers only read result objects, and each reads its own result type's fields by
their names: a maker is only handed results of the types it draws
(:func:`fullfunnel.report.charts.makers`), so a renamed field fails the report and
the tests instead of making a chart vanish. An empty table is no figure (the
report then shows the result's headline and tables). The formatting helpers
(:func:`money`, :func:`pct`, :func:`stage_label`, :func:`period_label`) keep titles
and labels worded alike across charts. Kept apart so each chart module holds only
its own figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.forecast import ForecastResult
from fullfunnel.analytics.plan import PlanResult
from fullfunnel.config import Config
from fullfunnel.result import Result

R = TypeVar("R", bound=Result)

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


def share_text(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.0%}" if v <= 1.0 else f"{v:,.0f}"


def stage_label(config: Config, stage: Any) -> str:
    """Short stage label for charts: the config's stage name (lead, MQL, SAL…)."""
    text = str(stage)
    return text.upper() if text in ("mql", "sal", "sql") else text


def stage_segment(config: Config, stage: str) -> str | None:
    return next((s.segment for s in config.stages if s.name == stage), None)


def weakest_step(rows: pd.DataFrame):
    """The mature step of a funnel stage table lowest against its benchmark (None: none)."""
    scored = rows.dropna(subset=["conversion", "benchmark"])
    scored = scored[~scored["immature"].astype(bool)]
    if scored.empty:
        return None
    gap = scored["conversion"].astype(float) / scored["benchmark"].astype(float)
    return scored.loc[gap.idxmin()]


def of_type(results: Mapping[str, Result], kind: type[R]) -> R | None:
    """The first of ``results`` that is a ``kind`` (results are found by type, not name)."""
    return next((r for r in results.values() if isinstance(r, kind)), None)


def period_label(result: ForecastResult | PlanResult | None) -> str:
    """'2026-Q4' for a calendar quarter, else 'start..end', from a result's period."""
    if result is None:
        return ""
    start, end = pd.Timestamp(result.period_start), pd.Timestamp(result.period_end)
    months = (end.year - start.year) * 12 + end.month - start.month
    if start.day == 1 and end.day == 1 and start == start.normalize():
        if months == 3 and start.month % 3 == 1:
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        if months == 12 and start.month == 1:
            return str(start.year)
        if months == 1:
            return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d}..{end - pd.Timedelta(days=1):%Y-%m-%d}"
