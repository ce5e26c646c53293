"""Markov-chain attribution with the removal effect, solved exactly.

The journeys become an absorbing Markov chain of order ``k`` (1 to 4): a state is
the last ``k`` labels (a journey shorter than ``k`` is one state), a repeated
state in a row counts once, and every journey starts in ``(start)`` and ends in
``(conversion)`` or ``(null)``. Transitions are weighted by the path's
conversions plus nulls. The *removal effect* of a label is the share of the
conversion probability lost when every state holding it leads to ``(null)``:

    RE(c) = 1 - P(conversion without c) / P(conversion)

Both probabilities are exact: the expected visits ``v`` of the transient states
solve ``(I - Q)ᵀ v = e_start``, and ``P(conversion) = v · r`` with ``r`` the
one-step conversion probabilities — one sparse LU solve per label, no simulation.
Credits are the removal effects scaled to the total conversions. For value, each
conversion carries the mean value of conversions leaving its last state (as
ChannelAttribution simulates it); the value removal effect is computed likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.analytics.attribution.touches import Touches
from fullfunnel.analytics.attribution.touches import touches as flat_touches
from fullfunnel.errors import ConfigError

DENSE_MAX_STATES = 2048  # up to this many states, transitions are counted in a dense matrix


def markov(paths: Paths, params: Mapping[str, Any]) -> pd.DataFrame:
    """Credits from exact removal effects on the order-``markov_order`` chain."""
    order = int(params["markov_order"])
    if not 1 <= order <= 4:
        raise ConfigError(f"attribution.markov_order must be 1 to 4, not {order}")
    t = flat_touches(paths)
    f = paths.frame
    conv = f["conversions"].to_numpy(dtype=float)
    value = f["value"].to_numpy(dtype=float)
    chain = build_chain(t, conv, f["nulls"].to_numpy(dtype=float), value, order)
    re_conv, re_value = removal_effects(chain, len(t.labels))
    return pd.DataFrame(
        {
            "label": t.labels,
            "conversions": _scale(re_conv, conv.sum()),
            "value": _scale(re_value, value.sum()),
            "removal_effect": re_conv,
            "removal_effect_value": re_value,
        }
    )


def _scale(effects: np.ndarray, total: float) -> np.ndarray:
    s = effects.sum()
    return effects / s * total if s > 0 else np.zeros_like(effects)


class Chain:
    """An absorbing chain: transient transitions ``Q``, exits to conversion and value."""

    def __init__(self, Q: sp.csr_matrix, r: np.ndarray, rv: np.ndarray, members: sp.csr_matrix):
        self.Q = Q  # transient → transient probabilities; state 0 is (start)
        self.r = r  # P(state → conversion)
        self.rv = rv  # expected conversion value per step out of the state
        self.members = members  # state × label: 1 when the state holds the label


def build_chain(
    t: Touches, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray, order: int
) -> Chain:
    """The order-``order`` chain of the paths (vectorised over all touches)."""
    k_labels = len(t.labels)
    base = np.int64(k_labels + 1)
    if order > 1 and float(base) ** order >= 2**62:
        raise ConfigError(
            f"attribution.markov_order {order} is too high for {k_labels} labels; use 1 or 2"
        )
    if order == 1:  # a state is a label: its code + 1 (every label is on some path)
        state_keys = np.arange(1, k_labels + 1, dtype=np.int64)
        state = t.code + 1
        steps = t.lengths
    else:
        # a state starts at every position with a full window, or is the whole short path
        keep = (t.pos + order <= t.n) | ((t.n < order) & (t.pos == 0))
        key = np.zeros(t.code.size, dtype=np.int64)
        for j in range(order):
            idx = np.minimum(np.arange(t.code.size) + j, max(t.code.size - 1, 0))
            inside = t.pos + j < t.n
            key += np.where(inside, t.code[idx] + 1, 0) * base**j
        state_keys, state = _dense_ids(key[keep], int(base) ** order)
        state += 1  # 0 is (start)
        steps = np.bincount(t.path[keep], minlength=t.lengths.size)
    size = state_keys.size + 1
    walked = steps > 0
    first = (np.cumsum(steps) - steps)[walked]
    last = first + steps[walked] - 1
    # each step's (from, to) pair as one integer: from the previous state, or (start)
    pair = np.empty_like(state)
    pair[1:] = state[:-1] * size
    pair[first] = 0
    pair += state
    weight = np.repeat(conv + nulls, steps)
    if size <= DENSE_MAX_STATES:  # a dense count of every (from, to) pair, then sparse
        dense = np.bincount(pair, weight, minlength=size * size).reshape(size, size)
        # a state repeated in a row is one visit (ChannelAttribution drops self-loops too)
        np.fill_diagonal(dense, 0.0)
        counts = sp.csr_matrix(dense)
    else:
        src, dst = pair // size, pair % size
        move = src != dst
        counts = sp.coo_matrix((weight[move], (src[move], dst[move])), shape=(size, size))
        counts = counts.tocsr()
    end = state[last]
    end_conv = np.bincount(end, conv[walked], minlength=size)
    end_null = np.bincount(end, nulls[walked], minlength=size)
    end_value = np.bincount(end, value[walked], minlength=size)
    out = np.asarray(counts.sum(axis=1)).ravel() + end_conv + end_null
    inv = np.divide(1.0, out, out=np.zeros(size), where=out > 0)
    Q = sp.diags(inv) @ counts
    rows, cols = [], []
    for j in range(order):
        comp = (state_keys // base**j) % base - 1
        has = comp >= 0
        rows.append(np.flatnonzero(has) + 1)
        cols.append(comp[has])
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    members = sp.coo_matrix(
        (np.ones(rows_a.size), (rows_a, cols_a)), shape=(size, max(k_labels, 1))
    ).tocsc()
    return Chain(Q.tocsr(), end_conv * inv, end_value * inv, members)


def _dense_ids(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and each key's index among them, like ``np.unique``.

    A small key space is counted instead of sorted (linear time).
    """
    if space > 1 << 22:
        return np.unique(key, return_inverse=True)
    present = np.bincount(key, minlength=space) > 0
    index = np.cumsum(present) - 1
    return np.flatnonzero(present), index[key]


def _visits(chain: Chain, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected visits from (start) to each state in ``keep``: (I - Q)ᵀ v = e_start."""
    idx = np.flatnonzero(keep)
    sub = chain.Q[idx][:, idx]
    a = (sp.identity(idx.size, format="csc") - sub.T).tocsc()
    rhs = np.zeros(idx.size)
    rhs[0] = 1.0  # (start) is always kept and comes first
    return idx, splu(a).solve(rhs)


def removal_effects(chain: Chain, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact removal effects (conversions, value) of every label."""
    size = chain.Q.shape[0]
    idx, visits = _visits(chain, np.ones(size, dtype=bool))
    total, total_v = float(visits @ chain.r), float(visits @ chain.rv)
    re = np.zeros(n_labels)
    re_v = np.zeros(n_labels)
    if total <= 0:
        return re, re_v
    held = chain.members.tocsc()
    for c in range(n_labels):
        states = held[:, c].nonzero()[0]
        if not (visits[states] > 0).any():
            continue  # never reached: removing it changes nothing, exactly
        keep = np.ones(size, dtype=bool)
        keep[states] = False
        idx, v = _visits(chain, keep)
        p, pv = float(v @ chain.r[idx]), float(v @ chain.rv[idx])
        re[c] = max(0.0, 1 - p / total)
        re_v[c] = max(0.0, 1 - pv / total_v) if total_v > 0 else 0.0
    return re, re_v
