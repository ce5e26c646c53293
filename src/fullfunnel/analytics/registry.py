"""Every analysis, declared once: its function, options, result type and report section.

The faces are generated from these declarations and nothing else: the CLI builds
each command's options (with their defaults and help) from :attr:`Analysis.options`,
the API a typed query parameter per option, the dashboard its filters from
:data:`FILTERS`, and the report places each result in :attr:`Analysis.section`.
A new analysis is one module plus one entry in :data:`ANALYSES`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI reads this registry to build --help: no heavy imports here
    from fullfunnel.config import Config
    from fullfunnel.result import Result
    from fullfunnel.warehouse import Warehouse

# what a value is checked against before it reaches an analysis (server.params.check)
CHECKS = ("breakdown", "owner_group", "deal_group", "team", "stage", "segment", "period")
KINDS = {"str": str, "int": int, "float": float, "bool": bool, "date": str}


@dataclasses.dataclass(frozen=True)
class Option:
    """One keyword option of an analysis, as the CLI and the API offer it.

    ``kind`` is str, int, float, bool or date (a date is text to the CLI and parsed
    by the analysis); ``check`` names what the value must be (a stage, a team…);
    ``flag`` the CLI spelling when it is not ``--name-with-dashes``.
    """

    name: str
    kind: str = "str"
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    check: str | None = None
    flag: str | None = None
    short: str | None = None
    minimum: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.check is not None and self.check not in CHECKS:
            raise ValueError(f"option {self.name}: check {self.check!r} is not one of {CHECKS}")

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One analysis: what it is called, what it runs, what it takes and where it shows.

    ``command`` is the CLI command that runs it; ``switch`` the flag of that command
    that chooses it over the command's main analysis: a flag of its own
    (``forecast --backtest``), or one of its options, chosen when given a value
    (``funnel --steps …``). ``report`` holds the options the report and the
    dashboard run it with; ``setting`` (``section.key``), a setting without which
    they leave it out.
    """

    name: str
    function: str  # "module:function"
    result: str  # "module:ResultClass"
    summary: str
    section: str  # the report section (report.view.LAYOUT) it is shown in
    command: str
    options: tuple[Option, ...] = ()
    switch: str | None = None
    switch_help: str = ""
    example: str = ""
    report: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    setting: str | None = None

    def load(self) -> Callable[..., Result]:
        """The function behind the analysis (imported on first use: --help stays fast)."""
        module, _, func = self.function.partition(":")
        return getattr(import_module(module), func)

    def result_type(self) -> type[Result]:
        module, _, cls = self.result.partition(":")
        return getattr(import_module(module), cls)

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def run(self, wh: Warehouse, config: Config, **options: Any) -> Result:
        """Run it with ``options`` (None values left to the analysis' own defaults)."""
        unknown = sorted(set(options) - self.takes())
        if unknown:
            raise TypeError(f"{self.name} takes no option {', '.join(unknown)}")
        given = {k: v for k, v in options.items() if v is not None}
        level = given.pop("level", "contact") if self.option("level") is LEVEL else "contact"
        if level == "account":  # the same analysis on the account view (analytics.accounts)
            from fullfunnel.analytics.accounts import account_level

            wh, config = account_level(wh, config)
        fn = self.load()
        if "config" in inspect.signature(fn).parameters:
            given["config"] = config
        from fullfunnel.result import at_level

        return at_level(fn(wh, **given), level)

    @property
    def valued_switch(self) -> bool:
        """Whether the switch is one of its options (given a value, not a flag)."""
        return self.switch is not None and self.option(self.switch) is not None

    def configured(self, config: Config) -> bool:
        """Whether the report and the dashboard run it: its setting, if any, is set."""
        if self.setting is None:
            return True
        section, _, key = self.setting.partition(".")
        return bool(config[section][key])

    def takes(self) -> set[str]:
        """The keyword options it can be run with: its own and the report's."""
        return {o.name for o in self.options} | set(self.report)


# --- options several analyses share --------------------------------------------------

