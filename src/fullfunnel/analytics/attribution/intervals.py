"""How sure an attribution is: bootstrap intervals of every label's credit.

Journeys are resampled with replacement (a multinomial draw over the distinct
paths' converting and non-converting journeys, seeded), the model is rerun on
each resample, and the interval is read from the spread of each label's credit.
The distinct paths and their touches stay the same, so a resample costs one run
of the model on the counts. Large journey sets get fewer resamples (never fewer
than ``MIN_RESAMPLES``), so the interval costs about the same at any size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.analytics.attribution.touches import remember_touches, touches

MIN_RESAMPLES = 20
TOUCH_BUDGET = 20_000_000  # touches read over all resamples, at most (then MIN_RESAMPLES)


def resamples_for(paths: Paths, asked: int) -> int:
    """How many resamples to draw: ``asked``, fewer for very many touches."""
    if asked <= 0:
        return 0
    n_touches = max(int(touches(paths).code.size), 1)
    return int(min(asked, max(MIN_RESAMPLES, TOUCH_BUDGET // n_touches)))


def credit_intervals(
    model: Callable[[Paths, Mapping[str, Any]], pd.DataFrame],
    paths: Paths,
    params: Mapping[str, Any],
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    """Per label: ``conversions_low`` and ``conversions_high`` (and ``resamples``)."""
    f = paths.frame
    conv = f["conversions"].to_numpy(dtype=float)
    nulls = f["nulls"].to_numpy(dtype=float)
    journeys = np.concatenate([conv, nulls])
    total = round(float(journeys.sum()))
    b = resamples_for(paths, resamples)
    if b == 0 or total == 0 or conv.sum() <= 0:
        return pd.DataFrame(columns=["label", "conversions_low", "conversions_high", "resamples"])
    t = touches(paths)
    value_per = np.divide(
        f["value"].to_numpy(dtype=float), conv, out=np.zeros_like(conv), where=conv > 0
    )
    rng = np.random.default_rng(seed)
    p = journeys / journeys.sum()
    draws = []
    for _ in range(b):  # one model run per resample: the counts change, the paths do not
        counts = rng.multinomial(total, p).astype(float)
        c, n = counts[: conv.size], counts[conv.size :]
        frame = f.assign(conversions=c, nulls=n, value=c * value_per)
        resampled = dataclasses.replace(paths, frame=frame)
        remember_touches(resampled, t)
        credit = model(resampled, params).set_index("label")["conversions"]
        draws.append(credit)
    table = pd.concat(draws, axis=1).fillna(0.0)
    tail = (1 - confidence) / 2
    return pd.DataFrame(
        {
            "label": table.index,
            "conversions_low": table.quantile(tail, axis=1).to_numpy(),
            "conversions_high": table.quantile(1 - tail, axis=1).to_numpy(),
            "resamples": b,
        }
    )
