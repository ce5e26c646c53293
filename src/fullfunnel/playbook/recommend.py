"""Pick tactics for a diagnosis, and list the library.

The recommender scores every tactic against the diagnosis and keeps the best:

- +3 when it lifts the weakest stage (its ``stages`` name that stage);
- +2 when it addresses the problem area (lead generation: ``lead_generation``
  tactics; closing new business: ``closing`` and ``qualification``; both: all
  three; neither: the weakest stage's segment);
- +1 when the team that owns the weakest stage runs it;
- +0.5 for low effort, +0.25 for medium (quick wins first);
- +3 when the data shows the very gap it fixes (``signals``: open deals missing a
  buyer role whose engagement is shown to win more, for multithreading); such a
  tactic is always picked.

No team takes more than half the picks while others qualify; with the problem
area ``both``, half the picks come from each side. Each pick
carries a plain-language *why* built from the same facts.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from fullfunnel.config import SEGMENTS, Config, default_config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.playbook import PROBLEMS, Tactic, load_tactics
from fullfunnel.result import Result

AREA_PROBLEMS = {
    "lead generation": ("lead_generation",),
    "closing new business": ("closing", "qualification"),
    "both": ("lead_generation", "closing", "qualification"),
}
_EFFORT_BONUS = {"low": 0.5, "medium": 0.25, "high": 0.0}
COLUMNS = ["name", "label", "segment", "team", "problem", "effort", "metric", "addresses"]


@dataclasses.dataclass(frozen=True, eq=False)
class PlaybookResult(Result):
    """Tactics of the library, filtered by segment, team or problem."""

    title = "playbook"
    tactics: pd.DataFrame
    segment: str | None
    team: str | None
    problem: str | None

    def headline(self) -> list[str]:
        scope = ", ".join(
            f"{k} {v}"
            for k, v in (("segment", self.segment), ("team", self.team), ("problem", self.problem))
            if v
        )
        return [f"{len(self.tactics)} tactics" + (f" for {scope}" if scope else "")]


def playbook(
    *,
    segment: str | None = None,
    team: str | None = None,
    problem: str | None = None,
) -> PlaybookResult:
    """The tactics library, optionally for one segment, team or problem.

    >>> from fullfunnel.playbook.recommend import playbook
    >>> len(playbook(segment="bofu").tactics) >= 10
    True
    """
    tactics = load_tactics()
    for name, value, allowed in (
        ("segment", segment, SEGMENTS),
        ("team", team, sorted({t.team for t in tactics})),
        ("problem", problem, PROBLEMS),
    ):
        if value is not None and value not in allowed:
            raise InputError(
                f"{name} {value!r}: use one of {', '.join(allowed)}."
                + did_you_mean(value, list(allowed)),
                option=name,
            )
    rows = [
        t
        for t in tactics
        if (segment is None or t.segment == segment)
        and (team is None or t.team == team)
        and (problem is None or t.problem == problem)
    ]
    return PlaybookResult(tactics=_frame(rows), segment=segment, team=team, problem=problem)


def recommend(
    *,
    problem_area: str,
    weakest_stage: str | None = None,
    stage_evidence: dict[str, str] | None = None,
    signals: dict[str, str] | None = None,
    limit: int = 6,
    config: Config | None = None,
) -> pd.DataFrame:
    """The ``limit`` tactics that best fit the problem area and the weakest stage, each
    with why.

    ``stage_evidence`` maps a stage to a short statement of its numbers (for the why);
    ``signals`` a tactic's name to the measured gap it fixes (said first).

    >>> recommend(problem_area="closing new business", weakest_stage="opportunity").iloc[0].team
    'sales'
    """
    config = config or default_config()
    stage_evidence = stage_evidence or {}
    signals = signals or {}
    owner = config.stage(weakest_stage).owner if weakest_stage else None
    segment = config.stage(weakest_stage).segment if weakest_stage else None
    problems = AREA_PROBLEMS.get(problem_area)
    if problems is None:
        problems = tuple(
            {t.problem for t in load_tactics() if segment is None or t.segment == segment}
        )
    scored = []
    for t in load_tactics():
        score, reasons = 0.0, []
        if t.name in signals:
            score += 3
            reasons.append(signals[t.name])
        if weakest_stage and weakest_stage in t.stages:
            score += 3
            why = f"lifts {weakest_stage}, the stage to work on first"
            if weakest_stage in stage_evidence:
                why += f" ({stage_evidence[weakest_stage]})"
            reasons.append(why)
        if t.problem in problems:
            score += 2
            if problem_area in AREA_PROBLEMS:
                reasons.append(f"addresses {problem_area}")
        if owner and t.team == owner:
            score += 1
            reasons.append(f"run by {owner}, who own {weakest_stage}")
        score += _EFFORT_BONUS[t.effort]
        if score < 2:
            continue
        reasons.append(f"fixes: {t.addresses.lower()}; moves {t.metric}; {t.effort} effort")
        scored.append((score, t, "; ".join(reasons)))
    scored.sort(key=lambda x: (-x[0], x[1].name))
    # a tactic for a measured gap always makes the list; the others share what is left
    forced = [x for x in scored if x[1].name in signals][:limit]
    scored = [x for x in scored if x[1].name not in signals]
    limit -= len(forced)
    if problem_area == "both":
        lead = [x for x in scored if x[1].problem == "lead_generation"]
        close = [x for x in scored if x[1].problem != "lead_generation"]
        half = (limit + 1) // 2
        picks = close[:half] + lead[: limit - half]
        picks.sort(key=lambda x: (-x[0], x[1].name))
    else:
        picks = _diverse(scored, limit)
    picks = sorted(forced + picks, key=lambda x: (-x[0], x[1].name))
    frame = _frame([t for _, t, _ in picks])
    frame["score"] = [s for s, _, _ in picks]
    frame["why"] = [w for _, _, w in picks]
    return frame


def _diverse(scored: list, limit: int) -> list:
    """The best ``limit``, with no team taking more than half when others qualify."""
    cap = max(1, (limit + 1) // 2)
    picks, per_team, rest = [], {}, []
    for item in scored:
        team = item[1].team
        if per_team.get(team, 0) < cap and len(picks) < limit:
            picks.append(item)
            per_team[team] = per_team.get(team, 0) + 1
        else:
            rest.append(item)
    picks += rest[: limit - len(picks)]
    picks.sort(key=lambda x: (-x[0], x[1].name))
    return picks


def _frame(tactics: list[Tactic]) -> pd.DataFrame:
    return pd.DataFrame([{c: getattr(t, c) for c in COLUMNS} for t in tactics], columns=COLUMNS)
