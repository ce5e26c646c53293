"""Pipeline movement: how the open pipeline changed between two dates.

The waterfall a sales leader starts the week with: the pipeline open at the start,
plus the deals created, plus the amounts raised, minus the amounts cut, minus the
deals won and lost, is the pipeline open at the end, in deals and in money. Each
deal counts once in each step it took, so the steps add up exactly (a test checks
that on every engine).

*Open at a date* is :func:`~fullfunnel.analytics.bookings.open_opportunities`: the
same rule as ``pipeline`` (overdue deals included, and said apart). A deal's
*amount at a date* is its current amount unless ``opportunity_history`` records a
change after that date; then it is the amount of the latest history row by that
date (or, before its first row, that first row's). A created deal enters at its
first recorded amount. Without history every amount is today's, and the result
says so: amounts can then not be seen to move.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import literal, to_datetime
from fullfunnel.analytics.bookings import open_opportunities
from fullfunnel.analytics.groups import check_deal_by, deal_grouped
from fullfunnel.analytics.period import created_by, period_span, resolve_as_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

# the steps of the waterfall, in order, and the prefix of their aggregates (see _sums)
STEPS = (
    ("opening", "opening"),
    ("created", "created"),
    ("pulled in", "pulled"),
    ("pushed out", "pushed"),
    ("amount up", "up"),
    ("amount down", "down"),
    ("won", "won"),
    ("lost", "lost"),
    ("closing", "closing"),
)


@dataclasses.dataclass(frozen=True, eq=False)
class MovementResult(Result):
    """The open pipeline at ``since`` and at ``until`` and every step between, in deals
    and amount; the same per owner group or account segment with ``by``."""

    title = "pipeline movement"
    waterfall: pd.DataFrame  # step, deals, amount (signed as it moves the pipeline)
    by_group: pd.DataFrame  # with ``by``: a row per group, a column pair per step
    since: datetime
    until: datetime
    by: str | None
    history: bool  # whether amounts or close dates are recorded (else today's)
    overdue_at_close: int  # of the closing deals, those past their close date
    overdue_amount_at_close: float = 0.0
    closing: str | None = None  # the close period the pipeline is scoped to
    slipped: int = 0  # closing deals whose close date moved later between the dates
    slipped_amount: float = 0.0
    advanced: int = 0  # … and earlier
    advanced_amount: float = 0.0
    records_from: datetime | None = None  # the first recorded amount or close date

    def display_columns(self) -> dict[str, list[str]]:
        steps = ["opening", "created", "pulled_in", "pushed_out", "won", "lost", "closing"]
        return {"by_group": [self.by or "group", *(f"{s}_amount" for s in steps), "change"]}

    def _step(self, name: str) -> pd.Series:
        return self.waterfall.set_index("step").loc[name]

    def headline(self) -> list[str]:
        o, c = self._step("opening"), self._step("closing")
        span = f"{self.since:%Y-%m-%d} → {self.until:%Y-%m-%d}"
        what = f"pipeline closing in {self.closing}" if self.closing else "open pipeline"
        lines = [
            f"{what} {span}: {o.amount:,.0f} ({int(o.deals):,} deals) → "
            f"{c.amount:,.0f} ({int(c.deals):,} deals), {c.amount - o.amount:+,.0f}"
        ]
        steps = ["created", "amount up", "amount down", "won", "lost"]
        if self.closing:
            steps[1:1] = ["pulled in", "pushed out"]
        parts = [
            f"{name} {abs(self._step(name).amount):,.0f} ({int(self._step(name).deals):,})"
            for name in steps
        ]
        lines.append("moved by: " + ", ".join(parts))
        if self.slipped or self.advanced:
            lines.append(
                f"close dates moved: {self.slipped:,} of the closing deals later "
                f"({self.slipped_amount:,.0f}), {self.advanced:,} earlier "
                f"({self.advanced_amount:,.0f})"
                + (
                    ""
                    if self.closing
                    else "; give `closing` (e.g. a quarter) to see "
                    "which left or joined its pipeline"
                )
            )
        if self.records_from is not None and self.records_from > self.since:
            lines.append(
                f"amounts and close dates are recorded from {self.records_from:%Y-%m-%d}: "
                "a change before then shows as today's value"
            )
        if self.overdue_at_close:
            lines.append(
                f"closing = open pipeline {c.amount - self.overdue_amount_at_close:,.0f} "
                f"({int(c.deals) - self.overdue_at_close:,} deals) + overdue "
                f"{self.overdue_amount_at_close:,.0f} ({self.overdue_at_close:,} past their "
                "close date), as 'pipeline' shows them apart"
            )
        if not self.history:
            lines.append(
                "no history (opportunity_history) and no earlier load of these deals: "
                "amounts and close dates are today's, so their changes cannot show"
            )
        return lines


def movement(
    wh: Warehouse,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    as_of: str | datetime | None = None,
    by: str | None = None,
    closing: str | None = None,
    config: Config | None = None,
) -> MovementResult:
    """The open pipeline's waterfall from ``since`` (default: the Monday of the week of
    ``until``, or the Monday before when ``until`` is a Monday) to ``until``
    (default: ``as_of``); ``closing`` (a period, e.g. 2026-Q4): only the deals whose
    close date falls in it, with those pulled into it and pushed out of it; ``by``:
    the same per owner group or per segment (a column of the deal's account).

    >>> import fullfunnel as ff
    >>> ff.movement(ff.connect("duckdb://:memory:")).waterfall["deals"].sum()
    0
    """
    config = config or default_config()
    end = to_datetime(until, name="until") or resolve_as_of(wh, as_of)
    if until is not None and end == datetime(end.year, end.month, end.day):
        end = end + timedelta(days=1) - timedelta(seconds=1)  # a day: through its end
    start = to_datetime(since, name="since")
    if start is None:  # the week's Monday; on a Monday, the Monday before: last week too
        start = datetime(end.year, end.month, end.day) - timedelta(days=end.weekday())
        start -= timedelta(days=7) if start >= end or end.weekday() == 0 else timedelta(0)
    if start >= end:
        raise InputError("since is not before until; give an earlier since", option="since")
    if by is not None:
        check_deal_by(by, wh)
    scope = period_span(closing)
    deals = _deals(wh, start, end, scope)
    if by is not None:
        deals = deal_grouped(wh, deals, by)
    keys = ["group"] if by is not None else []
    frame = deals.group_by(keys).aggregate(**_sums(deals)) if keys else None
    totals = deals.aggregate(**_sums(deals)).execute().iloc[0]
    obs = _observed(wh)
    recorded = obs.filter(obs.amount.notnull() | obs.close_date.notnull())
    first = recorded.filter(recorded.ts <= literal(end)).ts.min().execute()
    return MovementResult(
        waterfall=_waterfall(totals),
        by_group=_by_group(frame.execute(), by) if frame is not None else pd.DataFrame(),
        since=start,
        until=end,
        by=by,
        history=first is not None and not pd.isna(first),
        overdue_at_close=count(totals["overdue_n"]),
        overdue_amount_at_close=_amount(totals["overdue_a"]),
        closing=closing,
        slipped=count(totals["slipped_n"]),
        slipped_amount=_amount(totals["slipped_a"]),
        advanced=count(totals["advanced_n"]),
        advanced_amount=_amount(totals["advanced_a"]),
        records_from=None
        if first is None or pd.isna(first)
        else pd.Timestamp(first).to_pydatetime(),
    )


def _observed(wh: Warehouse) -> ir.Table:
    """Every recorded (deal, moment, amount, close date): the CRM's history and the
    snapshots the loads took (:mod:`fullfunnel.warehouse.snapshots`)."""
    hist = wh.table("opportunity_history")
    close = hist.close_date if "close_date" in hist.columns else ibis.null("timestamp")
    parts = [hist.select("opportunity_id", "ts", "amount", close_date=close)]
    snap = wh.table("pipeline_snapshots")
    parts.append(snap.select("opportunity_id", "ts", "amount", "close_date"))
    return ibis.union(
        *[
            p.select(
                "opportunity_id",
                ts=p.ts.cast("timestamp"),
                amount=p.amount.cast("float64"),
                close_date=p.close_date.cast("timestamp"),
            )
            for p in parts
        ]
    )


def _as_recorded(
    wh: Warehouse, j: ir.Table, obs: ir.Table, field: str, moments: dict[str, ir.Value]
) -> tuple[ir.Table, dict[str, ir.Value], ir.Value]:
    """``j`` joined with what ``obs`` recorded of ``field``; the value at each moment
    (today's, unless a change after the moment is recorded: then the latest recorded
    by it, or before the first record, the first) and the first recorded value."""
    o = obs.filter(obs[field].notnull())
    last, first = f"_{field}_last", f"_{field}_first"
    span = o.group_by("opportunity_id").aggregate(
        **{last: o.ts.max(), first: o[field].argmin(o.ts)}
    )
    j = j.left_join(span, "opportunity_id").drop("opportunity_id_right")
    for name, when in moments.items():
        h = o.filter(o.ts <= when)
        at = h.group_by("opportunity_id").aggregate(
            **{f"_{field}_{name}": wh.arg_max(h[field], h.ts)}
        )
        j = j.left_join(at, "opportunity_id").drop("opportunity_id_right")
    values = {
        name: ibis.ifelse(
            j[last].notnull() & (j[last] > when),
            j[f"_{field}_{name}"].coalesce(j[first]),
            j[field],
        )
        for name, when in moments.items()
    }
    return j, values, j[first]


def _deals(
    wh: Warehouse, start: datetime, end: datetime, scope: tuple[datetime, datetime] | None
) -> ir.Table:
    """Per opportunity: in the pipeline at the start or at the end (open, and with
    ``scope``, closing inside it), created, pulled in, pushed out or closed between,
    and its amount at each (``_in_s``, ``_amt_s``, ``_in_e``, ``_amt_e``, ``_new``,
    ``_amt_in``, ``_won``, ``_lost``, ``_amt_out``, ``_close_s``, ``_close_e``)."""
    opp = wh.table("opportunities")
    s, e = literal(start), literal(end)
    moments = {"s": s, "e": e}
    obs = _observed(wh)
    j, amount, first_amount = _as_recorded(wh, opp, obs, "amount", moments)
    j, close, _ = _as_recorded(wh, j, obs, "close_date", moments)
    j = j.mutate(_amt_s=amount["s"], _amt_e=amount["e"], _amt_first=first_amount)
    j = j.mutate(_close_s=close["s"], _close_e=close["e"])
    open_s = open_opportunities(j, start).select("opportunity_id", _os=ibis.literal(True))
    open_e = open_opportunities(j, end).select("opportunity_id", "overdue", _oe=ibis.literal(True))
    j = j.left_join(open_s, "opportunity_id").drop("opportunity_id_right")
    j = j.left_join(open_e, "opportunity_id").drop("opportunity_id_right")

    def within(moment: ir.TimestampValue) -> ir.BooleanValue:
        if scope is None:
            return ibis.literal(True)
        return moment.notnull() & (moment >= literal(scope[0])) & (moment < literal(scope[1]))

    closed_in = j.close_date.notnull() & (j.close_date > s) & (j.close_date <= e)
    new = created_by(j, e) & ~created_by(j, s)
    return j.mutate(
        _in_s=(j._os.fill_null(False) & within(j._close_s)).fill_null(False),
        _in_e=(j._oe.fill_null(False) & within(j._close_e)).fill_null(False),
        _open_s=j._os.fill_null(False),
        _closes_inside=within(j._close_e).fill_null(False),
        _overdue=j.overdue.fill_null(False),
        _amt_s=j._amt_s.fill_null(0.0),
        _amt_e=j._amt_e.fill_null(0.0),
        _new=new.fill_null(False),
        _amt_in=j._amt_first.coalesce(j.amount).fill_null(0.0),
        _won=((j.status == "won") & closed_in).fill_null(False),
        _lost=((j.status == "lost") & closed_in).fill_null(False),
        _amt_out=j.amount.fill_null(0.0),
    )


def _sums(d: ir.Table) -> dict[str, ir.Value]:
    """The waterfall's counts and amounts, one aggregate each.

    A deal enters the pipeline at its opening amount, or created (at its first
    recorded amount), or pulled in (open at the start, closing outside the scope
    then, inside it by the end or when it closed); it leaves at its closing amount,
    or won or lost (at its final amount), or pushed out (still open, now closing
    outside the scope). The difference between its entering and leaving amounts
    is its amount up or down. Without a scope nothing is pulled in or pushed out.
    """
    closed = d._won | d._lost
    enters = ~d._in_s & (d._in_e | (closed & d._closes_inside)) & (d._open_s | d._new)
    created = enters & d._new
    pulled = enters & ~d._new
    in_play = d._in_s | enters
    pushed = in_play & ~d._in_e & ~closed
    enter = ibis.ifelse(created, d._amt_in, d._amt_s)
    leave = ibis.ifelse(d._in_e | pushed, d._amt_e, d._amt_out)
    change = ibis.ifelse(in_play, leave - enter, 0.0)
    won, lost = in_play & d._won, in_play & d._lost
    moved = d._in_e & d._close_s.notnull() & d._close_e.notnull()
    return {
        "opening_n": count_if(d._in_s),
        "opening_a": ibis.ifelse(d._in_s, d._amt_s, 0.0).sum(),
        "created_n": count_if(created),
        "created_a": ibis.ifelse(created, d._amt_in, 0.0).sum(),
        "pulled_n": count_if(pulled),
        "pulled_a": ibis.ifelse(pulled, d._amt_s, 0.0).sum(),
        "pushed_n": count_if(pushed),
        "pushed_a": ibis.ifelse(pushed, -d._amt_e, 0.0).sum(),
        "up_n": count_if(change > 0),
        "up_a": ibis.ifelse(change > 0, change, 0.0).sum(),
        "down_n": count_if(change < 0),
        "down_a": ibis.ifelse(change < 0, change, 0.0).sum(),
        "won_n": count_if(won),
        "won_a": ibis.ifelse(won, -d._amt_out, 0.0).sum(),
        "lost_n": count_if(lost),
        "lost_a": ibis.ifelse(lost, -d._amt_out, 0.0).sum(),
        "closing_n": count_if(d._in_e),
        "closing_a": ibis.ifelse(d._in_e, d._amt_e, 0.0).sum(),
        "overdue_n": count_if(d._in_e & d._overdue),
        "overdue_a": ibis.ifelse(d._in_e & d._overdue, d._amt_e, 0.0).sum(),
        # of the closing deals, those whose close date moved later or earlier
        "slipped_n": count_if(moved & (d._close_e > d._close_s)),
        "slipped_a": ibis.ifelse(moved & (d._close_e > d._close_s), d._amt_e, 0.0).sum(),
        "advanced_n": count_if(moved & (d._close_e < d._close_s)),
        "advanced_a": ibis.ifelse(moved & (d._close_e < d._close_s), d._amt_e, 0.0).sum(),
    }


def _waterfall(totals: pd.Series) -> pd.DataFrame:
    """The steps as rows: deals, and the amount each adds (negative: takes away)."""
    rows = []
    for step, col in STEPS:
        deals, amount = count(totals[f"{col}_n"]), _amount(totals[f"{col}_a"])
        rows.append({"step": step, "deals": deals, "amount": amount})
    return pd.DataFrame(rows)


def _amount(value: object) -> float:
    """An engine sum as a float: a sum over no rows comes back null or NaN."""
    return 0.0 if value is None or pd.isna(value) else float(value)


def _by_group(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per group with a deal in play, the steps' deals and amounts as columns,
    by closing."""
    out = pd.DataFrame({by: frame["group"]})
    for step, col in STEPS:
        name = step.replace(" ", "_")
        out[f"{name}_deals"] = frame[f"{col}_n"].fillna(0).astype(int)
        out[f"{name}_amount"] = frame[f"{col}_a"].fillna(0.0).astype(float)
    out["change"] = out["closing_amount"] - out["opening_amount"]
    moved = out[[c for c in out.columns if c.endswith("_deals")]].sum(axis=1) > 0
    out = out[moved]  # a group with no deal in play between the dates says nothing
    return out.sort_values(["closing_amount", by], ascending=[False, True]).reset_index(drop=True)
