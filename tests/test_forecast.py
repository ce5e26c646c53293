"""The Monte Carlo forecast: analytic mean and variance, ordered quantiles, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fullfunnel.analytics.forecast import forecast, simulate


@pytest.mark.parametrize("exact", [0, 40])
def test_simulation_converges_to_the_analytic_mean_and_variance(exact):
    rng = np.random.default_rng(5)
    amounts = rng.lognormal(np.log(30_000), 0.6, 400)
    probs = rng.uniform(0.02, 0.9, 400)
    totals = simulate(amounts, probs, sims=40_000, seed=11, chunk=3000, exact=exact)
    mean = float(np.dot(amounts, probs))
    var = float(np.dot(amounts**2, probs * (1 - probs)))
    se = np.sqrt(var / totals.size)
    assert abs(totals.mean() - mean) < 4 * se
    assert totals.var() == pytest.approx(var, rel=0.03)


def test_new_pipeline_is_compound_poisson():
    pool = np.array([10.0, 30.0])
    totals = simulate(
        np.array([]), np.array([]), sims=50_000, seed=3, new_wins=4.0, new_amounts=pool
    )
    # compound Poisson: mean λ·E[X] = 80, variance λ·E[X²] = 4 · 500 = 2000
    assert totals.mean() == pytest.approx(80, rel=0.02)
    assert totals.var() == pytest.approx(2000, rel=0.04)


def test_simulation_is_seeded():
    a, p = np.array([5.0, 7.0, 9.0]), np.array([0.3, 0.5, 0.7])
    one = simulate(a, p, sims=1000, seed=9, chunk=128)
    assert np.array_equal(one, simulate(a, p, sims=1000, seed=9, chunk=128))
    assert not np.array_equal(one, simulate(a, p, sims=1000, seed=10, chunk=128))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1)), min_size=0, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_quantiles_are_ordered(deals, seed):
    amounts = np.array([d[0] for d in deals], dtype=float)
    probs = np.array([d[1] for d in deals], dtype=float)
    t = simulate(amounts, probs, sims=500, seed=seed)
    p10, p50, p90 = np.quantile(t, [0.1, 0.5, 0.9])
    assert 0 <= p10 <= p50 <= p90 <= amounts.sum() * (1 + 1e-9)


def test_forecast_on_demo(demo_wh):
    f = forecast(demo_wh, period="2026-Q4", as_of="2026-11-01", sims=3000, seed=1)
    assert f.booked <= f.p10 <= f.p50 <= f.p90
    assert 0 <= f.probability_hit <= 1  # the demo writes the quarter's target
    commit = f.commit.set_index("category")
    assert commit.loc["won", "amount"] == f.booked
    # the analytic expectation matches the simulated mean
    assert commit["expected"].sum() == pytest.approx(f.mean, rel=0.02)
    assert f.by_team["expected"].sum() == pytest.approx(f.by_segment["expected"].sum())
    again = forecast(demo_wh, period="2026-Q4", as_of="2026-11-01", sims=3000, seed=1)
    assert (again.p10, again.p50, again.p90) == (f.p10, f.p50, f.p90)
    assert f.to_dict()["p50"] == f.p50


def test_forecast_empty_warehouse(wh):
    f = forecast(wh, period="2026-Q4", as_of="2026-11-01", sims=200)
    assert f.p10 == f.p50 == f.p90 == 0.0
    assert f.probability_hit is None


def test_forecasts_at_several_dates_equal_each_forecast_alone(demo_wh):
    """The backtest's one set of queries over many dates gives each date's own forecast:
    the same open deals, probabilities, new pipeline and so the same draws."""
    from datetime import datetime

    import pandas as pd

    from fullfunnel.analytics.forecast import forecasts
    from fullfunnel.analytics.vantage import Vantage

    q3, q4, next_q = datetime(2026, 7, 1), datetime(2026, 10, 1), datetime(2027, 1, 1)
    at = [
        Vantage(datetime(2026, 8, 15), q3, q4),
        Vantage(datetime(2026, 9, 20), q4, next_q),  # before its period starts
        Vantage(datetime(2026, 11, 1), q4, next_q),
    ]
    together = forecasts(demo_wh, at, sims=1000, seed=3)
    for v, f in zip(at, together, strict=True):
        period = f"{v.start:%Y-%m-%d}..{v.end - pd.Timedelta(days=1):%Y-%m-%d}"
        alone = forecast(demo_wh, period=period, as_of=v.as_of, sims=1000, seed=3)
        assert f.booked == alone.booked and f.expected_new_wins == alone.expected_new_wins
        assert (f.p10, f.p50, f.p90, f.mean) == (alone.p10, alone.p50, alone.p90, alone.mean)
        for name in ("commit", "by_team", "by_segment", "distribution"):
            pd.testing.assert_frame_equal(getattr(f, name), getattr(alone, name))
    assert len({f.p50 for f in together}) == 3  # three different answers


def test_open_deals_without_an_amount_count_at_zero_and_are_named():
    from datetime import datetime

    import fullfunnel as ff

    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=2000, seed=5, as_of=datetime(2026, 11, 23))
    opps = wh.table("opportunities").to_pandas()
    before = forecast(wh, period="2026-Q4", as_of="2026-11-23", sims=2000, seed=1)
    open_ = opps[opps.status == "open"].nlargest(3, "amount")
    wh.load("opportunities", open_.assign(amount=None))
    f = forecast(wh, period="2026-Q4", as_of="2026-11-23", sims=2000, seed=1)
    assert np.isfinite([f.p10, f.p50, f.p90, f.mean]).all()
    assert f.unpriced_count == 3 and before.unpriced_count == 0
    assert f.open_amount == pytest.approx(before.open_amount - open_.amount.sum())
    assert f.expected_open < before.expected_open
    assert any(line.startswith("3 open deals have no amount yet") for line in f.headline())


def test_the_forecast_rolled_up_by_the_crm_s_categories():
    """Deals the CRM calls commit or best case (or gives a probability) are rolled up
    into the calls, each against what the model expects of it and the chance to book
    at least the call; the deals the CRM says nothing of take the model's chance."""
    from datetime import datetime

    import fullfunnel as ff

    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=2000, seed=5, as_of=datetime(2026, 11, 23))
    opps = wh.table("opportunities").to_pandas()
    top = opps[opps.status == "open"].nlargest(5, "amount").copy()
    top["forecast_category"] = ["Commit", "Commit", "Best Case", "OMIT", None]
    top["probability"] = [None, None, None, None, 90.0]  # a 0–100 CRM value: commit
    wh.load("opportunities", top.assign(probability=top.probability / 100))
    f = forecast(wh, period="2026-Q4", as_of="2026-11-23", sims=4000, seed=1)
    rows = f.by_category.set_index("category")
    assert list(rows.index) == ["closed", "commit", "best_case", "pipeline", "omitted"]
    amounts = top.amount.to_numpy()
    assert rows.loc["commit", "deals"] == 3  # two called commit, one at 90%
    assert rows.loc["commit", "amount"] == pytest.approx(amounts[[0, 1, 4]].sum())
    assert rows.loc["omitted", "deals"] == 1 and np.isnan(rows.loc["omitted", "call"])
    assert rows.loc["closed", "amount"] == pytest.approx(f.booked)
    assert rows.loc["best_case", "call"] == pytest.approx(
        f.booked + rows.loc["commit", "amount"] + rows.loc["best_case", "amount"]
    )
    chances = rows["call_probability"].iloc[:4].to_numpy()
    assert (np.diff(chances) <= 0).all() and chances[0] == 1.0  # the won is booked
    assert rows["expected"].iloc[1:].sum() == pytest.approx(f.expected_open)
    assert "the CRM's forecast category for 4" in f.category_source
    assert "the CRM's probability for 1" in f.category_source
    assert any(line.startswith("commit call ") for line in f.headline())
    plain = forecast(ff.connect("duckdb://:memory:"), sims=100)
    assert not any(line.startswith("commit call ") for line in plain.headline())
