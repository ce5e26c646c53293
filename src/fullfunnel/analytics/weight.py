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
import math
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import DAYS_PER_QUARTER, literal
from fullfunnel.analytics._economics import Economics, stage_economics
from fullfunnel.analytics.bookings import period_target
from fullfunnel.analytics.period import current_quarter, resolve_as_of
from fullfunnel.analytics.stats import TOO_CLOSE, against
from fullfunnel.analytics.targets import period_bounds
from fullfunnel.config import SEGMENTS, Config, default_config
from fullfunnel.lifecycle import held, reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

NOT_ENOUGH = "not enough data"
# no spend and no marketing touches: nothing shows where effort goes
NO_EFFORT = "effort unknown"
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
    top = _top(_volumes(tl, config, as_of), rates, econ, config, target)
    lower = [_lower(area, segment, rates, config) for area, segment in LOWER]
    perf = [*top.perf, *(row for side in lower for row in side.perf)]
    evidence = [*top.evidence, *(row for side in lower for row in side.evidence)]
    evidence += _effort_evidence(shares, basis, s)
    top_share, bottom_share = shares.get("tofu"), shares.get("bofu")
    top_tilt = top_share is not None and top_share >= s["top_heavy_share"]
    bottom_tilt = bottom_share is not None and bottom_share >= s["bottom_heavy_share"]
    lower_weak = any(side.weak for side in lower)
    verdict, decisive = _verdict(top_tilt, bottom_tilt, top.weak, lower_weak, shares)
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


# the sides below the top: their steps are those into a stage of the segment
LOWER = (("middle", "mofu"), ("bottom", "bofu"))
# the checks that decide each verdict
TOP_HEAVY = {
    "effort at the top",
    "middle conversion vs benchmark",
    "bottom conversion vs benchmark",
    "middle conversion trend",
    "bottom conversion trend",
}
BOTTOM_HEAVY = {"effort at the bottom", "lead volume vs target need", "lead volume trend"}


@dataclasses.dataclass(frozen=True)
class _Side:
    """One part of the funnel judged: its performance rows, its evidence rows, whether
    it is weak; for the top, the new leads per quarter and the need."""

    perf: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    weak: bool
    leads: float | None = None
    need: float | None = None


def _top(
    volumes: dict, rates: pd.DataFrame, econ: Economics, config: Config, target: float | None
) -> _Side:
    """New leads per quarter against what the target needs (with the interval of the
    lead → won rate), and their trend; the other top stages' volumes beside them."""
    s = config["diagnose"]
    first = config.stage_names[0]
    leads_q, leads_prior = volumes.get(first, (None, None))
    lead_trend = leads_q / leads_prior - 1 if leads_q is not None and leads_prior else None
    to_won = _get(rates, first, "to_won")
    need = cover_lo = cover_hi = None
    if target is not None and econ.average_deal and to_won:
        need = target / econ.average_deal / to_won
        # the need at the ends of lead→won's interval: coverage is as sure as that rate
        lo, hi = (
            _product(rates, list(rates.index), "rate_low"),
            _product(rates, list(rates.index), "rate_high"),
        )
        if lo and hi:
            cover_lo = leads_q * econ.average_deal * lo / target
            cover_hi = leads_q * econ.average_deal * hi / target
    coverage = leads_q / need if need else None
    short_call = against(cover_lo, cover_hi, s["coverage_ratio"])
    short = short_call is False
    falling = lead_trend is not None and lead_trend < -s["falling_trend"]
    perf = [
        _perf(
            "top",
            f"new {first}s per quarter",
            leads_q,
            need,
            "needed for target",
            coverage,
            lead_trend,
            short or falling,
        )
    ]
    for stage in config.stage_names[1:]:
        if config.stage(stage).segment == "tofu" and stage in volumes:
            q, p = volumes[stage]
            per_won = _get(rates, stage, "to_won")
            st_need = (
                target / econ.average_deal / per_won
                if target and econ.average_deal and per_won
                else None
            )
            perf.append(
                _perf(
                    "top",
                    f"new {stage}s per quarter",
                    q,
                    st_need,
                    "needed for target",
                    q / st_need if st_need else None,
                    q / p - 1 if p else None,
                    None,
                )
            )
    evidence = [
        _ev(
            "lead volume vs target need",
            coverage,
            f"< {s['coverage_ratio']:.0%} of need is short",
            short,
            f"{_n(leads_q)} new {first}s per quarter vs {_n(need)} needed "
            f"({_pct(coverage)} of need, interval {_pct(cover_lo)}–{_pct(cover_hi)})"
            if need
            else "no bookings target to compare with",
            status=_status(short_call, low_is_flag=True) if need else "no data",
        ),
        _ev(
            "lead volume trend",
            lead_trend,
            f"< -{s['falling_trend']:.0%} is falling",
            falling,
            f"{_n(leads_q)} per quarter now vs {_n(leads_prior)} before ({_signed(lead_trend)})",
        ),
    ]
    return _Side(perf, evidence, short or falling, leads_q, need)


