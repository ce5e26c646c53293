"""The records behind a count: the contacts, deals or touches a figure was counted from.

A leader who reads "412 MQLs in 2026-Q3" or "open pipeline 1.2M at proposal" can list
exactly those records, with the same filters, a page at a time, and check that the
total (and, for deals, the amount) is the number clicked. Each kind reads the
expression its analysis counts, so the two cannot disagree:

- ``contacts``: ``state="reached"`` (default), those whose first reach of ``stage``
  (:func:`fullfunnel.lifecycle.timeline` on the funnel's stage model) lies in
  ``period``: the funnel's *reached*; ``"in_stage"``, those in ``stage`` now and not
  exited: the funnel's *in_stage*; ``"stuck"``, the stuck contacts of
  :func:`fullfunnel.analytics.stuck.stuck` (its own list, in its rank order).
- ``deals``: ``status="open"`` (default), open at ``as_of`` and not overdue: the
  pipeline's open table; ``"overdue"``, the pipeline's overdue ones; ``"won"`` /
  ``"lost"``, closed by ``as_of`` with a close date in ``period``
  (:func:`~fullfunnel.analytics.metrics.closed_deals`): won in a period is its
  *bookings*. ``stage`` is the opportunity's pipeline stage; ``period`` on open deals
  is their expected close date.
- ``touches``: touchpoints up to ``as_of`` with ``ts`` in ``period``; with
  ``conversion`` (a stage), only those the attribution of that stage credits (each
  journey's touches within the lookback): its ``touches`` per channel.

``by``/``value`` keep one group of a breakdown (:mod:`fullfunnel.analytics.groups`:
a contacts column or owner group; for deals an owner group or accounts column);
``team`` keeps what a team owns: the stages it owns (contacts), the deals it owns,
the touches it made.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import SECONDS_PER_DAY, literal
from fullfunnel.analytics.attribution.journeys import in_lookback, journey_ends
from fullfunnel.analytics.attribution.paths import NO_LABEL
from fullfunnel.analytics.bookings import open_opportunities
from fullfunnel.analytics.groups import check_deal_by, deal_grouped, with_breakdown
from fullfunnel.analytics.metrics import Window, closed_deals
from fullfunnel.analytics.period import period_span, resolve_as_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.lifecycle import held, reached, timeline
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

KINDS = ("contacts", "deals", "touches")
CONTACT_STATES = ("reached", "in_stage", "stuck")
DEAL_STATUSES = ("open", "overdue", "won", "lost")
# the contacts columns a contact row carries, where the table has them
CONTACT_COLUMNS = ("account_id", "created_at", "source_channel", "owner_team", "owner_id")
CONTACT_COLUMNS += ("title", "industry", "employees", "country")
DEAL_COLUMNS = ("opportunity_id", "account_id", "contact_id", "created_at", "stage", "status")
DEAL_COLUMNS += ("amount", "close_date", "owner_id", "owner_team")
TOUCH_COLUMNS = ("touchpoint_id", "contact_id", "account_id", "ts", "channel", "campaign")
TOUCH_COLUMNS += ("tactic", "kind", "team", "direction", "cost")


@dataclasses.dataclass(frozen=True, eq=False)
class RecordsResult(Result):
    """One page of the records behind a count, with the total count (and amount)."""

    title = "records"
    rows: pd.DataFrame
    kind: str
    filters: dict[str, Any]
    total: int
    amount: float | None
    limit: int | None
    offset: int
    as_of: datetime

    def display_columns(self) -> dict[str, list[str]]:
        shown = {
            "contacts": "rank contact_id reached_at stage current_stage days_in_stage value",
            "deals": "opportunity_id stage status amount close_date owner_id",
            "touches": "touchpoint_id contact_id ts channel kind team",
        }[self.kind].split()
        group = [c for c in (self.filters.get("by"), f"{self.filters.get('by')}_group") if c]
        return {"rows": [*shown, *group]}

    def headline(self) -> list[str]:
        said = ", ".join(f"{k} {v}" for k, v in self.filters.items() if v is not None)
        line = f"{self.total:,} {self.kind}" + (f" ({said})" if said else "")
        if self.amount is not None:
            line += f", amount {self.amount:,.0f}"
        shown = len(self.rows)
        if shown < self.total:
            line += f"; rows {self.offset + 1:,}–{self.offset + shown:,} shown"
        return [line + f", as of {self.as_of:%Y-%m-%d}"]


@dataclasses.dataclass(frozen=True)
class Selection:
    """Every record behind a count, as an expression in the engine, in page order."""

    kind: str
    table: ir.Table
    filters: dict[str, Any]
    as_of: datetime

    def totals(self) -> tuple[int, float | None]:
        """How many records, and for deals their amount (a missing amount counts 0)."""
        t = self.table
        if self.kind != "deals":
            return count(t.count().execute()), None
        row = t.aggregate(n=t.count(), amount=t.amount.sum()).execute().iloc[0]
        amount = row["amount"]
        return count(row["n"]), 0.0 if amount is None or pd.isna(amount) else float(amount)

    def page(self, limit: int | None, offset: int = 0) -> pd.DataFrame:
        """Rows ``offset`` to ``offset + limit`` (every row from ``offset`` for None)."""
        t = self.table.order_by("_order").drop("_order")
        if limit is None and not offset:
            return t.execute()
        return t.limit(limit, offset=offset).execute()

    def to_pyarrow(self) -> Any:
        """Every row, in page order, as an Arrow table (for a CSV of all of them)."""
        return self.table.order_by("_order").drop("_order").to_pyarrow()


def select_records(
    wh: Warehouse,
    kind: str,
    *,
    stage: str | None = None,
    period: str | None = None,
    by: str | None = None,
    value: str | None = None,
    team: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    status: str | None = None,
    conversion: str | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> Selection:
    """The records of ``kind`` behind a count, filtered as the analysis that counts them."""
    config = config or default_config()
    if kind not in KINDS:
        raise InputError(
            f"kind {kind!r}: use one of {', '.join(KINDS)}." + did_you_mean(kind, KINDS),
            option="kind",
        )
    if (by is None) != (value is None):
        raise InputError(
            "by and value go together: by names the breakdown (e.g. country), value its "
            "group (e.g. DE)",
            option="by" if by is None else "value",
        )
    _only(kind, "contacts", state=state)
    _only(kind, "deals", status=status)
    _only(kind, "touches", channel=channel, conversion=conversion)
    span = period_span(period)
    filters = {"stage": stage, "period": period, "by": by, "value": value, "team": team}
    filters |= {"channel": channel, "state": state, "status": status, "conversion": conversion}
    filters = {k: v for k, v in filters.items() if v is not None}
    if kind == "contacts":
        if state == "stuck":
            table, when = _stuck(wh, config, stage, team, period, as_of)
            return Selection(kind, _in_group(wh, table, by, value), filters, when)
        when = resolve_as_of(wh, as_of)
        table = _contacts(wh, config, when, stage, span, team, state or "reached")
    elif kind == "deals":
        when = resolve_as_of(wh, as_of)
        table = _deals(wh, when, stage, span, team, status or "open", by, value)
        return Selection(kind, table, filters, when)
    else:
        when = resolve_as_of(wh, as_of)
        table = _touches(wh, config, when, span, team, channel, conversion)
    return Selection(kind, _in_group(wh, table, by, value), filters, when)


def records(
    wh: Warehouse,
    kind: str,
    *,
    limit: int | None = 100,
    offset: int = 0,
    config: Config | None = None,
    **filters: Any,
) -> RecordsResult:
    """A page of the records behind a count, with the total (and amount) of all of them.

    ``filters`` are those of :func:`select_records`. ``limit`` None lists every row.

    >>> import fullfunnel as ff
    >>> from fullfunnel.analytics.records import records
    >>> records(ff.connect("duckdb://:memory:"), "deals").total
    0
    """
    if limit is not None and limit < 0:
        raise InputError(f"limit {limit}: list 0 or more rows", option="limit")
    if offset < 0:
        raise InputError(f"offset {offset}: start at row 0 or later", option="offset")
    sel = select_records(wh, kind, config=config, **filters)
    total, amount = sel.totals()
    return RecordsResult(
        rows=sel.page(limit, offset),
        kind=kind,
        filters=sel.filters,
        total=total,
        amount=amount,
        limit=limit,
        offset=offset,
        as_of=sel.as_of,
    )


def _only(kind: str, owner: str, **given: Any) -> None:
    """Options that only one kind takes are refused on the others."""
    for name, v in given.items():
        if v is not None and kind != owner:
            raise InputError(f"{name} applies to {owner} only; leave it out", option=name)


def _check_choice(name: str, v: str | None, choices: tuple[str, ...]) -> None:
    if v is not None and v not in choices:
        raise InputError(
            f"{name} {v!r}: use one of {', '.join(choices)}." + did_you_mean(v, choices),
            option=name,
        )


def _check_team(team: str | None, config: Config) -> None:
    if team is not None and team not in config.teams:
        raise InputError(
            f"team {team!r} is not a team; the teams are {', '.join(config.teams)}."
            + did_you_mean(team, config.teams),
            option="team",
        )


def _funnel_stage(config: Config, stage: str | None, team: str | None) -> str:
    """The stage asked for, on the funnel's model (the stages the data holds)."""
    stage = stage or config.stage_names[0]
    if stage not in config.stage_names:
        raise InputError(
            f"stage {stage!r} is not a stage of the funnel; use one of "
            f"{', '.join(config.stage_names)}." + did_you_mean(stage, config.stage_names),
            option="stage",
        )
    owner = config.stage(stage).owner
    if team is not None and owner != team:
        raise InputError(
            f"team {team}: stage {stage} is owned by {owner}; give a stage {team} owns "
            f"({', '.join(s.name for s in config.stages if s.owner == team) or 'none'}) "
            "or leave team out",
            option="team",
        )
    return stage


