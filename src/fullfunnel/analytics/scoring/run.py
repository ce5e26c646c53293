"""Apply the lead-scoring model: score, tier and explain every open contact.

The model is fitted and measured on past cut-offs (:mod:`.fit`); then every
contact open now is scored, tiered A–D and given its top reasons, and the scores
go to the ``scores`` table. The model and the run are kept (:mod:`.store`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from pathlib import Path

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.analytics.scoring.features import features
from fullfunnel.analytics.scoring.fit import Fitted, TooFewExamples, fit_and_validate
from fullfunnel.analytics.scoring.frames import feature_batches
from fullfunnel.analytics.scoring.model import LeadModel
from fullfunnel.analytics.scoring.reasons import (
    contributions,
    reason_columns,
    top_reasons,
)
from fullfunnel.analytics.scoring.results import ScoreResult
from fullfunnel.analytics.scoring.store import model_dir as model_dir_of
from fullfunnel.analytics.scoring.store import run_key, save_model, store_run, stored_run
from fullfunnel.analytics.scoring.tiers import TIERS, tiers_of
from fullfunnel.analytics.scoring.vocabulary import Vocabulary, vocabulary
from fullfunnel.config import Config, default_config
from fullfunnel.errors import ConfigError, InputError
from fullfunnel.warehouse import Warehouse

MIN_POSITIVES = 20
SHOWN = ("contact_id", "title", "current_stage", "days_in_stage")  # of every lead scored
# open contacts featured and binned at a time: a batch of every feature is held, not
# the company's (at 10M contacts, 6.8M open ones would take 5.7 GB as floats)
BATCH_ROWS = 250_000


def parse_horizon(value: str | int | None, default: int) -> int:
    """A horizon in days from 90, '90d', '12w' or '3m' (30-day months)."""
    if value is None:
        return default
    if isinstance(value, int):
        days = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([dwm]?)\s*", str(value).lower())
        if not m:
            raise InputError(
                f"horizon {value!r} not understood; write days like 90d, or 12w, 3m",
                option="horizon",
            )
        days = int(m[1]) * {"": 1, "d": 1, "w": 7, "m": 30}[m[2]]
    if days <= 0:
        raise InputError(f"horizon must be at least one day, not {value!r}", option="horizon")
    return days


def score(
    wh: Warehouse,
    *,
    target: str | None = None,
    horizon: str | int | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
    seed: int | None = None,
    write: bool = True,
    model_dir: str | Path | None = None,
    top: int = 50,
    strict: bool = True,
) -> ScoreResult:
    """Train and validate the lead-scoring model, score every open contact and write
    the ``scores`` table (and the model, with its version and metrics).

    Without ``write`` (a read: the report, the dashboard), the run that the last
    ``fullfunnel score`` stored is returned when the data and the settings are the
    same, instead of training again.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> _ = ff.generate_demo(wh, contacts=3000, seed=1)
    >>> r = ff.score(wh)
    >>> set(r.tiers["tier"]) <= {"A", "B", "C", "D"}
    True
    """
    config = config or default_config()
    from fullfunnel.analytics.leads import has_undated_leads

    sc = config["scoring"]
    if has_undated_leads(wh):  # one label per lead, no dates: cross-validated instead
        from fullfunnel.analytics.scoring.leadlist import score_lead_list

        seed = int(sc["seed"] if seed is None else seed)
        return score_lead_list(wh, config, seed=seed, write=write, top=top)
    target = target or sc["target"]
    config.stage(target)
    if config.index(target) == 0:
        raise InputError(
            f"target {target} is the first stage, which every contact has reached; "
            f"pick a later one, e.g. {config.next_stage(target)}",
            option="target",
        )
    horizon_days = parse_horizon(horizon, sc["horizon_days"])
    as_of = resolve_as_of(wh, as_of)
    seed = sc["seed"] if seed is None else seed
    folder = model_dir_of(wh, sc, model_dir)
    key = run_key(wh, config, target=target, horizon=horizon_days, as_of=as_of, seed=seed, top=top)
    stored = None if write else stored_run(folder, key)
    if isinstance(stored, ScoreResult):
        return dataclasses.replace(stored, reused=True)
    vocab = vocabulary(wh, before=as_of, exclude_columns=tuple(sc["exclude_columns"]))
    try:
        fitted = fit_and_validate(
            wh,
            config,
            target=target,
            horizon_days=horizon_days,
            as_of=as_of,
            seed=seed,
            vocab=vocab,
        )
    except TooFewExamples as exc:
        if strict:
            raise
        return _empty(target, horizon_days, as_of, str(exc))
    scores, leads, worked = _score_everyone(wh, config, fitted, target, vocab, as_of, horizon_days)
    model_path = None
    if write:
        wh.load("scores", scores, replace=True)
        if folder is not None:
            model_path = str(
                save_model(
                    folder,
                    fitted.version,
                    fitted.model,
                    vocab,
                    target,
                    horizon_days,
                    as_of,
                    fitted.metrics,
                )
            )
    result = _result(
        fitted,
        scores,
        leads,
        worked,
        config,
        target=target,
        horizon_days=horizon_days,
        as_of=as_of,
        top=top,
        model_path=model_path,
    )
    if write:
        store_run(folder, key, result)
    return result


def _score_everyone(
    wh: Warehouse,
    config: Config,
    fitted: Fitted,
    target: str,
    vocab: Vocabulary,
    as_of: datetime,
    horizon_days: int,
) -> tuple[pd.DataFrame, _Leads, np.ndarray]:
    """Every contact open at ``as_of`` scored, tiered and (those in the worked tiers)
    given reasons: the scores table, the leads scored, and which were worked."""
    sc = config["scoring"]
    reason_groups = {
        g: fitted.groups[g]
        for g in fitted.importance["feature"].head(sc["reason_factors"])
        if g in fitted.groups
    }
    keep = [*SHOWN, *reason_columns(reason_groups)]
    # only the counts that the trees or the reasons read: a count no split reads
    # cannot change a score
    current = features(
        wh,
        cutoff=as_of,
        config=config,
        target=target,
        vocab=vocab,
        columns={*fitted.model.read_columns(), *keep},
    )
    leads = _score_open(fitted.model, current, keep=keep)
    tier = tiers_of(leads.prob, sc["tier_shares"])
    # reasons for the contacts that will be worked (the tiers in reason_tiers); the rest
    # get an empty list and are explained on demand (fullfunnel score --explain)
    worked = np.isin(tier, _reason_tiers(sc["reason_tiers"]))
    picked = leads.rows[worked]
    effects = (
        contributions(
            fitted.model,
            picked,
            reason_groups,
            binned=None if leads.binned is None else leads.binned[worked],
        )
        if len(picked)
        else pd.DataFrame()
    )
    reasons = np.full(len(leads.prob), "[]", dtype=object)
    reasons[worked] = top_reasons(effects, picked, n=sc["reasons"], groups=reason_groups)
    scores = pd.DataFrame(
        {
            "contact_id": leads.rows["contact_id"],
            "score": leads.prob,
            "tier": tier,
            "reasons": reasons,
            "target_stage": target,
            "horizon_days": horizon_days,
            "model_version": fitted.version,
            "scored_at": pd.Timestamp(as_of),
        }
    )
    return scores, leads, worked


def _result(
    fitted: Fitted,
    scores: pd.DataFrame,
    leads: _Leads,
    worked: np.ndarray,
    config: Config,
    *,
    target: str,
    horizon_days: int,
    as_of: datetime,
    top: int,
    model_path: str | None,
) -> ScoreResult:
    """The result: the best leads with their reasons in words, the tiers, the metrics."""
    # the best leads, their reasons in words: picked first, so only their rows are read
    best = _best(scores, top)
    shown = leads.rows.loc[best.index]
    top_leads = best.assign(
        title=shown["title"].to_numpy(),
        current_stage=shown["current_stage"].to_numpy(),
        days_in_stage=shown["days_in_stage"].round(1).to_numpy(),
        reasons=[", ".join(json.loads(r)) for r in best["reasons"]],
    )[
        ["contact_id", "score", "tier", "title", "current_stage", "days_in_stage", "reasons"]
    ].reset_index(drop=True)
    tiers = (
        scores.groupby("tier")
        .agg(contacts=("score", "size"), mean_score=("score", "mean"), min_score=("score", "min"))
        .reindex(list(TIERS))
        .dropna(subset=["contacts"])
        .reset_index()
    )
    tiers["contacts"] = tiers["contacts"].astype(int)
    sc = config["scoring"]
    return ScoreResult(
        top_leads=top_leads,
        metrics=fitted.metrics,
        calibration=fitted.calibration,
        importance=fitted.importance,
        tiers=tiers,
        target_stage=target,
        horizon_days=horizon_days,
        as_of=as_of,
        model_version=fitted.version,
        scored=len(scores),
        explained=int(worked.sum()),
        reason_tiers=", ".join(t for t in TIERS if t in sc["reason_tiers"]),
        train_rows=fitted.train_rows,
        validation_rows=fitted.validation_rows,
        train_cutoffs=[c.date().isoformat() for c in fitted.train_cutoffs],
        validation_cutoffs=[c.date().isoformat() for c in fitted.validation_cutoffs],
        model_path=model_path,
    )


# --- helpers ---------------------------------------------------------------------------


def _empty(target: str, horizon_days: int, as_of: datetime, why: str) -> ScoreResult:
    """A result that scores nothing and says why (for the report on thin data)."""
    empty = pd.DataFrame()
    return ScoreResult(
        top_leads=empty,
        metrics=pd.DataFrame(columns=["scorer"]),
        calibration=empty,
        importance=empty,
        tiers=empty,
        target_stage=target,
        horizon_days=horizon_days,
        as_of=as_of,
        model_version="",
        scored=0,
        train_rows=0,
        validation_rows=0,
        train_cutoffs=[],
        validation_cutoffs=[],
        model_path=None,
        note=why,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class _Leads:
    """The open contacts scored: the columns kept of their features (``rows``), their
    bins (None when the booster cannot be read bin by bin), probabilities."""

    rows: pd.DataFrame
    binned: np.ndarray | None
    prob: np.ndarray


def _score_open(model: LeadModel, expr: ir.Table, *, keep: list[str]) -> _Leads:
    """Score the feature rows of ``expr`` a batch at a time, keeping of each only the
    bins, the log-odds and the columns in ``keep`` (every column for a booster that
    cannot be read bin by bin, whose reasons need them all)."""
    keep = list(dict.fromkeys(keep))
    rows, bins, decisions, probs = [], [], [], []
    for frame in feature_batches(expr, BATCH_ROWS):
        if model.can_bin:
            bins.append(model.binned(frame))
            decisions.append(model.decision_binned(bins[-1]))
            frame = frame[[c for c in keep if c in frame.columns]]
        else:
            probs.append(model.predict(frame))
        rows.append(frame)
    if not rows:
        columns = keep if model.can_bin else expr.columns
        return _Leads(pd.DataFrame(columns=list(columns)), None, np.array([]))
    kept = rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)
    if not model.can_bin:
        return _Leads(kept, None, np.concatenate(probs))
    return _Leads(kept, _stack(bins), model.calibrate(np.concatenate(decisions)))


def _best(scores: pd.DataFrame, top: int) -> pd.DataFrame:
    """The ``top`` rows by score (ties by contact id), sorting only the rows that
    score at least the ``top``-th best (every tie kept), not every open contact."""
    if top > 0:
        scores = scores.nlargest(top, "score", keep="all")
    return scores.sort_values(["score", "contact_id"], ascending=[False, True]).head(top)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    """Row blocks of one binned matrix stacked, column-major like each block."""
    if len(parts) == 1:
        return parts[0]
    out = np.empty((sum(len(p) for p in parts), parts[0].shape[1]), np.uint8, order="F")
    at = 0
    for part in parts:
        out[at : at + len(part)] = part
        at += len(part)
    return out


def _reason_tiers(tiers: list[str]) -> list[str]:
    if not set(tiers) <= set(TIERS):
        raise ConfigError(
            f"[scoring] reason_tiers must name tiers among {', '.join(TIERS)}, not {tiers!r}; "
            'e.g. ["A", "B", "C"]'
        )
    return list(tiers)
