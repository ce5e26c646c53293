"""Every analysis that the demo, the report and the dashboard run, by name.

Each entry takes the warehouse, the config and ``as_of`` and returns a Result;
an analysis module adds itself here with one line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from importlib import import_module
from typing import Any

from fullfunnel.config import Config
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

Runner = Callable[[Warehouse, Config, datetime], Result]

# name → (module, function, extra keyword arguments), in report order
ANALYSES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "funnel": ("fullfunnel.analytics.funnel", "funnel", {}),
    "velocity": ("fullfunnel.analytics.velocity", "velocity", {}),
    "pipeline": ("fullfunnel.analytics.pipeline", "pipeline", {}),
    "reps": ("fullfunnel.analytics.owners", "rep_scorecard", {}),
    "data_quality": ("fullfunnel.analytics.quality", "data_quality", {}),
    "plan": ("fullfunnel.analytics.plan", "plan", {}),
    "forecast": ("fullfunnel.analytics.forecast", "forecast", {}),
    "review": ("fullfunnel.analytics.review", "review", {"strict": False}),
    "backtest": ("fullfunnel.analytics.backtest", "backtest", {"sims": 1000}),
    "targets": ("fullfunnel.analytics.targets", "list_targets", {}),
    "diagnose": ("fullfunnel.analytics.diagnose", "diagnose", {}),
    # reading results must not change the warehouse: only the demo writes the scores
    "scoring": ("fullfunnel.analytics.scoring", "score", {"strict": False, "write": False}),
    "stuck": ("fullfunnel.analytics.stuck", "stuck", {}),
    "handoffs": ("fullfunnel.analytics.handoffs", "handoffs", {}),
    "attribution": (
        "fullfunnel.analytics.attribution",
        "attribute",
        {"conversion": "opportunity", "value": "pipeline"},
    ),
    "attribution_compare": ("fullfunnel.analytics.attribution", "compare_models", {}),
}


def function(name: str) -> Callable[..., Result]:
    """The public function behind analysis ``name``."""
    module, func, _ = ANALYSES[name]
    return getattr(import_module(module), func)


def run(
    name: str,
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    params: dict[str, Any] | None = None,
) -> Result:
    """Run analysis ``name``; ``params`` it does not take are ignored."""
    _, _, kwargs = ANALYSES[name]
    fn = function(name)
    accepted = inspect.signature(fn).parameters
    options = {k: v for k, v in (params or {}).items() if k in accepted and v is not None}
    call = {"as_of": as_of, **kwargs, **options}
    if "config" in accepted:
        call["config"] = config
    return fn(wh, **call)


def run_all(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    *,
    progress: Callable[[str], None] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Result]:
    """Run every registered analysis; returns their results by name.

    ``params`` (e.g. ``period``, ``since``) go to each analysis that takes them.
    """
    results = {}
    for name in ANALYSES:
        if progress:
            progress(name)
        results[name] = run(name, wh, config, as_of, params)
    return results
