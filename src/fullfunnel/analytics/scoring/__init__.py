"""Lead scoring: the probability that an open contact reaches a target stage soon.

``features`` builds the inputs in the engine as of a cut-off, ``model`` fits a
calibrated gradient-boosting model, ``baseline`` is the points score it must
beat, ``reasons`` turns the model's per-factor effects into words, and ``score``
runs it all and writes the ``scores`` table.
"""

from __future__ import annotations

from fullfunnel.analytics.scoring.explain import explain, latest_scores
from fullfunnel.analytics.scoring.results import ExplainResult, ScoreResult
from fullfunnel.analytics.scoring.run import parse_horizon, score

explain_score = explain  # the name exported at the top level

__all__ = [
    "ExplainResult",
    "ScoreResult",
    "explain",
    "explain_score",
    "latest_scores",
    "parse_horizon",
    "score",
]
