"""The money model that stuck, weight and leakage share: mature stage rates and deal size.

Each stage's *rate* is the shared stage conversion (:func:`metrics.stage_conversion`:
mature cohorts of the KPI window, with its Wilson interval), and the deal size
and close ratio are the shared deal KPIs (:func:`metrics.deal_kpis`), so diagnose
shows the same figures as pipeline and plan. The *trend* compares the latest
``trend_days`` of mature cohorts with the ``trend_days`` before them. *To won* is
the product of the rates from S up to the won stage: what one more contact at S
is worth in deals. *Per quarter* is how many reach S in a quarter of the window.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import literal
from fullfunnel.analytics.metrics import DealKPIs, deal_kpis, stage_conversion
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse

DAYS_PER_QUARTER = 365.25 / 4


@dataclasses.dataclass(frozen=True)
class Economics:
    """Stage rates (a row per stage before the won stage) and the deal economics."""

    rates: pd.DataFrame
    average_deal: float | None
    won_deals: int
    close_ratio: float | None
    won_stage: str
    kpis: DealKPIs | None = None


def stage_economics(
    wh: Warehouse,
    tl: ir.Table,
    config: Config,
    as_of: datetime,
    period: tuple[datetime, datetime] | None = None,
) -> Economics:
    """Shared rates, trends and value to won per stage, with deal size and close ratio;
    ``period``, when it has ended by ``as_of``, is the KPI window (a review)."""
    settings = config["diagnose"]
    won = config.won_stage
    conv = stage_conversion(wh, tl, as_of=as_of, config=config, period=period)
    conv = conv[conv["stage"].map(config.index) < config.index(won)].reset_index(drop=True)
    trend = float(settings["trend_days"])
    aggs: dict[str, ir.Value] = {}
    for r in conv.itertuples():
        at, ok = tl[reached(r.stage)], tl[reached(r.next_stage)].notnull()
        end = as_of - timedelta(days=r.maturity_days)

        def between(lo: float, hi: float, at=at, end=end) -> ir.BooleanValue:
            return (at >= literal(end - timedelta(days=lo))) & (
                at < literal(end - timedelta(days=hi))
            )

        recent, prior = between(trend, 0), between(2 * trend, trend)
        aggs[f"{r.stage}__recent_n"] = count_if(recent)
        aggs[f"{r.stage}__recent_conv"] = count_if(recent & ok)
        aggs[f"{r.stage}__prior_n"] = count_if(prior)
        aggs[f"{r.stage}__prior_conv"] = count_if(prior & ok)
    row = tl.aggregate(**aggs).execute().iloc[0] if aggs else pd.Series()
    min_n = settings["min_contacts"]
    rows = []
    for r in conv.itertuples():
        rn, rc = count(row[f"{r.stage}__recent_n"]), count(row[f"{r.stage}__recent_conv"])
        pn, pc = count(row[f"{r.stage}__prior_n"]), count(row[f"{r.stage}__prior_conv"])
        recent_rate = rc / rn if rn >= min_n else None
        prior_rate = pc / pn if pn >= min_n else None
        change = recent_rate / prior_rate - 1 if recent_rate is not None and prior_rate else None
        rows.append(
            {
                "stage": r.stage,
                "next_stage": r.next_stage,
                "segment": r.segment,
                "owner": r.owner,
                "maturity_days": r.maturity_days,
                "contacts": r.entered,
                "converted": r.converted,
                "rate": None if np.isnan(r.rate) else r.rate,
                "rate_low": r.rate_low,
                "rate_high": r.rate_high,
                "rate_source": r.source,
                "benchmark": None if np.isnan(r.benchmark) else r.benchmark,
                "recent_rate": recent_rate,
                "prior_rate": prior_rate,
                "trend": change,
                "per_quarter": r.reached_in_window / _quarters(r.window_start, r.window_end),
            }
        )
    rates = pd.DataFrame(rows)
    if not rates.empty:
        # value of one contact at the next stage, in won deals: product of later rates
        to_won, acc = [], 1.0
        for r in reversed(rates["rate"].tolist()):
            to_won.append(acc)
            acc = acc * r if r is not None and pd.notna(r) else float("nan")
        rates["next_to_won"] = list(reversed(to_won))
        rates["to_won"] = rates["rate"] * rates["next_to_won"]
    kpis = deal_kpis(wh, as_of=as_of, config=config, period=period)
    return Economics(
        rates=rates,
        average_deal=kpis.average_deal.value,
        won_deals=kpis.won,
        close_ratio=kpis.win_rate.value,
        won_stage=won,
        kpis=kpis,
    )


def _quarters(start: datetime, end: datetime) -> float:
    """The length of a KPI window in quarters: whole for quarter-aligned windows (the
    trailing quarters, a past quarter or year), else by days (a past month)."""
    q = (end - start).days / DAYS_PER_QUARTER
    return float(round(q)) if round(q) >= 1 and abs(q - round(q)) < 0.05 else q
