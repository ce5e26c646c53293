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

if TYPE_CHECKING:  # the classes as type checkers see them (re-exported)
    from fullfunnel.analytics.attribution.attribute import AttributionResult as AttributionResult
    from fullfunnel.analytics.attribution.attribute import CompareResult as CompareResult
    from fullfunnel.analytics.backtest import BacktestResult as BacktestResult
    from fullfunnel.analytics.buying_group import BuyingGroupResult as BuyingGroupResult
    from fullfunnel.analytics.diagnose import DiagnoseResult as DiagnoseResult
    from fullfunnel.analytics.forecast import ForecastResult as ForecastResult
    from fullfunnel.analytics.funnel import FunnelResult as FunnelResult
    from fullfunnel.analytics.handoffs import HandoffsResult as HandoffsResult
    from fullfunnel.analytics.leakage import LeakageResult as LeakageResult
    from fullfunnel.analytics.movement import MovementResult as MovementResult
    from fullfunnel.analytics.owners import ScorecardResult as ScorecardResult
    from fullfunnel.analytics.pipeline import PipelineResult as PipelineResult
    from fullfunnel.analytics.plan import PlanResult as PlanResult
    from fullfunnel.analytics.quality import DataQualityResult as DataQualityResult
    from fullfunnel.analytics.records import RecordsResult as RecordsResult
    from fullfunnel.analytics.review import ReviewResult as ReviewResult
    from fullfunnel.analytics.scoring.leadlist import LeadListScoreResult as LeadListScoreResult
    from fullfunnel.analytics.scoring.results import ExplainResult as ExplainResult
    from fullfunnel.analytics.scoring.results import ScoreResult as ScoreResult
    from fullfunnel.analytics.steps import StepsResult as StepsResult
    from fullfunnel.analytics.stuck import StuckResult as StuckResult
    from fullfunnel.analytics.targets import TargetsResult as TargetsResult
    from fullfunnel.analytics.velocity import VelocityResult as VelocityResult
    from fullfunnel.analytics.weight import WeightResult as WeightResult
    from fullfunnel.ingest.loads import IngestResult as IngestResult
    from fullfunnel.ingest.loads import LoadsResult as LoadsResult
    from fullfunnel.ingest.loads import RejectsResult as RejectsResult
    from fullfunnel.ingest.unload import UnloadResult as UnloadResult
    from fullfunnel.notify.alerts import AlertsResult as AlertsResult
    from fullfunnel.notify.digest import DigestResult as DigestResult
    from fullfunnel.playbook.recommend import PlaybookResult as PlaybookResult
    from fullfunnel.server.events import EventsResult as EventsResult
    from fullfunnel.server.keys import ApiKeysResult as ApiKeysResult
    from fullfunnel.server.keys import NewKeyResult as NewKeyResult
    from fullfunnel.sync import SyncResult as SyncResult

# class name → the module that defines it
_WHERE = {
    "AlertsResult": "fullfunnel.notify.alerts",
    "ApiKeysResult": "fullfunnel.server.keys",
    "AttributionResult": "fullfunnel.analytics.attribution.attribute",
    "BacktestResult": "fullfunnel.analytics.backtest",
    "BuyingGroupResult": "fullfunnel.analytics.buying_group",
    "CompareResult": "fullfunnel.analytics.attribution.attribute",
    "DataQualityResult": "fullfunnel.analytics.quality",
    "DiagnoseResult": "fullfunnel.analytics.diagnose",
    "DigestResult": "fullfunnel.notify.digest",
    "EventsResult": "fullfunnel.server.events",
    "ExplainResult": "fullfunnel.analytics.scoring.results",
    "ForecastResult": "fullfunnel.analytics.forecast",
    "FunnelResult": "fullfunnel.analytics.funnel",
    "HandoffsResult": "fullfunnel.analytics.handoffs",
    "IngestResult": "fullfunnel.ingest.loads",
    "LeadListScoreResult": "fullfunnel.analytics.scoring.leadlist",
    "LeakageResult": "fullfunnel.analytics.leakage",
    "LoadsResult": "fullfunnel.ingest.loads",
    "MovementResult": "fullfunnel.analytics.movement",
    "NewKeyResult": "fullfunnel.server.keys",
    "PipelineResult": "fullfunnel.analytics.pipeline",
    "PlanResult": "fullfunnel.analytics.plan",
    "PlaybookResult": "fullfunnel.playbook.recommend",
    "RecordsResult": "fullfunnel.analytics.records",
    "RejectsResult": "fullfunnel.ingest.loads",
    "ReviewResult": "fullfunnel.analytics.review",
    "ScoreResult": "fullfunnel.analytics.scoring.results",
    "ScorecardResult": "fullfunnel.analytics.owners",
    "StepsResult": "fullfunnel.analytics.steps",
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
