"""The forecast backtest figure: past forecasts against what happened.

Each past run's P10–P90 range is drawn with the actual bookings marked inside
(green) or outside (red), and the title states the coverage against the 80% a
calibrated forecast would reach: how far to trust the forecast on the first screen.
"""

from __future__ import annotations

import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    GREEN,
    LIGHT,
    RED,
    column,
    find_table,
    new_figure,
    number,
)
from fullfunnel.report.charts._finish import MONEY
from fullfunnel.result import Result


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
    fig.update_layout(title={"text": title}, yaxis={"tickformat": MONEY, "rangemode": "tozero"})
    return fig
