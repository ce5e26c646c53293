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
from fullfunnel.analytics.groups import check_by, grouped
from fullfunnel.analytics.period import created_by, resolve_as_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

# the steps of the waterfall, in order, and the prefix of their aggregates (see _sums)
STEPS = (
    ("opening", "opening"),
    ("created", "created"),
    ("amount up", "up"),
    ("amount down", "down"),
    ("won", "won"),
    ("lost", "lost"),
    ("closing", "closing"),
)


@dataclasses.dataclass(frozen=True, eq=False)
class MovementResult(Result):
    """The open pipeline at ``since`` and at ``until`` and every step between, in deals
    and amount; the same per owner group with ``by``."""

    title = "pipeline movement"
    waterfall: pd.DataFrame  # step, deals, amount (signed as it moves the pipeline)
    by_group: pd.DataFrame  # with ``by``: a row per group, a column pair per step
    since: datetime
    until: datetime
    by: str | None
    history: bool  # whether opportunity_history records amounts (else today's)
    overdue_at_close: int  # of the closing deals, those past their close date
    overdue_amount_at_close: float = 0.0

    def _step(self, name: str) -> pd.Series:
        return self.waterfall.set_index("step").loc[name]

    def headline(self) -> list[str]:
        o, c = self._step("opening"), self._step("closing")
        span = f"{self.since:%Y-%m-%d} → {self.until:%Y-%m-%d}"
        lines = [
            f"open pipeline {span}: {o.amount:,.0f} ({int(o.deals):,} deals) → "
            f"{c.amount:,.0f} ({int(c.deals):,} deals), {c.amount - o.amount:+,.0f}"
        ]
        parts = [
            f"{name} {abs(self._step(name).amount):,.0f} ({int(self._step(name).deals):,})"
            for name in ("created", "amount up", "amount down", "won", "lost")
        ]
        lines.append("moved by: " + ", ".join(parts))
        if self.overdue_at_close:
            lines.append(
                f"closing = open pipeline {c.amount - self.overdue_amount_at_close:,.0f} "
                f"({int(c.deals) - self.overdue_at_close:,} deals) + overdue "
                f"{self.overdue_amount_at_close:,.0f} ({self.overdue_at_close:,} past their "
                "close date), as 'pipeline' shows them apart"
            )
        if not self.history:
            lines.append(
                "no amount history (opportunity_history): amounts are today's, so raised "
                "and cut amounts cannot show"
            )
        return lines


def movement(
    wh: Warehouse,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    as_of: str | datetime | None = None,
    by: str | None = None,
    config: Config | None = None,
) -> MovementResult:
    """The open pipeline's waterfall from ``since`` (default: the Monday of the week of
    ``until``, or the Monday before when ``until`` is that Monday's start) to ``until``
    (default: ``as_of``).

    >>> import fullfunnel as ff
    >>> ff.movement(ff.connect("duckdb://:memory:")).waterfall["deals"].sum()
    0
    """
    config = config or default_config()
    end = to_datetime(until, name="until") or resolve_as_of(wh, as_of)
    if until is not None and end == datetime(end.year, end.month, end.day):
        end = end + timedelta(days=1) - timedelta(seconds=1)  # a day: through its end
    start = to_datetime(since, name="since")
    if start is None:  # the week's Monday; the one before when the week has only begun
        start = datetime(end.year, end.month, end.day) - timedelta(days=end.weekday())
        start -= timedelta(days=7) if start >= end else timedelta(0)
    if start >= end:
        raise InputError("since is not before until; give an earlier since", option="since")
    if by is not None:
        check_by(by, wh)
    deals = _deals(wh, start, end)
    if by is not None:
        deals = grouped(wh, deals, by)
    keys = ["group"] if by is not None else []
    frame = deals.group_by(keys).aggregate(**_sums(deals)) if keys else None
    totals = deals.aggregate(**_sums(deals)).execute().iloc[0]
    history = bool(wh.count("opportunity_history"))
    return MovementResult(
        waterfall=_waterfall(totals),
        by_group=_by_group(frame.execute(), by) if frame is not None else pd.DataFrame(),
        since=start,
        until=end,
        by=by,
        history=history,
        overdue_at_close=count(totals["overdue_n"]),
        overdue_amount_at_close=_amount(totals["overdue_a"]),
    )


