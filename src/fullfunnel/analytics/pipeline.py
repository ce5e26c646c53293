"""The opportunity side: open pipeline by stage, win rate, deal size, sales cycle."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from fullfunnel._dates import days_between, literal, now, to_datetime
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class PipelineResult(Result):
    """Open pipeline by opportunity stage, and closed-deal metrics for the period."""

    title = "pipeline"
    open_by_stage: pd.DataFrame
    open_count: int
    open_amount: float
    won_count: int
    lost_count: int
    won_amount: float
    win_rate: float | None
    average_deal: float | None
    sales_cycle_median_days: float | None
    since: datetime | None
    until: datetime | None

    def headline(self) -> list[str]:
        lines = [f"open pipeline: {self.open_count:,} opportunities, {self.open_amount:,.0f}"]
        if self.win_rate is not None:
            lines.append(
                f"win rate {self.win_rate:.1%} ({self.won_count:,} won, {self.lost_count:,} lost), "
                f"average deal {self.average_deal or 0:,.0f}, median cycle "
                f"{self.sales_cycle_median_days or 0:.0f} days"
            )
        return lines


def pipeline(
    wh: Warehouse,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    as_of: str | datetime | None = None,
) -> PipelineResult:
    """Open pipeline now, and win rate, deal size and cycle of deals closed in the period.

    >>> import fullfunnel as ff
    >>> ff.pipeline(ff.connect("duckdb://:memory:")).open_count
    0
    """
    as_of_dt = to_datetime(as_of, name="as-of") or now()
    since_dt, until_dt = to_datetime(since, name="since"), to_datetime(until, name="until")
    opp = wh.table("opportunities")
    opp = opp.filter(opp.created_at <= literal(as_of_dt))
    closed_by_then = opp.close_date.notnull() & (opp.close_date <= literal(as_of_dt))
    is_open = (opp.status == "open") | ((opp.status != "open") & ~closed_by_then)
    open_ = opp.filter(is_open)
    by_stage = (
        open_.group_by("stage")
        .aggregate(opportunities=open_.count(), amount=open_.amount.sum())
        .order_by("stage")
        .execute()
    )
    closed = opp.filter(~is_open & opp.status.isin(["won", "lost"]))
    if since_dt is not None:
        closed = closed.filter(closed.close_date >= literal(since_dt))
    if until_dt is not None:
        closed = closed.filter(closed.close_date <= literal(until_dt))
    won = closed.status == "won"
    stats = closed.aggregate(
        won=won.sum(),
        lost=(~won).sum(),
        won_amount=closed.amount.sum(where=won),
        cycle=days_between(closed.created_at, closed.close_date).quantile(0.5, where=won),
    ).execute()
    row = stats.iloc[0]
    won_n, lost_n = count(row["won"]), count(row["lost"])
    won_amount = float(row["won_amount"]) if pd.notna(row["won_amount"]) else 0.0
    return PipelineResult(
        open_by_stage=by_stage,
        open_count=int(by_stage["opportunities"].sum()) if not by_stage.empty else 0,
        open_amount=float(by_stage["amount"].sum()) if not by_stage.empty else 0.0,
        won_count=won_n,
        lost_count=lost_n,
        won_amount=won_amount,
        win_rate=won_n / (won_n + lost_n) if won_n + lost_n else None,
        average_deal=won_amount / won_n if won_n else None,
        sales_cycle_median_days=float(row["cycle"]) if pd.notna(row["cycle"]) else None,
        since=since_dt,
        until=until_dt,
    )
