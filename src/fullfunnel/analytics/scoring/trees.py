"""The booster's trees compiled for prediction on bins: log-odds, and factor effects.

scikit-learn predicts one tree at a time over every row, copying each node it
visits; here every row walks all its trees at once, over nodes packed a 64-bit word
each (a step down a tree reads one word) that stay in the processor's cache,
compiled by Numba: the same log-odds to the bit (the trees are added in the
booster's order), faster (docs/scoring.md has the figures). A factor's effect (what
the log-odds lose when its columns are set to their reference bins) walks again
only the trees whose path for that row reads one of those columns, from the first
node that does, and only for the rows whose factor differs from the reference; no
altered copy of the rows is made.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CHUNK_ROWS = 16_384  # rows a thread takes at a time


@dataclasses.dataclass(frozen=True, eq=False)  # arrays: compared by identity
class Forest:
    """Every node of every tree, one tree after another, each tree's nodes in
    breadth-first order (a split's right child follows its left one), and what a
    prediction starts from.

    A node is one 64-bit word, so a step down a tree reads one word: bit 0 leaf, bit 1
    missing values go left, bit 2 categorical split, bits 8-15 the threshold bin
    (go left when bin <= threshold), bits 16-31 the column of the binned matrix the
    split reads, bits 32-63 the left child's position.
    """

    roots: np.ndarray  # first node of each tree
    nodes: np.ndarray  # int64 words, as above
    value: np.ndarray  # a leaf's log-odds
    bitset: np.ndarray  # row of ``bitsets`` with a categorical split's left bins
    bitsets: np.ndarray
    baseline: float
    missing_bin: int

    @classmethod
    def of(cls, booster: HistGradientBoostingClassifier) -> Forest:
        """The fitted booster's trees (binary: one tree per iteration)."""
        nodes, lefts, bitsets, roots = [], [], [], []
        at = rows = 0
        for (tree,) in booster._predictors:
            order = _breadth_first(tree.nodes)
            position = np.empty(len(order), np.int64)
            position[order] = np.arange(len(order)) + at
            n = tree.nodes[order]
            n["bitset_idx"] += rows
            nodes.append(n)
            lefts.append(np.where(n["is_leaf"], 0, position[n["left"]]))
            bitsets.append(tree.binned_left_cat_bitsets)
            roots.append(at)
            at += len(n)
            rows += len(tree.binned_left_cat_bitsets)
        n = np.concatenate(nodes)
        if at >= 2**31 or int(n["feature_idx"].max(initial=0)) >= 2**16:
            raise ValueError("a forest of 2**31 nodes or 2**16 columns does not fit its words")
        word = n["is_leaf"].astype(np.int64)
        word |= n["missing_go_to_left"].astype(np.int64) << 1
        word |= n["is_categorical"].astype(np.int64) << 2
        word |= n["bin_threshold"].astype(np.int64) << 8
        word |= n["feature_idx"].astype(np.int64) << 16
        word |= np.concatenate(lefts) << 32
        return cls(
            roots=np.array(roots, np.int64),
            nodes=word,
            value=n["value"].astype(np.float64),
            bitset=n["bitset_idx"].astype(np.int32),
            bitsets=np.concatenate(bitsets).astype(np.uint32).reshape(-1, 8)
            if rows
            else np.zeros((1, 8), np.uint32),
            baseline=float(np.ravel(booster._baseline_prediction)[0]),
            missing_bin=int(booster._bin_mapper.missing_values_bin_idx_),
        )

    @property
    def leaf(self) -> np.ndarray:
        """Whether each node is a leaf."""
        return (self.nodes & 1).astype(bool)

    @property
    def feature(self) -> np.ndarray:
        """The column each split reads (0 for a leaf)."""
        return (self.nodes >> 16) & 0xFFFF

    def _nodes(self) -> _Nodes:
        return _Nodes(self.nodes, self.bitset, self.bitsets, np.uint8(self.missing_bin))

    def decision(self, Xb: np.ndarray, *, threads: int = 0) -> np.ndarray:
        """Raw log-odds of binned rows (as :meth:`LeadModel.binned` gives them)."""
        out = np.empty(len(Xb))
        nodes = self._nodes()
        tree = (self.roots, self.value, self.baseline)
        _chunked(len(Xb), threads, lambda lo, hi: _decision(Xb, lo, hi, out, tree, nodes))
        return out

    def effects(
        self,
        Xb: np.ndarray,
        reference: np.ndarray,
        groups: Sequence[Sequence[int]],
        *,
        threads: int = 0,
    ) -> np.ndarray:
        """Each row's effect of each group of columns (positions in ``Xb``, no column
        in two groups): its log-odds less those with the group's columns at their
        ``reference`` bins; exactly what predicting the altered rows gives (0 where
        nothing differs)."""
        out = np.zeros((len(Xb), len(groups)))
        ref = np.asarray(reference, np.uint8)
        if ref.shape != (Xb.shape[1],):  # the compiled walk does not check its reads
            raise ValueError(f"one reference bin per column: {Xb.shape[1]}, not {ref.shape}")
        nodes, tree = self._nodes(), (self.roots, self.value, self.baseline)
        # a path remembers the groups it read in the bits of one integer: 64 at a time
        for first in range(0, len(groups), 64):
            part = groups[first : first + 64]
            group_of = np.full(Xb.shape[1], -1, np.int64)
            for g, cols in enumerate(part):
                if (group_of[list(cols)] >= 0).any():
                    raise ValueError("a column belongs to two groups")
                group_of[list(cols)] = g
            block = out[:, first : first + len(part)]

            def work(lo: int, hi: int, block: np.ndarray = block, group_of=group_of) -> None:
                _effects(Xb, lo, hi, block, group_of, ref, tree, nodes)

            _chunked(len(Xb), threads, work)
        return out


def _chunked(n: int, threads: int, work: Callable[[int, int], None]) -> None:
    """``work(lo, hi)`` over every chunk of ``n`` rows, on ``threads`` threads (0: every
    core); the compiled functions release the GIL."""
    starts = range(0, n, CHUNK_ROWS)
    with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
        for _ in pool.map(lambda lo: work(lo, min(lo + CHUNK_ROWS, n)), starts):
            pass


def _compiled(fn: Callable) -> Callable:
    """``fn`` compiled, releasing the GIL, and cached on disk where Numba finds a
    writable place (``NUMBA_CACHE_DIR`` when set, else the package's ``__pycache__``,
    else the user's cache directory); where it finds none, compiled anew in each
    process (about 2 s) rather than failing the import."""
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # "cannot cache function …: no locator available"
        return numba.njit(nogil=True)(fn)


class _Nodes(NamedTuple):
    """What a walk down a tree reads (one argument of the compiled functions)."""

    words: np.ndarray
    bitset: np.ndarray
    bitsets: np.ndarray
    missing_bin: np.uint8


def _breadth_first(nodes: np.ndarray) -> np.ndarray:
    """One tree's nodes in breadth-first order, each split's children side by side
    (run once per model, over its few thousand nodes)."""
    order, i = [0], 0
    while i < len(order):
        k = order[i]
        if not nodes["is_leaf"][k]:
            order += [int(nodes["left"][k]), int(nodes["right"][k])]
        i += 1
    return np.asarray(order)


@_compiled
def _walk(X, i, k, g, group_of, ref, nodes, start):
    """The leaf that row ``i`` reaches from node ``k``, and the groups of ``group_of``
    (a group per column, -1 for none) that its path reads, as bits; the first node
    reading each group goes to ``start[group]``. With ``g >= 0``, the columns of group
    ``g`` read their ``ref`` bins instead of the row's."""
    read = np.uint64(0)
    word = nodes.words[k]
    while not word & 1:
        f = (word >> 16) & 0xFFFF
        h = group_of[f]
        if h >= 0 and not (read >> np.uint64(h)) & np.uint64(1):
            read |= np.uint64(1) << np.uint64(h)
            start[h] = k
        x = ref[f] if g >= 0 and h == g else X[i, f]
        if x == nodes.missing_bin:
            right = not (word >> 1) & 1
        elif (word >> 2) & 1:
            right = not (nodes.bitsets[nodes.bitset[k], x >> 5] >> (x & 31)) & 1
        else:
            right = x > (word >> 8) & 0xFF
        k = (word >> 32) + right
        word = nodes.words[k]
    return k, read


@_compiled
def _decision(X, lo, hi, out, tree, nodes):
    """Log-odds of rows ``lo:hi``: the baseline plus each tree's leaf, in order."""
    roots, value, baseline = tree
    no_group, no_ref = np.full(X.shape[1], -1, np.int64), np.empty(0, np.uint8)
    unused = np.empty(0, np.int64)
    for i in range(lo, hi):
        acc = baseline
        for t in range(roots.shape[0]):
            acc += value[_walk(X, i, roots[t], -1, no_group, no_ref, nodes, unused)[0]]
        out[i] = acc


@_compiled
def _effects(X, lo, hi, out, group_of, ref, tree, nodes):
    """Effects of rows ``lo:hi`` on the groups of ``group_of`` (see :meth:`Forest.effects`).

    A row's altered path in a tree is its own path until the first node that reads a
    column of the group: only the trees whose path reads one are walked again, from
    that node.
    """
    roots, value, baseline = tree
    trees, groups = roots.shape[0], out.shape[1]
    kept = np.empty(trees)  # this row's leaf value in each tree
    read = np.empty(trees, np.uint64)  # the groups its path in each tree reads, as bits
    start = np.empty((trees, groups), np.int64)  # the first node reading each of them
    unused = np.empty(groups, np.int64)
    for i in range(lo, hi):
        differs = np.uint64(0)  # the groups whose columns differ from the reference
        for f in range(group_of.shape[0]):
            if group_of[f] >= 0 and X[i, f] != ref[f]:
                differs |= np.uint64(1) << np.uint64(group_of[f])
        acc = baseline
        for t in range(trees):
            k, read[t] = _walk(X, i, roots[t], -1, group_of, ref, nodes, start[t])
            kept[t] = value[k]
            acc += kept[t]
        for g in range(groups):
            bit = np.uint64(1) << np.uint64(g)
            if not differs & bit:
                continue  # the same row: no effect
            # summed in the trees' order, as a prediction of the altered row would be
            altered = baseline
            for t in range(trees):
                if read[t] & bit:
                    altered += value[_walk(X, i, start[t, g], g, group_of, ref, nodes, unused)[0]]
                else:
                    altered += kept[t]
            out[i, g] = acc - altered
