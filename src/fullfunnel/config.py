"""The stage model and settings, read from ``fullfunnel.toml`` and validated once.

The commented default file shipped with the package (``default_config.toml``) is
the single source of defaults: its keys are the known keys, its values set each
key's type. A user file overrides key by key; ``[[stages]]`` replaces the whole
stage list. Unknown keys, wrong types and an inconsistent stage model fail with a
:class:`~fullfunnel.errors.ConfigError` naming the key and the fix.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fullfunnel.errors import ConfigError, did_you_mean

SEGMENTS = ("tofu", "mofu", "bofu", "post")
CONFIG_ENV = "FULLFUNNEL_CONFIG"
CONFIG_FILE = "fullfunnel.toml"
_STAGE_KEYS = ("name", "label", "segment", "owner", "support", "sla_days")


@dataclass(frozen=True)
class Stage:
    """One funnel stage: where it sits, who works it and how long it may last."""

    name: str
    label: str
    segment: str
    owner: str
    support: tuple[str, ...] = ()
    sla_days: float | None = None

    @property
    def teams(self) -> tuple[str, ...]:
        """Every team that acts on contacts in this stage, owner first."""
        return (self.owner, *self.support)


@dataclass(frozen=True)
class Handoff:
    """Entering ``stage`` moves the contact from ``from_team`` to ``to_team``."""

    from_stage: str
    stage: str
    from_team: str
    to_team: str
    sla_days: float | None


@dataclass(frozen=True)
class Config:
    """The effective configuration: the stage model plus every section's settings."""

    stages: tuple[Stage, ...]
    sections: Mapping[str, Mapping[str, Any]]
    path: str | None = None

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.sections[section]

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def exits(self) -> tuple[str, ...]:
        return tuple(self.sections["funnel"]["exits"])

    @property
    def terminal_exits(self) -> tuple[str, ...]:
        """Exits that end the journey (every exit but the recycling one)."""
        return tuple(e for e in self.exits if e != "recycled")

    @property
    def recycle_to(self) -> str:
        return self.sections["funnel"]["recycle_to"]

    @property
    def implied_stages(self) -> bool:
        return self.sections["funnel"]["implied_stages"]

    @property
    def won_stage(self) -> str:
        """The stage that means closed won."""
        return self.sections["funnel"]["won_stage"]

    @property
    def opportunity_stage(self) -> str:
        """The stage where opportunities live (before the won stage)."""
        return self.sections["funnel"]["opportunity_stage"]

    @property
    def ownership(self) -> Mapping[str, tuple[str, ...]]:
        return self.sections["ownership"]

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(self.sections["ownership"])

    @property
    def benchmarks(self) -> Mapping[str, float]:
        return self.sections["benchmarks"]

    @functools.cached_property
    def fingerprint(self) -> str:
        """The whole configuration as one text: a key for results that depend on it."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(
            f"unknown stage '{name}'; the stages are {', '.join(self.stage_names)}."
            + did_you_mean(name, self.stage_names)
        )

    def index(self, name: str) -> int:
        return self.stage_names.index(self.stage(name).name)

    def next_stage(self, name: str) -> str | None:
        i = self.index(name)
        return self.stage_names[i + 1] if i + 1 < len(self.stages) else None

    def steps(self) -> list[tuple[str, str]]:
        """Consecutive stage pairs (S, T) in funnel order."""
        names = self.stage_names
        return list(itertools.pairwise(names))

    def handoffs(self) -> list[Handoff]:
        """Stages whose owner differs from the previous stage's owner."""
        return [
            Handoff(a.name, b.name, a.owner, b.owner, b.sla_days)
            for a, b in itertools.pairwise(self.stages)
            if a.owner != b.owner
        ]

    def only(self, names: Iterable[str]) -> Config:
        """The stage model cut to ``names`` (funnel order kept): the stages a source
        holds. A step that now skips stages gets the product of their benchmarks."""
        keep = [s for s in self.stages if s.name in set(names)]
        if len(keep) < 2 or len(keep) == len(self.stages):
            return self
        bench = dict(self.benchmarks)
        kept = [s.name for s in keep]
        for a, b in itertools.pairwise(kept):
            path = self.stage_names[self.index(a) : self.index(b)]
            rates = [self.benchmarks.get(x) for x in path]
            if all(r is not None for r in rates):
                bench[a] = float(math.prod(rates))
            else:
                bench.pop(a, None)
        bench.pop(kept[-1], None)
        sections = {**self.sections, "benchmarks": bench}
        return dataclasses.replace(self, stages=tuple(keep), sections=sections)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: dict(v) for k, v in self.sections.items()}
        for k, v in out.items():
            out[k] = {kk: list(vv) if isinstance(vv, tuple) else vv for kk, vv in v.items()}
        out["stages"] = [
            {
                "name": s.name,
                "label": s.label,
                "segment": s.segment,
                "owner": s.owner,
                "support": list(s.support),
                "sla_days": s.sla_days or 0,
            }
            for s in self.stages
        ]
        return out


