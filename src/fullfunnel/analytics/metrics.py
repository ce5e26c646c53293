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
* *Target* and *bookings* of a period, and the open pipeline:
  :mod:`fullfunnel.analytics.bookings`.

Results are memoised on the warehouse (:meth:`Warehouse.memo`) and dropped when
a load touches the tables they read.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between, literal
from fullfunnel.analytics.period import created_by
from fullfunnel.analytics.stats import (
    Estimate,
    Proportion,
    mean_estimate,
    median_estimate,
    wilson,
)
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
    closed = closed_deals(wh.table("opportunities"), as_of)
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


def closed_deals(opp: ir.Table, as_of: datetime, window: Window | None = None) -> ir.Table:
    """The deals the win rate counts: won or lost, closed by ``as_of`` (inside
    ``window`` when given) and created by then. Any figure that splits the win rate
    (e.g. by buying-group role) reads these, so that its parts add up to the KPI."""
    closed = opp.filter(
        opp.status.isin(["won", "lost"]),
        opp.close_date.notnull(),
        opp.close_date <= literal(as_of),
        created_by(opp, literal(as_of)),
    )
    if window is not None:
        closed = closed.filter(
            closed.close_date >= literal(window.start), closed.close_date < literal(window.end)
        )
    return closed


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


# --- the period: target and bookings --------------------------------------------------


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


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


__all__ = [
    "DealKPIs",
    "Window",
    "conversion_text",
    "deal_kpis",
    "kpi_window",
    "quarter_start",
    "stage_conversion",
    "trailing_window",
]
