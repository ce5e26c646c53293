"""Who touched each contact last, and when: the activity that stuck, hidden demand and
diagnose read, and each stage's stuck limit (its SLA, or the historical p90 dwell)."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import days_between, literal
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached
from fullfunnel.warehouse import Warehouse


def stage_limits(tl: ir.Table, config: Config, rule: str) -> dict[str, float | None]:
    """Days a contact may stay in each stage: the SLA, or the historical p90 dwell."""
    if rule == "sla":
        return {s.name: s.sla_days for s in config.stages}
    steps = config.steps()
    aggs = {
        s: days_between(tl[reached(s)], tl[reached(t)]).quantile(
            0.9, where=tl[reached(t)].notnull()
        )
        for s, t in steps
    }
    row = tl.aggregate(**aggs).execute().iloc[0]
    return {s: (float(row[s]) if pd.notna(row[s]) else None) for s, _ in steps}


def contact_activity(wh: Warehouse, config: Config, as_of: datetime) -> ir.Table:
    """Per contact: last touch (when, by which team), last touch per team, engagement.

    Engagement counts inbound touches (``direction`` not outbound) in the short and
    long windows of ``[diagnose]``. One pass over every touchpoint: materialised once
    per warehouse, date and settings and shared (stuck, hidden demand and diagnose
    all read it).
    """
    settings = config["diagnose"]
    key = (
        "contact_activity",
        as_of,
        config.teams,
        settings["engagement_short_days"],
        settings["engagement_long_days"],
    )
    build = lambda: _activity_expr(wh, config, as_of)  # noqa: E731
    return wh.shared(key, build, reads=("touchpoints",))


def _activity_expr(wh: Warehouse, config: Config, as_of: datetime) -> ir.Table:
    """The expression behind :func:`contact_activity`, not materialised."""
    settings = config["diagnose"]
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts <= literal(as_of))
    inbound = tp.direction.isnull() | (tp.direction != "outbound")
    short = literal(as_of - timedelta(days=settings["engagement_short_days"]))
    long_ = literal(as_of - timedelta(days=settings["engagement_long_days"]))
    aggs: dict[str, ir.Value] = {
        "last_touch_at": tp.ts.max(),
        "last_touch_team": wh.arg_max(tp.team, tp.ts),
        "engagement_short": (inbound & (tp.ts > short)).sum(),
        "engagement_long": (inbound & (tp.ts > long_)).sum(),
    }
    for team in config.teams:
        aggs[f"last_{team}_at"] = tp.ts.max(where=tp.team == team)
    return tp.group_by("contact_id").aggregate(**aggs)


def _owner_touch(j: ir.Table, config: Config, mode: str) -> ir.TimestampValue:
    """The latest touch by a team that works the contact's current stage."""
    old = literal(datetime(1900, 1, 1))
    branches = []
    for s in config.stages:
        teams = (s.owner,) if mode == "owner" else s.teams
        latest = j[f"last_{teams[0]}_at"].fill_null(old)
        for team in teams[1:]:
            other = j[f"last_{team}_at"].fill_null(old)
            latest = ibis.ifelse(other > latest, other, latest)
        branches.append((s.name, latest))
    value = j.current_stage.cases(*branches, else_=old)
    return ibis.ifelse(value == old, ibis.null("timestamp"), value)
