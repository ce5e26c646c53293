"""The alert rules of ``[alerts]``, read against the analyses' results.

Each rule gives one *reading* per subject (a handoff, a stage, the whole funnel):
whether it fires, the number behind it and a sentence with that number's n, window
and interval. A rule fires only when its evidence clears the threshold: a handoff's
SLA share when the top of its interval is under ``below``; a stage's conversion
when its recent interval lies wholly under the interval of the window before.
Where the data cannot judge (no touches that name a team, no target), the reading
says so and does not fire.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from fullfunnel.analytics.registry import ANALYSES, run
from fullfunnel.config import Config
from fullfunnel.warehouse import Warehouse

# what each metric reads: an analysis of the registry, or the stage changes
READS = {
    "stuck_count": "stuck",
    "stuck_value": "stuck",
    "sla_met": "handoffs",
    "p_hit": "forecast",
    "conversion": "stage_changes",
}


@dataclasses.dataclass(frozen=True)
class Reading:
    """One rule on one subject: ``key`` names both across runs (``sla_met:mql<0.8``)."""

    key: str
    firing: bool
    value: float | None
    message: str
    subject: str = ""  # the alert's subject line when it fires
    metric: str = ""


def command(metric: str) -> str:
    """The command that shows the detail behind ``metric``."""
    name = READS[metric]
    return ANALYSES[name].command if name in ANALYSES else "funnel"


def read_rules(wh: Warehouse, config: Config, as_of: datetime) -> list[Reading]:
    """Every rule of ``config["alerts"]`` as of ``as_of``, each source read once."""
    sources: dict[str, Any] = {}
    out: list[Reading] = []
    for rule in config["alerts"]["rules"]:
        metric = rule["metric"]
        name = READS[metric]
        if name not in sources:
            sources[name] = (
                run(name, wh, config, as_of)
                if name in ANALYSES
                else _conversion_changes(wh, config, as_of)
            )
        readings = _READERS[metric](rule, sources[name], config)
        out.extend(dataclasses.replace(r, metric=metric) for r in readings)
    return out


def _stuck(rule: dict, result: Any, config: Config, *, metric: str) -> list[Reading]:
    """stuck_count (contacts) or stuck_value (their value at risk) above a threshold."""
    above, key = rule["above"], f"{metric}>{rule['above']:g}"
    if not result.judged:
        return [Reading(key, False, None, f"stuck contacts cannot be judged: {result.note}")]
    n = int(result.total)
    if metric == "stuck_count":
        value = float(n)
        said = f"{n:,} contacts are stuck (over their stage's limit, unworked by its owner"
        short = f"{n:,} stuck contacts"
    else:
        value = float(result.value_at_risk)
        said = f"{value:,.0f} of value is at risk in {n:,} stuck contacts ("
        short = f"{value:,.0f} at risk in stuck contacts"
    return [
        Reading(
            key,
            value > above,
            value,
            f"{said}, as of {result.as_of:%Y-%m-%d}); the alert is set above {above:,.0f}",
            f"{short} (alert above {above:,.0f})",
        )
    ]


def _sla_met(rule: dict, result: Any, config: Config) -> list[Reading]:
    frame = result.handoffs
    if not result.judged or frame.empty:
        note = result.note or "no handoff has been due yet"
        return [Reading(f"sla_met:{rule.get('stage', 'all')}<{rule['below']:g}", False, None, note)]
    if rule.get("stage"):
        frame = frame[frame["stage"] == rule["stage"]]
    out = []
    for row in frame.itertuples():  # one row per handoff: a handful
        key = f"sla_met:{row.stage}<{rule['below']:g}"
        due = int(row.entered - row.pending)
        if due == 0 or pd.isna(row.sla_met_pct):
            out.append(Reading(key, False, None, f"{row.stage}: no handoff due yet"))
            continue
        firing = bool(row.sla_met_high < rule["below"])
        out.append(
            Reading(
                key,
                firing,
                float(row.sla_met_pct),
                f"{row.from_team} → {row.to_team} at {row.stage}: SLA ({row.sla_days:g} days) "
                f"met for {row.sla_met_pct:.0%} of {due:,} handoffs due "
                f"(interval {row.sla_met_low:.0%}–{row.sla_met_high:.0%}); "
                f"the alert is set below {rule['below']:.0%}",
                f"SLA met for {row.sla_met_pct:.0%} of handoffs at {row.stage} "
                f"(alert below {rule['below']:.0%})",
            )
        )
    return out


def _p_hit(rule: dict, result: Any, config: Config) -> list[Reading]:
    key = f"p_hit<{rule['below']:g}"
    period = f"{result.period_start:%Y-%m-%d}..{result.period_end - timedelta(days=1):%Y-%m-%d}"
    if result.probability_hit is None or not result.target:
        return [Reading(key, False, None, f"no target is set for {period} (fullfunnel target)")]
    p = float(result.probability_hit)
    return [
        Reading(
            key,
            p < rule["below"],
            p,
            f"chance to hit the target {result.target:,.0f} for {period}: {p:.0%} "
            f"(P50 {result.p50:,.0f}, P10–P90 {result.p10:,.0f}–{result.p90:,.0f}; "
            f"booked so far {result.booked:,.0f}); the alert is set below {rule['below']:.0%}",
            f"chance to hit the target {p:.0%} (alert below {rule['below']:.0%})",
        )
    ]


def _conversion(rule: dict, frame: pd.DataFrame, config: Config) -> list[Reading]:
    if rule.get("stage"):
        frame = frame[frame["stage"] == rule["stage"]]
    out = []
    for row in frame.itertuples():  # one row per stage
        key = f"conversion:{row.stage}"
        if row.change == "not enough data" or pd.isna(row.rate):
            out.append(Reading(key, False, None, f"{row.stage}: not enough data"))
            continue
        out.append(
            Reading(
                key,
                row.change == "worse",
                float(row.rate),
                f"{row.stage} → {row.next_stage} converted {row.rate:.0%} of {int(row.entered):,} "
                f"(interval {row.rate_low:.0%}–{row.rate_high:.0%}) in {frame.attrs['window']}, "
                f"against {row.rate_before:.0%} ({row.rate_before_low:.0%}–"
                f"{row.rate_before_high:.0%}) before: {row.change}",
                f"{row.stage} → {row.next_stage} converts {row.rate:.0%}, down from "
                f"{row.rate_before:.0%}",
            )
        )
    return out


def _conversion_changes(wh: Warehouse, config: Config, as_of: datetime) -> pd.DataFrame:
    """Each stage's conversion in the last ``window_days`` against the window before."""
    from fullfunnel.analytics.review import stage_changes
    from fullfunnel.lifecycle import held

    config = held(wh, config)  # the stages the data holds
    start = as_of - timedelta(days=int(config["alerts"]["window_days"]))
    frame = stage_changes(wh, config, start, as_of, as_of)
    frame.attrs["window"] = f"{start:%Y-%m-%d}..{as_of:%Y-%m-%d}"
    return frame


_READERS = {
    "stuck_count": functools.partial(_stuck, metric="stuck_count"),
    "stuck_value": functools.partial(_stuck, metric="stuck_value"),
    "sla_met": _sla_met,
    "p_hit": _p_hit,
    "conversion": _conversion,
}
