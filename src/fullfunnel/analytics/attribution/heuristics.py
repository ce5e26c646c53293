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

from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.analytics.attribution.touches import Touches, credit_by_touch_weights
from fullfunnel.analytics.attribution.touches import touches as flat_touches
from fullfunnel.errors import ConfigError, InputError

ANCHORS = {
    "u_shaped": ("first", "lead"),
    "w_shaped": ("first", "lead", "opp"),
    "full_path": ("first", "lead", "opp", "won"),
}


def _by_weights(paths: Paths, weights_of) -> pd.DataFrame:
    t = flat_touches(paths)
    return credit_by_touch_weights(paths, t, weights_of(t))


def first_touch(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """All credit to the journey's first touch."""
    t = flat_touches(paths)
    return by_anchors(paths, t, [np.zeros(t.lengths.size, dtype=np.int64)], [1.0], rest=0.0)


def last_touch(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """All credit to the last touch before the conversion."""
    t = flat_touches(paths)
    return by_anchors(paths, t, [t.lengths - 1], [1.0], rest=0.0)


def linear(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """An equal share to every touch."""
    return by_anchors(paths, flat_touches(paths), [], [], rest=1.0)


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


def by_anchors(
    paths: Paths,
    t: Touches,
    anchors: Sequence[np.ndarray],
    shares: Sequence[float],
    *,
    rest: float,
) -> pd.DataFrame:
    """Credits when each path gives ``shares`` to its anchor touches (``anchors``: one
    position per path, -1 where it has none) and spreads ``rest`` equally over its
    other touches, normalised to sum to 1 per path.

    A touch that is several anchors gets each anchor's share. Worked out per path
    (which anchors it has, how many other touches): only the spread of ``rest``
    reads every touch, in one pass.
    """
    n = t.lengths
    frame = paths.frame
    conv = frame["conversions"].to_numpy(dtype=float)
    value = frame["value"].to_numpy(dtype=float)
    anchored = np.zeros(n.size)  # the anchors' shares a path has
    distinct = np.zeros(n.size, dtype=np.int64)  # touches that are an anchor
    present = []
    for pos, share in zip(anchors, shares, strict=True):
        ok = (pos >= 0) & (pos < n)
        new = ok.copy()
        for earlier, had in present:
            new &= ~(had & (earlier == pos))
        distinct += new
        anchored += share * ok
        present.append((pos, ok))
    middle = n - distinct
    total = anchored + np.where(middle > 0, rest, 0.0)
    total = np.where(total > 0, total, 1.0)
    each = np.where(middle > 0, rest / np.maximum(middle, 1), 0.0) / total
    k = len(t.labels)
    spread_c, spread_v = (each * conv)[t.path], (each * value)[t.path]
    credit_c, credit_v = np.zeros(k), np.zeros(k)
    for (pos, ok), share in zip(present, shares, strict=True):
        at = t.starts[ok] + pos[ok]
        spread_c[at] = spread_v[at] = 0.0  # an anchor touch is not in the spread
        w = share / total[ok]
        credit_c += np.bincount(t.code[at], w * conv[ok], minlength=k)
        credit_v += np.bincount(t.code[at], w * value[ok], minlength=k)
    credit_c += np.bincount(t.code, spread_c, minlength=k)
    credit_v += np.bincount(t.code, spread_v, minlength=k)
    return pd.DataFrame({"label": t.labels, "conversions": credit_c, "value": credit_v})


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
        t = flat_touches(paths)
        at = {
            "first": np.zeros(t.lengths.size, dtype=np.int64),
            "lead": paths.frame["lead_pos"].to_numpy(),
            "opp": paths.frame["opp_pos"].to_numpy(),
            "won": paths.frame["won_pos"].to_numpy(),
        }
        anchors = [at[name] for name in ANCHORS[model]]
        return by_anchors(paths, t, anchors, shares[:-1], rest=shares[-1])

    fn.__name__ = model
    fn.__doc__ = f"Position-based: fixed shares for {', '.join(ANCHORS[model])}, rest spread."
    return fn


u_shaped = _position_model("u_shaped")
w_shaped = _position_model("w_shaped")
full_path = _position_model("full_path")
