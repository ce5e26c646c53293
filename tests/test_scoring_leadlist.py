"""Scoring an undated lead list, cross-validated, against a planted truth: conversion
depends on the source and the time spent on the website; a "tags" column is written
after the outcome and must be left out; the lead number is an id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import fullfunnel as ff
from fullfunnel.analytics.scoring.leadlist import auc_interval
from fullfunnel.ingest import ingest


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 2000
    source = rng.choice(
        ["Google", "Reference", "Direct Traffic", "Olark Chat"], n, p=[0.4, 0.1, 0.3, 0.2]
    )
    minutes = rng.gamma(2, 300, n).round()
    effect = np.select([source == "Reference", source == "Olark Chat"], [2.0, -0.8], 0.0)
    p = 1 / (1 + np.exp(-(-1.2 + effect + 0.002 * (minutes - 600))))
    converted = rng.random(n) < p
    tags = np.where(converted, "Will revert after reading the email", "Ringing")
    tags = np.where(rng.random(n) < 0.03, "Ringing", tags)
    frame = pd.DataFrame(
        {
            "Prospect ID": [f"7927b2df-{i:06d}" for i in range(n)],
            "Lead Number": 660000 + np.arange(n),
            "Lead Source": source,
            "Converted": converted.astype(int),
            "Total Time Spent on Website": minutes,
            "Tags": tags,
            "City": rng.choice(["Mumbai", "Select", "Pune"], n),
        }
    )
    path = tmp_path_factory.mktemp("leads") / "Leads.csv"
    frame.to_csv(path, index=False)
    wh = ff.connect("duckdb://:memory:")
    ingest(wh, [path])
    return wh, converted, p


def test_lead_list_scores_recover_the_planted_signals(planted):
    wh, converted, p = planted
    r = ff.score(wh)
    why = r.excluded.set_index("column")["why"]
    assert why["tags"].startswith("alone it tells converted from not")
    assert "an id" in why["lead_number"]
    assert set(r.importance["feature"].head(2)) == {"source", "total_time_spent_on_website"}
    m = r.metrics.set_index("scorer")
    best = roc_auc_score(converted, p)  # what the planted probabilities themselves reach
    assert best - 0.05 < m.loc["model", "auc"] <= best + 0.02
    assert m.loc["model", "auc_low"] < m.loc["model", "auc"] < m.loc["model", "auc_high"]
    assert m.loc["model", "auc"] > m.loc["best single column", "auc"]
    assert m.loc["model", "calibration_error"] < 0.05
    assert (r.labelled, r.converted, r.scored) == (
        2000,
        int(converted.sum()),
        int((~converted).sum()),
    )
    stored = wh.table("scores").to_pandas()
    assert len(stored) == r.scored and set(stored["target_stage"]) == {"converted"}
    assert stored["contact_id"].str.startswith("7927b2df-").all()
    # each score is held out: an unconverted lead's score is not pulled to 0 by training on it
    assert stored["score"].min() > 0.0
    assert "Left out: tags" in "\n".join(r.headline())


def test_keep_columns_keeps_a_column_judged_a_leak(planted, tmp_path):
    wh, _, _ = planted
    toml = tmp_path / "fullfunnel.toml"
    toml.write_text('[scoring]\nkeep_columns = ["tags"]\n')
    config = ff.load_config(toml)
    r = ff.score(wh, config=config, write=False)
    assert "tags" not in set(r.excluded["column"])
    assert r.importance["feature"].iloc[0] == "tags"


def test_auc_interval_agrees_with_the_bootstrap():
    rng = np.random.default_rng(3)
    y = rng.random(1500) < 0.3
    s = rng.normal(size=1500) + 0.9 * y
    auc = roc_auc_score(y, s)
    low, high = auc_interval(auc, int(y.sum()), int((~y).sum()), 0.9)
    boots = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        boots.append(roc_auc_score(y[i], s[i]))
    b_low, b_high = np.quantile(boots, [0.05, 0.95])
    assert low == pytest.approx(b_low, abs=0.01) and high == pytest.approx(b_high, abs=0.01)