def _deals(wh: Warehouse, start: datetime, end: datetime) -> ir.Table:
    """Per opportunity: open at the start or at the end, created or closed between,
    and its amount at each (``_open_s``, ``_amt_s``, ``_open_e``, ``_amt_e``, ``_new``,
    ``_amt_in``, ``_won``, ``_lost``, ``_amt_out``)."""
    opp = wh.table("opportunities")
    s, e = literal(start), literal(end)
    hist = wh.table("opportunity_history")
    hist = hist.filter(hist.amount.notnull())
    span = hist.group_by("opportunity_id").aggregate(
        _last_ts=hist.ts.max(), _first_amt=hist.amount.argmin(hist.ts)
    )
    at = {}
    for name, when in (("s", s), ("e", e)):
        h = hist.filter(hist.ts <= when)
        at[name] = h.group_by("opportunity_id").aggregate(
            **{f"_h_{name}": wh.arg_max(h.amount, h.ts)}
        )
    j = opp.left_join(span, "opportunity_id").drop("opportunity_id_right")
    for name in ("s", "e"):
        j = j.left_join(at[name], "opportunity_id").drop("opportunity_id_right")

    def amount_at(name: str, when: ir.TimestampValue) -> ir.FloatingValue:
        changed = j._last_ts.notnull() & (j._last_ts > when)
        return ibis.ifelse(changed, j[f"_h_{name}"].coalesce(j._first_amt), j.amount)

    open_s = open_opportunities(j, start).select("opportunity_id", _os=ibis.literal(True))
    open_e = open_opportunities(j, end).select("opportunity_id", "overdue", _oe=ibis.literal(True))
    j = j.left_join(open_s, "opportunity_id").drop("opportunity_id_right")
    j = j.left_join(open_e, "opportunity_id").drop("opportunity_id_right")
    closed_in = j.close_date.notnull() & (j.close_date > s) & (j.close_date <= e)
    new = created_by(j, e) & ~created_by(j, s)
    return j.mutate(
        _open_s=j._os.fill_null(False),
        _open_e=j._oe.fill_null(False),
        _overdue=j.overdue.fill_null(False),
        _amt_s=amount_at("s", s).fill_null(0.0),
        _amt_e=amount_at("e", e).fill_null(0.0),
        _new=new.fill_null(False),
        _amt_in=j._first_amt.coalesce(j.amount).fill_null(0.0),
        _won=((j.status == "won") & closed_in).fill_null(False),
        _lost=((j.status == "lost") & closed_in).fill_null(False),
        _amt_out=j.amount.fill_null(0.0),
    )


def _sums(d: ir.Table) -> dict[str, ir.Value]:
    """The waterfall's counts and amounts, one aggregate each. A deal in play enters
    at its opening or created amount and leaves at its closing amount or, won or
    lost, at its final amount; the difference is its amount up or down."""
    in_play = (d._open_s | d._new) & (d._open_e | d._won | d._lost)
    enter = ibis.ifelse(d._open_s, d._amt_s, d._amt_in)
    leave = ibis.ifelse(d._open_e, d._amt_e, d._amt_out)
    change = ibis.ifelse(in_play, leave - enter, 0.0)
    closed = (d._won | d._lost) & (d._open_s | d._new)
    return {
        "opening_n": count_if(d._open_s),
        "opening_a": ibis.ifelse(d._open_s, d._amt_s, 0.0).sum(),
        "created_n": count_if(d._new),
        "created_a": ibis.ifelse(d._new, d._amt_in, 0.0).sum(),
        "up_n": count_if(change > 0),
        "up_a": ibis.ifelse(change > 0, change, 0.0).sum(),
        "down_n": count_if(change < 0),
        "down_a": ibis.ifelse(change < 0, change, 0.0).sum(),
        "won_n": count_if(d._won & closed),
        "won_a": ibis.ifelse(d._won & closed, -d._amt_out, 0.0).sum(),
        "lost_n": count_if(d._lost & closed),
        "lost_a": ibis.ifelse(d._lost & closed, -d._amt_out, 0.0).sum(),
        "closing_n": count_if(d._open_e),
        "closing_a": ibis.ifelse(d._open_e, d._amt_e, 0.0).sum(),
        "overdue_n": count_if(d._open_e & d._overdue),
        "overdue_a": ibis.ifelse(d._open_e & d._overdue, d._amt_e, 0.0).sum(),
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
    """One row per owner group, the steps' deals and amounts as columns, by closing."""
    out = pd.DataFrame({by: frame["group"]})
    for step, col in STEPS:
        name = step.replace(" ", "_")
        out[f"{name}_deals"] = frame[f"{col}_n"].fillna(0).astype(int)
        out[f"{name}_amount"] = frame[f"{col}_a"].fillna(0.0).astype(float)
    out["change"] = out["closing_amount"] - out["opening_amount"]
    return out.sort_values(["closing_amount", by], ascending=[False, True]).reset_index(drop=True)
