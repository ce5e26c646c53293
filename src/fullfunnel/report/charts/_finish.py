"""Rules every chart keeps, whatever made it, and what it says without the picture.

:func:`finish` runs on each figure before it is written: stages (and steps such as
"lead → MQL") on a category axis follow the funnel order of the config, never the
alphabet; a series of fewer than 3 points is drawn as markers, not as a line that
suggests a trend; percent axes stay inside 0–100%. :func:`describe` is the
chart's text alternative and :func:`data_table` the numbers it draws, which the
report shows under it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import stage_label

MONEY = ",.0f"  # money on an axis: 1,250,000, never 1.25M
_KINDS = {"bar": "Bar", "scatter": "Line", "heatmap": "Heat-map"}


def stage_order(config: Config) -> list[str]:
    """Every stage a chart may show, as labelled there, in funnel order: the stage
    model, its exits, then the open-deal stages of ``funnel.pipeline_stages``."""
    names = [s.name for s in config.stages] + list(config.exits)
    names += list(config["funnel"].get("pipeline_stages", ()))
    out: list[str] = []
    for name in names:
        for label in (stage_label(config, name), name):
            if label not in out:
                out.append(label)
    return out


def finish(fig: go.Figure, config: Config) -> go.Figure:
    """``fig`` with stage axes in funnel order, no line under 3 points, percent in 0–100%."""
    _order_stages(fig, stage_order(config))
    for trace in fig.data:
        if trace.type == "scatter":
            _markers_when_short(trace)
    for name in _axes(fig):
        axis = fig.layout[name]
        if "%" in (axis.tickformat or ""):
            top = _largest(fig, name)
            axis.autorangeoptions = {"clipmin": 0, "clipmax": 1 if top <= 1 else None}
            if axis.range is not None:
                axis.range = [max(0, axis.range[0]), axis.range[1]]
    return fig


def _axes(fig: go.Figure) -> list[str]:
    names = {"xaxis", "yaxis"}
    names.update(k for k in fig.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis")))
    return sorted(names)


def _axis_of(trace: Any, letter: str) -> str:
    ref = getattr(trace, f"{letter}axis", None) or letter
    return f"{letter}axis{ref[1:]}"


def _order_stages(fig: go.Figure, order: list[str]) -> None:
    """Category axes whose values are all stages (or steps between stages) in ``order``."""
    rank = {label: i for i, label in enumerate(order)}

    def key(value: str) -> tuple[int, ...] | None:
        parts = value.split(" → ")
        if len(parts) > 2 or any(p not in rank for p in parts):
            return None
        return tuple(rank[p] for p in parts)

    values: dict[str, list[str]] = {}
    for trace in fig.data:
        for letter in ("x", "y"):
            data = getattr(trace, letter, None)
            if data is None or len(data) == 0:
                continue
            axis = values.setdefault(_axis_of(trace, letter), [])
            axis.extend(data if all(isinstance(v, str) for v in data) else [None])
    for name, seen in values.items():
        keys = [key(v) if isinstance(v, str) else None for v in seen]
        if seen and all(k is not None for k in keys):
            ordered = sorted(dict.fromkeys(seen), key=lambda v: key(v))
            fig.update_layout({name: {"categoryorder": "array", "categoryarray": ordered}})


def _markers_when_short(trace: Any) -> None:
    mode = trace.mode or "lines+markers"
    if "lines" not in mode or trace.fill == "toself":
        return
    if pd.Series(list(trace.y if trace.y is not None else [])).notna().sum() >= 3:
        return
    trace.mode = "markers+text" if "text" in mode else "markers"
    trace.fill = None
    if trace.marker.size is None:
        trace.marker.size = 10


def _largest(fig: go.Figure, axis: str) -> float:
    letter = axis[0]
    top = 0.0
    for trace in fig.data:
        if _axis_of(trace, letter) != axis or trace.type not in ("bar", "scatter"):
            continue
        data = getattr(trace, letter)
        values = pd.to_numeric(pd.Series([] if data is None else list(data)), errors="coerce")
        if values.notna().any():
            top = max(top, float(values.max()))
    return top


# --- the text alternative and the numbers behind the picture ---------------------------


def describe(fig: go.Figure, title: str) -> str:
    """A sentence for a reader who cannot see the chart."""
    kinds = sorted({_KINDS.get(t.type, t.type.capitalize()) for t in fig.data})
    names = [str(t.name) for t in fig.data if t.name and t.showlegend is not False]
    text = f"{' and '.join(kinds) or 'Empty'} chart: {title}".rstrip(". ") + "."
    if names:
        text += f" Series: {', '.join(dict.fromkeys(names))}."
    return text + " The table below holds its numbers."


def data_table(fig: go.Figure) -> pd.DataFrame:
    """The numbers a figure draws: one row per category (or point), one column per series,
    formatted as its value axis shows them (percent, money with thousands separators)."""
    columns: list[pd.Series] = []
    for i, trace in enumerate(fig.data):
        if trace.type == "heatmap":
            return _heatmap_table(trace, fig)
        if trace.type not in ("bar", "scatter") or getattr(trace, "mode", None) == "text":
            continue
        flat = trace.orientation == "h"
        cats, vals = (trace.y, trace.x) if flat else (trace.x, trace.y)
        if cats is None or vals is None or getattr(trace, "fill", None) == "toself":
            continue
        axis = fig.layout[_axis_of(trace, "x" if flat else "y")]
        shown = [_fmt(v, axis.tickformat) for v in vals]
        name = str(trace.name or f"series {i + 1}")
        columns.append(pd.Series(shown, index=[_label(c) for c in cats], name=name))
    if not columns:
        return pd.DataFrame()
    if all(c.index.is_unique for c in columns):
        wide = pd.concat(columns, axis=1).fillna("")
        return wide.rename_axis("").reset_index()
    return pd.concat(
        [pd.DataFrame({"series": c.name, "at": c.index, "value": c.to_numpy()}) for c in columns]
    )


def _heatmap_table(trace: Any, fig: go.Figure) -> pd.DataFrame:
    fmt = trace.colorbar.tickformat if trace.colorbar else None
    grid = pd.DataFrame(trace.z, index=None if trace.y is None else [_label(v) for v in trace.y])
    grid.columns = [_label(v) for v in trace.x] if trace.x is not None else grid.columns
    return grid.map(lambda v: _fmt(v, fmt)).rename_axis("").reset_index()


def _label(value: Any) -> str:
    if hasattr(value, "strftime") or type(value).__name__ == "datetime64":
        stamp = pd.Timestamp(value)
        return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"
    return str(value)


def _fmt(value: Any, tickformat: str | None) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if v != v:
        return ""
    if "%" in (tickformat or ""):
        return f"{v:.1%}"
    if abs(v) >= 1000 or (tickformat or "").startswith(","):
        return f"{v:,.0f}"
    return f"{v:,.3g}" if v != int(v) else f"{int(v):,}"
