"""Is marketing top-heavy, bottom-heavy or balanced, and where is the problem?

*Effort share by segment*: spend in the trailing ``window_days`` by segment (a spend
row's own ``segment``, else its tactic's in the playbook); when there is no spend,
marketing touches by segment (a touch's tactic's segment, else the contact's
stage at the time). Both are reported; the verdict uses spend when it exists.

*Performance by segment*. Each stage step belongs to the segment of the stage it
leads to (lead→mql is top, mql→sal→sql middle, sql→opportunity→won bottom):

- top: new leads per quarter (the latest ``trend_days``) against what the bookings
  target for the period containing ``as_of`` needs (target per quarter ÷ average
  won deal ÷ trailing lead→won conversion) and against the ``trend_days`` before;
- middle and bottom: the product of the step rates against the product of their
  benchmarks, and the trend of that product; the bottom also shows the close ratio.

A segment is *weak* when its ratio to benchmark is under ``weak_ratio``, or when
it falls by more than ``falling_trend`` while also under benchmark; the top is
weak when new leads cover less than ``coverage_ratio`` of the need or fall by
more than ``falling_trend``.

*Verdict*: top-heavy when the top holds at least ``top_heavy_share`` of effort and
the middle or bottom is weak; bottom-heavy when the bottom holds at least
``bottom_heavy_share`` and the top is weak; otherwise balanced. *Problem area*:
lead generation (top weak), closing new business (middle or bottom weak), both,
or neither.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import DAYS_PER_QUARTER, literal
from fullfunnel.analytics._economics import Economics, stage_economics
from fullfunnel.analytics.bookings import period_target
from fullfunnel.analytics.effort import effort_by_segment
from fullfunnel.analytics.period import current_quarter, resolve_as_of
from fullfunnel.analytics.targets import period_bounds
from fullfunnel.analytics.weight_checks import (
    LOWER,
    NO_EFFORT,
    effort_evidence,
    lower_side,
    top_side,
    verdict_of,
)
from fullfunnel.config import Config, default_config
from fullfunnel.lifecycle import held, reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

NOT_ENOUGH = "not enough data"
VERDICTS = ("top-heavy", "bottom-heavy", "balanced", NO_EFFORT, NOT_ENOUGH)
PROBLEM_AREAS = ("lead generation", "closing new business", "both", "neither", NOT_ENOUGH)


@dataclasses.dataclass(frozen=True, eq=False)
class WeightResult(Result):
    """Effort vs performance by segment, the verdict, the problem area and the evidence."""

    title = "weight"
    evidence: pd.DataFrame
    effort: pd.DataFrame
    performance: pd.DataFrame
    verdict: str
    problem_area: str
    weakest_stage: str | None
    effort_basis: str
    top_effort_share: float | None
    bottom_effort_share: float | None
    leads_per_quarter: float | None
    leads_needed_per_quarter: float | None
    bookings_target: float | None
    target_period: str | None
    average_deal: float | None
    close_ratio: float | None
    data_note: str | None
    as_of: datetime

    def headline(self) -> list[str]:
        if self.data_note:
            return [f"verdict: {self.data_note}"]
        lines = [f"verdict: {self.verdict}; problem area: {self.problem_area}"]
        lines += [f"  {r.check}: {r.finding}" for r in self.evidence.itertuples() if r.decides]
        return lines


def weight(
    wh: Warehouse,
    *,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> WeightResult:
    """Effort share against performance by segment; verdict and problem area with evidence.

    >>> import fullfunnel as ff
    >>> ff.weight(ff.connect("duckdb://:memory:")).verdict
    'not enough data'
    """
    config = held(wh, config or default_config())  # the stages the data holds
    as_of_dt = resolve_as_of(wh, as_of)
    tl = timeline(wh, config, as_of=as_of_dt)
    return weigh(wh, tl, stage_economics(wh, tl, config, as_of_dt), config, as_of_dt)


def weigh(
    wh: Warehouse,
    tl: ir.Table,
    econ: Economics,
    config: Config,
    as_of: datetime,
    period: tuple[datetime, datetime] | None = None,
) -> WeightResult:
    """:func:`weight` on a timeline and stage economics already computed; the lead need
    is that of ``period``'s target (default: the quarter holding ``as_of``)."""
    s = config["diagnose"]
    effort, basis = effort_by_segment(wh, tl, config, as_of)
    shares = dict(zip(effort["segment"], effort["effort_share"], strict=True))
    target, period = _target(wh, as_of, period)
    rates = econ.rates.set_index("stage") if not econ.rates.empty else pd.DataFrame()
    top = top_side(_volumes(tl, config, as_of), rates, econ, config, target)
    lower = [lower_side(area, segment, rates, config) for area, segment in LOWER]
    perf = [*top.perf, *(row for side in lower for row in side.perf)]
    evidence = [*top.evidence, *(row for side in lower for row in side.evidence)]
    evidence += effort_evidence(shares, basis, s)
    top_share, bottom_share = shares.get("tofu"), shares.get("bofu")
    top_tilt = top_share is not None and top_share >= s["top_heavy_share"]
    bottom_tilt = bottom_share is not None and bottom_share >= s["bottom_heavy_share"]
    lower_weak = any(side.weak for side in lower)
    verdict, decisive = verdict_of(top_tilt, bottom_tilt, top.weak, lower_weak, shares)
    area = {
        (True, True): "both",
        (True, False): "lead generation",
        (False, True): "closing new business",
        (False, False): "neither",
    }[(top.weak, lower_weak)]
    ev = pd.DataFrame(evidence)
    ev["decides"] = ev["check"].isin(decisive) & (
        ev["flagged"] | ev["check"].str.startswith("effort")
    )
    weakest = _focus_stage(rates, config, area, s["min_contacts"])
    note = _enough(rates, econ, config)
    if note is not None:  # no verdict on too little data: say what is missing
        verdict = area = NOT_ENOUGH
        weakest = None
        ev["decides"] = False
    return WeightResult(
        evidence=ev,
        effort=effort,
        performance=pd.DataFrame(perf),
        verdict=verdict,
        problem_area=area,
        weakest_stage=weakest,
        effort_basis=basis,
        top_effort_share=top_share,
        bottom_effort_share=bottom_share,
        leads_per_quarter=top.leads,
        leads_needed_per_quarter=top.need,
        bookings_target=target,
        target_period=period,
        average_deal=econ.average_deal,
        close_ratio=econ.close_ratio,
        data_note=note,
        as_of=as_of,
    )


