"""The registry of attribution models.

A model is a pure function ``model(paths, params) -> credits`` listed by name:
it takes the distinct :class:`~.paths.Paths` and the ``[attribution]`` settings
and returns one row per label with ``conversions`` and ``value`` credited (plus
any model-specific columns). Credits of every model sum to the paths' total
conversions and value. The models read the paths as the flat touch table of
:mod:`.touches`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from fullfunnel.analytics.attribution import heuristics, markov, shapley
from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.errors import InputError, did_you_mean

Model = Callable[[Paths, Mapping[str, Any]], pd.DataFrame]
# the built-in models, in the order results list them; register() adds others
MODELS: dict[str, Model] = {
    "first_touch": heuristics.first_touch,
    "last_touch": heuristics.last_touch,
    "linear": heuristics.linear,
    "time_decay": heuristics.time_decay,
    "u_shaped": heuristics.u_shaped,
    "w_shaped": heuristics.w_shaped,
    "full_path": heuristics.full_path,
    "markov": markov.markov,
    "shapley": shapley.shapley,
}
DATA_DRIVEN = ("markov", "shapley")


def register(name: str) -> Callable[[Model], Model]:
    """Add a model to :data:`MODELS` under ``name``."""

    def deco(fn: Model) -> Model:
        MODELS[name] = fn
        return fn

    return deco


def get_model(name: str) -> Model:
    if name not in MODELS:
        raise InputError(
            f"model {name!r}: use one of {', '.join(MODELS)}." + did_you_mean(name, list(MODELS)),
            option="model",
        )
    return MODELS[name]


def model_names() -> tuple[str, ...]:
    return tuple(MODELS)
