"""Velocity: how many days contacts take from one stage to another."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.stats import median_estimate, span_text
from fullfunnel.config import Config, default_config
from fullfunnel.lifecycle import held, reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

QUANTILES = {"median_days": 0.5, "p75_days": 0.75, "p90_days": 0.9}
COLUMNS = ["from_stage", "to_stage", "contacts", "mean_days", *QUANTILES]


@dataclasses.dataclass(frozen=True, eq=False)
class VelocityResult(Result):
    """Days from reaching one stage to reaching another, for contacts that did."""

    title = "velocity"
    steps: pd.DataFrame
    as_of: datetime
    by: str | None

    def headline(self) -> list[str]:
        rows = self.steps[self.steps["contacts"] > 0]
        if self.by is not None or rows.empty:
            return []
        return [
            f"{r.from_stage} → {r.to_stage}: median {r.median_days:.1f} days "
            f"(interval {span_text(r.median_low, r.median_high)}), p90 {r.p90_days:.0f} "
            f"({r.contacts:,} contacts)"
            for r in rows.itertuples()
        ]


def velocity_aggregates(
    tl: ir.Table, pairs: list[tuple[str, str]], where: dict[str, ir.BooleanValue] | None = None
) -> dict[str, ir.Value]:
    """Count, mean and quantiles of days S→T for every pair, as named aggregates.

    ``where`` optionally restricts the contacts counted for a stage S (a cohort).
    """
    aggs: dict[str, ir.Value] = {}
    for s, t in pairs:
        days, ok = _step(tl, s, t, where)
        aggs[f"{s}__{t}__contacts"] = count_if(ok)
        aggs[f"{s}__{t}__mean_days"] = days.mean(where=ok)
    return aggs | quantile_aggregates(tl, pairs, where)


def quantile_aggregates(
    tl: ir.Table, pairs: list[tuple[str, str]], where: dict[str, ir.BooleanValue] | None = None
) -> dict[str, ir.Value]:
    """The ``QUANTILES`` of days S→T for every pair, as one aggregate per pair
    (``<S>__<T>__quantiles``, an array in the order of ``QUANTILES``): the engine
    sorts the pair's days once, not once per quantile. :func:`spread_quantiles`
    turns the arrays into columns."""
    aggs: dict[str, ir.Value] = {}
    for s, t in pairs:
        days, ok = _step(tl, s, t, where)
        aggs[f"{s}__{t}__quantiles"] = days.quantile(list(QUANTILES.values()), where=ok)
    return aggs


def _step(
    tl: ir.Table, s: str, t: str, where: dict[str, ir.BooleanValue] | None
) -> tuple[ir.FloatingValue, ir.BooleanValue]:
    """Days from S to T, and which contacts count: both reached, in S's cohort."""
    ok = tl[reached(s)].notnull() & tl[reached(t)].notnull()
    if where and s in where:
        ok = ok & where[s]
    return days_between(tl[reached(s)], tl[reached(t)]), ok


