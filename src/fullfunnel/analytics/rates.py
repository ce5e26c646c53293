"""The rates a plan and a forecast rest on, each with its uncertainty.

* Stage conversion (S → next stage): the shared KPI of
  :func:`fullfunnel.analytics.metrics.stage_conversion`, with its Wilson interval.
* Velocity S → won: median and spread of days, with a median interval
  (median ± 1.58·IQR/√n, the boxplot-notch rule).
* Pace: stage entries per day over the last ``pace_days``.
* Conditional yield: the chance that a contact in S (or an open opportunity) of a
  given age closes won within the next ``h`` days, from past cohorts whose
  outcome ``h`` days on is known.

Everything is aggregated in the engine; only a few numbers per stage come back.
A rate resting on fewer than ``metrics.min_observations`` contacts is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import at_each, days_between, literal
from fullfunnel.analytics.metrics import kpi_window, stage_conversion
from fullfunnel.analytics.stats import z_value
from fullfunnel.analytics.vantage import Vantage
from fullfunnel.config import Config
from fullfunnel.errors import ConfigError
from fullfunnel.lifecycle import reached
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse

VELOCITY_Q = {"p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9}


def funnel_stages(config: Config) -> tuple[list[str], str, str]:
    """The stages before won, the won stage and the opportunity stage."""
    won, opp = config.won_stage, config.opportunity_stage
    names = list(config.stage_names)
    return names[: names.index(won)], won, opp


def stage_rates(wh: Warehouse, tl: ir.Table, *, as_of: datetime, config: Config) -> pd.DataFrame:
    """Per stage before won: the shared conversion (:func:`metrics.stage_conversion`),
    its chance to reach won, the days from it to won and the pace of entries.

    ``tl`` is :func:`fullfunnel.lifecycle.timeline` as of ``as_of``.
    """
    m = config["metrics"]
    stages, won, _ = funnel_stages(config)
    conv = stage_conversion(wh, tl, as_of=as_of, config=config)
    conv = conv[conv["stage"].isin(stages)].reset_index(drop=True)
    window = kpi_window(as_of, config)
    pace_days = config["plan"]["pace_days"]
    pace_from = as_of - timedelta(days=pace_days)
    aggs: dict[str, ir.Value] = {}
    for s in stages:
        at = tl[reached(s)]
        in_window = at.notnull() & (at >= literal(window.start)) & (at < literal(window.end))
        to_won = days_between(at, tl[reached(won)])
        # over the contacts the stage's conversion is counted over: those of the
        # window, or all history when the window holds too few (the shared KPI's rule)
        for scope, where in (("window", in_window), ("all history", at.notnull())):
            did_win = where & tl[reached(won)].notnull()
            aggs[f"{s}__{scope}__won_n"] = count_if(did_win)
            for name, q in VELOCITY_Q.items():
                aggs[f"{s}__{scope}__{name}"] = to_won.quantile(q, where=did_win)
        recent = at.notnull() & (at > literal(pace_from)) & (at <= literal(as_of))
        aggs[f"{s}__pace"] = count_if(recent)
    first = tl.aggregate(**aggs).execute().iloc[0]
    out = conv.copy()
    scopes = list(zip(out["stage"], out["source"], strict=True))
    out["won_observed"] = [count(first[f"{s}__{scope}__won_n"]) for s, scope in scopes]
    for name in VELOCITY_Q:
        out[f"days_to_won_{name}"] = [_num(first[f"{s}__{scope}__{name}"]) for s, scope in scopes]
    out["pace_per_day"] = [count(first[f"{s}__pace"]) / pace_days for s in out["stage"]]
    z = z_value(m["confidence"])
    iqr = out["days_to_won_p75"] - out["days_to_won_p25"]
    half = z / 1.96 * 1.58 * iqr / np.sqrt(out["won_observed"].clip(lower=1))
    out["days_to_won_low"] = (out["days_to_won_median"] - half).clip(lower=0)
    out["days_to_won_high"] = out["days_to_won_median"] + half
    min_obs = m["min_observations"]
    step_ok = out["entered"] >= min_obs
    # a stage's chance to win is reliable only if every later step is
    out["enough"] = step_ok[::-1].cummin()[::-1].to_numpy() & (out["won_observed"] >= min_obs)
    out.attrs["window"] = (window.start, window.end)
    return out


def conditional_yield(
    table: ir.Table,
    *,
    group: str,
    entered: str,
    left: str,
    won: str,
    at: Vantage | Sequence[Vantage],
    window_days: float,
    edges: list[float],
    valid: tuple[str, str] | None = None,
    sparse: bool = False,
) -> pd.DataFrame:
    """Per group and age bucket: how many past items of that age were still in play,
    and how many of them closed won inside the period asked about.

    ``table`` has the columns named by ``group``, ``entered`` (when the item
    entered play), ``left`` (when it left play without winning or moved on; null:
    never) and ``won`` (when it closed won; null: not). With ``h`` the days from
    ``as_of`` to the period end, each bucket counts the cohort that entered during
    ``window_days`` ending ``edge + h`` before ``as_of``, so every outcome counted
    is known at ``as_of``. A win counts when it falls between ``skip_days`` (to
    the period start) and ``h`` after the item's age.
    ``valid`` optionally names the columns (from, until; null: still) between which
    a row holds: at age ``a`` only the rows valid at that age count (e.g. the row
    of the pipeline stage the item was in then).

    Several vantages (``at`` a sequence) are counted in one query: ``table`` then
    has a ``_v`` column, the vantage's position in ``at`` (see :func:`at_vantages`),
    and the result a ``vantage`` column.

    ``sparse`` (one vantage): most rows of ``table`` enter no cohort (e.g. a row per
    contact and stage, most of them never reached): those are dropped first and the
    groups are read apart (cheap when ``group`` is a literal per part of a union).
    """
    several = not isinstance(at, Vantage)
    vantages = list(at) if several else [at]
    groups = None
    if sparse:
        if several:
            raise ValueError("conditional_yield: sparse reads one vantage")
        v = vantages[0]
        groups = table.select(_group=table[group]).distinct().execute()["_group"]
        e = table[entered]
        longest = max(edges) + v.horizon_days
        table = table.filter(
            e >= literal(v.as_of - timedelta(days=window_days + longest)),
            e <= literal(v.as_of - timedelta(days=min(edges) + v.horizon_days)),
        )
    e = table[entered]
    # every age once per row, then plain comparisons per bucket: the engine does not
    # reuse a day difference that several aggregates spell out again
    ages = {
        "_left": days_between(e, table[left]),
        "_won": days_between(e, table[won]),
    }
    if valid is not None:
        ages["_from"] = days_between(e, table[valid[0]])
        ages["_until"] = days_between(e, table[valid[1]])
    keep = {"_v": table._v} if several else {}
    t = table.select(_group=table[group], _entered=e, **keep, **ages)
    t = at_each(t, _bounds(vantages, edges, window_days), on="_v" if several else None)
    aggs: dict[str, ir.Value] = {}
    for i, a in enumerate(edges):
        cohort = (
            t._entered.notnull() & (t._entered >= t[f"_lo_{i}"]) & (t._entered <= t[f"_hi_{i}"])
        )
        still = (t._left.isnull() | (t._left > a)) & (t._won.isnull() | (t._won > a))
        hit = t._won.notnull() & (t._won > t[f"_after_{i}"]) & (t._won <= t[f"_by_{i}"])
        if valid is not None:
            cohort = cohort & (t._from <= a) & (t._until.isnull() | (t._until > a))
        aggs[f"at_risk_{i}"] = count_if(cohort & still)
        aggs[f"won_{i}"] = count_if(cohort & still & hit)
    raw = t.group_by(["_v", "_group"] if several else "_group").aggregate(**aggs).execute()
    if groups is not None:  # a group with no row in any cohort still has its zero rows
        missing = pd.DataFrame({"_group": groups[~groups.isin(raw["_group"])]})
        raw = pd.concat([raw, missing], ignore_index=True) if len(missing) else raw
    return _by_bucket(raw, edges, several)


def _bounds(vantages: list[Vantage], edges: list[float], window_days: float) -> list[dict]:
    """Each vantage's cohort bounds (dates) and win bounds (days) per age bucket."""
    bounds = []
    for k, v in enumerate(vantages):
        row: dict[str, datetime | float] = {"_v": k}
        for i, a in enumerate(edges):
            offset = a + v.horizon_days
            row[f"_lo_{i}"] = v.as_of - timedelta(days=window_days + offset)
            row[f"_hi_{i}"] = v.as_of - timedelta(days=offset)
            row[f"_after_{i}"] = a + v.skip_days
            row[f"_by_{i}"] = offset
        bounds.append(row)
    return bounds