_PLURAL = {"opportunity": "opportunities"}


def stage_plural(stage: str) -> str:
    """How a count of contacts in ``stage`` reads: SQLs, leads, opportunities, engaged
    ones."""
    if stage in _PLURAL:
        return _PLURAL[stage]
    if stage.endswith("ed"):  # a state, not a noun: engaged accounts, not "engageds"
        return f"{stage} ones"
    return f"{stage.upper()}s" if len(stage) <= 3 else f"{stage}s"


def default_toml() -> str:
    """The commented default configuration file, as ``config init`` writes it."""
    return resources.files("fullfunnel").joinpath("default_config.toml").read_text("utf-8")


@cache
def _defaults() -> dict[str, Any]:
    return tomllib.loads(default_toml())


def default_config() -> Config:
    return _build(_defaults(), path=None)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config: ``path``, else ``$FULLFUNNEL_CONFIG``, else ``./fullfunnel.toml``,
    else the built-in defaults."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or (CONFIG_FILE if Path(CONFIG_FILE).exists() else None)
    if path is None:
        return default_config()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found: create it with 'fullfunnel config init'")
    try:
        user = tomllib.loads(p.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}); fix the syntax at that line") from exc
    return config_from_dict(user, path=str(p))


def config_from_dict(user: Mapping[str, Any], *, path: str | None = None) -> Config:
    """Merge ``user`` settings over the defaults and validate the result."""
    where = path or "config"
    defaults = _defaults()
    merged: dict[str, Any] = {}
    for section in user:
        if section not in defaults:
            raise ConfigError(
                f"{where}: unknown section [{section}]; known sections are "
                f"{', '.join(sorted(defaults))}." + did_you_mean(section, list(defaults))
            )
    for section, dvalue in defaults.items():
        uvalue = user.get(section)
        if section == "stages":
            merged[section] = uvalue if uvalue is not None else dvalue
        elif section in ("ownership", "benchmarks"):
            # free-keyed tables: teams and stage names are the user's to choose
            merged[section] = dict(uvalue) if uvalue is not None else dict(dvalue)
        else:
            merged[section] = _merge_section(where, section, dvalue, uvalue or {})
    return _build(merged, path=path)


def _merge_section(
    where: str, section: str, defaults: Mapping[str, Any], user: Mapping[str, Any]
) -> dict[str, Any]:
    if not isinstance(user, Mapping):
        raise ConfigError(f"{where}: [{section}] must be a table of settings")
    out = dict(defaults)
    for key, value in user.items():
        if key not in defaults:
            raise ConfigError(
                f"{where}: unknown key '{key}' in [{section}]." + did_you_mean(key, list(defaults))
            )
        out[key] = _typed(where, f"{section}.{key}", value, defaults[key])
    return out


