"""Scoring an undated lead list: which unconverted leads look like the converted ones.

A lead list with a converted flag and no dates has no cut-offs to learn "what
happened next" from, only one label per lead. So the model (the same booster and
calibration as the dated one, :class:`~fullfunnel.analytics.scoring.model.LeadModel`)
is cross-validated: each lead's score comes from the fold models that never saw it.
The unconverted leads are scored by models that did not learn them as negatives,
and every metric is a held-out one, with its interval.

Columns a model cannot use honestly are left out and named: ids (a distinct value
for nearly every lead) and columns that alone tell converted from not (held-out
AUC ≥ ``[scoring] leak_auc``): such a column is written after the outcome, like a
rep's tag or a "closed" status, and would score the past, not the next lead.
``[scoring] keep_columns`` keeps one anyway.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from fullfunnel._dates import now
from fullfunnel.config import Config
from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

FOLDS = 5
MIN_CLASS = 30  # converted and unconverted leads needed, each, to cross-validate
TARGET = "converted"


@dataclasses.dataclass(frozen=True, eq=False)
class LeadListScoreResult(Result):
    """Cross-validated scores of a lead list's unconverted leads, and how well the
    model did on the leads it was not trained on."""

    title = "scoring"
    top_leads: pd.DataFrame
    metrics: pd.DataFrame  # model, best single column, base rate: held-out AUC etc.
    calibration: pd.DataFrame
    importance: pd.DataFrame
    excluded: pd.DataFrame  # column, why
    tiers: pd.DataFrame
    labelled: int
    converted: int
    scored: int
    folds: int
    model_version: str
    confidence: float
    as_of: datetime

    def headline(self) -> list[str]:
        m = self.metrics.set_index("scorer")
        model, single = m.loc["model"], m.loc["best single column"]
        lines = [
            f"Scored {self.scored:,} unconverted leads of the lead list: probability of "
            f"converting, from {self.labelled:,} labelled leads ({self.converted:,} converted), "
            f"each score from the {self.folds - 1} of {self.folds} folds that did not see it "
            f"(model {self.model_version}).",
            f"Held out: AUC {model.auc:.2f} ({self.confidence:.0%} interval "
            f"{model.auc_low:.2f}–{model.auc_high:.2f}) vs {single.auc:.2f} for the best single "
            f"column ({single.column}); top-decile lift {model.top_decile_lift:.1f}×; "
            f"calibration error {model.calibration_error:.1%} (predicted "
            f"{model.mean_predicted:.1%}, observed {model.observed_rate:.1%}).",
        ]
        a = self.tiers[self.tiers["tier"] == "A"]
        if not a.empty:
            lines.append(
                f"Tier A: {int(a['leads'].iloc[0]):,} leads, mean probability "
                f"{a['mean_score'].iloc[0]:.0%}."
            )
        if not self.importance.empty:
            top = ", ".join(self.importance["feature"].head(4))
            lines.append(f"Strongest signals: {top}.")
        for r in self.excluded.itertuples():
            lines.append(f"Left out: {r.column} ({r.why}).")
        return lines


def score_lead_list(
    wh: Warehouse, config: Config, *, seed: int, write: bool = True, top: int = 50
) -> LeadListScoreResult:
    """Cross-validate the lead model on the ``leads`` table and score its unconverted
    leads (written to ``scores`` under their lead id when ``write``)."""
    from fullfunnel.analytics.scoring.model import calibration_table, metrics
    from fullfunnel.analytics.scoring.tiers import TIERS, tiers_of

    sc = config["scoring"]
    frame = wh.table("leads").to_pandas()
    y = frame.pop(TARGET).astype(bool).to_numpy()
    ids = frame.pop("lead_id").astype(str)
    k, n = int(y.sum()), len(y)
    if min(k, n - k) < MIN_CLASS:
        raise InputError(
            f"the undated lead list has {k:,} converted and {n - k:,} unconverted leads; "
            f"cross-validated scoring needs at least {MIN_CLASS} of each. See which sources "
            "convert with 'fullfunnel funnel --by source'"
        )
    features, excluded, (single_col, single) = _features(frame, y, sc, seed)
    if features.empty:
        raise InputError(
            "no column of the lead list can score a lead: "
            + "; ".join(f"{r.column} ({r.why})" for r in excluded.itertuples())
        )
    oof, importance = _out_of_fold(features, y, sc, seed)
    confidence = float(config["metrics"]["confidence"])
    rows = []
    for name, column, p in (
        ("model", "", oof),
        ("best single column", single_col, single),
        ("base rate", "", np.full(n, y.mean())),
    ):
        m = metrics(y, p)
        m["auc_low"], m["auc_high"] = auc_interval(m["auc"], k, n - k, confidence)
        rows.append({"scorer": name, "column": column, **m})
    open_ = ~y
    tier = tiers_of(oof[open_], sc["tier_shares"])
    version = _version(frame, y, sc, seed)
    scores = pd.DataFrame(
        {"lead_id": ids[open_].to_numpy(), "score": oof[open_], "tier": tier}
    ).join(frame.loc[open_].reset_index(drop=True)[_shown(frame)])
    if write:
        _write(wh, scores, version)
    tiers = (
        scores.groupby("tier")
        .agg(leads=("score", "size"), mean_score=("score", "mean"))
        .reindex(list(TIERS))
        .dropna()
        .reset_index()
    )
    return LeadListScoreResult(
        top_leads=scores.sort_values(["score", "lead_id"], ascending=[False, True])
        .head(top)
        .reset_index(drop=True),
        metrics=pd.DataFrame(rows),
        calibration=calibration_table(y, oof),
        importance=pd.DataFrame(importance, columns=["feature", "auc_drop", "ap_drop"]),
        excluded=excluded,
        tiers=tiers.astype({"leads": int}),
        labelled=n,
        converted=k,
        scored=int(open_.sum()),
        folds=FOLDS,
        model_version=version,
        confidence=confidence,
        as_of=now(),
    )


def _out_of_fold(
    features: pd.DataFrame, y: np.ndarray, sc: Any, seed: int
) -> tuple[np.ndarray, list]:
    """Each lead's probability from the model of the folds that did not see it, and
    the factor importance on the first held-out fold."""
    from fullfunnel.analytics.scoring.model import LeadModel

    oof = np.empty(len(y))
    importance: list = []
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for i, (train, test) in enumerate(folds.split(features, y)):
        model = LeadModel.fit(
            features.iloc[train],
            y[train],
            groups=np.arange(len(train)),
            params=sc,
            seed=seed,
            folds=int(sc["calibration_folds"]),
            threads=int(sc["threads"]),
            calibration=sc["calibration"],
        )
        oof[test] = model.predict(features.iloc[test])
        if i == 0:  # on the fifth this model did not see
            importance = _importance(model, features.iloc[test], y[test], seed)
    return oof, importance


def auc_interval(auc: float, positives: int, negatives: int, confidence: float) -> tuple:
    """Hanley & McNeil's normal interval for an AUC from ``positives`` and
    ``negatives`` examples, clipped to [0, 1]."""
    from scipy.stats import norm

    if not (positives and negatives) or math.isnan(auc):
        return float("nan"), float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    z = norm.ppf(0.5 + confidence / 2)
    half = z * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def _features(
    frame: pd.DataFrame, y: np.ndarray, sc: Any, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, np.ndarray]]:
    """The columns the model may read (numbers as floats, the rest as text), those left
    out with the reason (constant, an id, or a leak of the outcome), and the kept column
    that alone ranks leads best with its held-out scores (the baseline to beat)."""
    keep = set(sc["keep_columns"])
    out: dict[str, pd.Series] = {}
    excluded = []
    best: tuple[str, np.ndarray, float] = ("", np.full(len(y), y.mean()), -1.0)
    for col in frame.columns:
        values = _typed(frame[col])
        distinct = values.nunique()
        if distinct <= 1:
            excluded.append((col, "one value for every lead" if distinct else "always empty"))
            continue
        is_text = values.dtype == object
        if col not in keep and distinct >= 0.9 * len(values) and (is_text or _whole(values)):
            excluded.append((col, "a distinct value for nearly every lead: an id"))
            continue
        alone = _encoded(values, y, seed)
        auc = float(roc_auc_score(y, alone))
        if col not in keep and auc >= float(sc["leak_auc"]):
            excluded.append(
                (col, f"alone it tells converted from not, AUC {auc:.2f}: most likely "
                 "written after the outcome; scoring.keep_columns in the config keeps it")
            )  # fmt: skip
            continue
        out[col] = values
        if auc > best[2]:
            best = (col, alone, auc)
    chosen = pd.DataFrame(out, index=frame.index)
    return chosen, pd.DataFrame(excluded, columns=["column", "why"]), best[:2]


def _typed(col: pd.Series) -> pd.Series:
    """A column as numbers when nearly all its values are numbers, else as text."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    text = col.astype("string").str.strip().replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna().sum()
    if present and numbers.notna().sum() >= 0.95 * present:
        return numbers.astype("float64")
    return text.astype(object).where(text.notna(), None)


