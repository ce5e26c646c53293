"""Training and held-out examples from past cut-offs, and the model fitted on them.

Training examples come from several past cut-offs: the contacts open at each
cut-off, their features as of then, and whether they reached the target stage
within the horizon after it. The latest cut-offs are held out (a time-based
split), and the model and the points baseline are measured on them side by side.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import literal
from fullfunnel.analytics.scoring import baseline
from fullfunnel.analytics.scoring.features import features, label, sample_touches
from fullfunnel.analytics.scoring.frames import feature_frame
from fullfunnel.analytics.scoring.model import (
    LeadModel,
    calibration_table,
    group_importance,
    metrics,
)
from fullfunnel.analytics.scoring.reasons import feature_groups
from fullfunnel.analytics.scoring.store import version
from fullfunnel.analytics.scoring.vocabulary import Vocabulary
from fullfunnel.config import Config
from fullfunnel.errors import InputError
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.warehouse import Warehouse

MIN_POSITIVES = 20


class TooFewExamples(InputError):
    """The cut-offs hold too few contacts, or too few that reached the target, to fit."""


@dataclasses.dataclass(frozen=True, eq=False)
class Fitted:
    """The model to score with, how it and the baseline did on held-out cut-offs, and
    which factors matter (the groups of feature columns each factor stands for)."""

    model: LeadModel
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.DataFrame
    groups: dict[str, list[str]]
    version: str
    train_rows: int
    validation_rows: int
    train_cutoffs: list[datetime]
    validation_cutoffs: list[datetime]


def fit_and_validate(
    wh: Warehouse,
    config: Config,
    *,
    target: str,
    horizon_days: int,
    as_of: datetime,
    seed: int,
    vocab: Vocabulary,
) -> Fitted:
    """Fit on the training cut-offs, measure on the held-out ones, and (with
    ``[scoring] refit``) fit again on both; :class:`TooFewExamples` when either set
    cannot be learnt from."""
    sc = config["scoring"]
    step, h = timedelta(days=sc["cutoff_step_days"]), timedelta(days=horizon_days)
    val_cuts = [as_of - h - j * step for j in range(sc["validation_cutoffs"])]
    train_cuts = [min(val_cuts) - h - k * step for k in range(sc["cutoffs"])]

    def rows(cuts: list[datetime], limit: int, seed: int) -> pd.DataFrame:
        within = sample_contacts(wh, cuts, config, target, limit, seed, known_at=as_of)
        return examples(wh, cuts, config, target, horizon_days, vocab, within, known_at=as_of)

    train = sample(rows(train_cuts, sc["max_train_rows"], seed), sc["max_train_rows"], seed)
    check(train, "training", train_cuts, target, horizon_days)
    valid = rows(val_cuts, sc["max_validation_rows"], seed + 1)
    check(valid, "held-out", val_cuts, target, horizon_days)
    params = {k: sc[k] for k in ("max_iter", "learning_rate", "max_leaf_nodes")}
    params |= {k: sc[k] for k in ("min_samples_leaf", "l2_regularization")}

    def fit(examples: pd.DataFrame) -> LeadModel:
        return LeadModel.fit(
            examples,
            examples["label"].to_numpy(),
            groups=examples["contact_id"].to_numpy(),
            params=params,
            seed=seed,
            folds=sc["calibration_folds"],
            threads=sc["threads"],
            calibration=sc["calibration"],
        )

    model = fit(train)
    metrics_frame, cal = _measured(model, train, valid)
    groups = feature_groups(model.columns)
    importance = group_importance(model, valid, valid["label"].to_numpy(), groups, seed=seed)
    if sc["refit"]:
        model = fit(
            sample(pd.concat([train, valid], ignore_index=True), sc["max_train_rows"], seed)
        )
    return Fitted(
        model=model,
        metrics=metrics_frame,
        calibration=cal,
        importance=importance,
        groups=groups,
        version=version(target, horizon_days, as_of, seed, train, valid, params),
        train_rows=len(train),
        validation_rows=len(valid),
        train_cutoffs=sorted(train_cuts),
        validation_cutoffs=sorted(val_cuts),
    )


def _measured(
    model: LeadModel, train: pd.DataFrame, valid: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and calibration of the model and of the points baseline (mapped to
    probabilities on the training rows) on the held-out rows."""
    from sklearn.isotonic import IsotonicRegression

    yv = valid["label"].to_numpy()
    p_model = model.predict(valid)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
    iso.fit(baseline.points(train), train["label"].to_numpy())
    p_base = iso.predict(baseline.points(valid))
    metrics_frame = pd.DataFrame(
        [{"scorer": "model", **metrics(yv, p_model)}, {"scorer": "baseline", **metrics(yv, p_base)}]
    )
    cal = pd.concat(
        [
            calibration_table(yv, p_model).assign(scorer="model"),
            calibration_table(yv, p_base).assign(scorer="baseline"),
        ]
    )
    return metrics_frame, cal.reset_index(drop=True)