def _contacts(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    stage: str | None,
    span: tuple[datetime, datetime] | None,
    team: str | None,
    state: str,
) -> ir.Table:
    """The funnel's contacts of ``stage``: reached it in ``span``, or in it now."""
    _check_choice("state", state, CONTACT_STATES)
    _check_team(team, config)
    config = held(wh, config)  # the funnel's stage model: its counts, its implied stages
    stage = _funnel_stage(config, stage, team)
    tl = timeline(wh, config, as_of=as_of)
    at = tl[reached(stage)]
    if state == "reached":
        keep = at.notnull()
        if span is not None:
            keep &= (at >= literal(span[0])) & (at < literal(span[1]))
    else:
        if span is not None:
            raise InputError(
                "period: contacts in a stage are counted as of as_of, not in a period; "
                "leave period out (or give as_of)",
                option="period",
            )
        keep = (tl.current_stage == stage) & tl.exit.isnull()
    t = tl.filter(keep).select(
        "contact_id",
        reached_at=at,
        implied=tl[f"{stage}_implied"],
        current_stage=tl.current_stage,
        current_stage_at=tl.current_stage_at,
        exit=tl.exit,
        days_in_stage=tl.days_in_stage.round(1),
    )
    t = _with_contact(wh, t)
    return t.mutate(_order=t.contact_id)


