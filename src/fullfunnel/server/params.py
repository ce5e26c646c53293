"""Query parameters of the analyses: declared in the registry, checked against the schema.

Each analysis' options (:mod:`fullfunnel.analytics.registry`) become the query
parameters of ``GET /api/<analysis>``, under their Python names. Values are checked
before they reach an analysis, by what the option declares it holds: a breakdown
must be a column of ``contacts``, a team or stage must exist in the config, a
period must parse. Values only ever become Ibis literals, never SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fullfunnel._dates import parse_period, to_datetime
from fullfunnel.analytics.registry import ANALYSES, AS_OF, KINDS, Option
from fullfunnel.config import SEGMENTS, Config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

MAX_TEXT = 200
PERIOD_QUERY = Option(
    "period", help="A period (2026-Q4, 2026-11, START..END); sets since/until.", check="period"
)


@dataclass(frozen=True)
class Param:
    """One query parameter: its option, and whether it stands for since/until (a
    period offered to an analysis that takes a date range)."""

    option: Option
    virtual: bool = False

    @property
    def name(self) -> str:
        return self.option.name

    @property
    def kind(self) -> str:
        return "datetime" if self.option.kind == "date" else self.option.kind

    @property
    def default(self) -> Any:
        return self.option.default

    @property
    def python_type(self) -> type:
        return KINDS[self.option.kind]


def params_of(name: str) -> list[Param]:
    """The query parameters of analysis ``name``, from its registry entry."""
    options = ANALYSES[name].options
    out = [Param(o) for o in options]
    names = {o.name for o in options}
    if "period" not in names and {"since", "until"} <= names:
        out.append(Param(PERIOD_QUERY, virtual=True))
    if "as_of" not in names:
        out.append(Param(AS_OF))
    return out


def prepare(name: str, given: dict[str, Any], *, wh: Warehouse, config: Config) -> dict[str, Any]:
    """Checked keyword arguments for analysis ``name`` from query values ``given``."""
    params = {p.name: p for p in params_of(name)}
    out: dict[str, Any] = {}
    if given.get("level") == "account" and params.get("level") is not None:
        from fullfunnel.analytics.accounts import account_config

        config = account_config(config)  # a stage named is an account stage
    for key, value in given.items():
        if value is None or value == "" or key not in params:
            continue
        out[key] = check(params[key].option, value, wh=wh, config=config)
    if "write" in ANALYSES[name].report:
        out["write"] = False  # a read never writes (e.g. the scores table)
    period = out.pop("period", None) if params.get("period", Param(PERIOD_QUERY)).virtual else None
    if period is not None:
        start, end = parse_period(period)
        out.setdefault("since", to_datetime(start))
        out.setdefault("until", to_datetime(end - timedelta(days=1)))
    return out


def check(option: Option, value: Any, *, wh: Warehouse, config: Config) -> Any:
    """``value`` for ``option``, checked; an :class:`InputError` says what to fix."""
    key = option.name
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise InputError(f"{key}: longer than {MAX_TEXT} characters")
    if option.kind == "date":
        return to_datetime(value, name=key)
    if option.kind in ("int", "float", "bool"):
        value = _number(key, value, option.kind) if isinstance(value, str) else value
        if option.minimum is not None and value < option.minimum:
            raise InputError(f"{key} must be at least {option.minimum:g}, not {value}")
        return value
    if option.choices and value not in option.choices:
        raise InputError(
            f"{key} '{value}' must be one of {', '.join(option.choices)}."
            + did_you_mean(value, option.choices)
        )
    _CHECKS.get(option.check or "", _any)(key, value, wh, config)
    return value


def _any(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    return None


def _period(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    parse_period(value)


def _breakdown(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    """A contacts column, or an owner group (owner, manager, office, team)."""
    from fullfunnel.analytics.groups import BY as OWNER_GROUPS

    columns = [c for c in wh.table("contacts").columns if c != "contact_id"]
    if value not in columns and value not in OWNER_GROUPS:
        raise InputError(
            f"{key} '{value}' is not a column to break down by; use a contacts column "
            f"({', '.join(columns)}) or an owner group ({', '.join(OWNER_GROUPS)})."
            + did_you_mean(value, [*columns, *OWNER_GROUPS])
        )


def _deal_group(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    """An owner group, or a column of the accounts table (a segment)."""
    from fullfunnel.analytics.groups import check_deal_by

    check_deal_by(value, wh)  # its message names the option


def _team(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    if value not in config.teams:
        raise InputError(
            f"{key} '{value}' is not a team; teams are {', '.join(config.teams)}."
            + did_you_mean(value, config.teams)
        )


def _segment(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    if value not in SEGMENTS:
        raise InputError(
            f"{key} '{value}' must be one of {', '.join(SEGMENTS)}." + did_you_mean(value, SEGMENTS)
        )


def _stage(key: str, value: Any, wh: Warehouse, config: Config) -> None:
    names = [*config.stage_names, *config.exits]
    if value not in names:
        raise InputError(
            f"{key} '{value}' is not a stage; stages are {', '.join(config.stage_names)}."
            + did_you_mean(value, names)
        )


_CHECKS = {
    "period": _period,
    "breakdown": _breakdown,
    "owner_group": _any,  # its choices are the check
    "deal_group": _deal_group,
    "team": _team,
    "segment": _segment,
    "stage": _stage,
}


def _number(key: str, value: str, kind: str) -> Any:
    if kind == "bool":
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(f"{key} must be true or false, not {value!r}")
    try:
        return int(value) if kind == "int" else float(value)
    except ValueError:
        raise InputError(f"{key} must be a number, not {value!r}") from None
