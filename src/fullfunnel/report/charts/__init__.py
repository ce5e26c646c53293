"""Plotly figures for results; each title states the finding, not just the measure.

Two kinds of maker:

- ``for_result(name, result, config)``: the figures of one analysis, chosen by its
  result type in :func:`makers` (one module per area: :mod:`.funnel`,
  :mod:`.diagnosis`, :mod:`.attribution`, :mod:`.backtest`, :mod:`.scoring`,
  :mod:`.survival`).
- the first-screen figures (``bookings_chart`` in :mod:`.bookings`;
  ``funnel_chart``, ``dropoff_chart``, ``weight_chart`` in :mod:`.first_screen`),
  which may combine several results.

Makers only read result objects, each its own result type's fields by their names
(an empty table is no figure). This package re-exports the makers and helpers the
report view uses, so ``from fullfunnel.report import charts; charts.funnel_chart(...)``
works; a new chart is one function in its area's module plus one entry in
:func:`makers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

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
    money,
    new_figure,
    of_type,
    pct,
    period_label,
    share_text,
    stage_label,
    stage_segment,
    weakest_step,
)
from fullfunnel.report.charts._finish import MONEY, data_table, describe, finish, stage_order
from fullfunnel.report.charts.attribution import attribution_chart
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
    movement_chart,
    pipeline_chart,
    steps_chart,
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
    "MONEY",
    "ORANGE",
    "RED",
    "SEGMENT_LABELS",
    "Maker",
    "attribution_chart",
    "backtest_chart",
    "bookings_chart",
    "breakdown_chart",
    "chance_chart",
    "cohort_chart",
    "data_table",
    "describe",
    "dropoff_chart",
    "finish",
    "for_result",
    "funnel_chart",
    "handoff_chart",
    "leak_chart",
    "leak_table",
    "money",
    "movement_chart",
    "new_figure",
    "of_type",
    "ownership_chart",
    "pct",
    "period_label",
    "pipeline_chart",
    "review_chart",
    "score_chart",
    "share_text",
    "stage_label",
    "stage_order",
    "stage_segment",
    "steps_chart",
    "stuck_chart",
    "velocity_chart",
    "weakest_step",
    "weight_chart",
]

# a figure maker: a result of the type it is listed under in makers(), and the config
Maker = Callable[[Any, Config], "go.Figure | None"]


@functools.cache
def makers() -> dict[type, tuple[Maker, ...]]:
    """Result type → the figure makers that draw it, in the order they are shown.

    Dispatched on the result's type, not on a name: a result of another type is
    never handed to a maker that expects these fields.
    """
    from fullfunnel.analytics.attribution import AttributionResult, CompareResult
    from fullfunnel.analytics.backtest import BacktestResult
    from fullfunnel.analytics.diagnose import DiagnoseResult
    from fullfunnel.analytics.funnel import FunnelResult
    from fullfunnel.analytics.handoffs import HandoffsResult
    from fullfunnel.analytics.movement import MovementResult
    from fullfunnel.analytics.pipeline import PipelineResult
    from fullfunnel.analytics.review import ReviewResult
    from fullfunnel.analytics.scoring.results import ScoreResult
    from fullfunnel.analytics.steps import StepsResult
    from fullfunnel.analytics.stuck import StuckResult
    from fullfunnel.analytics.velocity import VelocityResult

    return {
        FunnelResult: (cohort_chart,),
        VelocityResult: (velocity_chart,),
        PipelineResult: (pipeline_chart,),
        MovementResult: (movement_chart,),
        StepsResult: (steps_chart,),
        StuckResult: (stuck_chart, chance_chart),
        ReviewResult: (review_chart,),
        DiagnoseResult: (leak_chart,),
        BacktestResult: (backtest_chart,),
        HandoffsResult: (handoff_chart, ownership_chart),
        AttributionResult: (attribution_chart,),
        CompareResult: (attribution_chart,),
        ScoreResult: (score_chart,),
    }


def for_result(name: str, result: Result, config: Config) -> list[go.Figure]:
    """The figures that show ``result`` (none for a type without a chart yet); a maker
    that fails on its own result type is a bug, and fails the report."""
    chosen = next((m for t, m in makers().items() if isinstance(result, t)), ())
    figures = (maker(result, config) for maker in chosen)
    return [f for f in figures if f is not None]
