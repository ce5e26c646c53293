"""A synthetic B2B company with planted truth, generated with vectorised NumPy.

Each contact walks the stage model: at every step it converts with a
stage-specific probability (scaled by its source channel's lift and its title's
seniority), after a lognormal delay; the rest exit (disqualified, recycled,
closed lost) or stay where they are. Journeys still under way at ``as_of`` are
cut there. Touchpoints follow the journey: marketing before and around the MQL,
bdr after it (except for a planted share of MQLs that bdr never touches), sales
after the SQL, account management after the sale, and marketing content aimed at
each segment in proportion to the scenario's effort split.

Scenarios plant known facts: ``top-heavy`` (spend and touches mostly at the top,
leads pile up, weak middle and bottom conversion), ``bottom-heavy`` (little top
effort, lead volume falling, high close rate) and ``balanced``. Every planted
fact is written to ``demo_truth`` (fact, subject, value) so tests can check that
each analysis recovers it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from fullfunnel._dates import now
from fullfunnel.demo.company import CHANNEL_TACTIC, SCENARIOS, SEGMENT_TACTICS, Scenario
from fullfunnel.demo.simulate import _simulate
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

__all__ = [
    "CHANNEL_TACTIC",
    "SCENARIOS",
    "SEGMENT_TACTICS",
    "DemoSummary",
    "Scenario",
    "generate_demo",
]


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    scenario: str
    seed: int
    as_of: datetime
    rows: dict[str, int]


def generate_demo(
    wh: Warehouse,
    *,
    scenario: str = "balanced",
    contacts: int = 20_000,
    seed: int = 7,
    as_of: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> DemoSummary:
    """Generate a demo company into ``wh`` (replacing its tables) and plant the truth.

    A warehouse that holds data of its own (loaded files, or rows that no demo
    wrote) is refused unless ``force``: the demo would replace it.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ff.generate_demo(wh, contacts=500, seed=1).rows["contacts"]
    500
    """
    if scenario not in SCENARIOS:
        raise InputError(
            f"unknown scenario {scenario!r}; use {', '.join(SCENARIOS)}."
            + did_you_mean(scenario, list(SCENARIOS))
        )
    if contacts < 100:
        raise InputError("contacts must be at least 100 for a meaningful demo", option="contacts")
    if not force:
        _refuse_real_data(wh)
    as_of = (as_of or now()).replace(hour=0, minute=0, second=0, microsecond=0)
    say = progress or (lambda _msg: None)
    say("simulating journeys")
    tables = _simulate(SCENARIOS[scenario], contacts, seed, as_of)
    say("writing the warehouse")
    rows = wh.load_many(tables, replace=True)
    return DemoSummary(scenario=scenario, seed=seed, as_of=as_of, rows=rows)


def _refuse_real_data(wh: Warehouse) -> None:
    """Raise unless the warehouse is empty or holds only a demo."""
    loads = wh.count("loads")
    rows = {name: wh.count(name) for name in ("contacts", "opportunities", "touchpoints")}
    is_demo = wh.count("demo_truth") > 0
    if loads == 0 and (is_demo or not any(rows.values())):
        return
    held = ", ".join(f"{n:,} {name}" for name, n in rows.items() if n)
    held += f"{', ' if held else ''}{loads:,} file loads" if loads else ""
    raise InputError(
        f"the warehouse {wh.url} holds data that is not a demo's ({held}); the demo would "
        "replace it. Use another warehouse (`db`) for the demo, or pass `force` to replace "
        "that data"
    )
