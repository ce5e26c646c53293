"""Every analysis that the demo, the report and the dashboard run, by name.

Each entry takes the warehouse, the config and ``as_of`` and returns a Result;
an analysis module adds itself here with one line.
"""

from __future__ import annotations

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
}


def run(name: str, wh: Warehouse, config: Config, as_of: datetime) -> Result:
    module, func, kwargs = ANALYSES[name]
    fn = getattr(import_module(module), func)
    params = {"as_of": as_of, **kwargs}
    if "config" in fn.__code__.co_varnames:
        params["config"] = config
    return fn(wh, **params)


def run_all(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Result]:
    """Run every registered analysis; returns their results by name."""
    results = {}
    for name in ANALYSES:
        if progress:
            progress(name)
        results[name] = run(name, wh, config, as_of)
    return results
