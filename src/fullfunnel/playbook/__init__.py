"""The playbook: a library of B2B tactics kept as data, and the recommender.

``tactics.toml`` (in this package) lists each tactic with its funnel segment, the
team that runs it, the problem it addresses, the stages whose conversion it lifts,
the metric it should move and its effort. Touchpoints and spend rows tagged with a
tactic's name count as effort in that tactic's segment.
"""

from __future__ import annotations

import dataclasses
import tomllib
from functools import cache
from importlib import resources

from fullfunnel.config import SEGMENTS
from fullfunnel.errors import ConfigError

PROBLEMS = ("lead_generation", "qualification", "closing", "expansion")
EFFORTS = ("low", "medium", "high")


@dataclasses.dataclass(frozen=True)
class Tactic:
    """One tactic of the library."""

    name: str
    label: str
    segment: str
    team: str
    problem: str
    stages: tuple[str, ...]
    addresses: str
    metric: str
    effort: str


@cache
def load_tactics() -> tuple[Tactic, ...]:
    """Every tactic of the library, validated."""
    text = resources.files("fullfunnel.playbook").joinpath("tactics.toml").read_text("utf-8")
    raw = tomllib.loads(text).get("tactic", [])
    out, seen = [], set()
    fields = {f.name for f in dataclasses.fields(Tactic)}
    for i, entry in enumerate(raw, 1):
        where = f"tactics.toml: tactic #{i}"
        if set(entry) != fields:
            raise ConfigError(f"{where}: needs exactly the keys {', '.join(sorted(fields))}")
        if entry["name"] in seen:
            raise ConfigError(f"{where}: '{entry['name']}' is listed twice")
        seen.add(entry["name"])
        for key, allowed in (("segment", SEGMENTS), ("problem", PROBLEMS), ("effort", EFFORTS)):
            if entry[key] not in allowed:
                raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}")
        out.append(Tactic(**{**entry, "stages": tuple(entry["stages"])}))
    return tuple(out)


def tactic_segments() -> dict[str, str]:
    """Tactic name → funnel segment, for tagging touches and spend."""
    return {t.name: t.segment for t in load_tactics()}


__all__ = ["EFFORTS", "PROBLEMS", "Tactic", "load_tactics", "tactic_segments"]
