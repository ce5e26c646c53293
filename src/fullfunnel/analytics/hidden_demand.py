"""Hidden demand: contacts at the top, past their stage's SLA and never at a sales-
owned stage, that engage a lot right now."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel.business_time import sla_age
from fullfunnel.config import Config


def hidden_demand(
    valued: ir.Table, activity: ir.Table, config: Config, limit: int
) -> tuple[pd.DataFrame, int]:
    """Contacts at the top past their stage's SLA, never at a sales-owned stage, that
    engage a lot right now; with their age-aware chance and value."""
    settings = config["diagnose"]
    tl = valued
    tofu = [s.name for s in config.stages if s.segment == "tofu"]
    sales = [s.name for s in config.stages if s.owner == "sales"]
    first_sales = min((config.index(s) for s in sales), default=len(config.stages))
    limits = {s.name: s.sla_days for s in config.stages}
    age = sla_age(tl, config)
    past_limit = ibis.literal(False)
    for s in tofu:
        if config.index(s) >= first_sales:
            continue
        days = limits.get(s) or settings["engagement_short_days"]
        past_limit |= (tl.current_stage == s) & (age > days)
    top = tl.filter(past_limit)
    j = top.select(
        "contact_id", "current_stage", "days_in_stage", "p_next", "value", "reached_sales"
    ).join(activity, "contact_id")
    j = j.filter(j.engagement_short >= settings["hidden_demand_touches"], ~j.reached_sales)
    total = int(j.count().execute())
    frame = (
        j.order_by([ibis.desc(j.engagement_short), ibis.desc(j.engagement_long), j.contact_id])
        .limit(limit)
        .select(
            "contact_id",
            stage=j.current_stage,
            days_in_stage=j.days_in_stage.round(1),
            chance_to_move_on=j.p_next,
            value=j.value,
            engagement_short=j.engagement_short,
            engagement_long=j.engagement_long,
            last_touch_at=j.last_touch_at,
            last_touch_team=j.last_touch_team,
        )
        .execute()
    )
    return frame, total
