"""Shapley attribution, the simplified form of Zhao et al. (2018).

Take the coalition value ``v(S)`` of a set of labels to be the conversions of the
journeys whose distinct labels all lie in ``S``. That game is a sum of unanimity
games, one per observed label set ``T`` worth its conversions ``r(T)``, so the
Shapley value is exact in closed form:

    φ(c) = Σ over observed sets T holding c of r(T) / |T|

— every conversion is split equally among its journey's distinct labels, the
same for value. It runs over the observed sets only, never over the 2ⁿ
coalitions, so it is exact for any number of labels and needs no sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.analytics.attribution.touches import credit_by_touch_weights, first_of_label
from fullfunnel.analytics.attribution.touches import touches as flat_touches


def shapley(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """Each conversion split equally among the journey's distinct labels."""
    t = flat_touches(paths)
    first = first_of_label(t)
    distinct = np.bincount(t.path, first.astype(float), minlength=len(paths.frame))
    weights = np.where(first, 1.0 / np.maximum(distinct[t.path], 1), 0.0)
    return credit_by_touch_weights(paths, t, weights)
