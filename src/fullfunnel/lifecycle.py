"""The per-contact stage timeline that every funnel analysis starts from.

One row per contact: when it first reached each stage (``reached_<stage>_at``,
filled from later stages when ``implied_stages`` is on and flagged as
``<stage>_implied``; a later stage reached before this stage's own first event,
as when a contact re-enters after recycling, also counts), how often it entered
each stage (``entries_<stage>``, so re-MQLs after recycling are counted while
conversion uses the first reach), its
current stage and since when, and its exit.

Current stage: the latest stage event (on a tie, the later stage). A journey whose
latest event is a terminal exit (``disqualified``, ``closed_lost``) has ``exit``
set and keeps the stage it left from as ``current_stage``. A latest ``recycled``
event puts the contact back in ``recycle_to`` (by default ``lead``) from that time.
Every contact in ``contacts`` has reached the first stage at ``created_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between, epoch_seconds, literal, literal_table, now
from fullfunnel.config import Config, default_config
from fullfunnel.warehouse import Warehouse


def reached(stage: str) -> str:
    """The timeline column holding when a contact first reached ``stage``."""
    return f"reached_{stage}_at"


def timeline(
    wh: Warehouse, config: Config | None = None, *, as_of: datetime | None = None
) -> ir.Table:
    """The stage timeline of every contact as of ``as_of`` (default: now).

    Only events at or before ``as_of`` count, so a past ``as_of`` shows the
    funnel as it was known then. The timeline is materialised once per warehouse,
    stage model and date and shared by every analysis that asks for it (a load
    clears it), so a run of many analyses builds it once.
    """
    config = config or default_config()
    as_of = as_of or now()
    key = (
        "timeline",
        as_of,
        config.stage_names,
        config.exits,
        config.terminal_exits,
        config.recycle_to,
        config.implied_stages,
    )
    build = lambda: timeline_expr(wh, config, as_of=as_of)  # noqa: E731
    return wh.shared(key, build, reads=("stage_events", "contacts"))


def timeline_expr(
    wh: Warehouse,
    config: Config,
    *,
    as_of: datetime | Sequence[datetime],
    within: ir.Table | None = None,
) -> ir.Table:
    """The expression behind :func:`timeline`, not materialised; ``within`` (a table
    with a ``contact_id`` column) limits it to those contacts, and the engine reads
    only their events.

    Several dates give every contact's timeline as of each of them in one query: one
    row per contact and date, the date in an ``as_of`` column (for a sample of
    contacts at many cut-offs; each event is read once per date).
    """
    stages = config.stage_names
    exits = config.exits
    rank = {name: i for i, name in enumerate(stages)}
    rank.update({name: len(stages) + i for i, name in enumerate(exits)})

    events = wh.table("stage_events").select("contact_id", "stage", "ts")
    contacts = wh.table("contacts")
    if within is not None:
        events = events.semi_join(within, "contact_id").select(*events.columns)
        contacts = contacts.semi_join(within, "contact_id").select(*contacts.columns)
    created = contacts.select("contact_id", stage=ibis.literal(stages[0]), ts=contacts.created_at)
    if isinstance(as_of, datetime):
        # Most contacts have no stage event: their creations join the events'
        # aggregates, which costs less than aggregating them too.
        cutoff: ir.TimestampValue = literal(as_of)
        keys = ["contact_id"]
        ev = _until(events, cutoff, rank)
        aggregates = _aggregate(ev, keys, config, rank)
        t = _with_created(aggregates, _until(created, cutoff, rank), keys, stages[0])
    else:
        # Per date, a creation is one more event: joining on contact and date costs
        # more than it saves.
        ev = events.union(created).cross_join(literal_table([{"as_of": d} for d in as_of]))
        cutoff, keys = ev.as_of, ["contact_id", "as_of"]
        t = _aggregate(_until(ev, cutoff, rank), keys, config, rank)
    by_rank = [(i, name) for name, i in rank.items()]
    t = t.mutate(
        **{c: (t[c] % 64).cases(*by_rank) for c in ("_last_event", "_last_stage", "_last_exit")}
    )

    cols = {}
    later: ir.TimestampValue | None = None
    for s in reversed(stages):
        first = t[f"first_{s}"]
        if config.implied_stages and later is not None:
            # a later stage reached earlier than this stage's own first event (a
            # re-entry after recycling) means this stage was passed by then
            implied = later.notnull() & (first.isnull() | (later < first))
            cols[reached(s)] = ibis.least(first, later)
            cols[f"{s}_implied"] = implied.fill_null(False)
            later = ibis.least(first, later)
        else:
            cols[reached(s)] = first
            cols[f"{s}_implied"] = ibis.literal(False)
            later = first if later is None else ibis.least(first, later)
    last_event = t._last_event
    terminal = last_event.isin(list(config.terminal_exits))
    recycled = last_event == "recycled"
    current_stage = ibis.ifelse(recycled, ibis.literal(config.recycle_to), t._last_stage)
    current_at = ibis.ifelse(recycled, t._last_event_at, t._last_stage_at)
    exited_at = ibis.ifelse(terminal, t._last_event_at, ibis.null("timestamp"))
    out = t.select(
        *keys,
        *[cols[reached(s)].name(reached(s)) for s in stages],
        *[cols[f"{s}_implied"].name(f"{s}_implied") for s in stages],
        *[t[f"entries_{s}"].name(f"entries_{s}") for s in stages],
        current_stage=current_stage,
        current_stage_at=current_at,
        exit=ibis.ifelse(terminal, last_event, ibis.null("string")),
        exited_at=exited_at,
        recycled_count=t.recycled_count,
    )
    end = out.exited_at.coalesce(out.as_of if "as_of" in keys else cutoff)
    return out.mutate(days_in_stage=days_between(out.current_stage_at, end))


def _until(ev: ir.Table, cutoff: ir.TimestampValue, rank: dict[str, int]) -> ir.Table:
    """The events of the stage model at or before ``cutoff``."""
    return ev.filter(ev.ts <= cutoff, ev.stage.isin(list(rank)))


def _aggregate(ev: ir.Table, keys: list[str], config: Config, rank: dict[str, int]) -> ir.Table:
    """Per contact (and date): first reach and entries of each stage, the latest
    event, stage and exit (as orders: see the comment below) and the recycles."""
    # The order of events as one integer: whole seconds (so that events within a second
    # tie the same way on every engine), then the stage's rank (< 64), which max() keeps:
    # the latest event's stage is its order % 64 (far cheaper than argmax by a sort key).
    order = epoch_seconds(ev.ts) * 64 + ev.stage.cases(*rank.items(), else_=0)
    is_stage = ev.stage.isin(list(config.stage_names))
    is_terminal = ev.stage.isin(list(config.terminal_exits))
    # counts with count_if, not sum(bool): on DuckDB a sum widens to a 128-bit
    # accumulator and made the timeline ~2x slower
    aggs = {}
    for s in config.stage_names:
        aggs[f"first_{s}"] = ev.ts.min(where=ev.stage == s)
        aggs[f"entries_{s}"] = count_if(ev.stage == s)
    aggs["_last_event"] = order.max()
    aggs["_last_event_at"] = ev.ts.max()
    aggs["_last_stage"] = order.max(where=is_stage)
    aggs["_last_stage_at"] = ev.ts.max(where=is_stage)
    aggs["_last_exit"] = order.max(where=is_terminal)
    aggs["recycled_count"] = count_if(ev.stage == "recycled")
    return ev.group_by(keys).aggregate(**aggs)


def _with_created(t: ir.Table, created: ir.Table, keys: list[str], first: str) -> ir.Table:
    """The aggregates ``t`` of the stage events with each contact's creation (an event
    of the ``first`` stage, rank 0, in ``created``) counted as one more event."""
    j = created.outer_join(t, keys)
    at = j.ts
    order = epoch_seconds(at) * 64  # the first stage's rank is 0
    counts = [c for c in t.columns if c.startswith("entries_") or c == "recycled_count"]
    merged = {k: j[k].coalesce(j[f"{k}_right"]) for k in keys}
    merged |= {c: j[c] for c in t.columns if c not in keys}
    merged |= {c: j[c].fill_null(0) for c in counts}
    merged[f"first_{first}"] = ibis.least(at, j[f"first_{first}"])
    merged[f"entries_{first}"] += ibis.ifelse(at.notnull(), 1, 0)
    for c in ("_last_event", "_last_stage"):
        merged[c] = ibis.greatest(order, j[c])
    for c in ("_last_event_at", "_last_stage_at"):
        merged[c] = ibis.greatest(at, j[c])
    return j.select(**merged)


def stage_index(config: Config, column: ir.StringValue) -> ir.IntegerValue:
    """The position of a stage name in the funnel (-1 when not a stage)."""
    return column.cases(*[(s, i) for i, s in enumerate(config.stage_names)], else_=-1)


def held(wh: Warehouse, config: Config) -> Config:
    """The stage model cut to the stages the data holds events for: a source with
    only an MQL list and won deals has a funnel mql → customer (→ advocate), not four
    steps implied at 100%. The full model when no stage has events."""

    def stages() -> tuple[str, ...]:
        t = wh.table("stage_events")
        found = t.select("stage").distinct().to_pyarrow()["stage"].to_pylist()
        contacts = wh.table("contacts")
        # a contact with no event at all is in the first stage from its creation
        bare = contacts.anti_join(t, "contact_id").count().execute()
        return tuple(found) + ((config.stage_names[0],) if found and bare else ())

    found = wh.memo(
        ("held_stages", config.stage_names[0]), stages, reads=("stage_events", "contacts")
    )
    if not found:
        return config
    names = config.stage_names
    # a stage without events of its own is left out when a later stage has some (it
    # would only be implied); the stages after the last recorded one stay, not reached
    # the won stage always stays: bookings, win rates and plans are counted at it
    found = {*found, config.won_stage}
    keep = [s for i, s in enumerate(names) if s in found or not set(names[i + 1 :]) & found]
    return config.only(keep)
