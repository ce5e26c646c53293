"""How far to trust the forecast: rerun it as of past dates and compare with what happened.

For each of the last ``periods`` complete quarters and each horizon (as of the
quarter's first day, one month in, two months in), the forecast is rerun with only
the data known then (the opportunities and their history are read as of that
date); every rerun is read from the same few queries. The actual is
what the quarter booked, as known at ``as_of``. Reported: forecast error (MAPE
and bias of the P50) and calibration (the share of actuals inside P10–P90, by
horizon; about 80% when calibrated).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from fullfunnel.analytics.bookings import booked_by
from fullfunnel.analytics.forecast import forecasts
from fullfunnel.analytics.metrics import quarter_start
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.analytics.vantage import Vantage
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

HORIZON_OFFSETS_DAYS = (0, 30, 60)


@dataclasses.dataclass(frozen=True, eq=False)
class BacktestResult(Result):
    """Past forecasts against the actuals, with error and calibration by horizon."""

    title = "backtest"
    runs: pd.DataFrame
    by_horizon: pd.DataFrame
    as_of: datetime
    periods: int
    mape: float
    bias: float
    coverage: float

    def headline(self) -> list[str]:
        if self.runs.empty:
            return ["no past quarter with data to backtest"]
        lines = [
            f"backtest over {self.periods} past quarters ({len(self.runs)} forecasts): "
            f"P50 off by {self.mape:.0%} on average (bias {self.bias:+.0%}); the actual fell "
            f"inside P10–P90 in {self.coverage:.0%} of runs (80% if calibrated)"
        ]
        for r in self.by_horizon.itertuples():
            lines.append(
                f"{r.days_left:.0f} days before quarter end: error {r.mape:.0%}, "
                f"inside P10–P90 {r.coverage:.0%} ({r.runs} runs)"
            )
        return lines


def backtest(
    wh: Warehouse,
    *,
    periods: int | None = None,
    as_of: str | datetime | None = None,
    sims: int | None = None,
    seed: int | None = None,
    config: Config | None = None,
) -> BacktestResult:
    """Rerun the forecast as of past dates; report MAPE, bias and P10–P90 coverage."""
    config = config or default_config()
    as_of_dt = resolve_as_of(wh, as_of)
    periods = periods or config["forecast"]["backtest_periods"]
    if periods < 1:
        raise InputError("periods must be 1 or more", option="periods")
    sims = sims or min(config["forecast"]["sims"], 5000)
    end = quarter_start(as_of_dt)
    quarters = []
    for _ in range(periods):
        start = quarter_start(end - timedelta(days=1))
        quarters.append((start, end))
        end = start
    # what each quarter booked as known now, and every past forecast: one set of queries
    actuals = booked_by(wh, [Vantage(as_of_dt, start, end) for start, end in quarters])
    at = [
        Vantage(start + timedelta(days=offset), start, end)
        for start, end in quarters
        for offset in HORIZON_OFFSETS_DAYS
    ]
    past = forecasts(wh, at, sims=sims, seed=seed, config=config)
    rows = []
    for v, f in zip(at, past, strict=True):
        actual, actual_n = actuals[quarters.index((v.start, v.end))]
        rows.append(
            {
                "period_start": pd.Timestamp(v.start),
                "as_of": pd.Timestamp(v.as_of),
                "days_left": (v.end - v.as_of).days,
                "p10": f.p10,
                "p50": f.p50,
                "p90": f.p90,
                "actual": actual,
                "actual_wins": actual_n,
                "inside": bool(f.p10 <= actual <= f.p90),
                "error": (f.p50 - actual) / actual if actual else float("nan"),
            }
        )
    runs = pd.DataFrame(rows)
    if runs.empty:
        by_h = pd.DataFrame(columns=["days_left", "runs", "mape", "bias", "coverage"])
        return BacktestResult(runs, by_h, as_of_dt, periods, np.nan, np.nan, np.nan)
    runs["abs_error"] = runs["error"].abs()
    by_h = (
        runs.assign(bucket=runs["days_left"] // 30 * 30)
        .groupby("bucket", as_index=False)
        .agg(
            days_left=("days_left", "mean"),
            runs=("inside", "size"),
            mape=("abs_error", "mean"),
            bias=("error", "mean"),
            coverage=("inside", "mean"),
        )
        .drop(columns="bucket")
        .sort_values("days_left", ascending=False, ignore_index=True)
    )
    return BacktestResult(
        runs=runs.drop(columns="abs_error"),
        by_horizon=by_h,
        as_of=as_of_dt,
        periods=periods,
        mape=float(runs["abs_error"].mean()),
        bias=float(runs["error"].mean()),
        coverage=float(runs["inside"].mean()),
    )