def _by_bucket(raw: pd.DataFrame, edges: list[float], several: bool) -> pd.DataFrame:
    """The engine's one row per group (and vantage) as one row per age bucket."""
    columns = ["group", "bucket", "age_from", "at_risk", "won"]
    rows = [
        {
            **({"vantage": int(r["_v"])} if several else {}),
            "group": r["_group"],
            "bucket": i,
            "age_from": float(a),
            "at_risk": count(r[f"at_risk_{i}"]),
            "won": count(r[f"won_{i}"]),
        }
        for r in raw.to_dict(orient="records")
        for i, a in enumerate(edges)
    ]
    return pd.DataFrame(rows, columns=["vantage", *columns] if several else columns)


def pooled_probability(frame: pd.DataFrame, min_observations: int) -> pd.DataFrame:
    """Add ``probability`` (and ``pooled``) to a :func:`conditional_yield` table.

    A bucket with too few items is pooled with the older buckets of its group
    (and, if still too few, with the whole group).
    """
    parts = []
    for _, g in frame.sort_values(["group", "bucket"]).groupby("group", sort=False):
        at = g["at_risk"].to_numpy()[::-1].cumsum()[::-1]
        wn = g["won"].to_numpy()[::-1].cumsum()[::-1]
        own = g["at_risk"].to_numpy() >= min_observations
        prob = np.where(own, g["won"] / g["at_risk"].clip(lower=1), wn / np.maximum(at, 1))
        enough_older = at >= min_observations
        total_p = g["won"].sum() / max(g["at_risk"].sum(), 1)
        prob = np.where(own | enough_older, prob, total_p)
        parts.append(g.assign(probability=prob, pooled=~own))
    if not parts:
        return frame.assign(probability=pd.Series(dtype=float), pooled=pd.Series(dtype=bool))
    return pd.concat(parts, ignore_index=True)


def age_bucket(age_days: ir.NumericValue, edges: list[float]) -> ir.IntegerValue:
    """The index of the age bucket (by lower edges) an age in days falls in."""
    if list(edges) != sorted(edges) or not edges or edges[0] != 0:
        raise ConfigError("plan.age_buckets must be increasing lower edges starting at 0")
    out = ibis.literal(0)
    for i, a in enumerate(edges[1:], start=1):
        out = ibis.ifelse(age_days >= a, i, out)
    return out


def bucket_of(age_days: np.ndarray, edges: list[float]) -> np.ndarray:
    """NumPy twin of :func:`age_bucket`."""
    return np.searchsorted(np.asarray(edges, dtype=float), age_days, side="right") - 1


def _num(value) -> float:
    return float(value) if pd.notna(value) else float("nan")