AS_OF = Option(
    "as_of",
    "date",
    "Evaluate as of this date [default: the end of today, or the newest event of an older export].",
)
PERIOD_HELP = "2026, 2026-H2, 2026-Q4, 2026-11 or 2026-10-01..2026-12-31"
PERIOD = Option(
    "period",
    help=f"A period ({PERIOD_HELP}): one that has ended is seen as it stood at its end.",
    check="period",
)
OWNER_GROUP = Option(
    "by",
    help="Also per the contact's owner, or the owner's manager, office or team (from a "
    "sales-team file).",
    choices=("owner", "manager", "office", "team"),
    check="owner_group",
)
SINCE = Option("since", "date", "First day of the period (YYYY-MM-DD).")
UNTIL = Option("until", "date", "Last day of the period (YYYY-MM-DD).")
WITHIN = Option(
    "within_days",
    "float",
    "A conversion window in days: funnel also reports the share converted within it; "
    "--steps counts only the steps within it of the first.",
    flag="--within",
    minimum=0,
)
# handled by Analysis.run (the analysis runs on the account view), not by the function
LEVEL = Option(
    "level",
    help="contact: the funnel of contacts; account: of accounts, their stages from "
    "their contacts and deals ([accounts]).",
    default="contact",
    choices=("contact", "account"),
)
SIMS = Option("sims", "int", "Simulations [default: forecast.simulations].", minimum=1)
SEED = Option("seed", "int", "Random seed [default: from the config].")
TARGET = Option("target", help="Bookings target (2.5M, 250k) [default: the period's stored one].")
_ATTRIBUTION = (
    Option(
        "conversion",
        help="The stage to attribute: mql, sql, opportunity, customer (any stage).",
        default="mql",
        check="stage",
    ),
    Option(
        "by",
        help="Credit channel, campaign or tactic.",
        default="channel",
        choices=("channel", "campaign", "tactic"),
    ),
    Option(
        "level",
        help="Journeys per contact or per account.",
        default="contact",
        choices=("contact", "account"),
    ),
    Option(
        "value",
        help="count, pipeline (opportunity amount) or bookings (won amount).",
        default="count",
        choices=("count", "pipeline", "bookings"),
    ),
    Option(
        "lookback_days",
        "float",
        "Touches this many days before the conversion count [default: attribution.lookback_days].",
        minimum=0,
    ),
    Option("since", "date", "Conversions and cost from this day on."),
    AS_OF,
)
MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "u_shaped",
    "w_shaped",
    "full_path",
    "markov",
    "shapley",
)

