"""Every result class, for a notebook: typed, frozen, with ``to_pandas()`` and ``to_arrow()``.

>>> import fullfunnel as ff
>>> from fullfunnel.results import FunnelResult
>>> isinstance(ff.funnel(ff.connect("duckdb://:memory:")), FunnelResult)
True

Each analysis returns one of these; their fields are the numbers the CLI, the API
and the report show. The classes load on first use, so importing this module
stays fast; type checkers read them from the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fullfunnel.result import Result

if TYPE_CHECKING:
    pass

# class name → the module that defines it
_WHERE = {
    "ApiKeysResult": "fullfunnel.server.keys",
    "AttributionResult": "fullfunnel.analytics.attribution.attribute",
    "BacktestResult": "fullfunnel.analytics.backtest",
    "CompareResult": "fullfunnel.analytics.attribution.attribute",
    "DataQualityResult": "fullfunnel.analytics.quality",
    "DiagnoseResult": "fullfunnel.analytics.diagnose",
    "EventsResult": "fullfunnel.server.events",
    "ExplainResult": "fullfunnel.analytics.scoring.run",
    "ForecastResult": "fullfunnel.analytics.forecast",
    "FunnelResult": "fullfunnel.analytics.funnel",
    "HandoffsResult": "fullfunnel.analytics.handoffs",
    "IngestResult": "fullfunnel.ingest.loads",
    "LeadListScoreResult": "fullfunnel.analytics.scoring.leadlist",
    "LeakageResult": "fullfunnel.analytics.leakage",
    "LoadsResult": "fullfunnel.ingest.loads",
    "NewKeyResult": "fullfunnel.server.keys",
    "PipelineResult": "fullfunnel.analytics.pipeline",
    "PlanResult": "fullfunnel.analytics.plan",
    "PlaybookResult": "fullfunnel.playbook.recommend",
    "RejectsResult": "fullfunnel.ingest.loads",
    "ReviewResult": "fullfunnel.analytics.review",
    "ScoreResult": "fullfunnel.analytics.scoring.run",
    "ScorecardResult": "fullfunnel.analytics.owners",
    "StuckResult": "fullfunnel.analytics.stuck",
    "SyncResult": "fullfunnel.sync",
    "TargetsResult": "fullfunnel.analytics.targets",
    "UnloadResult": "fullfunnel.ingest.unload",
    "VelocityResult": "fullfunnel.analytics.velocity",
    "WeightResult": "fullfunnel.analytics.weight",
}

__all__ = ["Result", *_WHERE]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'fullfunnel.results' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
