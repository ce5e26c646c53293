"""Who sells: the deal KPIs per owner, manager or office (the rep scorecard).

An owner is a deal's ``owner_id``; its manager and office come from the ``owners``
table (a sales-team file). Each row carries its own n and interval, so a rep with
three closed deals is not ranked against one with three hundred as if they were alike.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between, literal
from fullfunnel.analytics.bookings import open_opportunities
from fullfunnel.analytics.groups import NO_OWNER, check_by, grouped
from fullfunnel.analytics.metrics import Window
from fullfunnel.analytics.period import created_by
from fullfunnel.analytics.stats import wilson
from fullfunnel.config import Config, default_config
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


def scorecard(
    wh: Warehouse, *, as_of: datetime, window: Window, by: str, confidence: float
) -> pd.DataFrame:
    """Per owner (or manager, office, team): closed deals of the window with the win
    rate and its interval, won amount, median cycle; open and overdue deals at as-of."""
    check_by(by, wh)
    opp = wh.table("opportunities")
    closed = opp.filter(
        opp.status.isin(["won", "lost"]),
        opp.close_date >= literal(window.start),
        opp.close_date < literal(window.end),
        opp.close_date <= literal(as_of),
        created_by(opp, literal(as_of)),
    )
    closed = grouped(wh, closed, by)
    won = closed.status == "won"
    cycle = ibis.ifelse(won, days_between(closed.created_at, closed.close_date), ibis.null())
    kpis = closed.group_by("group").aggregate(
        won=count_if(won),
        lost=count_if(~won),
        won_amount=closed.amount.sum(where=won),
        median_cycle_days=cycle.median(),
    )
    live = grouped(wh, open_opportunities(opp, as_of), by)
    pipe = live.group_by("group").aggregate(
        open_deals=count_if(~live.overdue),
        open_amount=live.amount.sum(where=~live.overdue),
        overdue_deals=count_if(live.overdue),
        overdue_amount=live.amount.sum(where=live.overdue),
    )
    frame = kpis.execute().merge(pipe.execute(), on="group", how="outer")
    counts = ["won", "lost", "open_deals", "overdue_deals"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    for col in ("won_amount", "open_amount", "overdue_amount"):
        frame[col] = frame[col].fillna(0.0).astype(float)
    closed_n = frame["won"] + frame["lost"]
    low, high = wilson(frame["won"], closed_n, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["win_rate"] = np.where(closed_n > 0, frame["won"] / closed_n, np.nan)
    frame["win_rate_low"], frame["win_rate_high"] = low, high
    frame = frame.rename(columns={"group": by})
    order = [by, "won", "lost", "win_rate", "win_rate_low", "win_rate_high", "won_amount"]
    order += ["median_cycle_days", "open_deals", "open_amount", "overdue_deals", "overdue_amount"]
    return (
        frame[order]
        .sort_values(["won_amount", "open_amount", by], ascending=[False, False, True])
        .reset_index(drop=True)
    )


@dataclasses.dataclass(frozen=True, eq=False)
class ScorecardResult(Result):
    """The rep scorecard: the deal KPIs per owner (and per office and manager when a
    sales-team table gives them)."""

    title = "rep scorecard"
    by_owner: pd.DataFrame
    by_office: pd.DataFrame
    by_manager: pd.DataFrame
    window: Window
    as_of: datetime

    def headline(self) -> list[str]:
        if self.by_owner.empty:
            return ["no deal names its owner: no rep scorecard"]
        ranked = self.by_owner[(self.by_owner.won + self.by_owner.lost) > 0]
        lines = [
            f"{len(self.by_owner):,} owners; win rate and its interval over "
            f"{self.window.description}, open and overdue deals at {self.as_of:%Y-%m-%d}"
        ]
        if not ranked.empty:
            top = ranked.iloc[0]
            lines.append(
                f"most won: {top.owner} ({top.won_amount:,.0f} from {int(top.won)} deals, "
                f"win rate {top.win_rate:.0%}, interval {top.win_rate_low:.0%}–"
                f"{top.win_rate_high:.0%})"
            )
        if "stuck_contacts" in self.by_owner and self.by_owner.stuck_contacts.any():
            worst = self.by_owner.sort_values("stuck_value", ascending=False).iloc[0]
            lines.append(
                f"{int(self.by_owner.stuck_contacts.sum()):,} stuck contacts across the "
                f"owners; most value at risk: {worst.owner} ({int(worst.stuck_contacts)} "
                f"stuck, {worst.stuck_value:,.0f})"
            )
        late = self.by_owner[self.by_owner.overdue_deals > 0]
        if not late.empty:
            worst = late.sort_values("overdue_deals", ascending=False).iloc[0]
            lines.append(
                f"{int(late.overdue_deals.sum()):,} overdue open deals across {len(late):,} "
                f"owners; most: {worst.owner} ({int(worst.overdue_deals)})"
            )
        return lines

    def display_columns(self) -> dict[str, list[str]]:
        """A terminal shows who wins how often and how much, and what is open or stuck;
        the interval's ends, the cycle and the overdue deals are in JSON and CSV."""
        shown = "won lost win_rate won_amount open_deals open_amount stuck_contacts stuck_value"
        return {name: ["owner", *shown.split()] for name in ("by_owner",)} | {
            name: [name.removeprefix("by_"), *shown.split()[:6]]
            for name in ("by_office", "by_manager")
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"by_owner": self.by_owner}
        for name in ("by_office", "by_manager"):
            frame = getattr(self, name)
            if not frame.empty:
                out[name] = frame
        return out