_ENTRIES = (
    Analysis(
        "funnel",
        "fullfunnel.analytics.funnel:funnel",
        "fullfunnel.analytics.funnel:FunnelResult",
        "Volumes, conversion, leakage and velocity per stage, and conversion by cohort.",
        section="trends",
        command="funnel",
        example="fullfunnel funnel --by source_channel --cohort quarter",
        options=(
            Option(
                "by",
                help="Break down by a contacts column (e.g. source_channel), or by owner, "
                "manager, office or team (from a sales-team file).",
                check="breakdown",
            ),
            Option("cohort", help="Cohort period.", default="month", choices=("month", "quarter")),
            SINCE,
            UNTIL,
            WITHIN,
            LEVEL,
            AS_OF,
        ),
    ),
    Analysis(
        "steps",
        "fullfunnel.analytics.steps:step_funnel",
        "fullfunnel.analytics.steps:StepsResult",
        "Contacts through ordered steps of touches and stages, with a window, an order "
        "and exclusions.",
        section="trends",
        command="funnel",
        switch="steps",
        example='fullfunnel funnel --steps "touch:webinar,stage:mql,stage:customer" --within 30',
        options=(
            Option(
                "steps",
                help="Ordered steps, comma-separated kind:value: stage:<stage>, "
                "touch:<channel, tactic, campaign or kind>, or channel:, tactic:, "
                "campaign:, kind: [default: funnel.steps].",
            ),
            WITHIN,
            Option(
                "order",
                help="strict: each step after the one before; any: steps 2.. in any order.",
                default="strict",
                choices=("strict", "any"),
            ),
            Option("exclude", help="Steps that end a contact's progress (e.g. touch:unsubscribe)."),
            Option(
                "by",
                help="Break down by a contacts column (e.g. source_channel), or by owner, "
                "manager, office or team (from a sales-team file).",
                check="breakdown",
            ),
            SINCE,
            UNTIL,
            AS_OF,
        ),
        setting="funnel.steps",
    ),
    Analysis(
        "velocity",
        "fullfunnel.analytics.velocity:velocity",
        "fullfunnel.analytics.velocity:VelocityResult",
        "Median, p75 and p90 days between stages.",
        section="trends",
        command="velocity",
        example="fullfunnel velocity --by owner",
        options=(
            Option(
                "by",
                help="Break down by a contacts column, or by owner, manager, office or team.",
                check="breakdown",
            ),
            LEVEL,
            AS_OF,
            PERIOD,
        ),
    ),
    Analysis(
        "pipeline",
        "fullfunnel.analytics.pipeline:pipeline",
        "fullfunnel.analytics.pipeline:PipelineResult",
        "Open pipeline by stage; win rate, average deal and sales cycle of closed deals.",
        section="pipeline",
        command="pipeline",
        example="fullfunnel pipeline --by office",
        options=(
            Option(
                "period",
                help=f"A past period whose closed deals the KPIs read ({PERIOD_HELP}).",
                check="period",
            ),
            Option("since", "date", "Deals closed from this day (YYYY-MM-DD)."),
            Option("until", "date", "Deals closed up to this day (YYYY-MM-DD)."),
            AS_OF,
            dataclasses.replace(
                OWNER_GROUP,
                help="A scorecard per owner, manager, office or team (the last three from a "
                "sales-team file): win rate with interval, won, cycle, open, overdue.",
            ),
        ),
    ),
    Analysis(
        "movement",
        "fullfunnel.analytics.movement:movement",
        "fullfunnel.analytics.movement:MovementResult",
        "How the open pipeline moved between two dates: created, pulled in, pushed out, "
        "amounts up and down, won, lost.",
        section="pipeline",
        command="movement",
        example="fullfunnel movement --since 2026-11-02 --closing 2026-Q4 --by owner",
        options=(
            Option(
                "since",
                "date",
                "Start of the movement [default: the Monday of this week; on a Monday, "
                "of last week].",
            ),
            Option("until", "date", "End of the movement, that day included [default: --as-of]."),
            Option(
                "closing",
                help=f"Only the deals closing in this period ({PERIOD_HELP}), with those "
                "pulled into it and pushed out of it.",
                check="period",
            ),
            AS_OF,
            Option(
                "by",
                help="Also per deal owner, or the owner's manager, office or team, or per "
                "segment: a column of the deal's account (industry, country…).",
                check="deal_group",
            ),
        ),
    ),
    Analysis(
        "buying_group",
        "fullfunnel.analytics.buying_group:buying_group",
        "fullfunnel.analytics.buying_group:BuyingGroupResult",
        "Which buyer roles each deal has engaged; win rate by role; open deals missing one.",
        section="pipeline",
        command="buying-group",
        example="fullfunnel buying-group --by owner",
        options=(
            dataclasses.replace(
                OWNER_GROUP,
                help="The open deals missing a role per deal owner, or the "
                "owner's manager, office or team.",
            ),
            AS_OF,
            PERIOD,
        ),
    ),
    Analysis(
        "reps",
        "fullfunnel.analytics.owners:rep_scorecard",
        "fullfunnel.analytics.owners:ScorecardResult",
        "Every rep's scorecard: win rate with interval, bookings, cycle, pipeline, stuck.",
        section="pipeline",
        command="reps",
        example="fullfunnel reps --period 2026-Q3",
        options=(AS_OF, PERIOD),
    ),
    Analysis(
        "data_quality",
        "fullfunnel.analytics.quality:data_quality",
        "fullfunnel.analytics.quality:DataQualityResult",
        "How far to trust the numbers: rows loaded and rejected, orphan rows, event sources.",
        section="quality",
        command="quality",
        example="fullfunnel quality --as-of 2026-12-01",
        options=(Option("as_of", "date", "Count stage events up to this date."),),
    ),
    Analysis(
        "plan",
        "fullfunnel.analytics.plan:plan",
        "fullfunnel.analytics.plan:PlanResult",
        "Reverse waterfall: what needs to happen, and by when, to hit the target.",
        section="plan",
        command="plan",
        example="fullfunnel plan --period 2026-Q4 --target 2.5M",
        options=(
            Option(
                "period",
                help=f"Period ({PERIOD_HELP}) [default: the quarter of --as-of].",
                check="period",
            ),
            TARGET,
            AS_OF,
            LEVEL,
        ),
    ),
    Analysis(
        "forecast",
        "fullfunnel.analytics.forecast:forecast",
        "fullfunnel.analytics.forecast:ForecastResult",
        "P10/P50/P90 bookings, P(hit target); with --backtest, how far to trust it.",
        section="plan",
        command="forecast",
        example="fullfunnel forecast --period 2026-Q4 --target 2.5M",
        options=(
            Option(
                "period",
                help=f"Period ({PERIOD_HELP}) [default: the quarter of --as-of].",
                check="period",
            ),
            AS_OF,
            Option("target", help="Target to score P(hit) against [default: the stored one]."),
            SIMS,
            SEED,
            LEVEL,
        ),
    ),
    Analysis(
        "review",
        "fullfunnel.analytics.review:review",
        "fullfunnel.analytics.review:ReviewResult",
        "A past period: target vs actual by week, the forecast made at its start, the leaks.",
        section="review",
        command="review",
        example="fullfunnel review --period 2026-Q3",
        options=(
            Option(
                "period",
                help=f"Period ({PERIOD_HELP}) [default: the last complete quarter].",
                check="period",
            ),
            AS_OF,
        ),
        report={"strict": False},
    ),
    Analysis(
        "backtest",
        "fullfunnel.analytics.backtest:backtest",
        "fullfunnel.analytics.backtest:BacktestResult",
        "The forecast rerun as of past dates and scored against what was booked.",
        section="plan",
        command="forecast",
        switch="backtest",
        switch_help="Rerun the forecast as of past dates and score it.",
        example="fullfunnel forecast --backtest --periods 4",
        options=(
            Option("periods", "int", "Past quarters to backtest.", minimum=1),
            AS_OF,
            SIMS,
            SEED,
        ),
        report={"sims": 1000},
    ),
    Analysis(
        "targets",
        "fullfunnel.analytics.targets:list_targets",
        "fullfunnel.analytics.targets:TargetsResult",
        "Every target, with what each period has booked so far and the gap.",
        section="plan",
        command="target list",
        example="fullfunnel target list",
        options=(Option("as_of", "date", "Use only data known on this date."),),
    ),
    Analysis(
        "diagnose",
        "fullfunnel.analytics.diagnose:diagnose",
        "fullfunnel.analytics.diagnose:DiagnoseResult",
        "Top-heavy, bottom-heavy or balanced; the problem area, evidence, leaks, people, tactics.",
        section="diagnosis",
        command="diagnose",
        example="fullfunnel diagnose --period 2026-Q4 --lift-stage opportunity --lift-points 5",
        options=(
            Option(
                "lift_stage",
                help="What-if: the stage whose conversion to lift, e.g. opportunity.",
                check="stage",
            ),
            Option(
                "lift_points",
                "float",
                "What-if: conversion points to add [default: diagnose.lift_points].",
            ),
            OWNER_GROUP,
            LEVEL,
            AS_OF,
            dataclasses.replace(
                PERIOD,
                help="The period whose target the lead volume is held against [default: the "
                "quarter of --as-of]; one that has ended is diagnosed as it stood at its end.",
            ),
        ),
    ),
    Analysis(
        "scoring",
        "fullfunnel.analytics.scoring:score",
        "fullfunnel.analytics.scoring.results:ScoreResult",
        "Train the lead-scoring model, score every open contact and write the scores table.",
        section="scores",
        command="score",
        example="fullfunnel score --target sql --horizon 90d",
        options=(
            Option(
                "target",
                help="Stage to predict [default: scoring.target].",
                check="stage",
            ),
            Option("horizon", help="How far ahead, e.g. 90d, 12w [default: scoring.horizon_days]."),
            Option("as_of", "date", "Score as of this date."),
            Option("seed", "int", "Random seed [default: scoring.seed]."),
        ),
        # reading results must not change the warehouse: only 'score' and the demo write
        report={"strict": False, "write": False},
    ),
    Analysis(
        "stuck",
        "fullfunnel.analytics.stuck:stuck",
        "fullfunnel.analytics.stuck:StuckResult",
        "Contacts over their stage's SLA that no owner has touched lately, ranked; hidden demand.",
        section="team",
        command="stuck",
        example="fullfunnel stuck --stage mql --by owner --limit 20",
        options=(
            Option("stage", help="Only this stage, e.g. mql.", check="stage"),
            Option("team", help="Only stages this team owns, e.g. bdr.", check="team"),
            Option(
                "limit",
                "int",
                "Stuck contacts to list [default: diagnose.stuck_limit].",
                minimum=0,
            ),
            OWNER_GROUP,
            LEVEL,
            AS_OF,
            PERIOD,
        ),
    ),
    Analysis(
        "handoffs",
        "fullfunnel.analytics.handoffs:handoffs",
        "fullfunnel.analytics.handoffs:HandoffsResult",
        "Handoffs between teams (time to first touch, SLA met, dropped) and the ownership matrix.",
        section="team",
        command="handoffs",
        example="fullfunnel handoffs --by office",
        options=(OWNER_GROUP, LEVEL, AS_OF, PERIOD),
    ),
    Analysis(
        "attribution",
        "fullfunnel.analytics.attribution:attribute",
        "fullfunnel.analytics.attribution:AttributionResult",
        "Which channels, campaigns and tactics create a stage, what they cost, and how sure.",
        section="attribution",
        command="attribute",
        example="fullfunnel attribute --model markov --conversion sql",
        options=(
            Option(
                "model",
                help="The attribution model [default: attribution.default_model].",
                choices=MODELS,
                short="-m",
            ),
            *_ATTRIBUTION,
        ),
        report={"conversion": "opportunity", "value": "pipeline"},
    ),
    Analysis(
        "attribution_compare",
        "fullfunnel.analytics.attribution:compare_models",
        "fullfunnel.analytics.attribution:CompareResult",
        "Every attribution model side by side, with how each channel's rank moves.",
        section="attribution",
        command="attribute",
        switch="compare",
        switch_help="Every model side by side, with how each rank moves.",
        example="fullfunnel attribute --compare --conversion sql",
        options=_ATTRIBUTION,
    ),
)

# name → analysis, in report order
ANALYSES: dict[str, Analysis] = {a.name: a for a in _ENTRIES}

# the dashboard's filters, by name: each is given to every analysis that takes it
FILTERS: dict[str, Option] = {
    "period": PERIOD,
    "by": Option(
        "by", help="Break down by a contacts column or an owner group.", check="breakdown"
    ),
    "team": Option("team", help="Only what this team owns.", check="team"),
}


def command_analyses(command: str) -> list[Analysis]:
    """The analyses CLI ``command`` runs: its main one first, then those chosen by a flag."""
    chosen = [a for a in ANALYSES.values() if a.command == command]
    return sorted(chosen, key=lambda a: a.switch is not None)


def run(
    name: str,
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    params: dict[str, Any] | None = None,
) -> Result:
    """Run analysis ``name`` as the report does; ``params`` it does not take are ignored."""
    analysis = ANALYSES[name]
    options = {k: v for k, v in (params or {}).items() if k in analysis.takes()}
    return analysis.run(wh, config, **{**analysis.report, **options, "as_of": as_of})


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
    for name, analysis in ANALYSES.items():
        if not analysis.configured(config):
            continue
        if progress:
            progress(name)
        results[name] = run(name, wh, config, as_of, params)
    return results
