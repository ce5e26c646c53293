"""The opportunity side: open pipeline by stage, and the shared deal KPIs.

Open pipeline and the overdue deals come from :func:`bookings.open_pipeline`; win
rate, average deal and sales cycle from :func:`metrics.deal_kpis`, over the KPI
window (a past ``period`` itself, else the trailing quarters), or over the range
``since``..``until`` when one is given.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pandas as pd

from fullfunnel._dates import to_datetime
from fullfunnel.analytics.bookings import open_pipeline
from fullfunnel.analytics.metrics import DealKPIs, Window, deal_kpis
from fullfunnel.analytics.owners import scorecard
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.analytics.targets import period_bounds
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class PipelineResult(Result):
    """Open pipeline by opportunity stage, overdue deals, and the closed-deal KPIs."""

    title = "pipeline"
    open_by_stage: pd.DataFrame
    overdue: pd.DataFrame
    open_count: int
    open_amount: float
    overdue_count: int
    overdue_amount: float
    kpis: DealKPIs
    as_of: datetime
    unpriced_count: int = 0
    list_priced_count: int = 0  # of the unpriced, those whose product has a list price
    list_price_amount: float = 0.0  # their list prices (not in open_amount)
    weighted_amount: float | None = None  # by each deal's probability, where a CRM gave it
    by: str | None = None
    scorecard: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def win_rate(self) -> float | None:
        return self.kpis.win_rate.value

    @property
    def average_deal(self) -> float | None:
        return self.kpis.average_deal.value

    def headline(self) -> list[str]:
        line = f"open pipeline: {self.open_count:,} opportunities, {self.open_amount:,.0f}"
        if self.overdue_count:
            line += (
                f"; apart from it, {self.overdue_count:,} overdue (close date passed, still "
                f"open): {self.overdue_amount:,.0f}"
            )
        lines = [line]
        if self.unpriced_count:
            priced = (
                f"; {self.list_priced_count:,} of them name a product, worth "
                f"{self.list_price_amount:,.0f} at list price (not added in)"
                if self.list_priced_count
                else ""
            )
            lines.append(
                f"{self.unpriced_count:,} open deals have no amount yet and count at 0 in it"
                + priced
            )
        if self.weighted_amount is not None:
            lines.append(f"weighted by each deal's probability: {self.weighted_amount:,.0f}")
        lines += self.kpis.lines()
        if self.by and not self.scorecard.empty:
            lines.append(
                f"by {self.by}: win rate with its {self.kpis.win_rate.confidence:.0%} interval "
                f"over {self.kpis.window.description}; open and overdue deals at "
                f"{self.as_of:%Y-%m-%d}"
            )
        return lines

    def display_columns(self) -> dict[str, list[str]]:
        if not self.by:
            return {}
        cols = [self.by, "won", "lost", "win_rate", "win_rate_low", "win_rate_high"]
        return {f"by_{self.by}": [*cols, "won_amount", "open_deals", "overdue_deals"]}

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"open_by_stage": self.open_by_stage, "overdue": self.overdue}
        if self.by:
            out[f"by_{self.by}"] = self.scorecard
        return out


def pipeline(
    wh: Warehouse,
    *,
    period: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    as_of: str | datetime | None = None,
    by: str | None = None,
    config: Config | None = None,
) -> PipelineResult:
    """Open pipeline as of ``as_of``, and the KPIs of the deals closed in the window;
    ``by`` (owner, manager, office, team): the same per group, as a scorecard.

    >>> import fullfunnel as ff
    >>> ff.pipeline(ff.connect("duckdb://:memory:")).open_count
    0
    """
    config = config or default_config()
    as_of_dt = resolve_as_of(wh, as_of)
    window = _window(period, since, until, as_of_dt)
    bounds = period_bounds(period) if period else None
    kpis = deal_kpis(wh, as_of=as_of_dt, config=config, period=bounds, window=window)
    pipe = open_pipeline(wh, as_of=as_of_dt)
    card = pd.DataFrame()
    if by:
        card = scorecard(
            wh,
            as_of=as_of_dt,
            window=kpis.window,
            by=by,
            confidence=config["metrics"]["confidence"],
        )
    return PipelineResult(
        unpriced_count=pipe.unpriced,
        list_priced_count=pipe.list_priced,
        list_price_amount=pipe.list_price,
        weighted_amount=pipe.weighted,
        by=by,
        scorecard=card,
        open_by_stage=pipe.by_stage,
        overdue=pipe.overdue,
        open_count=pipe.count,
        open_amount=pipe.amount,
        overdue_count=pipe.overdue_count,
        overdue_amount=pipe.overdue_amount,
        kpis=kpis,
        as_of=as_of_dt,
    )


def _window(period, since, until, as_of: datetime) -> Window | None:
    """The range a user chose with --since/--until (None: the KPI window)."""
    since_dt, until_dt = to_datetime(since, name="since"), to_datetime(until, name="until")
    if since_dt is None and until_dt is None:
        return None
    if period is not None:
        raise InputError("give --period or --since/--until, not both")
    start = since_dt or datetime(1900, 1, 1)
    end = until_dt + timedelta(days=1) if until_dt is not None else as_of
    if end <= start:
        raise InputError("until is before since; swap them", option="until")
    w = Window(start, min(end, as_of + timedelta(seconds=1)), "given", "")
    return dataclasses.replace(w, description=f"the range {w.label}")