def _whole(values: pd.Series) -> bool:
    v = values.dropna()
    return bool(len(v)) and bool((v == np.floor(v)).all())


def _encoded(values: pd.Series, y: np.ndarray, seed: int) -> np.ndarray:
    """Each lead's value as a probability: the conversion rate of its value (of its
    decile, for a number) in the folds that do not hold the lead."""
    if values.dtype != object:
        deciles = pd.qcut(values, 10, duplicates="drop").astype(str)
        values = deciles.where(values.notna(), None).astype(object)
    keys = values.fillna("(none)").to_numpy()
    out = np.empty(len(keys))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(keys, y):
        rates = pd.Series(y[train]).groupby(keys[train]).mean()
        out[test] = pd.Series(keys[test]).map(rates).fillna(y[train].mean()).to_numpy()
    return out


def _importance(model: Any, frame: pd.DataFrame, y: np.ndarray, seed: int) -> list[dict]:
    from fullfunnel.analytics.scoring.model import group_importance

    groups = {c: [c] for c in model.columns}
    table = group_importance(model, frame, y, groups, seed=seed)
    return table[table["auc_drop"] > 0].to_dict("records")


def _shown(frame: pd.DataFrame) -> list[str]:
    """The lead's columns shown next to its score: its source and origin when listed."""
    named = ("source", "origin", "lead_source", "lead_origin")
    return [c for c in named if c in frame and frame[c].notna().any()][:2]


def _version(frame: pd.DataFrame, y: np.ndarray, sc: Any, seed: int) -> str:
    params = {k: sc[k] for k in ("max_iter", "learning_rate", "max_leaf_nodes", "calibration")}
    digest = hashlib.sha256(
        json.dumps(
            {"rows": len(y), "converted": int(y.sum()), "columns": list(frame.columns),
             "params": params, "seed": seed},
            sort_keys=True,
        ).encode()
    )  # fmt: skip
    return "leads-" + digest.hexdigest()[:10]


def _write(wh: Warehouse, scores: pd.DataFrame, version: str) -> None:
    """The unconverted leads' scores in ``scores`` (keyed by lead id), replacing any."""
    import pyarrow as pa

    table = pa.table(
        {
            "contact_id": scores["lead_id"].astype(str),
            "score": scores["score"].astype(float),
            "tier": scores["tier"].astype(str),
            "reasons": pa.nulls(len(scores), pa.string()),
            "target_stage": [TARGET] * len(scores),
            "horizon_days": pa.nulls(len(scores), pa.int64()),
            "model_version": [version] * len(scores),
            "scored_at": pa.array([now()] * len(scores), pa.timestamp("us")),
        }
    )
    wh.load("scores", table, replace=True)
