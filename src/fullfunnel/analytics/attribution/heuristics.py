"""Rule-based models: each gives every touch of a journey a share that sums to 1.

- ``first_touch``, ``last_touch``: all credit to the first or the last touch.
- ``linear``: an equal share per touch (a channel touched twice gets two shares).
- ``time_decay``: shares proportional to ``2 ** (-age / half_life)``, age in whole
  days before the conversion (for path files, which carry no times: in touches
  before the conversion), normalised per journey.
- ``u_shaped``, ``w_shaped``, ``full_path``: fixed shares for anchor touches —
  the first touch, the lead-creation touch, the opportunity-creation touch and
  the closed-won touch (see :mod:`.paths`) — and the rest spread equally over the
  other touches. A touch that is several anchors gets each anchor's share; an
  anchor the journey lacks (no touch before the opportunity, say), or a middle
  with no touches, gives up its share and the rest are scaled to sum to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.analytics.attribution.models import Touches, credit_by_touch_weights, register
from fullfunnel.analytics.attribution.models import touches as flat_touches
from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.errors import ConfigError, InputError

ANCHORS = {
    "u_shaped": ("first", "lead"),
    "w_shaped": ("first", "lead", "opp"),
    "full_path": ("first", "lead", "opp", "won"),
}


def _by_weights(paths: Paths, weights_of) -> pd.DataFrame:
    t = flat_touches(paths)
    return credit_by_touch_weights(paths, t, weights_of(t))


@register("first_touch")
def first_touch(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """All credit to the journey's first touch."""
    return _by_weights(paths, lambda t: (t.pos == 0).astype(float))


@register("last_touch")
def last_touch(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """All credit to the last touch before the conversion."""
    return _by_weights(paths, lambda t: (t.pos == t.n - 1).astype(float))


@register("linear")
def linear(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """An equal share to every touch."""
    return _by_weights(paths, lambda t: 1.0 / t.n)


@register("time_decay")
def time_decay(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """Shares halving every ``half_life_days`` before the conversion, normalised."""
    half_life = float(params["half_life_days"])
    if half_life <= 0:
        raise ConfigError("attribution.half_life_days must be more than 0, like 7")

    def weights(t: Touches) -> np.ndarray:
        age = _ages(paths, t)
        raw = np.exp2(-age / half_life)
        return raw / np.bincount(t.path, raw, minlength=len(paths.frame))[t.path]

    return _by_weights(paths, weights)


def _ages(paths: Paths, t: Touches) -> np.ndarray:
    """Each touch's age: days before the conversion, or touches when times are unknown."""
    age = (t.n - 1 - t.pos).astype(float)
    if not paths.timed or not t.code.size:
        return age
    days = pa.array(paths.frame["days"].astype(str).to_numpy(dtype=object), pa.large_string())
    # a journey that did not convert carries no ages (its weights are never used)
    has = pc.not_equal(days, "").to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(days.filter(pa.array(has)), ",")
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if not np.array_equal(lengths, t.lengths[has]):
        raise InputError("paths: a 'days' entry does not have one age per touch of its path")
    flat = pc.cast(pc.utf8_trim_whitespace(pc.list_flatten(parts)), pa.float64())
    age[has[t.path]] = flat.to_numpy(zero_copy_only=False)
    return age


def position_weights(
    t: Touches, frame: pd.DataFrame, anchors: Sequence[str], shares: Sequence[float]
) -> np.ndarray:
    """Per-touch shares for anchor touches plus an equal split of the middle."""
    at = {
        "first": np.zeros(t.code.size, dtype=np.int64),
        "lead": frame["lead_pos"].to_numpy()[t.path],
        "opp": frame["opp_pos"].to_numpy()[t.path],
        "won": frame["won_pos"].to_numpy()[t.path],
    }
    raw = np.zeros(t.code.size)
    is_anchor = np.zeros(t.code.size, dtype=bool)
    for name, share in zip(anchors, shares, strict=False):
        hit = t.pos == at[name]
        raw += share * hit
        is_anchor |= hit
    n_paths = len(frame)
    middle = ~is_anchor
    n_mid = np.bincount(t.path, middle.astype(float), minlength=n_paths)[t.path]
    raw += np.where(middle, shares[-1] / np.maximum(n_mid, 1), 0.0)
    return raw / np.bincount(t.path, raw, minlength=n_paths)[t.path]


def _shares(params: Mapping[str, Any], model: str) -> list[float]:
    key = f"{model}_weights"
    shares = [float(x) for x in params[key]]
    want = len(ANCHORS[model]) + 1
    if len(shares) != want or any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-9:
        raise ConfigError(
            f"attribution.{key} must list {want} shares of 0 or more that sum to 1 "
            f"(the anchors {', '.join(ANCHORS[model])}, then the rest); got {shares}"
        )
    return shares


def _position_model(model: str):
    def fn(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
        shares = _shares(params, model)
        return _by_weights(
            paths, lambda t: position_weights(t, paths.frame, ANCHORS[model], shares)
        )

    fn.__name__ = model
    fn.__doc__ = f"Position-based: fixed shares for {', '.join(ANCHORS[model])}, rest spread."
    return register(model)(fn)


u_shaped = _position_model("u_shaped")
w_shaped = _position_model("w_shaped")
full_path = _position_model("full_path")
