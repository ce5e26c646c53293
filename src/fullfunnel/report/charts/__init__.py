"""Plotly figures for results; each title states the finding, not just the measure.

Two kinds of maker:

- ``for_result(name, result, config)``: the figures of one analysis, keyed by the
  analysis name in ``_MAKERS`` (one module per area: :mod:`.funnel`,
  :mod:`.diagnosis`, :mod:`.attribution`, :mod:`.backtest`, :mod:`.scoring`,
  :mod:`.survival`).
- the first-screen figures (``bookings_chart`` in :mod:`.bookings`;
  ``funnel_chart``, ``dropoff_chart``, ``weight_chart`` in :mod:`.first_screen`),
  which may combine several results.

Makers only read result objects, through the defensive helpers of
:mod:`._common`. This package re-exports the makers and helpers the report view
uses, so ``from fullfunnel.report import charts; charts.funnel_chart(...)`` works;
a new chart is one function in its area's module plus one line in ``_MAKERS``.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    GREEN,
    GREY,
    LIGHT,
    ORANGE,
    RED,
    SEGMENT_LABELS,
    attr,
    column,
    find_table,
    first_result,
    log,
    money,
    new_figure,
    number,
    pct,
    period_label,
    pick_number,
    safely,
    share_text,
    stage_label,
    stage_segment,
    weakest_step,
)
from fullfunnel.report.charts._finish import MONEY, data_table, describe, finish, stage_order
from fullfunnel.report.charts.attribution import MODEL_NAMES, attribution_chart
from fullfunnel.report.charts.backtest import backtest_chart
from fullfunnel.report.charts.bookings import bookings_chart
from fullfunnel.report.charts.diagnosis import (
    handoff_chart,
    leak_chart,
    ownership_chart,
    stuck_chart,
)
from fullfunnel.report.charts.first_screen import (
    dropoff_chart,
    funnel_chart,
    leak_table,
    weight_chart,
)
from fullfunnel.report.charts.funnel import (
    breakdown_chart,
    cohort_chart,
    pipeline_chart,
    velocity_chart,
)
from fullfunnel.report.charts.scoring import score_chart
from fullfunnel.report.charts.survival import chance_chart, review_chart
from fullfunnel.result import Result

__all__ = [
    "BLUE",
    "GREEN",
    "GREY",
    "LIGHT",
    "MODEL_NAMES",
    "MONEY",
    "ORANGE",
    "RED",
    "SEGMENT_LABELS",
    "Maker",
    "attr",
    "attribution_chart",
    "backtest_chart",
    "bookings_chart",
    "breakdown_chart",
    "chance_chart",
    "cohort_chart",
    "column",
    "data_table",
    "describe",
    "dropoff_chart",
    "find_table",
    "finish",
    "first_result",
    "for_result",
    "funnel_chart",
    "handoff_chart",
    "leak_chart",
    "leak_table",
    "log",
    "money",
    "new_figure",
    "number",
    "ownership_chart",
    "pct",
    "period_label",
    "pick_number",
    "pipeline_chart",
    "review_chart",
    "safely",
    "score_chart",
    "share_text",
    "stage_label",
    "stage_order",
    "stage_segment",
    "stuck_chart",
    "velocity_chart",
    "weakest_step",
    "weight_chart",
]

Maker = Callable[[Result, Config], "go.Figure | None"]

# analysis name → figure makers, in the order they are shown
_MAKERS: dict[str, list[Maker]] = {
    "funnel": [cohort_chart],
    "velocity": [velocity_chart],
    "pipeline": [pipeline_chart],
    "stuck": [stuck_chart, chance_chart],
    "review": [review_chart],
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


def for_result(name: str, result: Result, config: Config) -> list[go.Figure]:
    """The figures that show ``result`` best (none for results without a chart yet)."""
    figures = (safely(maker, result, config) for maker in _MAKERS.get(name, []))
    return [f for f in figures if f is not None]
