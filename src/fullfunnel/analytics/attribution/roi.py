"""What each channel, campaign or tactic cost: the ``spend`` table plus touch costs.

Cost of a label = spend rows for it dated in the period plus the ``cost`` of its
touchpoints in the period. Cost per conversion divides that by the credited
conversions; ROI is ``(credited value - cost) / cost`` and is given only when
the value is money (pipeline or bookings).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from fullfunnel._dates import literal
from fullfunnel.analytics.attribution.paths import NO_LABEL
from fullfunnel.warehouse import Warehouse


def costs(
    wh: Warehouse, *, by: str, as_of: datetime, since: datetime | None = None
) -> pd.DataFrame:
    """Spend and touch cost per label in ``[since, as_of]``, aggregated in the engine."""
    spend = wh.table("spend")
    spend = spend.filter(spend.date <= literal(as_of).date())
    if since is not None:
        spend = spend.filter(spend.date >= literal(since).date())
    label = spend[by].cast("string").fill_null(NO_LABEL)
    s = spend.group_by(label=label).aggregate(spend=spend.amount.sum()).execute()
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts <= literal(as_of), tp.cost.notnull())
    if since is not None:
        tp = tp.filter(tp.ts >= literal(since))
    label = tp[by].cast("string").fill_null(NO_LABEL)
    c = tp.group_by(label=label).aggregate(touch_cost=tp.cost.sum()).execute()
    out = s.merge(c, on="label", how="outer").fillna({"spend": 0.0, "touch_cost": 0.0})
    out["cost"] = out["spend"] + out["touch_cost"]
    return out


def with_roi(credits: pd.DataFrame, cost: pd.DataFrame | None, *, money: bool) -> pd.DataFrame:
    """Add cost, cost per conversion and (for money values) ROI to a credits table."""
    out = credits.copy()
    if cost is None or cost.empty:
        out["cost"] = np.nan
    else:
        out = out.merge(cost[["label", "cost"]], on="label", how="left")
    has = out["cost"].fillna(0) > 0
    out["cost_per_conversion"] = np.where(
        has & (out["conversions"] > 0),
        out["cost"] / out["conversions"].where(out["conversions"] > 0),
        np.nan,
    )
    out["roi"] = (
        np.where(has, (out["value"] - out["cost"]) / out["cost"].where(has), np.nan)
        if money
        else np.nan
    )
    return out
