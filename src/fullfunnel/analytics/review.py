"""The review of a period that has ended: target against actual, and why.

* Target (:func:`bookings.period_target`) against what the period booked, week by
  week, with the pace the target needed.
* The forecast made on the period's first day (only data known then) against what
  happened: inside its P10–P90 or not, and how far the P50 was off.
* Where it leaked: each stage's conversion among the contacts that reached it in
  the period (mature by ``as_of``) against the window before the period; a stage
  is worse or better only when the two intervals do not overlap.
* The shared deal KPIs of the period against those before it.

Without a period, the last complete quarter before ``as_of``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pandas as pd

from fullfunnel.analytics.bookings import (
    Booked,
    PeriodTarget,
    bookings,
    bookings_by_week,
    period_target,
)
from fullfunnel.analytics.forecast import ForecastResult, forecast
from fullfunnel.analytics.metrics import DealKPIs, deal_kpis, quarter_start, stage_conversion
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.analytics.stats import TOO_CLOSE
from fullfunnel.analytics.targets import period_bounds
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.lifecycle import held, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class ReviewResult(Result):
    """A past period: target vs actual, the forecast made at its start, the leaks."""

    title = "review"
    by_week: pd.DataFrame
    stages: pd.DataFrame
    period_start: datetime
    period_end: datetime
    as_of: datetime
    target: PeriodTarget
    actual: Booked
    forecast_at_start: ForecastResult
    kpis: DealKPIs
    kpis_before: DealKPIs

    def display_columns(self) -> dict[str, list[str]]:
        stages = "stage next_stage entered rate rate_low rate_high rate_before change"
        return {"stages": stages.split()}

    def headline(self) -> list[str]:
        last = self.period_end - timedelta(days=1)
        lines = []
        head = f"review of {self.period_start:%Y-%m-%d}..{last:%Y-%m-%d}: booked "
        head += f"{self.actual.amount:,.0f} from {self.actual.deals:,} won deals"
        if self.target.amount:
            head += (
                f" against a target of {self.target.amount:,.0f} "
                f"({self.actual.amount / self.target.amount:.0%})"
            )
        lines.append(head)
        f = self.forecast_at_start
        inside = f.p10 <= self.actual.amount <= f.p90
        line = (
            f"the forecast made on {f.as_of:%Y-%m-%d}: P50 {f.p50:,.0f} (P10 {f.p10:,.0f} – "
            f"P90 {f.p90:,.0f})"
        )
        if f.probability_hit is not None:
            line += f", chance to hit {f.probability_hit:.0%}"
        off = self.actual.amount - f.p50
        line += (
            f"; the actual fell {'inside' if inside else 'outside'} P10–P90, "
            f"{abs(off):,.0f} {'above' if off >= 0 else 'below'} the P50"
        )
        lines.append(line)
        now, before = self.kpis.win_rate, self.kpis_before.win_rate
        if now.value is not None and before.value is not None:
            lines.append(
                f"win rate in the period {now.text('closed')}; in "
                f"{self.kpis_before.window.description} {before.value:.1%}"
            )
        worse = self.stages[self.stages["change"] == "worse"]
        better = self.stages[self.stages["change"] == "better"]
        for label, rows in (("leaked more", worse), ("converted better", better)):
            for r in rows.itertuples():
                lines.append(
                    f"{label}: {r.stage} → {r.next_stage} {r.rate:.1%} of {r.entered:,} "
                    f"(interval {r.rate_low:.1%}–{r.rate_high:.1%}) against {r.rate_before:.1%} "
                    f"before ({r.rate_before_low:.1%}–{r.rate_before_high:.1%})"
                )
        if worse.empty and better.empty and not self.stages.empty:
            lines.append(
                "no stage converted clearly better or worse than before (every change is "
                "within the intervals)"
            )
        return lines


def review(
    wh: Warehouse,
    *,
    period: str | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
    strict: bool = True,
) -> ReviewResult:
    """Review ``period`` (default: the last complete quarter before ``as_of``).

    A period that has not ended is refused, or with ``strict=False`` (a report of
    the current period) the last complete quarter is reviewed instead.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ff.review(wh, period="2026-Q3", as_of="2026-11-01").actual.amount
    0.0
    """
    config = held(wh, config or default_config())  # the stages the data holds
    as_of_dt = resolve_as_of(wh, as_of)
    start, end = period_bounds(period) if period else (as_of_dt, as_of_dt + timedelta(days=1))
    if end > as_of_dt and (period is None or not strict):
        end = quarter_start(as_of_dt)
        start = quarter_start(end - timedelta(days=1))
    if end > as_of_dt:
        raise InputError(
            f"period {start:%Y-%m-%d}..{end - timedelta(days=1):%Y-%m-%d} has not ended by "
            f"{as_of_dt:%Y-%m-%d}: review a past period, or plan this one (fullfunnel plan)"
        )
    label = f"{start:%Y-%m-%d}..{end - timedelta(days=1):%Y-%m-%d}"
    target = period_target(wh, start, end)
    actual = bookings(wh, start, end, as_of=as_of_dt)
    fc = forecast(wh, period=label, as_of=start, target=target.amount, config=config)
    kpis = deal_kpis(wh, as_of=as_of_dt, config=config, period=(start, end))
    before = deal_kpis(wh, as_of=start, config=config)
    return ReviewResult(
        by_week=bookings_by_week(wh, start, end, as_of=as_of_dt, target=target.amount),
        stages=stage_changes(wh, config, start, end, as_of_dt),
        period_start=start,
        period_end=end,
        as_of=as_of_dt,
        target=target,
        actual=actual,
        forecast_at_start=fc,
        kpis=kpis,
        kpis_before=before,
    )


def stage_changes(
    wh: Warehouse, config: Config, start: datetime, end: datetime, as_of: datetime
) -> pd.DataFrame:
    """Each step's conversion among the contacts that reached it in ``start``..``end``
    (mature by ``as_of``) against the window before ``start``: worse or better only
    when the two intervals do not overlap."""
    during = stage_conversion(
        wh, timeline(wh, config, as_of=as_of), as_of=as_of, config=config, period=(start, end)
    )
    before = stage_conversion(wh, timeline(wh, config, as_of=start), as_of=start, config=config)
    before = before.set_index("stage")
    out = during[["stage", "next_stage", "entered", "converted", "rate", "rate_low", "rate_high"]]
    out = out.copy()
    out["source"] = during["source"]
    for col in ("rate", "rate_low", "rate_high"):
        out[col.replace("rate", "rate_before")] = out["stage"].map(before[col])
    worse = out["rate_high"] < out["rate_before_low"]
    better = out["rate_low"] > out["rate_before_high"]
    known = out["entered"].gt(0) & out["rate_before"].notna() & out["source"].eq("window")
    out["change"] = TOO_CLOSE
    out.loc[worse, "change"] = "worse"
    out.loc[better, "change"] = "better"
    out.loc[~known, "change"] = "not enough data"
    return out.reset_index(drop=True)
