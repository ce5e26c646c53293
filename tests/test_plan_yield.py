"""Conditional yield: the engine's per-bucket counts against a row-by-row reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest

from fullfunnel.analytics.rates import conditional_yield
from fullfunnel.analytics.vantage import Vantage

AS_OF = datetime(2026, 11, 23)
EDGES = [0.0, 7.0, 30.0, 90.0]
HORIZON, WINDOW, FROM = 38.0, 200.0, 5.0
# as of AS_OF, the period FROM days ahead and HORIZON days to its end
AT = Vantage(AS_OF, AS_OF + timedelta(days=FROM), AS_OF + timedelta(days=HORIZON))


def _items(seed: int = 3, n: int = 400) -> pd.DataFrame:
    """Items of three groups; some never entered, some never left or won; one group
    ("late") only entered after every cohort, so it has rows but no cohort."""
    rng = np.random.default_rng(seed)
    entered = pd.Timestamp(AS_OF) - pd.to_timedelta(rng.uniform(0, 400, n), unit="D")
    left = entered + pd.to_timedelta(rng.uniform(0, 150, n), unit="D")
    won = entered + pd.to_timedelta(rng.uniform(0, 150, n), unit="D")
    valid_from = entered + pd.to_timedelta(rng.choice([0, 0, 10, 40], n), unit="D")
    valid_until = valid_from + pd.to_timedelta(rng.uniform(5, 120, n), unit="D")
    frame = pd.DataFrame(
        {
            "group": rng.choice(["a", "b"], n),
            "entered": entered,
            "left": left.where(rng.random(n) < 0.5),
            "won": won.where(rng.random(n) < 0.3),
            "valid_from": valid_from,
            "valid_until": valid_until.where(rng.random(n) < 0.6),
        }
    )
    frame.loc[rng.random(n) < 0.1, "entered"] = pd.NaT
    for col in ("entered", "left", "won", "valid_from", "valid_until"):
        frame[col] = frame[col].dt.floor("s")
    late = frame.iloc[:5].assign(group="late", entered=pd.Timestamp(AS_OF - timedelta(days=1)))
    return pd.concat([frame, late, _edges()], ignore_index=True)


def _edges() -> pd.DataFrame:
    """Items exactly on every boundary: cohort ends, ages, the win window's ends."""
    rows = []
    day = pd.Timedelta(days=1)
    for a in EDGES:
        offset = a + HORIZON
        for e in (AS_OF - timedelta(days=offset), AS_OF - timedelta(days=WINDOW + offset)):
            e = pd.Timestamp(e)
            for won in (a, a + FROM, offset, None):
                for left in (a, None):
                    rows.append(
                        {
                            "group": "a",
                            "entered": e,
                            "left": e + left * day if left is not None else pd.NaT,
                            "won": e + won * day if won is not None else pd.NaT,
                            "valid_from": e + a * day,
                            "valid_until": e + a * day,
                        }
                    )
    return pd.DataFrame(rows)


def _days(a: pd.Series, b: pd.Series) -> pd.Series:
    """Whole-second day differences, as ``fullfunnel._dates.days_between`` counts them."""
    sec = lambda s: s.astype("datetime64[s]").astype("int64").where(s.notna())  # noqa: E731
    return (sec(b) - sec(a)) / 86400


def _reference(frame: pd.DataFrame, valid: bool, at: Vantage = AT) -> pd.DataFrame:
    """The definition, row by row in pandas."""
    as_of, horizon, skip = at.as_of, at.horizon_days, at.skip_days
    e = frame["entered"]
    d_left, d_won = _days(e, frame["left"]), _days(e, frame["won"])
    d_from, d_until = _days(e, frame["valid_from"]), _days(e, frame["valid_until"])
    rows = []
    for g in sorted(frame["group"].unique()):
        mine = frame["group"] == g
        for i, a in enumerate(EDGES):
            offset = a + horizon
            cohort = (
                e.notna()
                & (e >= pd.Timestamp(as_of - timedelta(days=WINDOW + offset)).floor("s"))
                & (e <= pd.Timestamp(as_of - timedelta(days=offset)).floor("s"))
            )
            if valid:
                cohort &= (d_from <= a) & (d_until.isna() | (d_until > a))
            still = (d_left.isna() | (d_left > a)) & (d_won.isna() | (d_won > a))
            hit = d_won.notna() & (d_won > a + skip) & (d_won <= offset)
            at_risk = mine & cohort & still
            rows.append((g, i, a, int(at_risk.sum()), int((at_risk & hit).sum())))
    return pd.DataFrame(rows, columns=["group", "bucket", "age_from", "at_risk", "won"])


@pytest.mark.parametrize("valid", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_counts_match_the_definition(valid, sparse):
    frame = _items()
    got = conditional_yield(
        ibis.memtable(frame),
        group="group",
        entered="entered",
        left="left",
        won="won",
        at=AT,
        window_days=WINDOW,
        edges=EDGES,
        valid=("valid_from", "valid_until") if valid else None,
        sparse=sparse,
    )
    got = got.sort_values(["group", "bucket"], ignore_index=True)
    want = _reference(frame, valid)
    assert want["at_risk"].sum() > 50 and want["won"].sum() > 5  # the case is not trivial
    # "late" has rows but none in any cohort: reported with zeros, sparse or not
    assert (got.loc[got["group"] == "late", ["at_risk", "won"]] == 0).all().all()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.parametrize("valid", [False, True])
def test_several_vantages_count_as_each_alone(valid):
    """One query over several dates (the backtest's) gives each date's own counts."""
    from fullfunnel.analytics.vantage import at_vantages

    frame = _items()
    at = [
        AT,
        Vantage(AS_OF - timedelta(days=45), AS_OF - timedelta(days=60), AS_OF + timedelta(days=30)),
        Vantage(AS_OF - timedelta(days=100), AS_OF - timedelta(days=90), AS_OF),
    ]
    got = conditional_yield(
        at_vantages(ibis.memtable(frame), at),
        group="group",
        entered="entered",
        left="left",
        won="won",
        at=at,
        window_days=WINDOW,
        edges=EDGES,
        valid=("valid_from", "valid_until") if valid else None,
    )
    assert sorted(got["vantage"].unique()) == [0, 1, 2]
    for k, v in enumerate(at):
        mine = got[got["vantage"] == k].drop(columns="vantage")
        mine = mine.sort_values(["group", "bucket"], ignore_index=True)
        want = _reference(frame, valid, v)
        assert want["at_risk"].sum() > 20  # each date has cohorts of its own
        pd.testing.assert_frame_equal(mine, want, check_dtype=False)
