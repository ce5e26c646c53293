"""Conversion of an undated lead list: the share converted, overall and per group.

A lead list with a converted flag and no dates (an export of a lead-scoring data
set, a list bought or kept in a spreadsheet) still answers "which sources and
origins convert", each share with its n and interval. Everything that needs time
(stages, velocity, stuck, handoffs, forecast) is named as skipped instead.
"""

from __future__ import annotations

import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel.analytics.stats import Proportion, wilson
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

NEEDS_DATES = "funnel stages, velocity, stuck, handoffs, plan and forecast"
DEFAULT_BY = ("source", "origin")


def has_undated_leads(wh: Warehouse) -> bool:
    """Whether the warehouse holds a lead list and no dated contacts."""
    return bool(wh.count("leads")) and not wh.count("contacts")


def overall(wh: Warehouse, *, confidence: float) -> Proportion:
    t = wh.table("leads")
    row = t.aggregate(n=t.count(), k=count_if(t.converted)).execute().iloc[0]
    return Proportion.of(int(row["k"]), int(row["n"]), confidence=confidence)


def conversion_by(wh: Warehouse, by: str, *, confidence: float) -> pd.DataFrame:
    """Per value of ``by`` (a lead-list column): leads, converted, rate and interval."""
    t = wh.table("leads")
    if by not in t.columns or by == "lead_id":
        options = [c for c in t.columns if c not in ("lead_id", "converted")]
        raise InputError(
            f"by {by!r} is not a column of the lead list; use one of {', '.join(options)}."
            + did_you_mean(by, options),
            option="by",
        )
    group = t[by].cast("string").fill_null("(none)")
    frame = (
        t.group_by(value=group)
        .aggregate(leads=t.count(), converted=count_if(t.converted))
        .execute()
        .sort_values(["leads", "value"], ascending=[False, True], ignore_index=True)
    )
    frame["rate"] = frame["converted"] / frame["leads"]
    frame["rate_low"], frame["rate_high"] = wilson(
        frame["converted"], frame["leads"], confidence=confidence
    )
    return frame.rename(columns={"value": by})