def _with_contact(wh: Warehouse, t: ir.Table) -> ir.Table:
    """``t`` (one row per contact) with the contact's own columns."""
    contacts = wh.table("contacts")
    cols = [c for c in CONTACT_COLUMNS if c in contacts.columns and c not in t.columns]
    side = contacts.select(*cols, _cid=contacts.contact_id)
    j = t.left_join(side, t.contact_id == side._cid)
    return j.drop("_cid")


def _stuck(
    wh: Warehouse,
    config: Config,
    stage: str | None,
    team: str | None,
    period: str | None,
    as_of: str | datetime | None,
) -> tuple[ir.Table, datetime]:
    """The stuck contacts the stuck analysis lists, all of them, in its rank order
    (its list is the one place they are ranked: the counts are of the same set)."""
    from fullfunnel.analytics.stuck import EVERY, stuck

    _check_team(team, config)
    if stage is not None:
        _funnel_stage(config, stage, None)
    ask = {"stage": stage, "team": team, "period": period, "as_of": as_of, "config": config}
    every = stuck(wh, limit=EVERY, **ask)
    frame = every.contacts.drop(columns=["missing_roles"])
    frame = frame.astype({"rank": "int64", "value": "float64", "open_amount": "float64"})
    for col in ("last_owner_touch_at", "last_touch_at"):
        frame[col] = pd.to_datetime(frame[col])
    if frame.empty:
        frame = frame.astype({c: "string" for c in ("contact_id", "account_id", "stage")})
    t = ibis.memtable(frame)
    return t.mutate(_order=t["rank"]), every.as_of