def spread_quantiles(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``<S>__<T>__quantiles`` array of :func:`velocity_aggregates`
    as a column per name of ``QUANTILES`` (NaN where the pair had no contacts)."""
    out = frame.copy()
    for col in [c for c in frame.columns if c.endswith("__quantiles")]:
        pair = col.removesuffix("quantiles")
        none = [float("nan")] * len(QUANTILES)
        arrays = [none if v is None or np.ndim(v) == 0 else list(v) for v in frame[col]]
        values = np.array(arrays, dtype=float).reshape(len(frame), len(QUANTILES))
        for i, name in enumerate(QUANTILES):
            out[pair + name] = values[:, i]
        out = out.drop(columns=col)
    return out


def velocity_frame(row: pd.Series, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Unpack one row of :func:`velocity_aggregates` (quantiles spread) into a table,
    a row per pair."""
    out = []
    for s, t in pairs:
        n = row[f"{s}__{t}__contacts"]
        rec = {"from_stage": s, "to_stage": t, "contacts": 0 if pd.isna(n) else int(n)}
        for name in ("mean_days", *QUANTILES):
            value = row[f"{s}__{t}__{name}"]
            rec[name] = float(value) if pd.notna(value) else float("nan")
        out.append(rec)
    return pd.DataFrame(out, columns=COLUMNS)


def velocity(
    wh: Warehouse,
    *,
    pairs: list[tuple[str, str]] | None = None,
    by: str | None = None,
    as_of: datetime | None = None,
    period: str | None = None,
    config: Config | None = None,
) -> VelocityResult:
    """Median, p75 and p90 days for each stage step (and first stage → customer).

    >>> import fullfunnel as ff
    >>> v = ff.velocity(ff.connect("duckdb://:memory:"))
    >>> list(v.steps.columns[:3])
    ['from_stage', 'to_stage', 'contacts']
    """
    config = config or default_config()
    as_of, _ = snapshot_as_of(wh, as_of, period)
    if pairs is None:
        config = held(wh, config)  # steps between the stages the data holds
        pairs = list(dict.fromkeys([*config.steps(), (config.stage_names[0], config.won_stage)]))
    for s, t in pairs:
        config.stage(s), config.stage(t)
    tl = timeline(wh, config, as_of=as_of)
    if by is not None:
        from fullfunnel.analytics.groups import with_breakdown

        tl, key = with_breakdown(wh, tl, by)
        frame = tl.group_by(key).aggregate(**velocity_aggregates(tl, pairs)).execute()
        frame = spread_quantiles(frame).sort_values(key, kind="stable")
        parts = [velocity_frame(r, pairs).assign(group=r[key]) for _, r in frame.iterrows()]
        steps = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
        steps = steps.reindex(columns=["group", *COLUMNS])
        key_col: str | None = key
    else:
        row = spread_quantiles(tl.aggregate(**velocity_aggregates(tl, pairs)).execute()).iloc[0]
        steps = velocity_frame(row, pairs)
        key_col = None
    steps = _with_median_intervals(steps, tl, pairs, key_col, config["metrics"]["confidence"])
    return VelocityResult(steps=steps, as_of=as_of, by=by)


def _with_median_intervals(
    steps: pd.DataFrame, tl: ir.Table, pairs: list[tuple[str, str]], key: str | None, confidence
) -> pd.DataFrame:
    """``steps`` with ``median_low``/``median_high``: a bootstrap of the median over the
    engine's histogram of each pair's days (0.1-day bins)."""
    parts = []
    for i, (s, t) in enumerate(pairs):
        days, ok = _step(tl, s, t, None)
        sub = tl.filter(ok)
        cols = {"_pair": ibis.literal(i), "_d": (days * 10).round().cast("int64")}
        if key:
            cols["_group"] = sub[key]
        parts.append(sub.select(**cols))
    keys = ["_pair", "_d", *(["_group"] if key else [])]
    u = ibis.union(*parts) if parts else None
    hist = u.group_by(keys).aggregate(_n=u.count()).execute() if u is not None else None
    low, high = [], []
    for r in steps.itertuples():
        i = pairs.index((r.from_stage, r.to_stage))
        h = hist[hist["_pair"] == i] if hist is not None else pd.DataFrame()
        if key and not h.empty:
            h = h[h["_group"] == r.group]
        est = (
            median_estimate(h["_d"].to_numpy(float) / 10, h["_n"].to_numpy(), confidence=confidence)
            if len(h)
            else None
        )
        low.append(est.low if est else float("nan"))
        high.append(est.high if est else float("nan"))
    out = steps.copy()
    at = list(out.columns).index("median_days") + 1
    out.insert(at, "median_low", pd.array(low, dtype="Float64").astype(float))
    out.insert(at + 1, "median_high", pd.array(high, dtype="Float64").astype(float))
    return out
