"""Invariants of every attribution model, over generated journeys (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fullfunnel.analytics.attribution import get_model, model_names
from fullfunnel.analytics.attribution.heuristics import ANCHORS
from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.config import default_config

SETTINGS = default_config()["attribution"]
MODELS = [*model_names(), "markov_3"]
ANCHOR_MODELS = list(ANCHORS)


@st.composite
def journeys(draw) -> Paths:
    """Distinct paths over channels a–e, with anchors and ages, some converting."""
    n = draw(st.integers(1, 12))
    rows = {}
    for _ in range(n):
        chans = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=6))
        k = len(chans)
        conv = draw(st.integers(0, 5))
        anchors = [draw(st.integers(-1, k - 1)) for _ in range(3)]
        rows[" > ".join(chans)] = (
            conv,
            conv * draw(st.floats(0, 1000, allow_nan=False)),
            draw(st.integers(0, 8)),
            *anchors,
            ",".join(str(draw(st.integers(0, 90))) for _ in range(k)),
        )
    cols = ["conversions", "value", "nulls", "lead_pos", "opp_pos", "won_pos", "days"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    frame = frame.rename_axis("path").reset_index()
    for c in ("conversions", "value", "nulls"):
        frame[c] = frame[c].astype(float)
    return Paths(frame, timed=True)


def run(model: str, p: Paths) -> pd.DataFrame:
    if model == "markov_3":
        return get_model("markov")(p, {**SETTINGS, "markov_order": 3})
    return get_model(model)(p, SETTINGS)


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model", MODELS)
@FAST
@given(p=journeys())
def test_credits_sum_to_conversions_and_value(model, p):
    out = run(model, p)
    assert (out["conversions"] >= -1e-12).all() and (out["value"] >= -1e-12).all()
    assert out["conversions"].sum() == pytest.approx(p.total_conversions, rel=1e-9, abs=1e-9)
    assert out["value"].sum() == pytest.approx(p.total_value, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("model", MODELS)
@FAST
@given(p=journeys(), where=st.integers(0, 3))
def test_a_channel_that_never_appears_changes_nothing(model, p, where):
    """A path through channel z with no conversion and no null is no evidence at all."""
    before = run(model, p).set_index("label")
    phantom = ["z", "a > z", "z > b > z", "c > d > z"][where]
    extra = pd.DataFrame(
        [
            {
                "path": phantom,
                "conversions": 0.0,
                "value": 0.0,
                "nulls": 0.0,
                "lead_pos": -1,
                "opp_pos": -1,
                "won_pos": -1,
                "days": ",".join(["1"] * (phantom.count(">") + 1)),
            }
        ]
    )
    frame = pd.concat([p.frame, extra], ignore_index=True)
    after = run(model, Paths(frame, timed=True)).set_index("label")
    assert after.loc["z", "conversions"] == 0 and after.loc["z", "value"] == 0
    common = before.index
    np.testing.assert_allclose(
        after.loc[common, "conversions"], before["conversions"], rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(after.loc[common, "value"], before["value"], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("model", ["first_touch", "last_touch", "linear", *ANCHOR_MODELS])
@FAST
@given(p=journeys())
def test_rule_based_credit_is_the_per_touch_definition(model, p):
    """Credits worked out per path equal the definition touch by touch: each anchor's
    share to its touch, the rest split over the other touches, scaled to sum to 1."""
    anchors, shares = ANCHORS.get(model, ()), SETTINGS.get(f"{model}_weights", [])
    want: dict[str, list[float]] = {}
    for r in p.frame.itertuples():
        chans = r.path.split(" > ")
        n = len(chans)
        weight = np.zeros(n)
        if model == "first_touch":
            weight[0] = 1
        elif model == "last_touch":
            weight[-1] = 1
        elif model == "linear":
            weight[:] = 1 / n
        else:
            pos = {"first": 0, "lead": r.lead_pos, "opp": r.opp_pos, "won": r.won_pos}
            hit = np.zeros(n, dtype=bool)
            for name, share in zip(anchors, shares, strict=False):
                if 0 <= pos[name] < n:
                    weight[pos[name]] += share
                    hit[pos[name]] = True
            if (~hit).any():
                weight[~hit] += shares[-1] / (~hit).sum()
            weight /= weight.sum()
        for c, w in zip(chans, weight, strict=True):
            got = want.setdefault(c, [0.0, 0.0])
            got[0] += w * r.conversions
            got[1] += w * r.value
    out = run(model, p).set_index("label")
    for c, (conv, value) in want.items():
        assert out.loc[c, "conversions"] == pytest.approx(conv, abs=1e-9)
        assert out.loc[c, "value"] == pytest.approx(value, rel=1e-9, abs=1e-6)
