"""fullfunnel: full-funnel B2B revenue analytics.

>>> import fullfunnel as ff
>>> wh = ff.connect("duckdb://:memory:")
>>> ff.funnel(wh).stages.shape[0]
7

Every result class is in :mod:`fullfunnel.results` (and here: ``ff.FunnelResult``).
Heavy modules load on first use, so ``import fullfunnel`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "connect": "fullfunnel.warehouse",
    "Warehouse": "fullfunnel.warehouse",
    "load_config": "fullfunnel.config",
    "default_config": "fullfunnel.config",
    "Config": "fullfunnel.config",
    "timeline": "fullfunnel.lifecycle",
    "funnel": "fullfunnel.analytics.funnel",
    "velocity": "fullfunnel.analytics.velocity",
    "pipeline": "fullfunnel.analytics.pipeline",
    "plan": "fullfunnel.analytics.plan",
    "forecast": "fullfunnel.analytics.forecast",
    "backtest": "fullfunnel.analytics.backtest",
    "review": "fullfunnel.analytics.review",
    "list_targets": "fullfunnel.analytics.targets",
    "set_target": "fullfunnel.analytics.targets",
    "data_quality": "fullfunnel.analytics.quality",
    "diagnose": "fullfunnel.analytics.diagnose",
    "stuck": "fullfunnel.analytics.stuck",
    "handoffs": "fullfunnel.analytics.handoffs",
    "weight": "fullfunnel.analytics.weight",
    "leakage": "fullfunnel.analytics.leakage",
    "playbook": "fullfunnel.playbook.recommend",
    "recommend": "fullfunnel.playbook.recommend",
    "attribute": "fullfunnel.analytics.attribution",
    "compare_models": "fullfunnel.analytics.attribution",
    "read_paths_file": "fullfunnel.analytics.attribution",
    "generate_demo": "fullfunnel.demo",
    "score": "fullfunnel.analytics.scoring",
    "explain_score": "fullfunnel.analytics.scoring",
    "latest_scores": "fullfunnel.analytics.scoring",
    "ingest": "fullfunnel.ingest",
    "ingest_files": "fullfunnel.ingest",
    "ingest_hubspot": "fullfunnel.ingest",
    "ingest_salesforce": "fullfunnel.ingest",
    "sync_hubspot": "fullfunnel.sync",
    "sync_salesforce": "fullfunnel.sync",
    "rep_scorecard": "fullfunnel.analytics.owners",
    "movement": "fullfunnel.analytics.movement",
    "step_funnel": "fullfunnel.analytics.steps",
    "buying_group": "fullfunnel.analytics.buying_group",
    "account_level": "fullfunnel.analytics.accounts",
    "FullfunnelError": "fullfunnel.errors",
    "Result": "fullfunnel.result",
}

__all__ = ["__version__", "results", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name == "results":
        return importlib.import_module("fullfunnel.results")
    module = _EXPORTS.get(name)
    if module is None:
        from fullfunnel import results

        if name in results.__all__:  # ff.FunnelResult, as fullfunnel.results has it
            return getattr(results, name)
        raise AttributeError(f"module 'fullfunnel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
