"""What is booked, targeted and open, each defined once: bookings of a period and as of
past dates, the period's target, and the open pipeline (with deals at list price
where they have no amount).

* *Target* of a period: the bookings target stored for exactly that period, else
  the sum of the targets inside it, else the covering target prorated by days.
* *Bookings*: the amount won with a close date in the period, known by ``as_of``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import at_each, literal
from fullfunnel._names import name_key
from fullfunnel.analytics.period import created_by
from fullfunnel.analytics.vantage import Vantage, by_vantage
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True)
class OpenPipeline:
    """Deals open at ``as_of``: the pipeline, and apart from it the overdue ones (open
    with an expected close date already past)."""

    as_of: datetime
    count: int
    amount: float
    overdue_count: int
    overdue_amount: float
    by_stage: pd.DataFrame
    overdue: pd.DataFrame
    unpriced: int = 0  # open deals without an amount (counted at 0)
    weighted: float | None = None  # amount × probability, when deals carry one
    list_priced: int = 0  # of the unpriced, those whose product has a list price
    list_price: float = 0.0  # their products' list prices, summed (not in ``amount``)

    def text(self) -> str:
        line = f"open pipeline: {self.count:,} opportunities, {self.amount:,.0f}"
        if self.overdue_count:
            line += (
                f"; apart from it, {self.overdue_count:,} overdue (close date passed, still "
                f"open): {self.overdue_amount:,.0f}"
            )
        return line


def open_opportunities(opp: ir.Table, as_of: datetime) -> ir.Table:
    """Opportunities created by ``as_of`` and not closed by then, with ``overdue``."""
    opp = opp.filter(created_by(opp, literal(as_of)))
    closed = opp.status.isin(["won", "lost"]) & opp.close_date.notnull()
    opp = opp.filter(~(closed & (opp.close_date <= literal(as_of))))
    late = opp.close_date.notnull() & (opp.close_date < literal(as_of))
    return opp.mutate(overdue=late.fill_null(False))


def open_pipeline(wh: Warehouse, *, as_of: datetime, limit: int = 20) -> OpenPipeline:
    """The open pipeline by stage, and the overdue deals named (largest first)."""

    def build() -> OpenPipeline:
        opp = open_opportunities(wh.table("opportunities"), as_of)
        aggs = {
            "opportunities": opp.count(),
            "amount": opp.amount.sum(),
            "unpriced": count_if(opp.amount.isnull()),
        }
        weighted = "probability" in opp.columns
        if weighted:
            aggs["weighted"] = (opp.amount * opp.probability.cast("float64")).sum()
        frame = opp.group_by(["overdue", "stage"]).aggregate(**aggs).execute()
        frame["amount"] = frame["amount"].fillna(0.0).astype(float)
        live = frame[~frame["overdue"].astype(bool)].drop(columns="overdue")
        late = frame[frame["overdue"].astype(bool)]
        named = (
            opp.filter(opp.overdue)
            .order_by([ibis.desc(opp.amount), opp.opportunity_id])
            .limit(limit)
            .select("opportunity_id", "account_id", "owner_id", "stage", "amount", "close_date")
            .execute()
        )
        priced = _at_list_price(wh, opp.filter(~opp.overdue & opp.amount.isnull()))
        return OpenPipeline(
            as_of=as_of,
            count=int(live["opportunities"].sum()),
            amount=float(live["amount"].sum()),
            overdue_count=int(late["opportunities"].sum()),
            overdue_amount=float(late["amount"].sum()),
            by_stage=live.drop(columns="unpriced").sort_values("stage").reset_index(drop=True),
            overdue=named,
            unpriced=int(live["unpriced"].sum()),
            weighted=float(live["weighted"].fillna(0.0).sum()) if weighted else None,
            list_priced=priced[0],
            list_price=priced[1],
        )

    return wh.memo(("open_pipeline", as_of, limit), build, reads=("opportunities", "products"))


def _at_list_price(wh: Warehouse, unpriced: ir.Table) -> tuple[int, float]:
    """How many open deals without an amount name a product with a list price, and
    those prices summed; product names match ignoring case, spaces and punctuation
    (a deal's "GTXPro" is the product table's "GTX Pro")."""
    if "product" not in unpriced.columns or not wh.count("products"):
        return 0, 0.0
    products = wh.table("products")
    prices = (
        products.filter(products.price.notnull())
        .group_by(k=name_key(products["product"]))
        .aggregate(price=products.price.max())
    )
    deals = unpriced.mutate(k=name_key(unpriced["product"]))
    j = deals.join(prices, deals.k == prices.k)
    row = j.aggregate(n=j.count(), total=j.price.sum()).execute().iloc[0]
    return count(row["n"]), float(row["total"] or 0.0)


@dataclasses.dataclass(frozen=True)
class PeriodTarget:
    """The bookings target of [start, end), and which stored rows it comes from."""

    start: datetime
    end: datetime
    amount: float | None
    basis: str

    def text(self) -> str:
        if self.amount is None:
            return "no target"
        return f"target {self.amount:,.0f} ({self.basis})"


def period_target(
    wh: Warehouse, start: datetime, end: datetime, *, metric: str = "bookings"
) -> PeriodTarget:
    """The target of [start, end): the row of exactly that period, else the sum of the
    rows inside it, else the shortest row covering it, prorated by days."""
    key = ("period_target", start, end, metric)
    return wh.memo(key, lambda: _period_target(wh, start, end, metric), reads=("targets",))


def _period_target(wh: Warehouse, start: datetime, end: datetime, metric: str) -> PeriodTarget:
    t = wh.table("targets")
    last = (end - timedelta(days=1)).date()
    rows = t.filter(t.metric == metric, t.period_start <= last, t.period_end >= start.date())
    frame = rows.select("period_start", "period_end", "amount").execute()
    if frame.empty:
        return PeriodTarget(start, end, None, "none stored")
    a = pd.to_datetime(frame["period_start"])
    b = pd.to_datetime(frame["period_end"]) + pd.Timedelta(days=1)  # exclusive
    exact = frame[(a == pd.Timestamp(start)) & (b == pd.Timestamp(end))]
    if not exact.empty:
        return PeriodTarget(start, end, float(exact["amount"].iloc[-1]), "the period's own")
    inside = frame[(a >= pd.Timestamp(start)) & (b <= pd.Timestamp(end))]
    if not inside.empty:
        basis = f"sum of {len(inside)} targets inside the period"
        return PeriodTarget(start, end, float(inside["amount"].sum()), basis)
    covering = frame[(a <= pd.Timestamp(start)) & (b >= pd.Timestamp(end))]
    if covering.empty:
        return PeriodTarget(start, end, None, "no target covers the whole period")
    span = (b - a).dt.days
    i = span[covering.index].idxmin()
    days = (end - start).days
    row_label = f"{a[i]:%Y-%m-%d}..{b[i] - pd.Timedelta(days=1):%Y-%m-%d}"
    amount = float(frame.loc[i, "amount"]) * days / int(span[i])
    return PeriodTarget(start, end, amount, f"{days} of {int(span[i])} days of {row_label}")


@dataclasses.dataclass(frozen=True)
class Booked:
    """What [start, end) has booked, as known at ``as_of``."""

    start: datetime
    end: datetime
    as_of: datetime
    amount: float
    deals: int


def bookings(wh: Warehouse, start: datetime, end: datetime, *, as_of: datetime) -> Booked:
    """Amount and count won with a close date in [start, end), known by ``as_of``."""

    def build() -> Booked:
        amount, deals = booked_by(wh, [Vantage(as_of, start, end)])[0]
        return Booked(start, end, as_of, amount, deals)

    return wh.memo(("bookings", start, end, as_of), build, reads=("opportunities",))


def booked_by(wh: Warehouse, at: Sequence[Vantage]) -> list[tuple[float, int]]:
    """:func:`booked` at each vantage, in one query."""
    opp = wh.table("opportunities")
    opp = opp.filter(opp.status == "won")
    bounds = [
        {"_v": k, "_as_of": v.as_of, "_start": v.start, "_end": v.end} for k, v in enumerate(at)
    ]
    won = at_each(opp, bounds)
    won = won.filter(
        created_by(won, won._as_of),
        won.close_date >= won._start,
        won.close_date < won._end,
        won.close_date <= won._as_of,  # a win closed at as_of itself is known then
    )
    rows = won.group_by("_v").aggregate(amount=won.amount.sum(), deals=won.count()).execute()
    # a vantage has one row or none; a sum over no amount is 0
    return [(float(r["amount"].sum()), count(r["deals"].sum())) for r in by_vantage(rows, len(at))]


def bookings_by_week(
    wh: Warehouse,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    target: float | None = None,
) -> pd.DataFrame:
    """Bookings per week of [start, end) known by ``as_of`` (weeks start on Monday; the
    first starts with the period; none after ``as_of``), cumulative, and the share of
    the target the days so far called for."""
    opp = wh.table("opportunities")
    won = opp.filter(
        opp.status == "won",
        opp.close_date >= literal(start),
        opp.close_date < literal(end),
        opp.close_date <= literal(as_of),
        created_by(opp, literal(as_of)),
    )
    weeks = won.group_by(week=won.close_date.truncate("W")).aggregate(
        bookings=won.amount.sum(), deals=won.count()
    )
    frame = weeks.execute()
    first = pd.Timestamp(start) - pd.Timedelta(days=pd.Timestamp(start).weekday())
    last = min(pd.Timestamp(end), pd.Timestamp(as_of))
    grid = pd.DataFrame({"week": pd.date_range(first, last, freq="W-MON", inclusive="both")})
    grid = grid[grid["week"] < pd.Timestamp(end)]
    frame["week"] = pd.to_datetime(frame["week"])
    out = grid.merge(frame, on="week", how="left").fillna({"bookings": 0.0, "deals": 0})
    out["deals"] = out["deals"].astype(int)
    out["cumulative"] = out["bookings"].cumsum()
    days = (end - start).days
    week_end = (out["week"] + pd.Timedelta(days=7)).clip(upper=pd.Timestamp(end))
    elapsed = (week_end - pd.Timestamp(start)).dt.days.clip(lower=0)
    out["target_pace"] = (target or 0.0) * elapsed / days if target else float("nan")
    # each row is labelled by the first day of the period it covers (the first week
    # of a period starting mid-week starts with the period)
    out["week"] = out["week"].clip(lower=pd.Timestamp(start))
    return out
