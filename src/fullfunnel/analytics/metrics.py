"""The shared KPIs: each defined once, computed once per (warehouse, as-of, window).

Every command, the API and the report read these, so a KPI has one value
everywhere (docs/metrics.md has the definitions):

* *Window*: a period that has ended by ``as_of`` (a review) is its own window;
  otherwise the ``metrics.window_quarters`` complete quarters before the quarter
  of ``as_of`` (the current period's deals are still being closed).
* *Win rate*: won / (won + lost) among opportunities closed in the window, with
  its Wilson interval. *Average deal*: the mean amount of those won. *Sales
  cycle*: the median days from created to closed of those won (bootstrap
  interval). With no deal won in the window, all history before ``as_of``.
* *Stage conversion* S→T: of the contacts that reached S in the window and are
  mature (reached S at least the p90 of S→T days before ``as_of``), the share
  that reached T; all mature history when the window holds fewer than
  ``metrics.min_observations``.
* *Target* of a period: the bookings target stored for exactly that period, else
  the sum of the targets inside it, else the covering target prorated by days.
* *Bookings*: the amount won with a close date in the period, known by ``as_of``.

Results are memoised on the warehouse (:meth:`Warehouse.memo`) and dropped when
a load touches the tables they read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import at_each, days_between, literal
from fullfunnel._names import name_key
from fullfunnel.analytics.period import created_by
from fullfunnel.analytics.stats import (
    Estimate,
    Proportion,
    mean_estimate,
    median_estimate,
    wilson,
)
from fullfunnel.analytics.vantage import Vantage, by_vantage
from fullfunnel.config import Config, stage_plural
from fullfunnel.lifecycle import reached
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse

_OPPS = ("opportunities",)
_FUNNEL = ("stage_events", "contacts")


@dataclasses.dataclass(frozen=True)
class Window:
    """[start, end) that a KPI reads, and why it is that window."""

    start: datetime
    end: datetime
    basis: str  # "period", "trailing" or "all history"
    description: str

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.start:%Y-%m-%d}..{last:%Y-%m-%d}"


def quarter_start(d: datetime) -> datetime:
    return datetime(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def trailing_window(as_of: datetime, quarters: int) -> tuple[datetime, datetime]:
    """[start, end) of the ``quarters`` complete quarters before ``as_of``'s quarter."""
    end = quarter_start(as_of)
    months = end.year * 12 + end.month - 1 - 3 * quarters
    return datetime(months // 12, months % 12 + 1, 1), end


def kpi_window(
    as_of: datetime, config: Config, period: tuple[datetime, datetime] | None = None
) -> Window:
    """The window of the shared KPIs: ``period`` when it has ended by ``as_of``, else
    the trailing complete quarters before ``as_of``."""
    if period is not None and period[1] <= as_of:
        w = Window(period[0], period[1], "period", "")
        return dataclasses.replace(w, description=f"the period {w.label}")
    quarters = config["metrics"]["window_quarters"]
    start, end = trailing_window(as_of, quarters)
    w = Window(start, end, "trailing", "")
    return dataclasses.replace(w, description=f"the {quarters} quarters {w.label}")


# --- deals: win rate, average deal, sales cycle --------------------------------------


@dataclasses.dataclass(frozen=True)
class DealKPIs:
    """Win rate, average deal and sales cycle of the deals closed in ``window``."""

    window: Window
    as_of: datetime
    won: int
    lost: int
    won_amount: float
    win_rate: Proportion
    average_deal: Estimate
    sales_cycle_days: Estimate

    def lines(self) -> list[str]:
        """The three KPIs as a leader reads them, each with its n and window."""
        if self.won + self.lost == 0:
            return [f"no opportunity closed in {self.window.description}: no win rate"]
        deal, cycle = self.average_deal, self.sales_cycle_days
        out = [
            f"win rate {self.win_rate.text('opportunities closed')} in {self.window.description}"
        ]
        if deal.value is not None:
            line = f"average deal {deal.value:,.0f} ({deal.n:,} won; {deal.interval_text()}), "
            if cycle.value is None:
                line += "no sales cycle (no won deal has a created date)"
            else:
                line += f"median sales cycle {cycle.value:.0f} days ({cycle.interval_text()})"
            out.append(line)
        return out


def deal_kpis(
    wh: Warehouse,
    *,
    as_of: datetime,
    config: Config,
    period: tuple[datetime, datetime] | None = None,
    window: Window | None = None,
) -> DealKPIs:
    """Win rate, average deal and sales cycle for ``kpi_window(as_of, period)``, or
    for the ``window`` given (a range a user chose)."""
    window = window or kpi_window(as_of, config, period)
    key = ("deal_kpis", as_of, window, config["metrics"]["confidence"])
    return wh.memo(key, lambda: _deal_kpis(wh, as_of, window, config), reads=_OPPS)


def _deal_kpis(wh: Warehouse, as_of: datetime, window: Window, config: Config) -> DealKPIs:
    confidence = config["metrics"]["confidence"]
    opp = wh.table("opportunities")
    closed = opp.filter(
        opp.status.isin(["won", "lost"]),
        opp.close_date.notnull(),
        opp.close_date <= literal(as_of),
        created_by(opp, literal(as_of)),
    )
    frame = _closed_stats(closed, window)
    if frame["won"] == 0:  # nothing won in the window: every deal closed before as_of
        window = Window(datetime(1900, 1, 1), as_of, "all history", "")
        window = dataclasses.replace(window, description=f"all history to {as_of:%Y-%m-%d}")
        frame = _closed_stats(closed, window)
    won, lost = frame["won"], frame["lost"]
    return DealKPIs(
        window=window,
        as_of=as_of,
        won=won,
        lost=lost,
        won_amount=frame["amount"],
        win_rate=Proportion.of(won, won + lost, confidence=confidence),
        average_deal=mean_estimate(frame["mean"], frame["sd"], won, confidence=confidence),
        sales_cycle_days=median_estimate(
            frame["cycle_days"], frame["cycle_n"], confidence=confidence
        ),
    )


def _closed_stats(closed: ir.Table, window: Window) -> dict:
    """Counts, amount and its spread, and the histogram of cycle days (0.1-day bins)."""
    closed = closed.filter(
        closed.close_date >= literal(window.start), closed.close_date < literal(window.end)
    )
    is_won = closed.status == "won"
    row = (
        closed.aggregate(
            won=count_if(is_won),
            lost=count_if(~is_won),
            amount=closed.amount.sum(where=is_won),
            mean=closed.amount.mean(where=is_won),
            sd=closed.amount.std(where=is_won),
        )
        .execute()
        .iloc[0]
    )
    won = closed.filter(is_won, closed.created_at.notnull())  # an undated deal has no cycle
    days = (days_between(won.created_at, won.close_date) * 10).round().cast("int64")
    hist = won.group_by(d=days).aggregate(n=won.count()).execute()
    return {
        "won": count(row["won"]),
        "lost": count(row["lost"]),
        "amount": _float(row["amount"]) or 0.0,
        "mean": _float(row["mean"]),
        "sd": _float(row["sd"]),
        "cycle_days": hist["d"].to_numpy(dtype=float) / 10,
        "cycle_n": hist["n"].to_numpy(dtype=np.int64),
    }


# --- open pipeline -------------------------------------------------------------------


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

    return wh.memo(("open_pipeline", as_of, limit), build, reads=(*_OPPS, "products"))


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


# --- the period: target and bookings --------------------------------------------------


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

    return wh.memo(("bookings", start, end, as_of), build, reads=_OPPS)


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


# --- stage conversion ---------------------------------------------------------------


def stage_conversion(
    wh: Warehouse,
    tl: ir.Table,
    *,
    as_of: datetime,
    config: Config,
    period: tuple[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """Mature conversion of every step S→T in the KPI window, one row per step.

    Columns: stage, next_stage, segment, owner, entered (n), converted (k), rate,
    rate_low, rate_high, source ("window" or "all history"), maturity_days,
    reached_in_window (every contact that reached S in the window, mature or not),
    benchmark, not_recorded (S or T when no contact has an event of its own for it:
    the step is implied, not measured), window_start, window_end; and to_won (with
    to_won_low/high) for stages before the won stage: the product of the rates from S on.
    ``tl`` is the timeline as of ``as_of``.
    """
    window = kpi_window(as_of, config, period)
    key = ("stage_conversion", as_of, window, config.fingerprint)
    build = lambda: _stage_conversion(tl, as_of, config, window)  # noqa: E731
    return wh.memo(key, build, reads=_FUNNEL).copy()


def _stage_conversion(tl: ir.Table, as_of: datetime, config: Config, window: Window):
    m = config["metrics"]
    steps = config.steps()
    q = config["funnel"]["maturity_quantile"]
    maturity = {}
    if steps:
        aggs = {
            s: days_between(tl[reached(s)], tl[reached(t)]).quantile(
                q, where=tl[reached(t)].notnull()
            )
            for s, t in steps
        }
        row = tl.aggregate(**aggs).execute().iloc[0]
        maturity = {s: _float(row[s]) or 0.0 for s, _ in steps}
    ws, we = literal(window.start), literal(window.end)
    # a stage every contact reached only by implication is not in the data
    aggs = {
        f"{s}__recorded": count_if(tl[reached(s)].notnull() & ~tl[f"{s}_implied"])
        for s in config.stage_names
    }
    for s, t in steps:
        at, conv = tl[reached(s)], tl[reached(t)].notnull()
        mature = at.notnull() & (at <= literal(as_of - timedelta(days=maturity[s])))
        inside = at.notnull() & (at >= ws) & (at < we)
        aggs[f"{s}__n"] = count_if(inside & mature)
        aggs[f"{s}__k"] = count_if(inside & mature & conv)
        aggs[f"{s}__all_n"] = count_if(mature)
        aggs[f"{s}__all_k"] = count_if(mature & conv)
        aggs[f"{s}__reached"] = count_if(inside)
    row = tl.aggregate(**aggs).execute().iloc[0] if aggs else pd.Series()
    rows = []
    for s, t in steps:
        n, k, source = count(row[f"{s}__n"]), count(row[f"{s}__k"]), "window"
        if n < m["min_observations"]:
            n, k, source = count(row[f"{s}__all_n"]), count(row[f"{s}__all_k"]), "all history"
        stage = config.stage(s)
        unrecorded = [x for x in (s, t) if not row[f"{x}__recorded"]]
        rows.append(
            {
                "stage": s,
                "next_stage": t,
                "segment": stage.segment,
                "owner": stage.owner,
                "entered": n,
                "converted": k,
                "rate": k / n if n else np.nan,
                "source": source,
                "maturity_days": round(maturity[s], 1),
                "reached_in_window": count(row[f"{s}__reached"]),
                # an implied step is not held against a benchmark
                "benchmark": np.nan if unrecorded else config.benchmarks.get(s, np.nan),
                "not_recorded": ", ".join(unrecorded),
                "window_start": window.start,
                "window_end": window.end,
            }
        )
    columns = ["stage", "next_stage", "segment", "owner", "entered", "converted", "rate"]
    columns += ["source", "maturity_days", "reached_in_window", "benchmark", "not_recorded"]
    out = pd.DataFrame(rows, columns=[*columns, "window_start", "window_end"])
    lo, hi = wilson(out["converted"], out["entered"], confidence=m["confidence"])
    out["rate_low"], out["rate_high"] = lo, hi
    before_won = out["stage"].map(lambda s: config.index(s) < config.index(config.won_stage))
    for col, src in (("to_won", "rate"), ("to_won_low", "rate_low"), ("to_won_high", "rate_high")):
        part = out.loc[before_won, src].astype(float)
        out[col] = np.nan
        out.loc[before_won, col] = part[::-1].cumprod(skipna=False)[::-1].to_numpy()
    out["benchmark"] = out["benchmark"].astype(float)
    return out


def conversion_text(row: pd.Series | object) -> str:
    """'lead → mql 21.3% (2,130 of 10,000 reached lead in …; 90% interval …)'."""
    get = row.__getitem__ if isinstance(row, pd.Series) else lambda c: getattr(row, c)
    n, k = int(get("entered")), int(get("converted"))
    if n == 0:
        return f"{get('stage')} → {get('next_stage')}: no mature contacts"
    where = "in the window" if get("source") == "window" else "in all history"
    text = (
        f"{get('stage')} → {get('next_stage')} {k / n:.1%} ({k:,} of {n:,} mature "
        f"{stage_plural(get('stage'))} {where}; interval "
        f"{get('rate_low'):.1%}–{get('rate_high'):.1%})"
    )
    if get("not_recorded"):
        missing = get("not_recorded").split(", ")
        verb = "is" if len(missing) == 1 else "are"
        text += f" — not measured: {' and '.join(missing)} {verb} not in the data"
    return text


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


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


__all__ = [
    "Booked",
    "DealKPIs",
    "OpenPipeline",
    "PeriodTarget",
    "Window",
    "bookings",
    "bookings_by_week",
    "conversion_text",
    "deal_kpis",
    "kpi_window",
    "open_opportunities",
    "open_pipeline",
    "period_target",
    "quarter_start",
    "stage_conversion",
    "trailing_window",
]