def _with_stuck(wh: Warehouse, owners: pd.DataFrame, at: datetime, config: Config):
    """The scorecard with each owner's stuck contacts and their value at risk (the
    stuck analysis per contact owner), when stuck can be judged. An owner of stuck
    contacts who owns no deal (a BDR, where account executives own the deals) gets a
    row of their own, so the column adds up to the stuck total."""
    from fullfunnel.analytics.stuck import stuck

    st = stuck(wh, by="owner", limit=0, as_of=at, config=config)
    if not st.judged or st.by_owner.empty:
        return owners
    mine = st.by_owner[st.by_owner["stuck"] > 0][["owner", "stuck", "value_at_risk"]].rename(
        columns={"stuck": "stuck_contacts", "value_at_risk": "stuck_value"}
    )
    out = owners.merge(mine, on="owner", how="outer")
    counts = ["won", "lost", "open_deals", "overdue_deals", "stuck_contacts"]
    out[counts] = out[counts].fillna(0).astype("int64")
    amounts = ["won_amount", "open_amount", "overdue_amount", "stuck_value"]
    out[amounts] = out[amounts].fillna(0.0)
    order = ["won_amount", "open_amount", "stuck_value", "owner"]
    return out.sort_values(order, ascending=[False, False, False, True]).reset_index(drop=True)


def rep_scorecard(
    wh: Warehouse,
    *,
    as_of: str | datetime | None = None,
    period: str | None = None,
    config: Config | None = None,
) -> ScorecardResult:
    """Per owner (and office, manager): win rate with its interval, won, cycle, open
    and overdue deals, over the shared KPI window."""
    from fullfunnel.analytics.metrics import deal_kpis
    from fullfunnel.analytics.period import resolve_as_of
    from fullfunnel.analytics.targets import period_bounds

    config = config or default_config()
    at = resolve_as_of(wh, as_of)
    bounds = period_bounds(period) if period else None
    window = deal_kpis(wh, as_of=at, config=config, period=bounds).window
    confidence = config["metrics"]["confidence"]
    # offices and managers only where a sales-team table gives them
    groups = ("owner", "office", "manager") if wh.count("owners") else ("owner",)
    card = {
        by: scorecard(wh, as_of=at, window=window, by=by, confidence=confidence) for by in groups
    }
    owners = _with_stuck(wh, card["owner"], at, config)
    if (owners["owner"] == NO_OWNER).all():
        owners = owners.iloc[0:0]
    return ScorecardResult(
        by_owner=owners,
        by_office=card.get("office", pd.DataFrame()),
        by_manager=card.get("manager", pd.DataFrame()),
        window=window,
        as_of=at,
    )
