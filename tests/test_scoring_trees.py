"""The compiled trees (scoring.trees) give scikit-learn's log-odds to the bit, and a
factor's effect is exactly the log-odds lost by predicting the altered rows: with
missing values and categorical splits, more groups than one integer's bits, rows
split into chunks over threads, and factors that touch no tree. The model leaves out
the columns no tree can split on, and a forest too wide for its node words is
refused."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from fullfunnel.analytics.scoring import trees
from fullfunnel.analytics.scoring.model import LeadModel

PARAMS = {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 15}
PARAMS |= {"min_samples_leaf": 20, "l2_regularization": 1.0}


@pytest.fixture(scope="module")
def wide() -> tuple[LeadModel, pd.DataFrame]:
    """A booster on 70 numeric columns (some missing) and two categories."""
    rng = np.random.default_rng(11)
    n, k = 4000, 70
    frame = pd.DataFrame(
        {f"n{j}": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)) for j in range(k)}
    )
    frame["industry"] = rng.choice(["software", "retail", "health", None], n).astype(object)
    frame["country"] = rng.choice(["US", "DE", "FR"], n).astype(object)
    frame.insert(0, "contact_id", [f"c{i}" for i in range(n)])
    logit = frame[[f"n{j}" for j in range(k)]].fillna(0).to_numpy() @ rng.normal(size=k) / 3
    logit += np.where(frame["industry"] == "retail", 1.5, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = LeadModel.fit(frame, y, groups=frame["contact_id"].to_numpy(), params=PARAMS, seed=2)
    frame["label"] = y  # not a feature (the model leaves it out)
    return model, frame


def altered_log_odds(model: LeadModel, Xb: np.ndarray, cols: list[int], ref: np.ndarray):
    """scikit-learn's prediction of the rows with ``cols`` set to their reference bins."""
    Xr = Xb.copy()
    Xr[:, cols] = ref[cols]
    b = model.booster
    raw = np.full(len(Xr), float(np.ravel(b._baseline_prediction)[0]))
    for (tree,) in b._predictors:
        raw += tree.predict_binned(Xr, b._bin_mapper.missing_values_bin_idx_, 1)
    return raw


def test_log_odds_are_scikit_learns_to_the_bit(wide, monkeypatch):
    model, frame = wide
    monkeypatch.setattr(trees, "CHUNK_ROWS", 97)  # many uneven chunks over the threads
    X = model.matrix(frame)
    assert model.booster.is_categorical_.any()
    want = model.booster.decision_function(X)
    for threads in (1, 3):
        got = model.forest.decision(model.binned(frame), threads=threads)
        np.testing.assert_array_equal(got, want)


def test_effects_are_the_log_odds_lost_by_the_altered_rows(wide, monkeypatch):
    model, frame = wide
    monkeypatch.setattr(trees, "CHUNK_ROWS", 500)
    Xb = model.binned(frame)
    base = model.forest.decision(Xb)
    # every column its own group: 72 groups, more than a path's 64 bits hold at once
    groups = [[j] for j in range(Xb.shape[1])]
    ref = np.array([np.bincount(Xb[:, j]).argmax() for j in range(Xb.shape[1])], np.uint8)
    got = model.forest.effects(Xb, ref, groups, threads=2)
    assert got.shape == (len(Xb), 72)
    for g in (0, 1, 40, 63, 64, 71):
        want = base - altered_log_odds(model, Xb, groups[g], ref)
        np.testing.assert_array_equal(got[:, g], want)
    unused = set(range(Xb.shape[1])) - set(model.forest.feature[~model.forest.leaf])
    for g in unused:  # a column no tree reads has no effect on any row
        assert not got[:, g].any()
    # a group of several columns, rows at the reference counted as exactly no effect
    pair = [[2, 5, 9]]
    ref[[2, 5, 9]] = Xb[0, [2, 5, 9]]
    got = model.forest.effects(Xb, ref, pair)[:, 0]
    np.testing.assert_array_equal(got, base - altered_log_odds(model, Xb, pair[0], ref))
    assert got[0] == 0.0


def test_columns_of_one_value_are_left_out_and_the_trees_stay_the_same(wide):
    """A column no tree can split on (one value, or none, in every row) costs the fit
    its histograms and says nothing: the model leaves it out and scores the same."""
    model, frame = wide
    padded = frame.assign(flat=3.0, never=np.nan, one_kind="web", split_by_missing=np.nan)
    padded.loc[::2, "split_by_missing"] = 1.0  # one value and missing: a tree can split
    y, ids = frame["label"].to_numpy(), frame["contact_id"].to_numpy()
    flat = padded.drop(columns="split_by_missing")
    got = LeadModel.fit(flat, y, groups=ids, params=PARAMS, seed=2)
    assert got.columns == model.columns
    want = model.decision(model.matrix(frame))
    np.testing.assert_array_equal(got.decision(got.matrix(padded)), want)
    kept = LeadModel.fit(padded, y, groups=ids, params=PARAMS, seed=2)
    assert kept.columns == [*model.columns, "split_by_missing"]


def test_a_split_on_a_column_past_its_words_field_is_refused(wide):
    model, _ = wide
    (tree,) = model.booster._predictors[0]
    nodes = tree.nodes.copy()
    nodes["feature_idx"][0] = 2**16  # a 65,537th column
    fake = types.SimpleNamespace(
        _predictors=[
            [
                types.SimpleNamespace(
                    nodes=nodes, binned_left_cat_bitsets=tree.binned_left_cat_bitsets
                )
            ]
        ],
        _baseline_prediction=model.booster._baseline_prediction,
        _bin_mapper=model.booster._bin_mapper,
    )
    with pytest.raises(ValueError, match="2\\*\\*16 columns"):
        trees.Forest.of(fake)


def test_groups_that_overlap_or_a_short_reference_are_refused(wide):
    model, frame = wide
    Xb = model.binned(frame.head(5))
    with pytest.raises(ValueError, match="two groups"):
        model.forest.effects(Xb, Xb[0], [[1, 2], [2, 3]])
    with pytest.raises(ValueError, match="one reference bin per column"):
        model.forest.effects(Xb, Xb[0, :3], [[1]])


def test_the_walk_compiles_in_the_process_where_no_cache_can_be_written():
    """Where Numba finds no writable place for its cache (a read-only install, no
    home directory), importing the walk would fail; it compiles in the process
    instead. Numba reads the locators to try at import, so a fresh interpreter is
    told to try only one that never applies to a file."""
    code = """
import numpy as np, pandas as pd
from fullfunnel.analytics.scoring.model import LeadModel
rng = np.random.default_rng(0)
frame = pd.DataFrame({"contact_id": [f"c{i}" for i in range(500)], "a": rng.normal(size=500)})
y = (frame["a"] + rng.normal(size=500) > 0).astype(int).to_numpy()
params = {"max_iter": 5, "learning_rate": 0.1, "max_leaf_nodes": 7}
params |= {"min_samples_leaf": 20, "l2_regularization": 1.0}
m = LeadModel.fit(frame, y, groups=frame["contact_id"].to_numpy(), params=params, seed=1)
got = m.decision_binned(m.binned(frame))
assert (got == m.booster.decision_function(m.matrix(frame))).all()
"""
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
