"""The forecast backtest figure: past forecasts against what happened.

Each past run's P10–P90 range is drawn with the actual bookings marked inside
(green) or outside (red), and the title states the coverage against the 80% a
calibrated forecast would reach: how far to trust the forecast on the first screen.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.backtest import BacktestResult
from fullfunnel.config import Config
from fullfunnel.report.charts._common import BLUE, GREEN, LIGHT, RED, new_figure
from fullfunnel.report.charts._finish import MONEY


def backtest_chart(result: BacktestResult, config: Config) -> go.Figure | None:
    """Past forecasts against what happened: how far to trust the forecast."""
    runs = result.runs
    if runs.empty:
        return None
    fig = new_figure("", height=320)
    fig.add_bar(
        x=runs["as_of"], y=runs["p90"] - runs["p10"], base=runs["p10"], name="forecast P10–P90",
        marker_color=LIGHT, width=1000 * 3600 * 24 * 6,
    )  # fmt: skip
    fig.add_scatter(
        x=runs["as_of"], y=runs["p50"], mode="markers", name="forecast P50",
        marker={"symbol": "line-ew-open", "size": 16, "color": BLUE},
    )  # fmt: skip
    colours = [GREEN if v else RED for v in runs["inside"].astype(bool)]
    fig.add_scatter(
        x=runs["as_of"], y=runs["actual"], mode="markers", name="actual bookings",
        marker={"symbol": "diamond", "size": 10, "color": colours},
    )  # fmt: skip
    parts = [
        f"the actual fell inside the forecast's P10–P90 in {result.coverage:.0%} of "
        f"{len(runs)} past runs (80% if calibrated)"
    ]
    if pd.notna(result.mape):  # no error where every actual was zero
        parts.append(f"mean error {result.mape:.0%}")
    title = "Backtest: " + ", ".join(parts)
    fig.update_layout(title={"text": title}, yaxis={"tickformat": MONEY, "rangemode": "tozero"})
    return fig
