"""The flat touch table every attribution model reads: one entry per touch.

Path text (``"seo > webinar > demo"``) is split once per set of paths, in Arrow
on every core, and shared by all models; paths built in the engine arrive split.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from fullfunnel.analytics.attribution.paths import Paths

SEP = " > "  # between the labels of a path's text


@dataclasses.dataclass(frozen=True, eq=False)
class Touches:
    """Every touch of every distinct path, flat: one array entry per touch.

    ``path``, ``pos`` and ``n`` are derived on first use (a model that needs only
    some of them does not pay for the others).
    """

    labels: np.ndarray  # the distinct labels, by code
    code: np.ndarray  # label code of each touch
    lengths: np.ndarray  # touches of each path
    starts: np.ndarray  # index of each path's first touch

    @functools.cached_property
    def path(self) -> np.ndarray:
        """Row of each touch's path in the paths frame."""
        return np.repeat(np.arange(self.lengths.size), self.lengths)

    @functools.cached_property
    def pos(self) -> np.ndarray:
        """0-based position of each touch in its path."""
        return np.arange(self.code.size) - np.repeat(self.starts, self.lengths)

    @functools.cached_property
    def n(self) -> np.ndarray:
        """Length of each touch's path."""
        return np.repeat(self.lengths, self.lengths)

    @functools.cached_property
    def first(self) -> np.ndarray:
        """Mask of the first touch of each label within each path."""
        if len(self.labels) > _FIRST_BY_LABEL:
            return self._first_sorted()
        # a label at a time: its touches in path order, a first is where the path
        # changes (scratch memory of one label's touches, no sort)
        mask = np.zeros(self.code.size, dtype=bool)
        for c in range(len(self.labels)):
            at = np.flatnonzero(self.code == c)
            path = self.path[at]
            new = np.empty(at.size, dtype=bool)
            new[:1] = True
            np.not_equal(path[1:], path[:-1], out=new[1:])
            mask[at[new]] = True
        return mask

    def _first_sorted(self) -> np.ndarray:
        """:attr:`first` for many labels: one pass over the touches grouped by label."""
        # touches grouped by label, each group in path order (a stable sort of small
        # integers is a radix sort, linear); a first is where the path changes
        small = self.code.astype(np.int16) if len(self.labels) < 2**15 else self.code
        order = np.argsort(small, kind="stable")
        path, code = self.path[order], self.code[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (path[1:] != path[:-1]) | (code[1:] != code[:-1])
        mask = np.zeros(self.code.size, dtype=bool)
        mask[order[new]] = True
        return mask


# up to this many labels, the first touches are found a label at a time (a scan of
# the codes per label costs less than sorting them)
_FIRST_BY_LABEL = 32


_TOUCHES: weakref.WeakKeyDictionary[Paths, Touches] = weakref.WeakKeyDictionary()


def touches(paths: Paths) -> Touches:
    """The paths as a flat touch table, split once per :class:`Paths` and shared.

    Every model (and the exposure table) reads the same table, so comparing all
    the models splits the path text once (paths built in the engine arrive split).
    """
    cached = _TOUCHES.get(paths)
    if cached is None:
        cached = _TOUCHES[paths] = split_touches(paths.frame)
    return cached


def remember_touches(paths: Paths, t: Touches) -> None:
    """Hand :func:`touches` the flat table of ``paths``, already built."""
    _TOUCHES[paths] = t


def split_touches(frame: pd.DataFrame) -> Touches:
    """Split path text into a flat touch table (vectorised in Arrow, no loop over rows).

    The paths are split a small slice at a time on every core (Arrow releases the
    GIL), so the split's scratch memory stays small and is reused from slice to
    slice: touching fresh memory costs more than the split itself. Each slice's
    labels are coded on one shared list of names as they are met.
    """
    text = pa.array(frame["path"].astype(str), pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    position: dict[str, int] = {}
    lock = threading.Lock()

    def split(lo: int) -> tuple[np.ndarray, np.ndarray]:
        lists = pc.split_pattern(text.slice(lo, _SPLIT_SLICE), SEP)
        lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        encoded = pc.dictionary_encode(pc.list_flatten(lists))
        with lock:
            names = encoded.dictionary.to_pylist()
            code = np.asarray([position.setdefault(n, len(position)) for n in names], np.int64)
        return lengths, code[encoded.indices.to_numpy(zero_copy_only=False)]

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        parts = list(pool.map(split, range(0, max(len(text), 1), _SPLIT_SLICE)))
    names = np.empty(len(position), dtype=object)
    names[:] = list(position)
    codes = np.concatenate([code for _, code in parts])
    return touches_from_codes(codes, np.concatenate([n for n, _ in parts]), names)


_SPLIT_SLICE = 65_536  # paths split at once: a few MB of scratch memory


def touches_from_codes(codes: np.ndarray, lengths: np.ndarray, names: np.ndarray) -> Touches:
    """The flat touch table from each touch's index into ``names`` and each path's length.

    Labels that no touch carries are left out; the rest are coded by name order.
    """
    codes = np.asarray(codes, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    kept = np.flatnonzero(np.bincount(codes, minlength=len(names)) > 0)
    labels = np.asarray(names, dtype=object)[kept]
    order = np.argsort(labels, kind="stable")
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[kept[order]] = np.arange(order.size)
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    return Touches(labels=labels[order], code=remap[codes], lengths=lengths, starts=starts)


def credit_by_touch_weights(paths: Paths, t: Touches, weights: np.ndarray) -> pd.DataFrame:
    """Credits per label from per-touch weights that sum to 1 within each path."""
    conv = paths.frame["conversions"].to_numpy(dtype=float)[t.path]
    value = paths.frame["value"].to_numpy(dtype=float)[t.path]
    k = len(t.labels)
    return pd.DataFrame(
        {
            "label": t.labels,
            "conversions": np.bincount(t.code, weights * conv, minlength=k),
            "value": np.bincount(t.code, weights * value, minlength=k),
        }
    )


def exposure(paths: Paths, t: Touches) -> pd.DataFrame:
    """Per label: touches and journeys (converting and not) that carry it."""
    f = paths.frame
    weight = (f["conversions"] + f["nulls"]).to_numpy(dtype=float)
    k = len(t.labels)
    touches_n = np.bincount(t.code, weight[t.path], minlength=k)
    first = first_of_label(t)
    journeys = np.bincount(t.code[first], weight[t.path[first]], minlength=k)
    conv_j = np.bincount(
        t.code[first], f["conversions"].to_numpy(dtype=float)[t.path[first]], minlength=k
    )
    return pd.DataFrame(
        {"label": t.labels, "touches": touches_n, "journeys": journeys, "converting": conv_j}
    )


def first_of_label(t: Touches) -> np.ndarray:
    """Mask of the first occurrence of each label within each path."""
    return t.first
