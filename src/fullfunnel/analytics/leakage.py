"""Leakage in money: what each stage's drop-outs cost, and what a better stage would book.

Per quarter, for every stage S before the won stage (volumes from the trailing
``window_days`` of mature cohorts, see :mod:`fullfunnel.analytics._economics`):

- *drop-outs* = contacts reaching S × (1 − S→next rate);
- *lost revenue* = drop-outs × conversion from the next stage to won × average
  won deal: the bookings those contacts would have brought had every one of them
  moved on (an upper bound, which at the top of a funnel is a multiple of bookings:
  it sizes a leak, it does not pick the stage to work on);
- *gap to benchmark* = the bookings a rate at benchmark would add (0 when the
  stage already beats it);
- *what-if* = the bookings added per quarter by lifting S's rate by
  ``lift_points`` points (capped at 100%), every other rate unchanged.

Baseline bookings per quarter = new contacts at the first stage × lead→won × deal.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from fullfunnel.analytics._economics import Economics, stage_economics
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.lifecycle import held, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

COLUMNS = [
    "stage",
    "next_stage",
    "owner",
    "per_quarter",
    "rate",
    "rate_low",
    "rate_high",
    "benchmark",
    "dropouts",
    "next_to_won",
    "lost_revenue",
    "gap_to_benchmark",
    "what_if_bookings",
]


@dataclasses.dataclass(frozen=True, eq=False)
class LeakageResult(Result):
    """Money lost per stage per quarter (biggest first) and the what-if of a lift."""

    title = "leakage"
    leaks: pd.DataFrame
    average_deal: float | None
    baseline_bookings: float | None
    lift_points: float
    lift_stage: str | None
    lifted_bookings: float | None
    as_of: datetime

    def headline(self) -> list[str]:
        if self.leaks.empty or self.average_deal is None:
            return ["no won deals yet: leakage cannot be put in money"]
        lines = [
            f"bookings per quarter at today's rates: {self.baseline_bookings or 0:,.0f} "
            f"(average deal {self.average_deal:,.0f})"
        ]
        for r in self.leaks.head(3).itertuples():
            lines.append(
                f"{r.stage} → {r.next_stage}: {r.dropouts:,.0f} drop-outs a quarter, worth "
                f"{r.lost_revenue:,.0f} had every one moved on; +{self.lift_points:g} points "
                f"would add {r.what_if_bookings:,.0f}"
            )
        if self.lift_stage and self.lifted_bookings is not None:
            lines.append(
                f"what-if: {self.lift_stage} +{self.lift_points:g} points → "
                f"{self.lifted_bookings:,.0f} bookings per quarter"
            )
        return lines


def leakage(
    wh: Warehouse,
    *,
    lift_stage: str | None = None,
    lift_points: float | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> LeakageResult:
    """Money lost at each stage, ranked, with the bookings a lift of each stage would add.

    >>> import fullfunnel as ff
    >>> ff.leakage(ff.connect("duckdb://:memory:")).leaks.empty
    True
    """
    config = held(wh, config or default_config())  # the stages the data holds
    as_of_dt = resolve_as_of(wh, as_of)
    tl = timeline(wh, config, as_of=as_of_dt)
    econ = stage_economics(wh, tl, config, as_of_dt)
    return leak(econ, config, as_of_dt, lift_stage=lift_stage, lift_points=lift_points)


def leak(
    econ: Economics,
    config: Config,
    as_of: datetime,
    *,
    lift_stage: str | None = None,
    lift_points: float | None = None,
) -> LeakageResult:
    """:func:`leakage` on stage economics already computed."""
    points = config["diagnose"]["lift_points"] if lift_points is None else float(lift_points)
    if not 0 < points <= 100:
        raise InputError(
            f"lift_points {points:g}: give points between 0 and 100, like 5", option="lift_points"
        )
    rates = econ.rates
    if lift_stage is not None and (rates.empty or lift_stage not in set(rates["stage"])):
        options = list(rates["stage"]) if not rates.empty else list(config.stage_names)
        raise InputError(
            f"lift_stage {lift_stage!r}: use a stage before {econ.won_stage} "
            f"({', '.join(options)})." + did_you_mean(lift_stage, options),
            option="lift_stage",
        )
    deal = econ.average_deal
    if rates.empty or deal is None or rates["per_quarter"].isna().all():
        return LeakageResult(
            leaks=pd.DataFrame(columns=COLUMNS),
            average_deal=deal,
            baseline_bookings=None,
            lift_points=points,
            lift_stage=lift_stage,
            lifted_bookings=None,
            as_of=as_of,
        )
    f = rates.copy()
    x = points / 100
    f["dropouts"] = f["per_quarter"] * (1 - f["rate"])
    f["lost_revenue"] = f["dropouts"] * f["next_to_won"] * deal
    gap = (f["benchmark"].astype(float) - f["rate"]).clip(lower=0)
    f["gap_to_benchmark"] = f["per_quarter"] * gap * f["next_to_won"] * deal
    lift = (1 - f["rate"]).clip(upper=x)
    f["what_if_bookings"] = f["per_quarter"] * lift * f["next_to_won"] * deal
    first = f.iloc[0]
    baseline = float(first["per_quarter"] * first["to_won"] * deal)
    lifted = None
    if lift_stage is not None:
        lifted = baseline + float(f.loc[f["stage"] == lift_stage, "what_if_bookings"].iloc[0])
    f = f.sort_values("lost_revenue", ascending=False, kind="stable").reset_index(drop=True)
    return LeakageResult(
        leaks=f.reindex(columns=COLUMNS),
        average_deal=deal,
        baseline_bookings=baseline,
        lift_points=points,
        lift_stage=lift_stage,
        lifted_bookings=lifted,
        as_of=as_of,
    )
