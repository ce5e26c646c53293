"""The backtest on the demo, whose generating process is known, is calibrated."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.backtest import backtest


@pytest.fixture(scope="module")
def second_demo():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=12_000, seed=21, as_of=datetime(2026, 11, 23))
    return wh


def test_backtest_is_calibrated_across_seeds(demo_wh, second_demo):
    runs = []
    for wh, seed in ((demo_wh, 1), (second_demo, 2)):
        b = backtest(wh, periods=4, as_of="2026-11-23", sims=1500, seed=seed)
        assert len(b.runs) == 12
        assert set(b.by_horizon["runs"]) == {4}
        assert b.mape < 0.35
        runs.append(b.runs)
    inside = [x for r in runs for x in r["inside"]]
    coverage = sum(inside) / len(inside)
    # P10–P90 should hold the actual about 80% of the time
    assert 0.6 <= coverage <= 1.0, coverage


def test_backtest_uses_only_past_data(demo_wh):
    b = backtest(demo_wh, periods=1, as_of="2026-11-23", sims=300, seed=1)
    assert (b.runs["as_of"] < b.runs["period_start"] + pd.Timedelta(days=92)).all()
    assert "inside P10–P90" in b.headline()[0]
