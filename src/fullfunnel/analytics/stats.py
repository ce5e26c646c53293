"""How sure a figure is: intervals for proportions, means and medians, and verdicts
that are given only when the interval clears the threshold.

* Proportions: the Wilson score interval (sound at small n and near 0 or 1).
* Means: the normal interval from the engine's mean, standard deviation and n.
* Medians: a bootstrap over the engine's histogram of the values (multinomial
  resampling of the bin counts), so the rows never leave the engine.

Every figure carries its n; :func:`against` compares an interval with a threshold
and answers "too close to call" when the interval straddles it.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import numpy as np

TOO_CLOSE = "too close to call"


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.645 for 0.9)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(k: np.ndarray | float, n: np.ndarray | float, *, confidence: float = 0.9):
    """Wilson score interval for k successes in n trials (NaN where n = 0).

    >>> lo, hi = wilson(5, 10, confidence=0.95)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.237, 0.763)
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact bounds are 0 and 1 at k = 0 and k = n; rounding must not print "-0%"
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Proportion:
    """k of n, with its interval at ``confidence``; ``value`` is None when n = 0."""

    k: int
    n: int
    value: float | None
    low: float | None
    high: float | None
    confidence: float

    @classmethod
    def of(cls, k: int, n: int, *, confidence: float) -> Proportion:
        if n <= 0:
            return cls(int(k), 0, None, None, None, confidence)
        lo, hi = wilson(k, n, confidence=confidence)
        return cls(int(k), int(n), k / n, float(lo), float(hi), confidence)

    def interval_text(self) -> str:
        if self.value is None:
            return "no data"
        return f"{self.confidence:.0%} interval {self.low:.1%}–{self.high:.1%}"

    def text(self, unit: str = "") -> str:
        """'28.5% (339 of 1,190 closed; 90% interval 26.4–30.7%)'."""
        if self.value is None:
            return f"n/a (0 {unit})".replace(" )", ")")
        of = f"{self.k:,} of {self.n:,}" + (f" {unit}" if unit else "")
        return f"{self.value:.1%} ({of}; {self.interval_text()})"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean or a median of n values, with its interval and how it was found."""

    value: float | None
    n: int
    low: float | None
    high: float | None
    confidence: float
    method: str

    def interval_text(self, fmt: str = ",.0f") -> str:
        if self.value is None or self.low is None or self.high is None:
            return "no interval"
        return f"{self.confidence:.0%} interval {self.low:{fmt}}–{self.high:{fmt}}"


def span_text(low: float | None, high: float | None) -> str:
    """An interval of days or amounts: '36–41', or '5.8–6.2' when narrow."""
    if low is None or high is None or _nan(float(low)) or _nan(float(high)):
        return "n/a"
    fmt = ",.1f" if high - low < 2 else ",.0f"
    return f"{low:{fmt}}–{high:{fmt}}"


def mean_estimate(mean: float | None, sd: float | None, n: int, *, confidence: float) -> Estimate:
    """A mean with its normal interval (the engine gives mean, sd and n)."""
    if n <= 0 or mean is None or _nan(mean):
        return Estimate(None, 0, None, None, confidence, "mean")
    if n < 2 or sd is None or _nan(sd):
        return Estimate(float(mean), n, None, None, confidence, "mean")
    half = z_value(confidence) * float(sd) / math.sqrt(n)
    return Estimate(float(mean), n, float(mean) - half, float(mean) + half, confidence, "mean")


def median_estimate(
    values: np.ndarray,
    counts: np.ndarray,
    *,
    confidence: float,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The median of a histogram (``counts`` of each of the sorted ``values``) with a
    bootstrap interval: the bins' counts are resampled (multinomial), seeded.

    >>> e = median_estimate(np.array([1.0, 2.0, 3.0]), np.array([10, 10, 10]), confidence=0.9)
    >>> e.value, e.n
    (2.0, 30)
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    n = int(counts.sum())
    if n == 0:
        return Estimate(None, 0, None, None, confidence, "median")
    median = _weighted_median(values, counts[None, :])[0]
    if n < 2:
        return Estimate(float(median), n, None, None, confidence, "median")
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=resamples)
    boot = _weighted_median(values, draws)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [tail, 1 - tail])
    return Estimate(float(median), n, float(lo), float(hi), confidence, "median, bootstrap")


def _weighted_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts``: the median of ``values`` repeated that many times (the
    mean of the two middle values when the count is even)."""
    cum = np.cumsum(counts, axis=1)
    n = cum[:, -1:]
    lower = (cum < (n + 1) // 2).sum(axis=1)
    upper = (cum < n // 2 + 1).sum(axis=1)
    return (values[lower] + values[upper]) / 2


def against(low: float | None, high: float | None, threshold: float) -> bool | None:
    """True when the interval lies wholly above ``threshold``, False when wholly below,
    None (too close to call) when it straddles it or is unknown."""
    if low is None or high is None or _nan(low) or _nan(high):
        return None
    if low > threshold:
        return True
    if high < threshold:
        return False
    return None


def _nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