def _lower(area: str, segment: str, rates: pd.DataFrame, config: Config) -> _Side:
    """The conversion of the steps into ``segment`` against their benchmarks (weak when
    the interval is under the threshold), and its trend (sliding when falling while
    under the benchmark)."""
    s = config["diagnose"]
    steps = (
        [st for st in rates.index if config.stage(rates.loc[st, "next_stage"]).segment == segment]
        if not rates.empty
        else []
    )
    rate = _product(rates, steps, "rate")
    bench = _product(rates, steps, "benchmark")
    ratio = rate / bench if rate is not None and bench else None
    low, high = _product(rates, steps, "rate_low"), _product(rates, steps, "rate_high")
    ratio_lo = low / bench if low is not None and bench else None
    ratio_hi = high / bench if high is not None and bench else None
    recent, prior = _product(rates, steps, "recent_rate"), _product(rates, steps, "prior_rate")
    trend = recent / prior - 1 if recent is not None and prior else None
    call = against(ratio_lo, ratio_hi, s["weak_ratio"])
    below = call is False
    sliding = trend is not None and trend < -s["falling_trend"] and (ratio_hi or 0) < 1
    label = " → ".join([*steps, rates.loc[steps[-1], "next_stage"]]) if steps else area
    perf = [
        _perf(area, f"{label} conversion", rate, bench, "benchmark", ratio, trend, below or sliding)
    ]
    evidence = [
        _ev(
            f"{area} conversion vs benchmark",
            ratio,
            f"< {s['weak_ratio']:.0%} of benchmark is weak",
            below,
            f"{label}: {_pct(rate)} vs benchmark {_pct(bench)} ({_pct(ratio)} of it, "
            f"interval {_pct(ratio_lo)}–{_pct(ratio_hi)})",
            status=_status(call, low_is_flag=True) if ratio is not None else "no data",
        ),
        _ev(
            f"{area} conversion trend",
            trend,
            f"< -{s['falling_trend']:.0%} and under benchmark is sliding",
            sliding,
            f"{_pct(recent)} in the latest {s['trend_days']} days vs {_pct(prior)} before "
            f"({_signed(trend)})",
        ),
    ]
    return _Side(perf, evidence, below or sliding)


def _effort_evidence(shares: dict, basis: str, s: dict) -> list[dict[str, Any]]:
    """Where the effort goes: the shares at the top and at the bottom."""
    top_share, bottom_share = shares.get("tofu"), shares.get("bofu")
    return [
        _ev(
            "effort at the top",
            top_share,
            f">= {s['top_heavy_share']:.0%} is top-weighted",
            top_share is not None and top_share >= s["top_heavy_share"],
            f"{_pct(top_share)} of {basis} goes to the top (tofu)",
        ),
        _ev(
            "effort at the bottom",
            bottom_share,
            f">= {s['bottom_heavy_share']:.0%} is bottom-weighted",
            bottom_share is not None and bottom_share >= s["bottom_heavy_share"],
            f"{_pct(bottom_share)} of {basis} goes to the bottom (bofu)",
        ),
    ]


