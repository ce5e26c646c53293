"""What open contacts are worth: the age-aware chance of each, and its value.

A contact still in a stage before won reads its chance to move on, and to reach
won, at its days in the stage from :mod:`~fullfunnel.analytics.survival` (its
segment's curve where it has one, else its stage's), joined in the engine; its
value is that chance to win × its open opportunity's amount, else the average
deal. ``stuck`` splits these contacts into stuck and dormant; the total is the
expected value of the whole open funnel.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from fullfunnel._dates import literal
from fullfunnel.analytics.survival import Survival, with_segment
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse


def open_values(
    wh: Warehouse,
    tl: ir.Table,
    survival: Survival,
    as_of: datetime,
    deal: float | None,
    config: Config,
) -> ir.Table:
    """Every open contact (not exited, before won) with ``p_next``, ``p_won``,
    ``open_amount`` and ``value``, as an engine table."""
    chances = _chances(survival, config)
    return _valued(wh, tl, chances, _open_opportunities(wh, as_of), deal, config)


@dataclasses.dataclass(frozen=True)
class _Lookup:
    """The age-aware chances as engine tables: per (stage, day), and per (stage,
    segment, day) for the segments with a curve of their own (tried first)."""

    stage: ir.Table
    segment: ir.Table | None
    by: str | None
    longest: int


def _chances(survival: Survival, config: Config) -> _Lookup | None:
    """The age-aware lookup (stage[, segment], day → p_next, p_won) in the engine."""
    need = config["metrics"]["min_observations"]
    table = survival.table(need)
    if table.empty:
        return None
    segments = survival.segment_table(need) if survival.by else pd.DataFrame()
    return _Lookup(
        _engine_table(table),
        _engine_table(segments) if not segments.empty else None,
        survival.by,
        survival.longest,
    )


def _engine_table(frame: pd.DataFrame) -> ir.Table:
    frame = frame.assign(day=frame["day"].astype("int64"))
    # one chunk per column: Spark's Arrow path refuses chunked columns
    return ibis.memtable(pa.Table.from_pandas(frame, preserve_index=False).combine_chunks())


CHANCE_DAYS = (0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)


def chance_table(survival: Survival, config: Config) -> pd.DataFrame:
    """Per stage with the history for it: the chance to move on, and to win, of a
    contact still in the stage after each of ``CHANCE_DAYS`` (the report's curves)."""
    table = survival.table(config["metrics"]["min_observations"])
    table = table[table["day"].isin(CHANCE_DAYS)].rename(
        columns={"p_next": "chance_to_move_on", "p_won": "chance_to_win"}
    )
    nxt = {s: config.next_stage(s) for s in config.stage_names}
    table.insert(1, "next_stage", table["stage"].map(nxt))
    return table.reset_index(drop=True)


def _valued(wh, tl, chances: _Lookup | None, opps, deal: float | None, config: Config):
    """Every open contact (not exited, before won) with its age-aware chance and value:
    ``p_next``, ``p_won`` (its segment's curve where it has one, else its stage's; null
    where the stage's history is too thin), ``open_amount`` and ``value`` = p_won ×
    (open amount, else the average deal)."""
    before_won = list(config.stage_names[: config.index(config.won_stage)])
    never = ibis.literal(True)
    for st in config.stages:
        if st.owner == "sales":
            never &= tl[reached(st.name)].isnull()
    live = tl.filter(tl.exit.isnull(), tl.current_stage.isin(before_won)).select(
        "contact_id", "current_stage", "days_in_stage", "current_stage_at", reached_sales=~never
    )
    if chances is None:
        live = live.mutate(p_next=ibis.null("float64"), p_won=ibis.null("float64"))
    else:
        day = ibis.least(live.days_in_stage.floor().cast("int64"), chances.longest)
        live = live.mutate(_day=ibis.greatest(day, 0))
        columns = live.columns
        stage = chances.stage
        live = live.left_join(
            stage, (live.current_stage == stage.stage) & (live._day == stage.day)
        ).select(*columns, "p_next", "p_won")
        if chances.segment is not None:
            live = with_segment(wh, live, chances.by)
            seg = chances.segment.rename(seg_next="p_next", seg_won="p_won")
            live = live.left_join(
                seg,
                (live.current_stage == seg.stage)
                & (live._segment == seg.segment)
                & (live._day == seg.day),
            ).select(*columns, "p_next", "p_won", "seg_next", "seg_won")
            live = live.mutate(
                p_next=live.seg_next.coalesce(live.p_next), p_won=live.seg_won.coalesce(live.p_won)
            ).drop("seg_next", "seg_won")
        live = live.drop("_day")
    live = live.left_join(opps, "contact_id").drop("contact_id_right")
    base = live.open_amount.coalesce(ibis.literal(deal if deal else None, type="float64"))
    return live.mutate(value=live.p_won * base)


def value_total(valued: ir.Table) -> tuple[int, float]:
    """How many open contacts, and their expected value in all."""
    row = valued.aggregate(n=valued.count(), value=valued.value.sum()).execute().iloc[0]
    return count(row["n"]), float(row["value"]) if pd.notna(row["value"]) else 0.0


def _open_opportunities(wh: Warehouse, as_of: datetime) -> ir.Table:
    """Per contact, the amount of opportunities open as of ``as_of``."""
    opp = wh.table("opportunities")
    opp = opp.filter(opp.contact_id.notnull(), opp.created_at <= literal(as_of))
    closed = opp.close_date.notnull() & (opp.close_date <= literal(as_of))
    is_open = (opp.status == "open") | ~closed
    opp = opp.filter(is_open)
    return opp.group_by("contact_id").aggregate(open_amount=opp.amount.sum())
