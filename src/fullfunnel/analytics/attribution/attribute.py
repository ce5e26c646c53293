"""Attribution of any funnel stage to channels, campaigns or tactics, with ROI.

``attribute`` runs one model; ``compare_models`` runs them all side by side and
shows how each label's rank moves between models (where they disagree, the
credit is uncertain). Both take a warehouse (journeys built in the engine) or
:class:`~.paths.Paths` read from a ChannelAttribution path file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from fullfunnel._dates import to_datetime
from fullfunnel.analytics.attribution.intervals import credit_intervals
from fullfunnel.analytics.attribution.journeys import journey_paths
from fullfunnel.analytics.attribution.models import get_model, model_names
from fullfunnel.analytics.attribution.paths import Paths, check_options
from fullfunnel.analytics.attribution.roi import costs, with_roi
from fullfunnel.analytics.attribution.touches import exposure, touches
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class AttributionResult(Result):
    """Credits per label for one model, with exposure, cost and ROI."""

    title = "attribution"
    credits: pd.DataFrame
    top_paths: pd.DataFrame
    model: str
    conversion: str
    by: str
    level: str
    value_kind: str
    total_conversions: float
    total_value: float
    unattributed: float
    journeys: float
    distinct_paths: int
    lookback_days: float | None
    as_of: datetime | None

    def display_columns(self) -> dict[str, list[str]]:
        cols = [self.by, "conversions", "conversions_low", "conversions_high", "share"]
        cols += [c for c in ("value", "cost", "roi", "cost_per_conversion") if c in self.credits]
        return {"credits": cols}

    def headline(self) -> list[str]:
        c = self.credits
        if c.empty or self.total_conversions <= 0:
            return [f"no {self.conversion} conversions with touches to attribute"]
        top = c.iloc[0]
        stage = f"{self.conversion} " if self.level != "path" else ""
        sure = ""
        if "conversions_low" in c and pd.notna(top.get("conversions_low")):
            sure = f", interval {top.conversions_low:,.1f}–{top.conversions_high:,.1f}"
        lines = [
            f"{self.model}: {self.total_conversions:,.0f} {stage}conversions from "
            f"{self.journeys:,.0f} journeys ({self.distinct_paths:,} distinct paths) credited "
            f"to {len(c)} {self.by} values",
            f"most credit: {top[self.by]} with {top.conversions:,.1f} "
            f"({top.share:.1%} of conversions{sure})",
        ]
        if "per_1k_journeys" in c and c["per_1k_journeys"].notna().any():
            best = c.loc[c["per_1k_journeys"].idxmax()]
            lines.append(
                f"most credit per journey it touches: {best[self.by]} "
                f"({best.per_1k_journeys:,.1f} conversions per 1,000 journeys)"
            )
        if self.value_kind != "count":
            lines.append(f"{self.value_kind} credited: {self.total_value:,.0f}")
        if "roi" in c and c["roi"].notna().any():
            best = c.loc[c["roi"].idxmax()]
            lines.append(
                f"best return: {best[self.by]}, ROI {best.roi:,.1f} "
                f"(credited {self.value_kind} {best.roi + 1:,.1f}× its cost)"
            )
        priced = c[c["cost_per_conversion"].notna()] if "cost" in c else c.iloc[:0]
        if not priced.empty:
            lo = priced.loc[priced["cost_per_conversion"].idxmin()]
            hi = priced.loc[priced["cost_per_conversion"].idxmax()]
            lines.append(
                f"cost per {self.conversion}: lowest {lo[self.by]} at "
                f"{lo.cost_per_conversion:,.2f}, highest {hi[self.by]} at "
                f"{hi.cost_per_conversion:,.2f}"
            )
        if self.unattributed:
            lines.append(
                f"{self.unattributed:,.0f} conversions had no touch in the lookback window "
                "and are not credited"
            )
        return lines


@dataclasses.dataclass(frozen=True, eq=False)
class CompareResult(Result):
    """Each label's rank under every model (main table) and every model's credits."""

    title = "attribution_compare"
    ranks: pd.DataFrame
    credits: pd.DataFrame
    models: tuple[str, ...]
    conversion: str
    by: str
    level: str
    total_conversions: float

    def headline(self) -> list[str]:
        c = self.ranks
        if c.empty or self.total_conversions <= 0:
            return [f"no {self.conversion} conversions with touches to attribute"]
        stage = f"{self.conversion} " if self.level != "path" else ""
        lines = [
            f"{len(self.models)} models compared on {self.total_conversions:,.0f} "
            f"{stage}conversions"
        ]
        agreed = c[c["spread"] == 0]
        if not agreed.empty:
            names = ", ".join(f"{r[self.by]} (#{int(r.best)})" for _, r in agreed.iterrows())
            lines.append(f"every model agrees on: {names}")
        worst = c.loc[c["spread"].idxmax()]
        if worst.spread > 0:
            ranks = {m: int(worst[m]) for m in self.models}
            hi = min(ranks, key=ranks.get)
            lo = max(ranks, key=ranks.get)
            lines.append(
                f"models disagree most on {worst[self.by]}: rank {ranks[hi]} under {hi}, "
                f"{ranks[lo]} under {lo}"
            )
        return lines


def attribute(
    source: Warehouse | Paths,
    *,
    model: str | None = None,
    conversion: str = "mql",
    by: str = "channel",
    level: str = "contact",
    value: str | None = None,
    lookback_days: float | None = None,
    since: str | datetime | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> AttributionResult:
    """Credit the ``conversion`` stage to ``by`` labels with one model, with cost and ROI.

    ``value`` is ``count``, ``pipeline`` (opportunity amount) or ``bookings``
    (won amount); ``source`` is a warehouse or paths from :func:`read_paths_file`.

    >>> import fullfunnel as ff
    >>> r = ff.attribute(ff.connect("duckdb://:memory:"), model="linear")
    >>> r.total_conversions
    0.0
    """
    config = config or default_config()
    settings = config["attribution"]
    model = model or settings["default_model"]
    fn = get_model(model)
    paths, ctx = _paths(
        source, config, [model], conversion, by, level, value, lookback_days, since, as_of
    )
    credits = fn(paths, settings)
    bounds = credit_intervals(
        fn,
        paths,
        settings,
        resamples=settings["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
        seed=settings["bootstrap_seed"],
    )
    credits = credits.merge(bounds.drop(columns="resamples"), on="label", how="left")
    credits = _finish(credits, paths, ctx)
    f = paths.frame
    top = f.sort_values("conversions", ascending=False).head(15)
    top = top[["path", "conversions", "value", "nulls"]].reset_index(drop=True)
    return AttributionResult(
        credits=credits.rename(columns={"label": ctx["label"]}),
        top_paths=top,
        model=model,
        conversion=ctx["conversion"],
        by=ctx["label"],
        level=ctx["level"],
        value_kind=ctx["value"],
        total_conversions=paths.total_conversions,
        total_value=paths.total_value,
        unattributed=paths.unattributed,
        journeys=float((f["conversions"] + f["nulls"]).sum()),
        distinct_paths=len(f),
        lookback_days=ctx["lookback_days"],
        as_of=ctx["as_of"],
    )


def compare_models(
    source: Warehouse | Paths,
    *,
    models: Sequence[str] | None = None,
    conversion: str = "mql",
    by: str = "channel",
    level: str = "contact",
    value: str | None = None,
    lookback_days: float | None = None,
    since: str | datetime | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> CompareResult:
    """Every model side by side: credits, rank per model, and how far each rank moves."""
    config = config or default_config()
    settings = config["attribution"]
    names = tuple(models or model_names())
    if not names:
        raise InputError("compare_models: give at least one model name, or none for all")
    fns = {m: get_model(m) for m in names}
    paths, ctx = _paths(
        source, config, list(names), conversion, by, level, value, lookback_days, since, as_of
    )
    label = ctx["label"]
    table: pd.DataFrame | None = None
    for m, fn in fns.items():
        credits = fn(paths, settings)[["label", "conversions"]].rename(columns={"conversions": m})
        table = credits if table is None else table.merge(credits, on="label", how="outer")
    table = table.fillna(0.0)
    for m in names:
        table[f"rank_{m}"] = table[m].rank(ascending=False, method="min").astype(int)
    ranks = table[[f"rank_{m}" for m in names]]
    table["rank_best"] = ranks.min(axis=1)
    table["rank_worst"] = ranks.max(axis=1)
    table["rank_spread"] = table["rank_worst"] - table["rank_best"]
    table["_mean"] = ranks.mean(axis=1)
    table = table.sort_values(["_mean", "label"]).drop(columns="_mean").reset_index(drop=True)
    rank_cols = {f"rank_{m}": m for m in names}
    rank_table = table[["label", *rank_cols, "rank_best", "rank_worst", "rank_spread"]].rename(
        columns={
            **rank_cols,
            "label": label,
            "rank_best": "best",
            "rank_worst": "worst",
            "rank_spread": "spread",
        }
    )
    return CompareResult(
        ranks=rank_table,
        credits=table[["label", *names]].rename(columns={"label": label}),
        models=names,
        conversion=ctx["conversion"],
        by=label,
        level=ctx["level"],
        total_conversions=paths.total_conversions,
    )


def _paths(source, config, models, conversion, by, level, value, lookback_days, since, as_of):
    settings = config["attribution"]
    value = value or settings["value"]
    if isinstance(source, Paths):
        ctx: dict[str, Any] = {
            "label": "channel",
            "conversion": "conversion",  # a path file does not say which stage
            "level": "path",
            "value": "value",
            "lookback_days": None,
            "as_of": None,
            "costs": None,
        }
        return source, ctx
    if not isinstance(source, Warehouse):
        raise InputError("attribute() takes a warehouse (fullfunnel.connect) or read_paths_file()")
    check_options(config, conversion=conversion, by=by, level=level, value=value)
    as_of_dt = resolve_as_of(source, as_of)
    since_dt = to_datetime(since, name="since")
    lookback = float(settings["lookback_days"] if lookback_days is None else lookback_days)
    if lookback <= 0:
        raise InputError(
            f"lookback_days {lookback:g}: give a number of days above 0, like 365",
            option="lookback_days",
        )
    paths = journey_paths(
        source,
        config,
        conversion=conversion,
        by=by,
        level=level,
        value=value,
        lookback_days=lookback,
        as_of=as_of_dt,
        since=since_dt,
        with_days="time_decay" in models,
    )
    ctx = {
        "label": by,
        "conversion": conversion,
        "level": level,
        "value": value,
        "lookback_days": lookback,
        "as_of": as_of_dt,
        "costs": costs(source, by=by, as_of=as_of_dt, since=since_dt),
    }
    return paths, ctx


def _finish(credits: pd.DataFrame, paths: Paths, ctx: dict[str, Any]) -> pd.DataFrame:
    """Add share, exposure and cost columns; sort by credit."""
    exp = exposure(paths, touches(paths))
    out = credits.merge(exp, on="label", how="left")
    total = paths.total_conversions
    out["share"] = out["conversions"] / total if total > 0 else 0.0
    # credit normalised by exposure: conversions credited per 1,000 journeys it touches
    out["per_1k_journeys"] = np.where(
        out["journeys"] > 0,
        1000 * out["conversions"] / out["journeys"].where(out["journeys"] > 0),
        np.nan,
    )
    money = ctx["value"] in ("pipeline", "bookings")
    if ctx["costs"] is not None:
        out = with_roi(out, ctx["costs"], money=money)
        if not money:
            out = out.drop(columns="roi")
    if "removal_effect_value" in out and ctx["value"] == "count":
        out = out.drop(columns="removal_effect_value")
    first = ["label", "conversions", "conversions_low", "conversions_high", "share", "value"]
    first = [c for c in first if c in out.columns]
    rest = [c for c in out.columns if c not in first]
    out = out[first + rest]
    return out.sort_values(["conversions", "label"], ascending=[False, True]).reset_index(drop=True)