def _verdict(
    top_tilt: bool, bottom_tilt: bool, top_weak: bool, lower_weak: bool, shares: dict
) -> tuple[str, set[str]]:
    """Top-heavy (effort at the top, the lower funnel weak), bottom-heavy (effort at the
    bottom, the top weak) or balanced, and the checks that decide it."""
    if top_tilt and lower_weak:
        return "top-heavy", TOP_HEAVY
    if bottom_tilt and top_weak:
        return "bottom-heavy", BOTTOM_HEAVY
    has_effort = shares.get("tofu") is not None or shares.get("bofu") is not None
    return ("balanced" if has_effort else NO_EFFORT), {"effort at the top", "effort at the bottom"}


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


def effort_by_segment(
    wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime
) -> tuple[pd.DataFrame, str]:
    """Spend and marketing touches by segment in the window, and which one is the effort."""
    from fullfunnel.analytics.handoffs import touches_by_segment
    from fullfunnel.playbook import tactic_segments

    window = config["diagnose"]["window_days"]
    since = as_of - timedelta(days=window)
    spend = wh.table("spend")
    spend = spend.filter(spend.date <= as_of.date(), spend.date > since.date())
    tags = ibis.memtable(
        pd.DataFrame(list(tactic_segments().items()), columns=["tactic", "tactic_segment"])
    )
    sp = spend.left_join(tags, "tactic")
    sp = sp.mutate(seg=sp.segment.coalesce(sp.tactic_segment).fill_null("unassigned"))
    spent = sp.group_by(segment=sp.seg).aggregate(spend=sp.amount.sum()).execute()
    marketing = config.stages[0].owner
    # the window is the ownership matrix's: its counts per team and segment serve both
    counts = touches_by_segment(wh, tl, config, as_of)
    touches = counts.filter(counts.team == marketing).select("segment", "touches").execute()
    frame = pd.DataFrame({"segment": [*SEGMENTS, "unassigned"]})
    frame = frame.merge(spent, on="segment", how="left").merge(touches, on="segment", how="left")
    frame["spend"] = frame["spend"].fillna(0.0).astype(float)
    frame["touches"] = frame["touches"].fillna(0).astype(int)
    known = frame["segment"] != "unassigned"
    spend_total = frame.loc[known, "spend"].sum()
    touch_total = frame.loc[known, "touches"].sum()
    frame["spend_share"] = (frame["spend"] / spend_total).where(known) if spend_total else None
    frame["touch_share"] = (frame["touches"] / touch_total).where(known) if touch_total else None
    basis = "spend" if spend_total > 0 else f"{marketing} touches"
    frame["effort_share"] = frame["spend_share"] if spend_total > 0 else frame["touch_share"]
    if frame.loc[frame["segment"] == "unassigned", ["spend", "touches"]].sum().sum() == 0:
        frame = frame[known].reset_index(drop=True)
    return frame, basis


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


def _get(rates: pd.DataFrame, stage: str, col: str) -> float | None:
    if rates.empty or stage not in rates.index:
        return None
    v = rates.loc[stage, col]
    return None if v is None or pd.isna(v) else float(v)


def _product(rates: pd.DataFrame, stages: list[str], col: str) -> float | None:
    if not stages:
        return None
    out = 1.0
    for st in stages:
        v = _get(rates, st, col)
        if v is None:
            return None
        out *= v
    return out


def _perf(area, measure, value, reference, kind, ratio, trend, weak) -> dict:
    return {
        "area": area,
        "measure": measure,
        "value": value,
        "reference": reference,
        "reference_is": kind,
        "ratio": ratio,
        "trend": trend,
        "weak": weak,
    }


def _ev(check: str, value, threshold: str, flagged: bool, finding: str, status=None) -> dict:
    if status is None:
        status = "no data" if value is None else ("crossed" if flagged else "not crossed")
    return {
        "check": check,
        "value": value,
        "threshold": threshold,
        "flagged": bool(flagged),
        "status": status,
        "finding": finding,
    }


def _status(call: bool | None, *, low_is_flag: bool) -> str:
    """How an interval stands against a threshold: crossed, not crossed, or too close."""
    if call is None:
        return TOO_CLOSE
    return "crossed" if (call is False) == low_is_flag else "not crossed"


def _n(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def _signed(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.0%}"
