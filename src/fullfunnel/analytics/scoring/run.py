"""Train, validate and apply the lead-scoring model; explain one lead.

Training examples come from several past cut-offs: the contacts open at each
cut-off, their features as of then, and whether they reached the target stage
within the horizon after it. The latest cut-offs are held out (time-based split)
and the model and the points baseline are measured on them side by side.
Then every contact open now is scored, tiered A–D and given its top reasons, and
the scores go to the ``scores`` table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import literal
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.analytics.scoring import baseline
from fullfunnel.analytics.scoring.features import (
    Vocabulary,
    feature_batches,
    feature_frame,
    features,
    label,
    sample_touches,
    vocabulary,
)
from fullfunnel.analytics.scoring.model import (
    LeadModel,
    calibration_table,
    group_importance,
    metrics,
)
from fullfunnel.analytics.scoring.reasons import (
    contributions,
    describe,
    factor_label,
    feature_groups,
    reason_columns,
    top_reasons,
)
from fullfunnel.analytics.scoring.tiers import TIERS, tiers_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import ConfigError, InputError
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

MIN_POSITIVES = 20
SHOWN = ("contact_id", "title", "current_stage", "days_in_stage")  # of every lead scored
# open contacts featured and binned at a time: a batch of every feature is held, not
# the company's (at 10M contacts, 6.8M open ones would take 5.7 GB as floats)
BATCH_ROWS = 250_000


@dataclasses.dataclass(frozen=True, eq=False)
class ScoreResult(Result):
    """Scores of the open contacts, and how well model and baseline did on held-out data."""

    title = "scoring"
    top_leads: pd.DataFrame
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.DataFrame
    tiers: pd.DataFrame
    target_stage: str
    horizon_days: int
    as_of: datetime
    model_version: str
    scored: int
    train_rows: int
    validation_rows: int
    train_cutoffs: list[str]
    validation_cutoffs: list[str]
    model_path: str | None
    note: str = ""
    explained: int = 0  # contacts whose reasons are stored (those in [scoring] reason_tiers)
    reason_tiers: str = ""

    def headline(self) -> list[str]:
        if not self.model_version:
            return [f"No lead scores: {self.note}"]
        lines = [
            f"Scored {self.scored:,} open contacts: probability of reaching "
            f"{self.target_stage} within {self.horizon_days} days (model {self.model_version})."
        ]
        if not self.tiers.empty:
            a = self.tiers[self.tiers["tier"] == "A"]
            weighted = self.tiers["mean_score"] * self.tiers["contacts"]
            overall = weighted.sum() / max(self.scored, 1)
            if not a.empty:
                lines.append(
                    f"Tier A: {int(a['contacts'].iloc[0]):,} contacts, mean probability "
                    f"{a['mean_score'].iloc[0]:.0%} (all open contacts: "
                    f"{overall:.0%})."
                )
        m = self.metrics.set_index("scorer")
        if {"model", "baseline"} <= set(m.index):
            mo, ba = m.loc["model"], m.loc["baseline"]
            lines.append(
                f"On held-out cut-offs ({self.validation_rows:,} examples): AUC {mo['auc']:.2f} "
                f"vs {ba['auc']:.2f} for the points baseline; top-decile lift "
                f"{mo['top_decile_lift']:.1f}× vs {ba['top_decile_lift']:.1f}×; "
                f"calibration error {mo['calibration_error']:.1%} "
                f"(predicted {mo['mean_predicted']:.1%}, observed {mo['observed_rate']:.1%})."
            )
        if not self.importance.empty:
            top = ", ".join(factor_label(g) for g in self.importance["feature"].head(4))
            lines.append(f"Strongest signals: {top}.")
        if self.explained < self.scored:
            lines.append(
                f"Reasons stored for the {self.explained:,} contacts in tiers "
                f"{self.reason_tiers or '(none)'}; 'fullfunnel score --explain CONTACT' "
                "explains any contact."
            )
        return lines


@dataclasses.dataclass(frozen=True, eq=False)
class ExplainResult(Result):
    """Why one lead scores as it does: each factor's effect on the model's log-odds."""

    title = "score explanation"
    factors: pd.DataFrame
    contact_id: str
    score: float
    tier: str
    target_stage: str
    horizon_days: int
    model_version: str

    def headline(self) -> list[str]:
        lines = [
            f"{self.contact_id}: {self.score:.0%} probability of reaching {self.target_stage} "
            f"within {self.horizon_days} days (tier {self.tier})."
        ]
        up = self.factors[self.factors["effect"] >= 0.05]["reason"].head(4).tolist()
        down = self.factors[self.factors["effect"] <= -0.05]
        down = down.sort_values("effect")["reason"].head(3).tolist()
        if up:
            lines.append("Raises it: " + "; ".join(up) + ".")
        if down:
            lines.append("Lowers it: " + "; ".join(down) + ".")
        return lines


def parse_horizon(value: str | int | None, default: int) -> int:
    """A horizon in days from 90, '90d', '12w' or '3m' (30-day months)."""
    if value is None:
        return default
    if isinstance(value, int):
        days = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([dwm]?)\s*", str(value).lower())
        if not m:
            raise InputError(f"--horizon {value!r} not understood; write days like 90d, or 12w, 3m")
        days = int(m[1]) * {"": 1, "d": 1, "w": 7, "m": 30}[m[2]]
    if days <= 0:
        raise InputError(f"--horizon must be at least one day, not {value!r}")
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
            f"--target {target} is the first stage, which every contact has reached; "
            f"pick a later one, e.g. {config.next_stage(target)}"
        )
    horizon_days = parse_horizon(horizon, sc["horizon_days"])
    as_of = resolve_as_of(wh, as_of)
    seed = sc["seed"] if seed is None else seed
    vocab = vocabulary(wh, before=as_of, exclude_columns=tuple(sc["exclude_columns"]))

    step = timedelta(days=sc["cutoff_step_days"])
    h = timedelta(days=horizon_days)
    val_cuts = [as_of - h - j * step for j in range(sc["validation_cutoffs"])]
    train_cuts = [min(val_cuts) - h - k * step for k in range(sc["cutoffs"])]

    def examples(cuts: list[datetime], limit: int, seed: int) -> pd.DataFrame:
        within = _sample_contacts(wh, cuts, config, target, limit, seed, known_at=as_of)
        return _examples(wh, cuts, config, target, horizon_days, vocab, within, known_at=as_of)

    train = _sample(examples(train_cuts, sc["max_train_rows"], seed), sc["max_train_rows"], seed)
    try:
        _check(train, "training", train_cuts, target, horizon_days)
        valid = examples(val_cuts, sc["max_validation_rows"], seed + 1)
        _check(valid, "held-out", val_cuts, target, horizon_days)
    except InputError as exc:
        if strict:
            raise
        return _empty(target, horizon_days, as_of, str(exc))

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
    yv = valid["label"].to_numpy()
    p_model = model.predict(valid)
    # the points baseline, mapped to probabilities on the training rows for calibration
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
    iso.fit(baseline.points(train), train["label"].to_numpy())
    p_base = iso.predict(baseline.points(valid))
    metric_rows = [
        {"scorer": "model", **metrics(yv, p_model)},
        {"scorer": "baseline", **metrics(yv, p_base)},
    ]
    metrics_frame = pd.DataFrame(metric_rows)
    cal = calibration_table(yv, p_model).assign(scorer="model")
    cal = pd.concat([cal, calibration_table(yv, p_base).assign(scorer="baseline")])
    groups = feature_groups(model.columns)
    importance = group_importance(model, valid, yv, groups, seed=seed)

    final = model
    if sc["refit"]:
        final = fit(
            _sample(pd.concat([train, valid], ignore_index=True), sc["max_train_rows"], seed)
        )

    # --- score every open contact as of now, a batch at a time ------------------------
    reason_groups = {
        g: groups[g] for g in importance["feature"].head(sc["reason_factors"]) if g in groups
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
        columns={*final.read_columns(), *keep},
    )
    leads = _score_open(final, current, keep=keep)
    prob = leads.prob
    tier = tiers_of(prob, sc["tier_shares"])
    # reasons for the contacts that will be worked (the tiers in reason_tiers); the rest
    # get an empty list and are explained on demand (fullfunnel score --explain)
    worked = np.isin(tier, _reason_tiers(sc["reason_tiers"]))
    picked = leads.rows[worked]
    effects = (
        contributions(
            final,
            picked,
            reason_groups,
            binned=None if leads.binned is None else leads.binned[worked],
        )
        if len(picked)
        else pd.DataFrame()
    )
    reasons = np.full(len(prob), "[]", dtype=object)
    reasons[worked] = top_reasons(effects, picked, n=sc["reasons"], groups=reason_groups)
    version = _version(target, horizon_days, as_of, seed, train, valid, params)
    scored_at = as_of
    scores = pd.DataFrame(
        {
            "contact_id": leads.rows["contact_id"],
            "score": prob,
            "tier": tier,
            "reasons": reasons,
            "target_stage": target,
            "horizon_days": horizon_days,
            "model_version": version,
            "scored_at": pd.Timestamp(scored_at),
        }
    )
    model_path = None
    if write:
        wh.load("scores", scores, replace=True)
        folder = _model_dir(wh, sc, model_dir)
        if folder is not None:
            model_path = str(
                _save(folder, version, final, vocab, target, horizon_days, as_of, metrics_frame)
            )
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
    return ScoreResult(
        top_leads=top_leads,
        metrics=metrics_frame,
        calibration=cal.reset_index(drop=True),
        importance=importance,
        tiers=tiers,
        target_stage=target,
        horizon_days=horizon_days,
        as_of=as_of,
        model_version=version,
        scored=len(scores),
        explained=int(worked.sum()),
        reason_tiers=", ".join(t for t in TIERS if t in sc["reason_tiers"]),
        train_rows=len(train),
        validation_rows=len(valid),
        train_cutoffs=[c.date().isoformat() for c in sorted(train_cuts)],
        validation_cutoffs=[c.date().isoformat() for c in sorted(val_cuts)],
        model_path=model_path,
    )


def latest_scores(wh: Warehouse) -> ir.Table:
    """The scores of the latest scoring run: contact_id, score, tier, reasons, …

    Other analyses join this to rank contacts by score (the table holds one run,
    this also guards against rows left from an older one).
    """
    t = wh.table("scores")
    return t.filter(t.scored_at == t.scored_at.max())


def explain(
    wh: Warehouse,
    contact_id: str,
    *,
    config: Config | None = None,
    model_dir: str | Path | None = None,
) -> ExplainResult:
    """Why ``contact_id`` got its score: the effect of every factor, from the saved model."""
    config = config or default_config()
    sc = config["scoring"]
    row = latest_scores(wh).filter(lambda t: t.contact_id == contact_id).execute()
    if row.empty:
        exists = wh.table("contacts").filter(lambda t: t.contact_id == contact_id).count()
        if int(exists.execute()) == 0:
            raise InputError(f"contact {contact_id!r} is not in the contacts table; check the id")
        raise InputError(
            f"contact {contact_id!r} has no score: it is not open (already at the target stage "
            "or exited), or it is newer than the last run; run 'fullfunnel score' first"
        )
    r = row.iloc[0]
    folder = _model_dir(wh, sc, model_dir)
    path = None if folder is None else folder / f"{r['model_version']}.joblib"
    if path is None or not path.is_file():
        raise ConfigError(
            f"the model {r['model_version']} is not saved (looked in {folder}); run "
            "'fullfunnel score' with a file warehouse or set [scoring] model_dir"
        )
    import joblib

    saved = joblib.load(path)
    model: LeadModel = saved["model"]
    frame = feature_frame(
        features(
            wh,
            cutoff=r["scored_at"].to_pydatetime(),
            config=config,
            target=saved["target"],
            vocab=saved["vocab"],
            contact_ids=[contact_id],
        )
    )
    if frame.empty:
        raise InputError(f"contact {contact_id!r} is no longer open; run 'fullfunnel score' again")
    effects = contributions(model, frame, feature_groups(model.columns)).iloc[0]
    rec = frame.iloc[0].to_dict()
    factors = pd.DataFrame({"factor": effects.index, "effect": effects.to_numpy().round(3)})
    factors["reason"] = [describe(g, rec) for g in factors["factor"]]
    factors = factors.reindex(factors["effect"].abs().sort_values(ascending=False).index)
    return ExplainResult(
        factors=factors.reset_index(drop=True),
        contact_id=contact_id,
        score=float(r["score"]),
        tier=str(r["tier"]),
        target_stage=str(r["target_stage"]),
        horizon_days=int(r["horizon_days"]),
        model_version=str(r["model_version"]),
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


def _examples(
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


def _sample_contacts(
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


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


def _check(
    frame: pd.DataFrame, what: str, cutoffs: list[datetime], target: str, horizon: int
) -> None:
    positives = int(frame["label"].sum()) if len(frame) else 0
    if len(frame) == 0 or positives < MIN_POSITIVES or positives == len(frame):
        span = f"{min(cutoffs).date()} to {max(cutoffs).date()}"
        raise InputError(
            f"not enough {what} examples to score: {len(frame):,} open contacts at the cut-offs "
            f"{span}, of which {positives} reached {target} within {horizon} days (need at "
            f"least {MIN_POSITIVES}, and some that did not). Load more history, or lower "
            "[scoring] horizon_days, cutoffs or cutoff_step_days"
        )


def _reason_tiers(tiers: list[str]) -> list[str]:
    if not set(tiers) <= set(TIERS):
        raise ConfigError(
            f"[scoring] reason_tiers must name tiers among {', '.join(TIERS)}, not {tiers!r}; "
            'e.g. ["A", "B", "C"]'
        )
    return list(tiers)


def _version(
    target: str,
    horizon: int,
    as_of: datetime,
    seed: int,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
) -> str:
    digest = hashlib.sha256(
        json.dumps(
            [
                sorted(train.columns),
                len(train),
                int(train["label"].sum()),
                len(valid),
                int(valid["label"].sum()),
                params,
                seed,
            ],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:8]
    return f"{target}-{horizon}d-{as_of:%Y%m%d}-{digest}"


def _model_dir(wh: Warehouse, sc: Any, override: str | Path | None) -> Path | None:
    if override is not None:
        return Path(override)
    if sc["model_dir"]:
        return Path(sc["model_dir"])
    scheme, _, rest = wh.url.partition("://")
    if not rest:
        scheme, rest = "duckdb", wh.url
    if scheme != "duckdb":
        return Path("fullfunnel-models")
    rest = rest.split("?")[0]
    if not rest or rest.startswith(":memory:") or rest == "connection":
        return None
    return Path(rest).expanduser().resolve().parent / "fullfunnel-models"


def _save(
    folder: Path,
    version: str,
    model: LeadModel,
    vocab: Vocabulary,
    target: str,
    horizon: int,
    as_of: datetime,
    metrics_frame: pd.DataFrame,
) -> Path:
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    meta = {
        "version": version,
        "target": target,
        "horizon_days": horizon,
        "trained_as_of": as_of.isoformat(),
        "metrics": json.loads(metrics_frame.to_json(orient="records")),
    }
    joblib.dump({**meta, "model": model, "vocab": vocab}, path)
    (folder / f"{version}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path
