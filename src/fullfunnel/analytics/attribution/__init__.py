"""Multi-touch attribution and ROI at every stage of the funnel.

Journeys are built and aggregated into distinct paths in the engine
(:mod:`.paths`); the models (:mod:`.heuristics`, :mod:`.markov`, :mod:`.shapley`)
are pure functions on those paths, registered by name in :mod:`.models`.
"""

from __future__ import annotations

from fullfunnel.analytics.attribution.attribute import (
    AttributionResult,
    CompareResult,
    attribute,
    compare_models,
)
from fullfunnel.analytics.attribution.models import MODELS, get_model, model_names, register
from fullfunnel.analytics.attribution.paths import Paths, paths_from_frame, read_paths_file

__all__ = [
    "MODELS",
    "AttributionResult",
    "CompareResult",
    "Paths",
    "attribute",
    "compare_models",
    "get_model",
    "model_names",
    "paths_from_frame",
    "read_paths_file",
    "register",
]