def _deals(
    wh: Warehouse,
    as_of: datetime,
    stage: str | None,
    span: tuple[datetime, datetime] | None,
    team: str | None,
    status: str,
    by: str | None,
    value: str | None,
) -> ir.Table:
    """The deals the pipeline (open, overdue) or the win rate and bookings (won, lost)
    count, with their amounts."""
    _check_choice("status", status, DEAL_STATUSES)
    opp = wh.table("opportunities")
    if status in ("open", "overdue"):
        t = open_opportunities(opp, as_of)
        t = t.filter(t.overdue if status == "overdue" else ~t.overdue)
        if span is not None:
            t = t.filter(t.close_date >= literal(span[0]), t.close_date < literal(span[1]))
    else:
        window = Window(*span, "given", "") if span is not None else None
        t = closed_deals(opp, as_of, window)
        t = t.filter(t.status == status)
    if stage is not None:
        stages = opp.select("stage").distinct().execute()["stage"].dropna().astype(str).tolist()
        if stage not in stages:
            raise InputError(
                f"stage {stage!r} is not a stage of any opportunity; the opportunities' "
                f"stages are {', '.join(sorted(stages)) or 'none'}." + did_you_mean(stage, stages),
                option="stage",
            )
        t = t.filter(t.stage == stage)
    if team is not None:
        t = t.filter(t.owner_team == team)
    cols = [c for c in DEAL_COLUMNS if c in t.columns]
    if by is not None:
        check_deal_by(by, wh)
        g = deal_grouped(wh, t, by)
        t = g.filter(g.group == value).select(*cols, **{by: g.group})
    else:
        t = t.select(*cols)
    return t.mutate(_order=t.opportunity_id)


def _touches(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    span: tuple[datetime, datetime] | None,
    team: str | None,
    channel: str | None,
    conversion: str | None,
) -> ir.Table:
    """Touchpoints up to ``as_of`` (in ``span``); with ``conversion``, the touches in
    the attribution journeys of that stage (each journey's lookback window)."""
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts <= literal(as_of))
    if conversion is not None:
        if span is not None:
            raise InputError(
                "period: the touches of an attribution are those of every journey to "
                "as_of; leave period out with conversion",
                option="period",
            )
        if conversion not in config.stage_names:
            raise InputError(
                f"conversion {conversion!r} is not a stage; use one of "
                f"{', '.join(config.stage_names)}." + did_you_mean(conversion, config.stage_names),
                option="conversion",
            )
        tp = _credited(wh, config, tp, conversion, as_of)
    if span is not None:
        tp = tp.filter(tp.ts >= literal(span[0]), tp.ts < literal(span[1]))
    if channel is not None:
        # as attribution labels them: a touch without a channel is "(none)"
        tp = tp.filter(tp.channel.cast("string").fill_null(NO_LABEL) == channel)
    if team is not None:
        _check_team(team, config)
        tp = tp.filter(tp.team == team)
    t = tp.select(*[c for c in TOUCH_COLUMNS if c in tp.columns])
    return t.mutate(_order=t.touchpoint_id)


def _credited(
    wh: Warehouse, config: Config, tp: ir.Table, conversion: str, as_of: datetime
) -> ir.Table:
    """The touches ``tp`` that the attribution of ``conversion`` keeps: in a contact's
    journey window, as :mod:`~fullfunnel.analytics.attribution.journeys` builds them."""
    tp = tp.filter(tp.contact_id.notnull())
    ends = journey_ends(wh, config, key="contact_id", conversion=conversion, as_of=as_of)
    last = tp.group_by("contact_id").aggregate(_last=tp.ts.max())
    j = tp.join(ends, "contact_id").join(last, "contact_id")
    window_s = float(config["attribution"]["lookback_days"]) * SECONDS_PER_DAY
    j = j.filter(in_lookback(j.ts, j, window_s))
    return j.select(*tp.columns)


def _in_group(wh: Warehouse, t: ir.Table, by: str | None, value: str | None) -> ir.Table:
    """``t`` (with ``contact_id``) cut to the contacts in group ``value`` of ``by``, the
    breakdown the funnel and stuck use (a missing value is "(none)")."""
    if by is None:
        return t
    side, key = with_breakdown(wh, t.select("contact_id").distinct(), by)
    side = side.filter(side[key] == value).select(_cid="contact_id", _group=key)
    j = t.inner_join(side, t.contact_id == side._cid).drop("_cid")
    name = by if by not in t.columns else f"{by}_group"
    return j.rename({name: "_group"})


def csv_chunks(table: Any, rows: int = 10_000) -> Iterator[bytes]:
    """An Arrow table as CSV bytes, the header first, then ``rows`` rows at a time (a
    download starts at once and never holds the whole text)."""
    import pyarrow.csv as pacsv

    for start in range(0, max(table.num_rows, 1), rows):
        out = io.BytesIO()
        options = pacsv.WriteOptions(include_header=start == 0)
        pacsv.write_csv(table.slice(start, rows), out, write_options=options)
        yield out.getvalue()
