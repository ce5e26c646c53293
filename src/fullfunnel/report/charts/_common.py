"""What every figure maker shares: colours, the Plotly template, defensive reading.

Makers only read result objects, and results of analyses still taking shape are
read defensively: :func:`attr`, :func:`number` and :func:`find_table` return None
for a field or table that is missing, which means no figure (the report then falls
back to the result's headline and tables). The formatting helpers (:func:`money`,
:func:`pct`, :func:`stage_label`, :func:`period_label`) keep titles and labels
worded alike across charts. A maker is only handed results of the types it draws
(:func:`fullfunnel.report.charts.makers`), and nothing here swallows an error: a
maker that fails on its own type fails the report, and the tests. Kept apart so
each chart module holds only its own figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go

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
    if "benchmark" not in rows or "conversion" not in rows:
        return None
    scored = rows.dropna(subset=["conversion", "benchmark"])
    if "immature" in scored:
        scored = scored[~scored["immature"].astype(bool)]
    if scored.empty:
        return None
    gap = scored["conversion"].astype(float) / scored["benchmark"].astype(float)
    return scored.loc[gap.idxmin()]


def of_type(results: Mapping[str, Result], kind: type[R]) -> R | None:
    """The first of ``results`` that is a ``kind`` (results are found by type, not name)."""
    return next((r for r in results.values() if isinstance(r, kind)), None)


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


def _period_text(period: Any) -> str:
    if isinstance(period, str):
        return period
    if isinstance(period, list | tuple) and len(period) == 2:
        return f"{period[0]}..{period[1]}"
    return str(period)
