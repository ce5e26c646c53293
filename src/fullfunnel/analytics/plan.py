"""The reverse waterfall: what has to happen, by when, to hit the period's target.

From the gap (target − booked) and the average deal, the wins still needed.
What is already in flight (contacts in each stage, open opportunities) is
expected to yield some of them: each item's chance to close won inside the
period, by stage and age, from past cohorts. The rest must come from new
entries: at each stage S, ``(wins needed − expected wins from S and later) /
P(S → won)`` more contacts must enter S, by the period end minus the median
days from S to won. Held against the current pace of entries, that gives the
shortfall per stage, month and owner team, ranked by the share of the gap it
closes. Everything uses only data known at ``as_of``.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import DAYS_PER_QUARTER, literal, now, to_datetime
from fullfunnel.analytics.deals import open_deals
from fullfunnel.analytics.rates import (
    Vantage,
    age_bucket,
    conditional_yield,
    count,
    funnel_stages,
    pooled_probability,
    stage_rates,
    trailing_window,
)
from fullfunnel.analytics.targets import booked, parse_amount, period_bounds, target_for
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class PlanResult(Result):
    """The reverse waterfall of one period, as of one date."""

    title = "plan"
    waterfall: pd.DataFrame
    by_month: pd.DataFrame
    by_team: pd.DataFrame
    yields: pd.DataFrame
    actions: list[str]
    warnings: list[str]
    period_start: datetime
    period_end: datetime
    as_of: datetime
    target: float
    booked: float
    gap: float
    average_deal: float
    wins_needed: int
    expected_wins_in_flight: float
    wins_from_new: float
    open_pipeline: float
    coverage: float | None
    coverage_needed: float | None

    def headline(self) -> list[str]:
        last = self.period_end - timedelta(days=1)
        period = f"{self.period_start:%Y-%m-%d}..{last:%Y-%m-%d}"
        if self.target <= 0 and self.warnings:
            return self.warnings[:1]
        if self.gap <= 0:
            return [
                f"{period}: target {self.target:,.0f} already met — booked "
                f"{self.booked:,.0f} by {self.as_of:%b %d}"
            ]
        lines = [
            f"{period}: target {self.target:,.0f}, booked {self.booked:,.0f} "
            f"({self.booked / self.target:.0%}) by {self.as_of:%b %d}; gap {self.gap:,.0f} "
            f"= {self.wins_needed} more won deals at the average deal of {self.average_deal:,.0f}",
            f"in flight: expected {self.expected_wins_in_flight:.1f} wins inside the period "
            f"from contacts and open opportunities; {self.wins_from_new:.1f} must come from "
            "new pipeline",
        ]
        if self.coverage is not None and self.coverage_needed is not None:
            verdict = "enough" if self.coverage >= self.coverage_needed else "not enough"
            lines.append(
                f"pipeline coverage {self.coverage:.1f}× the gap ({self.open_pipeline:,.0f} open); "
                f"the win rate needs {self.coverage_needed:.1f}× — {verdict}"
            )
        return lines + self.actions + self.warnings


def plan(
    wh: Warehouse,
    *,
    period: str | None = None,
    target: str | float | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> PlanResult:
    """The reverse waterfall for ``period`` (e.g. 2026-Q4) as of ``as_of``.

    ``target`` overrides the bookings target stored for the period. Without a
    ``period``, the quarter of ``as_of``; then a missing target is reported in
    the result rather than raised.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ff.plan(wh, period="2026-Q4", target="1M", as_of="2026-11-01").wins_needed
    0
    """
    config = config or default_config()
    as_of_dt = to_datetime(as_of, name="as-of") or now()
    explicit = period is not None
    period = period or current_quarter(as_of_dt)
    start, end = period_bounds(period)
    if as_of_dt >= end:
        raise InputError(f"period {period} ended before --as-of {as_of_dt:%Y-%m-%d}; plan ahead")
    missing = []
    if target is None:
        amount = target_for(wh, start, end)
        if amount is None:
            hint = (
                f"no bookings target for {period}: pass --target 2.5M or run "
                f"'fullfunnel target set --period {period} --bookings 2.5M'"
            )
            if explicit:
                raise InputError(hint)
            amount, missing = 0.0, [hint]
    else:
        amount = parse_amount(target)
    booked_amt, _ = booked(wh, start, end, as_of=as_of_dt)
    tl = timeline(wh, config, as_of=as_of_dt)
    rates = stage_rates(wh, tl, as_of=as_of_dt, config=config)
    flight = in_flight(wh, tl, as_of=as_of_dt, start=start, end=end, config=config)
    deal, wins_observed = average_deal(wh, as_of=as_of_dt, config=config)
    return waterfall(
        rates,
        flight.yields,
        target=amount,
        booked=booked_amt,
        average=deal,
        open_pipeline=flight.open_amount,
        as_of=as_of_dt,
        start=start,
        end=end,
        config=config,
        extra_warnings=missing
        + ([] if wins_observed else ["no won deals in the window: no average deal"]),
    )


def current_quarter(as_of: datetime) -> str:
    """The quarter holding ``as_of``, written as 2026-Q4."""
    return f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"


def average_deal(wh: Warehouse, *, as_of: datetime, config: Config) -> tuple[float, int]:
    """Mean won amount over the trailing window (else every win known at ``as_of``)."""
    ws, _ = trailing_window(as_of, config["plan"]["window_quarters"])
    opp = wh.table("opportunities")
    won = opp.filter(
        opp.status == "won", opp.close_date <= literal(as_of), opp.created_at <= literal(as_of)
    )
    row = won.aggregate(
        recent=won.amount.mean(where=won.close_date >= literal(ws)),
        recent_n=(won.close_date >= literal(ws)).sum(),
        every=won.amount.mean(),
        n=won.count(),
    ).execute()
    r = row.iloc[0]
    if pd.notna(r["recent"]) and count(r["recent_n"]) > 0:
        return float(r["recent"]), int(r["recent_n"])
    if pd.notna(r["every"]):
        return float(r["every"]), int(r["n"])
    return float("nan"), 0


@dataclasses.dataclass(frozen=True)
class InFlight:
    """What is in play at ``as_of``: expected wins per stage, and the open deals."""

    yields: pd.DataFrame  # stage, items, amount, expected_wins, expected_amount
    opportunities: pd.DataFrame  # one row per open opportunity, with probability
    probabilities: pd.DataFrame  # group, bucket, at_risk, won, probability
    open_amount: float


def in_flight(
    wh: Warehouse,
    tl: ir.Table | None,
    *,
    as_of: datetime,
    start: datetime,
    end: datetime,
    config: Config,
) -> InFlight:
    """Expected wins inside [start, end) of every contact and open opportunity now in play.

    ``tl`` is the timeline as of ``as_of``; ``None`` leaves out the contacts. An open
    deal's chance comes from :func:`fullfunnel.analytics.deals.open_deals`; a
    contact's from past contacts of its stage and days in it.
    """
    cfg = config["plan"]
    stages, won, opp_stage = funnel_stages(config)
    early = stages[: stages.index(opp_stage)] if tl is not None else []
    edges = [float(x) for x in cfg["age_buckets"]]
    at = Vantage(as_of, start, end)
    deals, opp_probs = open_deals(wh, [at], config=config)
    deals = deals.drop(columns="vantage")
    probs = [opp_probs.drop(columns="vantage")]
    counts = pd.DataFrame(columns=["stage", "bucket", "items", "amount"])
    if early:
        parts = []
        for s in early:
            nxt, ex = tl[reached(config.next_stage(s))], tl.exited_at
            left = ibis.least(nxt.coalesce(ex), ex.coalesce(nxt))
            parts.append(
                tl.select(
                    group=ibis.literal(s),
                    entered=tl[reached(s)],
                    left=left,
                    won=tl[reached(won)],
                )
            )
        raw = conditional_yield(
            ibis.union(*parts),
            group="group",
            entered="entered",
            left="left",
            won="won",
            at=at,
            window_days=cfg["window_quarters"] * DAYS_PER_QUARTER,
            edges=edges,
            sparse=True,
        )
        probs.insert(0, pooled_probability(raw, cfg["min_observations"]))
        live = tl.filter(tl.exit.isnull(), tl.current_stage.isin(early))
        live = live.mutate(bucket=age_bucket(live.days_in_stage, edges))
        counts = (
            live.group_by(stage=live.current_stage, bucket=live.bucket)
            .aggregate(items=live.count())
            .execute()
            .assign(amount=0.0)
        )
    probabilities = pd.concat(probs, ignore_index=True)
    pooled = probabilities[probabilities["group"].isin(early)]
    merged = counts.merge(
        pooled.rename(columns={"group": "stage"})[["stage", "bucket", "probability"]],
        on=["stage", "bucket"],
        how="left",
    )
    merged["probability"] = merged["probability"].fillna(0.0)
    merged["expected_wins"] = merged["items"] * merged["probability"]
    merged["expected_amount"] = merged["amount"] * merged["probability"]
    opp_row = pd.DataFrame(
        {
            "stage": [opp_stage],
            "items": [len(deals)],
            "amount": [float(deals["amount"].sum())],
            "expected_wins": [float(deals["probability"].sum())],
            "expected_amount": [float((deals["amount"] * deals["probability"]).sum())],
        }
    )
    merged = pd.concat([merged, opp_row], ignore_index=True)
    yields = (
        merged.groupby("stage", as_index=False)[
            ["items", "amount", "expected_wins", "expected_amount"]
        ]
        .sum()
        .set_index("stage")
        .reindex(stages[: stages.index(opp_stage) + 1], fill_value=0)
        .reset_index()
    )
    yields["items"] = yields["items"].astype(int)
    return InFlight(
        yields=yields,
        opportunities=deals,
        probabilities=probabilities,
        open_amount=float(deals["amount"].sum()),
    )


def waterfall(
    rates: pd.DataFrame,
    yields: pd.DataFrame,
    *,
    target: float,
    booked: float,
    average: float,
    open_pipeline: float,
    as_of: datetime,
    start: datetime,
    end: datetime,
    config: Config,
    extra_warnings: list[str] | None = None,
) -> PlanResult:
    """The arithmetic of the plan, on rates (:func:`stage_rates`) and in-flight yields.

    Pure pandas on a handful of rows, so that it can be checked by hand.
    """
    gap = max(target - booked, 0.0)
    wins_needed = math.ceil(gap / average - 1e-9) if gap > 0 and average > 0 else 0
    exp = yields.set_index("stage")["expected_wins"].reindex(rates["stage"]).fillna(0.0)
    from_here_on = exp[::-1].cumsum()[::-1].to_numpy()  # expected wins from S and later
    total_flight = float(exp.sum())
    rows, months, warnings = [], [], list(extra_warnings or [])
    for r, later in zip(rates.itertuples(), from_here_on, strict=True):
        wins_left = max(wins_needed - later, 0.0)
        median = r.days_to_won_median
        deadline = None
        if not math.isnan(median):  # the day before which S must be entered
            deadline = (end - timedelta(days=median)).replace(hour=0, minute=0, second=0)
            deadline = deadline.replace(microsecond=0)
        reliable = bool(r.enough) and r.to_won > 0 and deadline is not None
        more = wins_left / r.to_won if reliable else float("nan")
        days_left = max(0.0, (deadline - as_of).total_seconds() / 86400) if deadline else 0.0
        at_pace = r.pace_per_day * days_left
        short = max(more - at_pace, 0.0) if reliable else float("nan")
        rows.append(
            {
                "stage": r.stage,
                "owner": r.owner,
                "rate": r.rate,
                "rate_low": r.rate_low,
                "rate_high": r.rate_high,
                "to_won_rate": r.to_won,
                "days_to_won_median": median,
                "in_flight_expected_wins": float(exp[r.stage]),
                "more_needed": more,
                "more_needed_low": wins_left / r.to_won_high if reliable else float("nan"),
                "more_needed_high": (
                    wins_left / r.to_won_low if reliable and r.to_won_low > 0 else float("nan")
                ),
                "enter_by": pd.Timestamp(deadline) if deadline else pd.NaT,
                "at_current_pace": at_pace,
                "short": short,
                "wins_short": short * r.to_won if reliable else float("nan"),
                "reliable": reliable,
                "observations": int(r.entered),
            }
        )
        if not reliable:
            warnings.append(
                f"{r.stage}: too few observations ({r.entered} entered, {r.won_observed} won "
                f"in the window; need {config['plan']['min_observations']}) — no reliable number"
            )
        elif more > 0 and deadline is not None and deadline > as_of:
            months.extend(_split_by_month(r.stage, r.owner, more, r.pace_per_day, as_of, deadline))
    table = pd.DataFrame(rows)
    by_month = pd.DataFrame(
        months, columns=["stage", "owner", "month", "needed", "at_current_pace", "short"]
    )
    by_team = (
        table[table["reliable"]]
        .groupby("owner", as_index=False)
        .agg(stages=("stage", ", ".join), short=("short", "sum"), wins_short=("wins_short", "sum"))
        .sort_values("wins_short", ascending=False, ignore_index=True)
    )
    opp = rates[rates["stage"] == config["plan"]["opportunity_stage"]]
    win_rate = float(opp["to_won"].iloc[0]) if len(opp) else float("nan")
    coverage = open_pipeline / gap if gap > 0 else None
    needed = 1 / win_rate if win_rate and not math.isnan(win_rate) and win_rate > 0 else None
    return PlanResult(
        waterfall=table,
        by_month=by_month,
        by_team=by_team,
        yields=yields,
        actions=_actions(table, config, as_of, end) if gap > 0 else [],
        warnings=warnings,
        period_start=start,
        period_end=end,
        as_of=as_of,
        target=float(target),
        booked=float(booked),
        gap=gap,
        average_deal=float(average),
        wins_needed=wins_needed,
        expected_wins_in_flight=total_flight,
        wins_from_new=max(wins_needed - total_flight, 0.0),
        open_pipeline=float(open_pipeline),
        coverage=coverage,
        coverage_needed=needed,
    )


def _split_by_month(stage, owner, needed, pace, as_of, deadline) -> list[dict]:
    """``needed`` spread evenly over the days from ``as_of`` to ``deadline``, per month."""
    out, cur, total = [], as_of, (deadline - as_of).total_seconds() / 86400
    while cur < deadline:
        nxt = datetime(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
        stop = min(nxt, deadline)
        days = (stop - cur).total_seconds() / 86400
        want = needed * days / total
        out.append(
            {
                "stage": stage,
                "owner": owner,
                "month": f"{cur:%Y-%m}",
                "needed": want,
                "at_current_pace": pace * days,
                "short": max(want - pace * days, 0.0),
            }
        )
        cur = stop
    return out


_PLURAL = {"opportunity": "opportunities"}


def stage_plural(stage: str) -> str:
    """How a count of contacts in ``stage`` reads: SQLs, leads, opportunities."""
    if stage in _PLURAL:
        return _PLURAL[stage]
    return f"{stage.upper()}s" if len(stage) <= 3 else f"{stage}s"


def _actions(table: pd.DataFrame, config: Config, as_of: datetime, end: datetime) -> list[str]:
    """Plain-language lines, the stage whose shortfall is worth most wins first."""
    lines = []
    ranked = table[table["reliable"]].sort_values("wins_short", ascending=False)
    for r in ranked.itertuples():
        label = stage_plural(r.stage)
        if r.more_needed <= 0.5:
            continue
        if r.enter_by <= pd.Timestamp(as_of):
            lines.append(
                f"New {label} will mostly close after the period (median {r.stage}→won "
                f"{r.days_to_won_median:.0f} days): the gap must close from later stages"
            )
            continue
        pace = (
            f"at the current pace {r.owner} is {r.short:.0f} short"
            if r.short >= 0.5
            else f"the current pace ({r.at_current_pace:.0f}) covers it"
        )
        lines.append(
            f"Create {r.more_needed:.0f} more {label} by {r.enter_by:%b %d} "
            f"(range {r.more_needed_low:.0f}–{r.more_needed_high:.0f}) — {pace}"
        )
    return lines