def _typed(where: str, key: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{where}: '{key}' must be a whole number, not {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(
            f"{where}: '{key}' must be {expected.__name__} (like {default!r}), not {value!r}"
        )
    return value


def _build(raw: Mapping[str, Any], *, path: str | None) -> Config:
    where = path or "config"
    funnel = raw["funnel"]
    stages = _stages(where, raw["stages"])
    names = [s.name for s in stages]
    if funnel["stuck_rule"] not in ("sla", "p90"):
        raise ConfigError(f"{where}: funnel.stuck_rule must be 'sla' or 'p90'")
    if funnel["stale_days"] < 0:
        raise ConfigError(f"{where}: funnel.stale_days must be 0 or more")
    if not 0 < funnel["maturity_quantile"] < 1:
        raise ConfigError(f"{where}: funnel.maturity_quantile must be between 0 and 1, like 0.9")
    if funnel["recycle_to"] not in names:
        raise ConfigError(
            f"{where}: funnel.recycle_to '{funnel['recycle_to']}' is not a stage."
            + did_you_mean(funnel["recycle_to"], names)
        )
    for e in funnel["exits"]:
        if e in names:
            raise ConfigError(f"{where}: exit '{e}' is also a stage name; rename one of them")
    ownership = {}
    for team, segs in raw["ownership"].items():
        if not isinstance(segs, list) or any(s not in SEGMENTS for s in segs):
            raise ConfigError(
                f"{where}: ownership.{team} must list segments from {', '.join(SEGMENTS)}"
            )
        ownership[team] = tuple(segs)
    for s in stages:
        for team in s.teams:
            if team not in ownership:
                raise ConfigError(
                    f"{where}: stage '{s.name}' names team '{team}', which is not in "
                    f"[ownership]; add it there or fix the name."
                    + did_you_mean(team, list(ownership))
                )
    benchmarks = {}
    for stage, rate in raw["benchmarks"].items():
        if stage not in names:
            raise ConfigError(
                f"{where}: benchmarks.{stage} is not a stage." + did_you_mean(stage, names)
            )
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(f"{where}: benchmarks.{stage} must be a rate between 0 and 1")
        benchmarks[stage] = float(rate)
    funnel = {**funnel, **_won_stages(where, funnel, stages)}
    if names.index(funnel["opportunity_stage"]) >= names.index(funnel["won_stage"]):
        raise ConfigError(f"{where}: funnel.opportunity_stage must come before funnel.won_stage")
    if not 0 <= funnel["dormant_floor"] < 1:
        raise ConfigError(f"{where}: funnel.dormant_floor must be a chance from 0 to 1, like 0.05")
    metrics = raw["metrics"]
    if not 0.5 <= metrics["confidence"] < 1:
        raise ConfigError(f"{where}: metrics.confidence must be between 0.5 and 1, like 0.9")
    if metrics["window_quarters"] < 1 or metrics["min_observations"] < 1:
        raise ConfigError(
            f"{where}: metrics.window_quarters and min_observations must be 1 or more"
        )
    sections = {k: MappingProxyType(dict(v)) for k, v in raw.items() if k != "stages"}
    sections["funnel"] = MappingProxyType({**funnel, "exits": tuple(funnel["exits"])})
    sections["ownership"] = MappingProxyType(ownership)
    sections["benchmarks"] = MappingProxyType(benchmarks)
    sections["buying_group"] = MappingProxyType(_buying_group(where, raw["buying_group"]))
    sections["alerts"] = MappingProxyType(_alerts(where, raw["alerts"], names))
    sections["digest"] = MappingProxyType(_digest(where, raw["digest"]))
    return Config(stages=tuple(stages), sections=MappingProxyType(sections), path=path)


# the alert rules' metrics, and the threshold each takes ("above", "below" or none)
ALERT_METRICS = {
    "stuck_count": "above",
    "stuck_value": "above",
    "sla_met": "below",
    "p_hit": "below",
    "conversion": None,
}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _alerts(where: str, raw: Mapping[str, Any], stages: list[str]) -> dict[str, Any]:
    """[alerts] checked: each rule a known metric with the threshold it takes."""
    if raw["check_minutes"] < 0 or raw["window_days"] < 1:
        raise ConfigError(
            f"{where}: alerts.check_minutes must be 0 or more and alerts.window_days 1 or more"
        )
    if any(not isinstance(u, str) or not u.strip() for u in raw["notify"]):
        raise ConfigError(f"{where}: alerts.notify must list Apprise URLs (or $VARIABLE names)")
    rules = []
    for i, rule in enumerate(raw["rules"], 1):
        at = f"{where}: alerts.rules #{i}"
        if not isinstance(rule, Mapping):
            raise ConfigError(f"{at} must be a table: [[alerts.rules]] metric = ...")
        metric = rule.get("metric")
        if metric not in ALERT_METRICS:
            raise ConfigError(
                f"{at}: metric {metric!r} must be one of {', '.join(ALERT_METRICS)}."
                + did_you_mean(str(metric), list(ALERT_METRICS))
            )
        side = ALERT_METRICS[metric]
        unknown = set(rule) - {"metric", "stage", side}
        if unknown:
            takes = ("metric", side, "stage" if metric in ("sla_met", "conversion") else None)
            allowed = ", ".join(k for k in takes if k)
            raise ConfigError(
                f"{at} ({metric}): unknown key(s) {', '.join(sorted(unknown))}; "
                f"a {metric} rule takes {allowed}"
            )
        out: dict[str, Any] = {"metric": metric, "stage": rule.get("stage")}
        if side is not None:
            value = rule.get(side)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{at} ({metric}): give {side} = a number of 0 or more")
            if metric in ("sla_met", "p_hit") and value > 1:
                raise ConfigError(f"{at} ({metric}): {side} is a share from 0 to 1, like 0.8")
            out[side] = float(value)
        if out["stage"] is not None:
            if metric not in ("sla_met", "conversion"):
                raise ConfigError(f"{at} ({metric}): only sla_met and conversion take a stage")
            if out["stage"] not in stages:
                raise ConfigError(
                    f"{at}: stage {out['stage']!r} is not a stage."
                    + did_you_mean(str(out["stage"]), stages)
                )
        rules.append({k: v for k, v in out.items() if v is not None})
    return {**raw, "notify": tuple(raw["notify"]), "rules": tuple(rules)}


def _digest(where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw["day"] not in ("", *DAYS):
        raise ConfigError(
            f"{where}: digest.day {raw['day']!r} must be a day of the week (monday … sunday) "
            'or "" for never.' + did_you_mean(raw["day"], list(DAYS))
        )
    if not 0 <= raw["hour"] <= 23 or raw["top_per_owner"] < 1:
        raise ConfigError(
            f"{where}: digest.hour must be 0 to 23 and digest.top_per_owner 1 or more"
        )
    return dict(raw)


def role_key(text: str) -> str:
    """A CRM role or role name compared: lower case, runs of other characters as "_"."""
    kept = "".join(c if c.isascii() and c.isalnum() else " " for c in text.lower())
    return "_".join(kept.split())


def _buying_group(where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """[buying_group] checked: required roles among ``roles``, title patterns that
    compile, CRM roles (the user's added to the defaults) mapped onto ``roles``. A
    default entry for a role the user left out of ``roles`` is dropped."""
    import re

    key = f"{where}: buying_group"
    roles = tuple(role_key(r) for r in raw["roles"])
    if not roles or len(set(roles)) < len(roles):
        raise ConfigError(f"{key}.roles must list distinct role names, like {['champion']}")
    for r in raw["required"]:
        if role_key(r) not in roles:
            raise ConfigError(
                f"{key}.required: '{r}' is not in roles ({', '.join(roles)})."
                + did_you_mean(role_key(r), roles)
            )
    if raw["engaged_days"] < 1:
        raise ConfigError(f"{key}.engaged_days must be 1 or more, like 90")
    if raw["engaged_touches"] not in ("any", "inbound"):
        raise ConfigError(f"{key}.engaged_touches must be 'any' or 'inbound'")
    defaults = _defaults()["buying_group"]
    titles: dict[str, list[str]] = {}
    for role, patterns in raw["titles"].items():
        if role_key(role) not in roles:
            if defaults["titles"].get(role) == patterns:
                continue
            raise ConfigError(
                f"{key}.titles.{role} is not in roles ({', '.join(roles)})."
                + did_you_mean(role_key(role), roles)
            )
        if not isinstance(patterns, list) or not all(isinstance(x, str) for x in patterns):
            raise ConfigError(f'{key}.titles.{role} must list title patterns, like ["cfo"]')
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{key}.titles.{role}: '{pattern}' is not a regular expression ({exc}); "
                    "write a plain word or fix the pattern"
                ) from None
        titles[role_key(role)] = list(patterns)
    crm: dict[str, str] = {}
    for name, role in {**defaults["crm_roles"], **raw["crm_roles"]}.items():
        if not isinstance(role, str):
            raise ConfigError(f'{key}.crm_roles.{name} must name a role, like "economic_buyer"')
        if role and role_key(role) not in roles:
            if defaults["crm_roles"].get(name) == role:
                continue
            raise ConfigError(
                f"{key}.crm_roles.{name}: '{role}' is not in roles ({', '.join(roles)})."
                + did_you_mean(role_key(role), roles)
            )
        crm[role_key(name)] = role_key(role)
    return {
        **raw,
        "roles": roles,
        "required": tuple(role_key(r) for r in raw["required"]),
        "titles": titles,
        "crm_roles": crm,
    }


def _won_stages(where: str, funnel: Mapping[str, Any], stages: list[Stage]) -> dict[str, str]:
    """The won and opportunity stages, checked against the stage model. A stage model
    of one's own without the default names takes its last bottom (bofu) stage as won
    and the stage before it as the opportunity stage."""
    names = [s.name for s in stages]
    defaults = _defaults()["funnel"]
    out = {}
    for key in ("won_stage", "opportunity_stage"):
        name = funnel[key]
        if name in names:
            out[key] = name
        elif name != defaults[key]:
            raise ConfigError(
                f"{where}: funnel.{key} '{name}' is not a stage." + did_you_mean(name, names)
            )
    if "won_stage" not in out:
        bottom = [s.name for s in stages if s.segment == "bofu"] or names[-1:]
        out["won_stage"] = bottom[-1]
    if "opportunity_stage" not in out:
        won = names.index(out["won_stage"])
        if won == 0:
            raise ConfigError(f"{where}: funnel.won_stage must not be the first stage")
        out["opportunity_stage"] = names[won - 1]
    return out


def _stages(where: str, raw: Any) -> list[Stage]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(f"{where}: [[stages]] must list at least two stages in funnel order")
    stages, seen, last_segment = [], set(), 0
    for i, entry in enumerate(raw, 1):
        at = f"{where}: stage #{i}"
        for key in entry:
            if key not in _STAGE_KEYS:
                raise ConfigError(f"{at}: unknown key '{key}'." + did_you_mean(key, _STAGE_KEYS))
        for key in ("name", "segment", "owner"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{at}: '{key}' is required (a text value)")
        name = entry["name"]
        if not name.isidentifier() or name != name.lower():
            raise ConfigError(f"{at}: name '{name}' must be lower-case letters, digits and _")
        if name in seen:
            raise ConfigError(f"{at}: stage '{name}' is listed twice")
        seen.add(name)
        seg = entry["segment"]
        if seg not in SEGMENTS:
            raise ConfigError(
                f"{at} ('{name}'): segment '{seg}' must be one of {', '.join(SEGMENTS)}"
                + did_you_mean(seg, SEGMENTS)
            )
        if SEGMENTS.index(seg) < last_segment:
            raise ConfigError(
                f"{at} ('{name}'): segment '{seg}' comes after "
                f"'{SEGMENTS[last_segment]}'; list stages in funnel order (tofu, mofu, bofu, post)"
            )
        last_segment = SEGMENTS.index(seg)
        sla = entry.get("sla_days", 0)
        if not isinstance(sla, int | float) or isinstance(sla, bool) or sla < 0:
            raise ConfigError(f"{at} ('{name}'): sla_days must be a number of days, 0 or more")
        support = entry.get("support", [])
        if not isinstance(support, list) or not all(isinstance(t, str) for t in support):
            raise ConfigError(f"{at} ('{name}'): support must be a list of team names")
        stages.append(
            Stage(
                name=name,
                label=str(entry.get("label", name)),
                segment=seg,
                owner=entry["owner"],
                support=tuple(support),
                sla_days=float(sla) if sla else None,
            )
        )
    return stages
