"""The scoring model: gradient boosting with isotonic calibration, and its metrics.

:class:`LeadModel` wraps scikit-learn's ``HistGradientBoostingClassifier``. Its
raw log-odds are calibrated with isotonic regression fitted on out-of-fold
predictions (folds grouped by contact, so one lead's rows at several cut-offs never
sit on both sides), then the booster is refitted on all rows: one booster to
explain, one monotone map to probabilities. Metrics compare any score against
the truth on held-out rows: AUC, average precision, top-decile lift, calibration.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from fullfunnel.analytics.scoring.frames import DISPLAY_ONLY, categorical_columns
from fullfunnel.analytics.scoring.trees import Forest
from fullfunnel.errors import ConfigError

MAX_LEVELS = 50  # categories kept per column (the rest are treated as missing)


@dataclasses.dataclass
class LeadModel:
    """A fitted booster, its calibration and what it needs to read new rows."""

    columns: list[str]
    categories: dict[str, list[str]]
    reference: dict[str, Any]
    booster: HistGradientBoostingClassifier
    calibrator: Any
    threads: int = 1

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        y: np.ndarray,
        *,
        groups: np.ndarray,
        params: Mapping[str, Any],
        seed: int,
        folds: int = 3,
        threads: int = 1,
        calibration: str = "sigmoid",
    ) -> LeadModel:
        """Fit on feature rows ``frame`` with labels ``y``; ``groups`` are contact ids."""
        # a column with one value in every row (or none: no touches, no company size)
        # says nothing, and no tree can split on it: left out, the trees are the same
        columns = [
            c for c in frame.columns if c not in DISPLAY_ONLY and frame[c].nunique(dropna=False) > 1
        ]
        cats = categorical_columns(frame[columns])
        categories = {c: [str(v) for v in frame[c].value_counts().index[:MAX_LEVELS]] for c in cats}
        reference = {c: _reference(frame[c], c in categories) for c in columns}
        model = cls(columns, categories, reference, _booster(params, seed), None, threads)
        X = model.matrix(frame)
        y = np.asarray(y, dtype=int)
        oof = np.empty(len(y))
        splits = min(folds, len(np.unique(groups)))
        with model._threads():
            for train, test in GroupKFold(n_splits=splits).split(X, y, groups):
                booster = _booster(params, seed).fit(X.iloc[train], y[train])
                oof[test] = booster.decision_function(X.iloc[test])
            model.booster.fit(X, y)
        model.calibrator = _calibrator(calibration).fit(oof.reshape(-1, 1), y)
        return model

    def _threads(self) -> Any:
        """OpenMP threads for scikit-learn (0: its default, every core). One thread
        avoids the busy-waiting that slows OpenMP tenfold on a shared machine."""
        return threadpool_limits(self.threads or None)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix: its columns, categories with the training levels
        (any other value is missing)."""
        cols: dict[str, Any] = {}
        for c in self.columns:
            if c in self.categories:
                values = frame[c] if c in frame else pd.Series(None, index=frame.index)
                values = values.astype(object)
                known = values.isin(self.categories[c])
                cols[c] = pd.Categorical(values.where(known, None), categories=self.categories[c])
            else:
                cols[c] = frame[c].astype("float64") if c in frame else np.nan
        X = pd.DataFrame(cols, index=frame.index)
        return X

    @property
    def can_bin(self) -> bool:
        """Whether :meth:`binned` and :meth:`decision_binned` work for this booster."""
        return _can_bin(self.booster)

    def decision(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of a matrix from :meth:`matrix` (what reasons decompose)."""
        if not self.can_bin:
            with self._threads():
                return self.booster.decision_function(X)
        return self.decision_binned(self.binned(X))

    # Predicting on the booster's own bins gives the same log-odds as on the values
    # (a split "value <= threshold" is "bin <= threshold's bin"), several times faster
    # than scikit-learn's predict on a frame (which re-encodes categories on every
    # call), and a copy of a binned row is a byte a column: what reasons need, which
    # re-predict many leads with one factor changed.

    def binned(self, frame: pd.DataFrame) -> np.ndarray:
        """Feature rows (or a matrix from :meth:`matrix`) in the booster's bins
        (uint8, column-major), columns in the order of :meth:`binned_columns`.

        The same bins as scikit-learn's encoder and bin mapper give for
        ``matrix(frame)`` (tested), read column by column off the frame: a number's
        bin is the count of the bin edges below it, a category's that of its code
        among those seen in training; missing and unseen values take the missing
        bin. Without the float matrix and its encoded copy in between (540 MB each
        at a million leads), they bin in a tenth of the time.
        """
        b = self.booster
        mapper = b._bin_mapper
        codes = {}
        if b.is_categorical_ is not None:
            encoder = b._preprocessor.named_transformers_["encoder"]
            named = [c for c, cat in zip(self.columns, b.is_categorical_, strict=True) if cat]
            seen = encoder.categories_
            codes = {c: pd.Index(levels).dropna() for c, levels in zip(named, seen, strict=True)}
        missing = mapper.missing_values_bin_idx_

        def one(j: int, column: str) -> np.ndarray:
            values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
            if column in codes:
                x = codes[column].get_indexer(values).astype(np.float64)
                x[x < 0] = np.nan  # missing or unseen
            else:
                x = values.to_numpy(dtype=np.float64, na_value=np.nan)
            out = np.searchsorted(mapper.bin_thresholds_[j], x).astype(np.uint8)
            out[np.isnan(x)] = missing
            return out

        columns = self.binned_columns()
        Xb = np.empty((len(frame), len(columns)), dtype=np.uint8, order="F")
        with ThreadPoolExecutor(self.threads or os.cpu_count()) as pool:
            for j, out in enumerate(pool.map(one, range(len(columns)), columns)):
                Xb[:, j] = out
        return Xb

    def binned_columns(self) -> list[str]:
        """The columns of :meth:`binned`: categories first (as scikit-learn encodes them)."""
        cat = self.booster.is_categorical_
        if cat is None:
            return list(self.columns)
        order = list(np.flatnonzero(cat)) + list(np.flatnonzero(~np.asarray(cat)))
        return [self.columns[i] for i in order]

    @functools.cached_property
    def forest(self) -> Forest:
        """The booster's trees compiled for prediction on bins (once it is fitted)."""
        return Forest.of(self.booster)

    def read_columns(self) -> list[str]:
        """The columns that some split of the booster reads: the others cannot change
        a prediction, so rows to be scored may leave them out (missing)."""
        if not self.can_bin:
            return list(self.columns)
        read = set(self.forest.feature[~self.forest.leaf].tolist())
        return [c for i, c in enumerate(self.binned_columns()) if i in read]

    def decision_binned(self, Xb: np.ndarray) -> np.ndarray:
        """Raw log-odds of a matrix from :meth:`binned` (trees added in the booster's
        order: scikit-learn's log-odds to the bit)."""
        return self.forest.decision(Xb, threads=self.threads)

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        d = np.asarray(decision, dtype=float).reshape(-1, 1)
        if isinstance(self.calibrator, IsotonicRegression):
            return self.calibrator.predict(d.ravel())
        return self.calibrator.predict_proba(d)[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of reaching the target within the horizon."""
        return self.calibrate(self.decision(self.matrix(frame)))


def _can_bin(booster: HistGradientBoostingClassifier) -> bool:
    """Whether the booster has the binned-prediction internals (binary, single tree
    per iteration) that :meth:`LeadModel.binned` reads."""
    return all(
        hasattr(booster, a)
        for a in ("_bin_mapper", "_predictors", "_baseline_prediction", "is_categorical_")
    ) and all(len(trees) == 1 for trees in booster._predictors)


def _booster(params: Mapping[str, Any], seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=int(params["max_iter"]),
        learning_rate=float(params["learning_rate"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        min_samples_leaf=int(params["min_samples_leaf"]),
        l2_regularization=float(params["l2_regularization"]),
        categorical_features="from_dtype",
        early_stopping=False,
        random_state=seed,
    )


def _calibrator(method: str) -> Any:
    """Maps out-of-fold log-odds to probabilities: "sigmoid" (Platt scaling, smooth,
    keeps every rank) or "isotonic" (free-form, needs many positives)."""
    if method == "isotonic":
        return _Isotonic(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    if method == "sigmoid":
        return LogisticRegression(C=1e6)
    raise ConfigError(f"[scoring] calibration must be 'sigmoid' or 'isotonic', not {method!r}")


class _Isotonic(IsotonicRegression):
    """Isotonic regression that accepts a one-column matrix like the other calibrators."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _Isotonic:
        return super().fit(np.asarray(X).ravel(), y, sample_weight)


def _reference(col: pd.Series, categorical: bool) -> Any:
    """A typical lead's value: the most common category, or the median number
    (missing when most rows have none, as for 'days since MQL')."""
    if col.isna().mean() > 0.5:
        return None if categorical else np.nan
    if categorical:
        return str(col.value_counts().index[0])
    return float(col.median())


# --- metrics ---------------------------------------------------------------------------


def metrics(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> dict[str, float]:
    """AUC, average precision, top-decile lift and calibration of scores ``p``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    rate = float(y.mean()) if len(y) else float("nan")
    both = len(np.unique(y)) == 2
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, int(np.ceil(len(p) * 0.1)))]
    cal = calibration_table(y, p, bins=bins)
    ece = float((cal["contacts"] * (cal["predicted"] - cal["observed"]).abs()).sum() / len(y))
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "top_decile_lift": float(y[top].mean() / rate) if rate > 0 else float("nan"),
        "calibration_error": ece,
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "mean_predicted": float(p.mean()),
        "observed_rate": rate,
    }


def calibration_table(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, by bins of equal size."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    ranks = frame["p"].rank(method="first")
    frame["bin"] = np.minimum((ranks - 1) * bins // max(len(frame), 1), bins - 1).astype(int)
    out = frame.groupby("bin").agg(
        contacts=("y", "size"), predicted=("p", "mean"), observed=("y", "mean")
    )
    return out.reset_index()


def group_importance(
    model: LeadModel,
    frame: pd.DataFrame,
    y: np.ndarray,
    groups: Mapping[str, list[str]],
    *,
    seed: int,
    sample: int = 8000,
) -> pd.DataFrame:
    """Permutation importance of each feature group: the drop in held-out AUC and
    average precision when the group's columns are shuffled together across rows.

    Measured on at most ``sample`` rows (every positive kept): the ranking of groups
    is stable well below that, and the shuffled rows of every group are predicted
    together, in one pass.
    """
    rng = np.random.default_rng(seed)
    if len(frame) > sample:
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y != 1)
        take_neg = rng.choice(neg, max(sample - pos.size, 0), replace=False)
        keep = np.sort(np.concatenate([pos[:sample], take_neg]))
        frame, y = frame.iloc[keep], y[keep]
    X = model.matrix(frame)
    # binned once: shuffling a column's bins is binning its shuffled values
    binned = model.can_bin
    Xb = model.binned(X) if binned else None
    position = {c: i for i, c in enumerate(model.binned_columns())}
    d = model.decision_binned(Xb) if binned else model.decision(X)
    base_auc, base_ap = roc_auc_score(y, d), average_precision_score(y, d)
    perms = [rng.permutation(len(X)) for _ in groups]
    if binned:
        # every group's shuffled copy in one matrix, predicted in one pass: a pass per
        # group paid the per-tree call overhead forty times over for 8,000 rows
        stacked = np.empty((len(groups) * len(X), Xb.shape[1]), np.uint8, order="F")
        for k, (cols, perm) in enumerate(zip(groups.values(), perms, strict=True)):
            block = stacked[k * len(X) : (k + 1) * len(X)]
            block[:] = Xb
            at = [position[c] for c in cols]
            block[:, at] = Xb[perm][:, at]
        shuffled = np.split(model.decision_binned(stacked), len(groups)) if groups else []
    else:
        shuffled = []
        for cols, perm in zip(groups.values(), perms, strict=True):
            Xp = X.copy()
            for c in cols:
                Xp[c] = X[c].iloc[perm].set_axis(X.index)
            shuffled.append(model.decision(Xp))
    rows = [
        {
            "feature": name,
            "auc_drop": float(base_auc - roc_auc_score(y, dp)),
            "ap_drop": float(base_ap - average_precision_score(y, dp)),
        }
        for name, dp in zip(groups, shuffled, strict=True)
    ]
    out = pd.DataFrame(rows, columns=["feature", "auc_drop", "ap_drop"])
    return out.sort_values("auc_drop", ascending=False, kind="stable").reset_index(drop=True)