def examples(
    wh: Warehouse,
    cutoffs: list[datetime],
    config: Config,
    target: str,
    horizon_days: int,
    vocab: Vocabulary,
    within: ir.Table | None = None,
    *,
    known_at: datetime,
) -> pd.DataFrame:
    """Feature rows with labels, for every cut-off (oldest first), of the contacts
    in ``within`` (None: all), in one query; labels as known at ``known_at``."""
    latest = max(cutoffs) + timedelta(days=horizon_days)
    if latest > known_at:
        raise ValueError(
            f"a label at {max(cutoffs):%Y-%m-%d} needs data known at {latest:%Y-%m-%d}"
        )
    touches, held = None, []
    if within is not None:
        # the sample and the touches it reads are drawn once for all its cut-offs
        within = wh.cache(within)
        touches = wh.cache(sample_touches(wh, within, cutoffs=cutoffs))
        held = [touches, within]
    try:
        feats = features(
            wh,
            cutoff=cutoffs,
            config=config,
            target=target,
            vocab=vocab,
            within=within,
            touches=touches,
        )
        labelled = label(
            wh, feats, horizon_days=horizon_days, config=config, target=target, known_at=known_at
        )
        frame = feature_frame(labelled)
        frame["label"] = frame["label"].astype(int)
        return frame
    finally:
        for table in held:
            table.release()


# Sampling contacts in the engine: a contact's rank in contact_id order, times an odd
# constant, modulo 2**32 (multiplicative hashing: integer arithmetic that every engine
# computes alike, unlike their hash functions), kept when below a share of 2**32.
_HASH_MULTIPLIER = 2654435761
_HASH_RANGE = 2**32


def sample_contacts(
    wh: Warehouse,
    cutoffs: list[datetime],
    config: Config,
    target: str,
    limit: int,
    seed: int,
    *,
    known_at: datetime,
) -> ir.Table | None:
    """A seeded sample of contacts (a ``contact_id`` table) sized so that their rows at
    ``cutoffs`` number about ``limit``, chosen in the engine before any row is pulled;
    None when every open contact fits.

    The rows are counted in one query on the shared timeline as of ``known_at``: a
    contact is open at a cut-off when it was created by then and had neither reached
    ``target`` nor ended its journey by then. (A journey ended and later resumed
    counts as open: this only sizes the sample; the rows themselves come from the
    timeline as of each cut-off.)
    """
    tl = timeline(wh, config, as_of=known_at)
    counts = {}
    for i, cut in enumerate(cutoffs):
        at = literal(cut)
        done = tl[reached(target)] <= at
        ended = tl.exited_at <= at
        open_then = (tl[reached(config.stage_names[0])] <= at) & ~done.fill_null(False)
        counts[f"c{i}"] = count_if(open_then & ~ended.fill_null(False))
    opened = int(sum(tl.aggregate(**counts).execute().iloc[0])) if counts else 0
    if opened <= limit:
        return None
    keep = int(_HASH_RANGE * limit / opened)
    offset = (seed * 2246822519) % _HASH_RANGE  # a seed shifts the sequence by far
    c = wh.table("contacts").select("contact_id")
    c = c.mutate(rank=ibis.row_number().over(order_by=c.contact_id))
    hashed = (c["rank"] * _HASH_MULTIPLIER + offset) % _HASH_RANGE
    return c.filter(hashed < keep).select("contact_id")


def sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


def check(
    frame: pd.DataFrame, what: str, cutoffs: list[datetime], target: str, horizon: int
) -> None:
    positives = int(frame["label"].sum()) if len(frame) else 0
    if len(frame) == 0 or positives < MIN_POSITIVES or positives == len(frame):
        span = f"{min(cutoffs).date()} to {max(cutoffs).date()}"
        raise TooFewExamples(
            f"not enough {what} examples to score: {len(frame):,} open contacts at the cut-offs "
            f"{span}, of which {positives} reached {target} within {horizon} days (need at "
            f"least {MIN_POSITIVES}, and some that did not). Load more history, or lower "
            "[scoring] horizon_days, cutoffs or cutoff_step_days"
        )
