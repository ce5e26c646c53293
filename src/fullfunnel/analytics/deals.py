"""Open opportunities as of a date, and each one's chance to close won inside a period.

An open deal's chance comes from past deals of its pipeline stage and age (the
``opportunity_history`` as known then) where that cell holds ``metrics.min_observations``
past deals, else from past deals of its age alone (see
:func:`fullfunnel.analytics.rates.conditional_yield`). Every query here reads
several vantages at once: the opportunities are crossed with a small table of the
dates and grouped by it, so the backtest's dozen forecasts cost a handful of
queries, not a dozen times as many.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._dates import DAYS_PER_QUARTER, days_between
from fullfunnel.analytics.period import created_by
from fullfunnel.analytics.rates import (
    bucket_of,
    conditional_yield,
    funnel_stages,
    pooled_probability,
)
from fullfunnel.analytics.vantage import Vantage, at_vantages
from fullfunnel.config import Config
from fullfunnel.errors import ConfigError
from fullfunnel.warehouse import Warehouse


def open_or_known(wh: Warehouse, at: Sequence[Vantage]) -> ir.Table:
    """Opportunities created by each vantage's ``as_of`` (``_v``, ``_as_of``);
    ``_known`` marks those closed by then."""
    opp = at_vantages(wh.table("opportunities"), at)
    opp = opp.filter(created_by(opp, opp._as_of))
    known = opp.status.isin(["won", "lost"]) & opp.close_date.notnull()
    return opp.mutate(_known=known & (opp.close_date <= opp._as_of))


def opportunity_stages(wh: Warehouse, at: Sequence[Vantage]) -> ir.Table:
    """Each pipeline stage an opportunity was in, from when until when, as known at
    each vantage's ``as_of`` (a move after it is not known yet: the stage lasts)."""
    h = wh.table("opportunity_history")
    # the next move, found once for every vantage
    h = h.mutate(_next=h.ts.lead().over(group_by=h.opportunity_id, order_by=h.ts))
    h = at_vantages(h, at)
    h = h.filter(h.ts <= h._as_of)
    until = ibis.ifelse(h._next <= h._as_of, h._next, None)
    return h.select("_v", "opportunity_id", pipeline_stage=h.stage, _from=h.ts, _until=until)


def open_deals(
    wh: Warehouse,
    at: Sequence[Vantage],
    *,
    config: Config,
    segment_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deals open at each vantage with their chance to close won inside its period.

    Returns the deals (``vantage``, ``amount``, ``age_days``, ``bucket``,
    ``owner_team``, ``pipeline_stage``, ``overdue`` (open past its close date),
    ``probability``, and ``segment`` when ``segment_column`` names an accounts
    column) and the probabilities they were read from (by age alone, pooled, then
    by pipeline stage and age).
    """
    _, _, opp_stage = funnel_stages(config)
    edges = [float(x) for x in config["plan"]["age_buckets"]]
    window = config["metrics"]["window_quarters"] * DAYS_PER_QUARTER
    min_obs = config["metrics"]["min_observations"]
    opps = open_or_known(wh, at)
    lost = ibis.ifelse(opps._known & (opps.status == "lost"), opps.close_date, None)
    won = ibis.ifelse(opps._known & (opps.status == "won"), opps.close_date, None)
    opps = opps.mutate(_lost_at=lost, _won_at=won)
    counts = {"entered": "created_at", "left": "_lost_at", "won": "_won_at"}
    by_age = conditional_yield(
        opps.mutate(_group=ibis.literal(opp_stage)),
        group="_group",
        **counts,
        at=at,
        window_days=window,
        edges=edges,
    )
    parts = [pooled_probability(g, min_obs) for _, g in by_age.groupby("vantage")]
    by_age = pd.concat(parts, ignore_index=True) if parts else pooled_probability(by_age, min_obs)
    hist = opportunity_stages(wh, at)
    by_stage = conditional_yield(
        opps.inner_join(hist, ["_v", "opportunity_id"]),
        group="pipeline_stage",
        **counts,
        at=at,
        window_days=window,
        edges=edges,
        valid=("_from", "_until"),
    )

    current = hist.group_by(["_v", "opportunity_id"]).aggregate(
        _stage=wh.arg_max(hist.pipeline_stage, hist._from)
    )
    open_ = opps.filter(~opps._known)
    open_ = open_.left_join(current, ["_v", "opportunity_id"])
    late = open_.close_date.notnull() & (open_.close_date < open_._as_of)
    open_ = open_.mutate(_overdue=late.fill_null(False))
    cols = {
        "vantage": open_._v,
        "amount": open_.amount,
        "age_days": days_between(open_.created_at, open_._as_of),
        "owner_team": open_.owner_team,
        "pipeline_stage": open_._stage,
        "overdue": open_._overdue,
    }
    if segment_column is not None:
        acc = wh.table("accounts")
        if segment_column not in acc.columns:
            raise ConfigError(
                f"forecast.segment_column '{segment_column}' is not an accounts column; "
                f"use one of {', '.join(acc.columns)}"
            )
        acc = acc.select(_acc=acc.account_id, segment=acc[segment_column].cast("string"))
        open_ = open_.left_join(acc, open_.account_id == acc._acc)
        cols = {k: open_[v.get_name()] for k, v in cols.items() if k != "age_days"}
        cols["age_days"] = days_between(open_.created_at, open_._as_of)
        cols["segment"] = open_.segment
    # the CRM's own call, where the export has it (forecast categories)
    for name, column in (("crm_category", "forecast_category"), ("crm_probability", "probability")):
        if column in open_.columns:
            cols[name] = open_[column].cast("string" if name == "crm_category" else "float64")
    deals = open_.select(**cols).execute()
    deals["vantage"] = deals["vantage"].astype(int)
    deals["bucket"] = bucket_of(deals["age_days"].to_numpy(dtype=float), edges)
    # a deal's own cell (stage, age) where it has enough past deals, else its age's
    p_age = by_age.set_index(["vantage", "bucket"])["probability"]
    keys = pd.MultiIndex.from_arrays([deals["vantage"], deals["bucket"]])
    age_p = p_age.reindex(keys).fillna(0.0).to_numpy(dtype=float)
    cells = by_stage[by_stage["at_risk"] >= min_obs]
    cell_p = pd.Series(
        (cells["won"] / cells["at_risk"]).to_numpy(),
        index=pd.MultiIndex.from_frame(cells[["vantage", "group", "bucket"]]),
    )
    keys = pd.MultiIndex.from_arrays([deals["vantage"], deals["pipeline_stage"], deals["bucket"]])
    own = cell_p.reindex(keys).to_numpy(dtype=float) if len(cell_p) else np.full(len(deals), np.nan)
    deals["probability"] = np.where(np.isnan(own), age_p, own)
    probabilities = pd.concat([by_age, by_stage.assign(pooled=False)], ignore_index=True)
    return deals, probabilities