def _enough(rates: pd.DataFrame, econ: Economics, config: Config) -> str | None:
    """Why the data is too thin for a verdict (None when it is not)."""
    need = config["metrics"]["min_observations"]
    first = config.stage_names[0]
    contacts = int(rates.loc[first, "contacts"]) if first in rates.index else 0
    closed = econ.kpis.won + econ.kpis.lost if econ.kpis is not None else 0
    if contacts >= need and closed >= need:
        return None
    return (
        f"not enough data ({contacts:,} mature {first}s and {closed:,} closed deals; "
        f"need {need} of each)"
    )


def _volumes(tl: ir.Table, config: Config, as_of: datetime) -> dict[str, tuple[float, float]]:
    """New contacts per quarter reaching each tofu stage: latest trend window and the one before."""
    trend = float(config["diagnose"]["trend_days"])
    a, b, c = (literal(as_of - timedelta(days=d)) for d in (2 * trend, trend, 0))
    stages = [st.name for st in config.stages if st.segment == "tofu"]
    aggs = {}
    for st in stages:
        at = tl[reached(st)]
        aggs[f"{st}__recent"] = ((at > b) & (at <= c)).sum()
        aggs[f"{st}__prior"] = ((at > a) & (at <= b)).sum()
    row = tl.aggregate(**aggs).execute().iloc[0]
    scale = DAYS_PER_QUARTER / trend
    return {
        st: (float(row[f"{st}__recent"] or 0) * scale, float(row[f"{st}__prior"] or 0) * scale)
        for st in stages
    }


def _target(
    wh: Warehouse, as_of: datetime, span: tuple[datetime, datetime] | None
) -> tuple[float | None, str | None]:
    """The bookings target per quarter of ``span`` (default: the quarter holding ``as_of``,
    the plan's default period)."""
    start, end = span or period_bounds(current_quarter(as_of))
    target = period_target(wh, start, end)
    if target.amount is None:
        return None, None
    last = end - timedelta(days=1)
    days = (end - start).days
    # a quarter's own target as it is; a month's or a year's as its share of a quarter
    per_quarter = target.amount if 89 <= days <= 92 else target.amount * 365.25 / 4 / days
    return per_quarter, f"{start:%Y-%m-%d}..{last:%Y-%m-%d}"


def _focus_stage(rates: pd.DataFrame, config: Config, area: str, min_n: int) -> str | None:
    """The stage to work on: the first stage when lead generation is the problem, else the
    step furthest below its benchmark (on the closing side when closing is the problem)."""
    if area == "lead generation":
        return config.stage_names[0]
    if rates.empty or not rates["benchmark"].notna().any():
        return None
    ratio = (rates["rate"] / rates["benchmark"])[rates["contacts"] >= min_n].dropna()
    if area in ("closing new business", "both"):
        lower = [
            st
            for st in ratio.index
            if config.stage(rates.loc[st, "next_stage"]).segment in ("mofu", "bofu")
        ]
        ratio = ratio[lower]
    return str(ratio.astype(float).idxmin()) if not ratio.empty else None
