"""Lead tiers A–D: by rank, the top shares of scores (``[scoring] tier_shares``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fullfunnel.errors import ConfigError

TIERS = ("A", "B", "C", "D")


def tiers_of(prob: np.ndarray, shares: list[float]) -> np.ndarray:
    """A–D by rank: the top shares[0] of scores is A, the next shares[1] B, …"""
    if len(prob) == 0:
        return np.array([], dtype=object)
    if len(shares) != 3 or any(s < 0 for s in shares) or sum(shares) > 1:
        raise ConfigError(
            "[scoring] tier_shares must be three shares (A, B, C) adding to at most 1, "
            "like [0.10, 0.15, 0.25]"
        )
    rank = pd.Series(-prob).rank(method="min").to_numpy() - 1  # 0 = best; ties share a tier
    q = rank / len(prob)
    edges = np.cumsum(shares)
    return np.array(TIERS)[np.searchsorted(edges, q, side="right")]
