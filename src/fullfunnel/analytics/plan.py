"""The reverse waterfall: what has to happen, by when, to hit the period's target.

The gap is target − booked. What the pipeline will yield inside the period comes
from the forecast (:mod:`~fullfunnel.analytics.forecast`): the open deals, each by
its stage and age, and the new pipeline at the recent pace. The plan and the
forecast therefore cannot disagree: the plan shows the forecast's chance to hit.
Whatever the expected yield leaves short, in won deals at the shared average deal,
is carried up the funnel: at each stage S, ``short wins / P(S → won)`` more
contacts than the current pace must enter S by the period end minus the median
days from S to won. Steps are listed in funnel order; a stage whose lead time no
longer fits the period is named once, with the stage the gap must close from.
Everything uses only data known at ``as_of``.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from fullfunnel.analytics.bookings import bookings, period_target
from fullfunnel.analytics.forecast import ForecastResult, forecast
from fullfunnel.analytics.metrics import DealKPIs, deal_kpis
from fullfunnel.analytics.period import current_quarter, resolve_as_of
from fullfunnel.analytics.rates import stage_rates
from fullfunnel.analytics.targets import parse_amount, period_bounds
from fullfunnel.config import Config, default_config, stage_plural
from fullfunnel.lifecycle import held, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class PlanResult(Result):
    """The reverse waterfall of one period, as of one date."""

    title = "plan"
    waterfall: pd.DataFrame
    by_month: pd.DataFrame
    by_team: pd.DataFrame
    actions: list[str]
    warnings: list[str]
    period_start: datetime
    period_end: datetime
    as_of: datetime
    target: float | None
    target_basis: str
    booked: float
    gap: float
    average_deal: float | None
    kpis: DealKPIs | None
    wins_needed: int
    expected_open: float
    expected_new: float
    expected_wins: float
    short_amount: float
    short_wins: float
    open_pipeline: float
    open_count: int
    coverage: float | None
    coverage_needed: float | None
    probability_hit: float | None
    forecast_p10: float | None
    forecast_p50: float | None
    forecast_p90: float | None
    actual: float | None

    def display_columns(self) -> dict[str, list[str]]:
        steps = "stage created_by to_won_rate days_to_won_median more_needed enter_by status"
        return {"waterfall": steps.split()}

    def headline(self) -> list[str]:
        last = self.period_end - timedelta(days=1)
        period = f"{self.period_start:%Y-%m-%d}..{last:%Y-%m-%d}"
        review = []
        if self.actual is not None:
            share = f" ({self.actual / self.target:.0%} of target)" if self.target else ""
            review = [
                f"the period has ended: it booked {self.actual:,.0f}{share}; this is the plan "
                f"as it stood on {self.as_of:%Y-%m-%d}"
            ]
        if not self.target:
            return review + (self.warnings[:1] or [f"{period}: no target"])
        if self.gap <= 0:
            met = f"{period}: target {self.target:,.0f} already met — booked "
            return [*review, met + f"{self.booked:,.0f} by {self.as_of:%Y-%m-%d}"]
        lines = [
            f"{period}: target {self.target:,.0f} ({self.target_basis}), booked "
            f"{self.booked:,.0f} ({self.booked / self.target:.0%}) by {self.as_of:%Y-%m-%d}; "
            f"gap {self.gap:,.0f}"
            + (
                f" = {self.wins_needed} won deals at the average deal of "
                f"{self.average_deal:,.0f} ({self.kpis.average_deal.n:,} won in "
                f"{self.kpis.window.description})"
                if self.average_deal and self.kpis is not None
                else ""
            )
        ]
        lines.append(
            f"expected inside the period: {self.expected_open + self.expected_new:,.0f} "
            f"({self.expected_open:,.0f} from {self.open_count:,} open deals, "
            f"{self.expected_new:,.0f} from new pipeline)"
            + (
                f"; forecast P50 {self.forecast_p50:,.0f} (P10 {self.forecast_p10:,.0f} – "
                f"P90 {self.forecast_p90:,.0f}), chance to hit {self.probability_hit:.0%}"
                if self.probability_hit is not None
                else ""
            )
        )
        if self.coverage is not None and self.open_pipeline > 0:
            lines.append(
                f"pipeline coverage {self.coverage:.1f}× the gap ({self.open_pipeline:,.0f} open), "
                f"of which {self.expected_open / self.open_pipeline:.0%} is expected to close "
                f"by {last:%Y-%m-%d}"
            )
        return review + lines + self.actions + self.warnings


def plan(
    wh: Warehouse,
    *,
    period: str | None = None,
    target: str | float | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> PlanResult:
    """The reverse waterfall for ``period`` (default: the quarter of ``as_of``).

    ``target`` overrides the bookings target stored for the period. A period that
    has ended is a review: the plan as it stood at the period's start, with what
    the period actually booked.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ff.plan(wh, period="2026-Q4", target="1M", as_of="2026-11-01").wins_needed
    0
    """
    config = held(wh, config or default_config())  # the stages the data holds
    as_of_dt = resolve_as_of(wh, as_of)
    period = period or current_quarter(as_of_dt)
    start, end = period_bounds(period)
    actual = None
    if end <= as_of_dt:
        actual = bookings(wh, start, end, as_of=as_of_dt).amount
        as_of_dt = start
    stored = period_target(wh, start, end)
    amount = parse_amount(target) if target is not None else stored.amount
    basis = "given" if target is not None else stored.basis
    warnings = []
    if amount is None:
        warnings.append(
            f"no bookings target for {period}: give one (a target of 2.5M), or store it "
            f"with 'fullfunnel target set --period {period} --bookings 2.5M'"
        )
    booked = bookings(wh, start, end, as_of=as_of_dt).amount
    tl = timeline(wh, config, as_of=as_of_dt)
    rates = stage_rates(wh, tl, as_of=as_of_dt, config=config)
    kpis = deal_kpis(wh, as_of=as_of_dt, config=config)
    fc = forecast(wh, period=period, as_of=as_of_dt, target=amount, config=config)
    if kpis.average_deal.value is None:
        warnings.append(f"no won deals in {kpis.window.description}: no average deal")
    if fc.unpriced_count:
        warnings.append(
            f"{fc.unpriced_count:,} open deals have no amount yet: the expected yield counts "
            "them at 0"
        )
    return waterfall(
        rates,
        fc,
        target=amount,
        target_basis=basis,
        booked=booked,
        kpis=kpis,
        as_of=as_of_dt,
        config=config,
        warnings=warnings,
        actual=actual,
    )


def waterfall(
    rates: pd.DataFrame,
    fc: ForecastResult,
    *,
    target: float | None,
    target_basis: str,
    booked: float,
    kpis: DealKPIs | None,
    as_of: datetime,
    config: Config,
    warnings: list[str] | None = None,
    actual: float | None = None,
) -> PlanResult:
    """The arithmetic of the plan on stage rates (:func:`stage_rates`) and the forecast.

    Pure pandas on a handful of rows, so that it can be checked by hand.
    """
    start, end = fc.period_start, fc.period_end
    average = kpis.average_deal.value if kpis is not None else None
    gap = max((target or 0.0) - booked, 0.0)
    wins_needed = math.ceil(gap / average - 1e-9) if gap > 0 and average else 0
    expected = fc.expected_open + fc.expected_new
    short_amount = max(gap - expected, 0.0)
    short_wins = short_amount / average if average else 0.0
    warnings = list(warnings or [])
    rows, months = [], []
    owners = list(rates["owner"])
    for i, r in enumerate(rates.itertuples()):
        # who makes more contacts enter S: the team working the stage before it
        row = _step(r, owners[i - 1] if i else r.owner, short_wins, end=end, as_of=as_of)
        rows.append(row)
        if not row["reliable"]:
            warnings.append(
                f"{r.stage}: not enough data ({r.entered} mature contacts, {r.won_observed} won "
                f"in the window; need {config['metrics']['min_observations']}) — no number"
            )
        elif row["in_time"] and row["more_needed"] > 0:
            months.extend(
                _split_by_month(r.stage, row["created_by"], row["more_needed"], as_of, row["_by"])
            )
    table = pd.DataFrame(rows).drop(columns="_by", errors="ignore")
    by_month = pd.DataFrame(months, columns=["stage", "owner", "month", "needed"])
    by_team = _by_team(table)
    open_amount = fc.open_amount
    in_period_rate = fc.expected_open / open_amount if open_amount else 0.0
    return PlanResult(
        waterfall=table,
        by_month=by_month,
        by_team=by_team,
        actions=_actions(table, fc, short_wins, end) if short_amount > 0 else [],
        warnings=warnings,
        period_start=start,
        period_end=end,
        as_of=as_of,
        target=target,
        target_basis=target_basis,
        booked=float(booked),
        gap=gap,
        average_deal=average,
        kpis=kpis,
        wins_needed=wins_needed,
        expected_open=fc.expected_open,
        expected_new=fc.expected_new,
        expected_wins=fc.expected_wins,
        short_amount=short_amount,
        short_wins=short_wins,
        open_pipeline=open_amount,
        open_count=fc.open_count,
        coverage=open_amount / gap if gap > 0 else None,
        coverage_needed=1 / in_period_rate if gap > 0 and in_period_rate else None,
        probability_hit=fc.probability_hit,
        forecast_p10=fc.p10,
        forecast_p50=fc.p50,
        forecast_p90=fc.p90,
        actual=actual,
    )


def _step(r: Any, created_by: str, short_wins: float, *, end: datetime, as_of: datetime) -> dict:
    """One stage of the waterfall: how many more must enter it, and by when, to close
    the shortfall; no number and no date for a step that can no longer help (never
    one in the past) or that has too little data."""
    deadline = None
    if not math.isnan(r.days_to_won_median):  # the day before which S must be entered
        deadline = (end - timedelta(days=r.days_to_won_median)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    reliable = bool(r.enough) and r.to_won > 0 and deadline is not None
    in_time = reliable and deadline > as_of
    days_left = max(0.0, (deadline - as_of).total_seconds() / 86400) if deadline else 0.0
    nan = float("nan")
    return {
        "stage": r.stage,
        "owner": r.owner,
        "created_by": created_by,
        "rate": r.rate,
        "rate_low": r.rate_low,
        "rate_high": r.rate_high,
        "to_won_rate": r.to_won,
        "days_to_won_median": r.days_to_won_median,
        "more_needed": short_wins / r.to_won if in_time else nan,
        "more_needed_low": short_wins / r.to_won_high if in_time else nan,
        "more_needed_high": short_wins / r.to_won_low if in_time and r.to_won_low > 0 else nan,
        "enter_by": pd.Timestamp(deadline) if in_time else pd.NaT,
        "in_time": in_time,
        "status": "in time" if in_time else "too late" if reliable else "not enough data",
        "at_current_pace": r.pace_per_day * days_left,
        "reliable": reliable,
        "observations": int(r.entered),
        "_by": deadline,
    }


def _by_team(table: pd.DataFrame) -> pd.DataFrame:
    """The stages each team must fill in time."""
    steps = table[table["in_time"]] if not table.empty else table
    if steps.empty:
        return pd.DataFrame(columns=["team", "stages"])
    return (
        steps.groupby("created_by", as_index=False)
        .agg(stages=("stage", ", ".join))
        .rename(columns={"created_by": "team"})
    )


def _split_by_month(stage, owner, needed, as_of, deadline) -> list[dict]:
    """``needed`` spread evenly over the days from ``as_of`` to ``deadline``, per month."""
    out, cur, total = [], as_of, (deadline - as_of).total_seconds() / 86400
    while cur < deadline:
        nxt = datetime(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
        stop = min(nxt, deadline)
        days = (stop - cur).total_seconds() / 86400
        out.append(
            {
                "stage": stage,
                "owner": owner,
                "month": f"{cur:%Y-%m}",
                "needed": needed * days / total,
            }
        )
        cur = stop
    return out


def _actions(table: pd.DataFrame, fc: ForecastResult, short_wins: float, end: datetime):
    """What has to happen beyond the expected, in funnel order, each a number and a date."""
    last = end - timedelta(days=1)
    reliable = table[table["reliable"]]
    late, timely = reliable[~reliable["in_time"]], reliable[reliable["in_time"]]
    lines = [
        f"beyond what is expected, {short_wins:.1f} more won deals are needed"
        + ("; any one of these steps gets them:" if not timely.empty else "")
    ]
    for r in timely.itertuples():
        lines.append(
            f"create {r.more_needed:.0f} more {stage_plural(r.stage)} than the current pace "
            f"by {r.enter_by:%Y-%m-%d} (range {r.more_needed_low:.0f}–{r.more_needed_high:.0f}; "
            f"{r.created_by})"
        )
    if not late.empty:
        first = late.iloc[0]
        labels = ", ".join(stage_plural(s) for s in late["stage"])
        source = (
            f"{stage_plural(timely.iloc[0]['stage'])} and later"
            if not timely.empty
            else f"the {fc.open_count:,} open opportunities: win {short_wins:.0f} more of them "
            "than expected"
        )
        lines.append(
            f"new {labels} would now mostly close after {last:%Y-%m-%d} (median "
            f"{first['stage']}→won {first['days_to_won_median']:.0f} days): the gap must close "
            f"from {source}"
        )
    return lines
