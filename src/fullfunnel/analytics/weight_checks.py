"""The checks behind the weight verdict, each an evidence row with its threshold and
interval: the top against the leads the target needs, each lower side against its
benchmarks, and where the effort goes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from fullfunnel.analytics._economics import Economics
from fullfunnel.analytics.stats import TOO_CLOSE, against
from fullfunnel.config import Config

# no spend and no marketing touches: nothing shows where effort goes
NO_EFFORT = "effort unknown"


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


def top_side(
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


def lower_side(area: str, segment: str, rates: pd.DataFrame, config: Config) -> _Side:
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


def effort_evidence(shares: dict, basis: str, s: dict) -> list[dict[str, Any]]:
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


def verdict_of(
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
