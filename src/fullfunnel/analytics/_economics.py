"""The money model that stuck, weight and leakage share: mature stage rates and deal size.

For each stage S, the *rate* is the share of contacts that reached S in a trailing
window and went on to the next stage. The window ends at ``as_of`` minus the p90
of S→next velocity, so every contact in it has had the time most converters need
(the funnel's maturity rule). The *trend* compares the latest ``trend_days`` of
such cohorts with the ``trend_days`` before them. *To won* is the product of the
rates from S up to the won stage: what one more contact at S is worth in deals.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis.expr.types as ir
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import DAYS_PER_QUARTER, days_between, literal
from fullfunnel.config import Config
from fullfunnel.errors import ConfigError, did_you_mean
from fullfunnel.lifecycle import reached
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True)
class Economics:
    """Stage rates (a row per stage before the won stage) and the deal economics."""

    rates: pd.DataFrame
    average_deal: float | None
    won_deals: int
    close_ratio: float | None
    won_stage: str


def won_stage(config: Config) -> str:
    """The configured won stage, checked against the stage model."""
    name = config["diagnose"]["won_stage"]
    if name not in config.stage_names:
        raise ConfigError(
            f"diagnose.won_stage '{name}' is not a stage; set it to the stage that means "
            "closed won." + did_you_mean(name, config.stage_names)
        )
    return name


def stage_economics(wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime) -> Economics:
    """Mature rates, trends and value to won per stage, with deal size and close ratio."""
    settings = config["diagnose"]
    won = won_stage(config)
    steps = [(s, t) for s, t in config.steps() if config.index(s) < config.index(won)]
    q = config["funnel"]["maturity_quantile"]
    maturity_aggs = {
        s: days_between(tl[reached(s)], tl[reached(t)]).quantile(q, where=tl[reached(t)].notnull())
        for s, t in steps
    }
    maturity = tl.aggregate(**maturity_aggs).execute().iloc[0] if steps else pd.Series()
    window = float(settings["window_days"])
    trend = float(settings["trend_days"])
    aggs: dict[str, ir.Value] = {}
    ends: dict[str, datetime] = {}
    for s, t in steps:
        mat = maturity.get(s)
        mat = float(mat) if mat is not None and pd.notna(mat) else 0.0
        end = as_of - timedelta(days=mat)
        ends[s] = end
        at, conv = tl[reached(s)], tl[reached(t)].notnull()

        def between(lo: float, hi: float, at=at, end=end) -> ir.BooleanValue:
            return (at >= literal(end - timedelta(days=lo))) & (
                at < literal(end - timedelta(days=hi))
            )

        in_window = between(window, 0)
        recent, prior = between(trend, 0), between(2 * trend, trend)
        aggs[f"{s}__n"] = count_if(in_window)
        aggs[f"{s}__conv"] = count_if(in_window & conv)
        aggs[f"{s}__all_n"] = count_if(at < literal(end))
        aggs[f"{s}__all_conv"] = count_if((at < literal(end)) & conv)
        aggs[f"{s}__recent_n"] = count_if(recent)
        aggs[f"{s}__recent_conv"] = count_if(recent & conv)
        aggs[f"{s}__prior_n"] = count_if(prior)
        aggs[f"{s}__prior_conv"] = count_if(prior & conv)
    row = tl.aggregate(**aggs).execute().iloc[0] if steps else pd.Series()
    min_n = settings["min_contacts"]
    rows = []
    for s, t in steps:
        n, c = count(row[f"{s}__n"]), count(row[f"{s}__conv"])
        source = "window"
        if n < min_n:  # too few in the window: use all mature history
            n, c, source = count(row[f"{s}__all_n"]), count(row[f"{s}__all_conv"]), "all history"
        rn, rc = count(row[f"{s}__recent_n"]), count(row[f"{s}__recent_conv"])
        pn, pc = count(row[f"{s}__prior_n"]), count(row[f"{s}__prior_conv"])
        recent_rate = rc / rn if rn >= min_n else None
        prior_rate = pc / pn if pn >= min_n else None
        change = recent_rate / prior_rate - 1 if recent_rate is not None and prior_rate else None
        stage = config.stage(s)
        rows.append(
            {
                "stage": s,
                "next_stage": t,
                "segment": stage.segment,
                "owner": stage.owner,
                "maturity_days": round(float((as_of - ends[s]).total_seconds()) / 86400, 1),
                "contacts": n,
                "converted": c,
                "rate": c / n if n else None,
                "rate_source": source,
                "benchmark": config.benchmarks.get(s),
                "recent_rate": recent_rate,
                "prior_rate": prior_rate,
                "trend": change,
                "per_quarter": n * DAYS_PER_QUARTER / window if source == "window" else None,
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
    average_deal, won_deals, close_ratio = _deals(wh, as_of, window)
    return Economics(
        rates=rates,
        average_deal=average_deal,
        won_deals=won_deals,
        close_ratio=close_ratio,
        won_stage=won,
    )


def _deals(wh: Warehouse, as_of: datetime, window: float) -> tuple[float | None, int, float | None]:
    """Average won amount and close ratio of deals closed in the window (else all history)."""
    opp = wh.table("opportunities")
    closed = opp.filter(
        opp.status.isin(["won", "lost"]),
        opp.close_date.notnull(),
        opp.close_date <= literal(as_of),
    )
    recent = closed.close_date >= literal(as_of - timedelta(days=window))
    is_won = closed.status == "won"
    row = (
        closed.aggregate(
            won=count_if(recent & is_won),
            lost=count_if(recent & ~is_won),
            amount=closed.amount.mean(where=recent & is_won),
            all_won=count_if(is_won),
            all_lost=count_if(~is_won),
            all_amount=closed.amount.mean(where=is_won),
        )
        .execute()
        .iloc[0]
    )
    won, lost, amount = count(row["won"]), count(row["lost"]), row["amount"]
    if won == 0:
        won, lost, amount = count(row["all_won"]), count(row["all_lost"]), row["all_amount"]
    average = float(amount) if amount is not None and pd.notna(amount) else None
    return average, won, (won / (won + lost) if won + lost else None)
