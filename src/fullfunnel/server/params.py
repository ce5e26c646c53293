"""Query parameters of the analyses: read from their signatures, checked against the schema.

Each analysis function's keyword options become the query parameters of
``GET /api/<analysis>`` (the CLI's options under their Python names). Values are
checked before they reach an analysis: a breakdown must be a column of
``contacts``, a team, segment or stage must exist in the config, a period must
parse. Values only ever become Ibis literals, never SQL text.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fullfunnel._dates import parse_period, to_datetime
from fullfunnel.analyses import ANALYSES, function
from fullfunnel.config import SEGMENTS, Config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

# never from a query: the engine objects, and options that write files or tables
SKIP = {"wh", "config", "progress", "write", "model_dir", "model_path", "path", "out", "paths"}
BREAKDOWNS = {"by", "breakdown", "group_by"}
TEAMS = {"team", "owner_team", "to_team", "from_team"}
STAGES = {"stage", "conversion", "target_stage", "from_stage", "to_stage"}
MAX_TEXT = 200
# the dashboard's filters, passed to every analysis that takes them
FILTERS = ("period", "by", "segment", "team")


@dataclass(frozen=True)
class Param:
    """One query parameter: its name, type (str, int, float, bool, datetime), default."""

    name: str
    kind: str
    default: Any = None
    virtual: bool = False  # 'period' offered to analyses that take since/until

    @property
    def python_type(self) -> type:
        return {"int": int, "float": float, "bool": bool}.get(self.kind, str)


def params_of(name: str) -> list[Param]:
    """The query parameters of analysis ``name``, from its function's signature."""
    sig = inspect.signature(function(name))
    fixed = ANALYSES[name][2]
    out = []
    for p in list(sig.parameters.values())[1:]:
        if p.name in SKIP or p.kind is p.VAR_KEYWORD:
            continue
        kind = _kind(p.annotation)
        if kind is None:
            continue
        # the registry's fixed options are the defaults here; a query may change them
        default = fixed.get(p.name, p.default if p.default is not p.empty else None)
        if not isinstance(default, str | int | float | bool | type(None)):
            default = None
        out.append(Param(p.name, kind, default))
    names = {p.name for p in out}
    if "period" not in names and {"since", "until"} <= names:
        out.append(Param("period", "str", None, virtual=True))
    if "as_of" not in names:
        out.append(Param("as_of", "datetime"))
    return out


def _kind(annotation: Any) -> str | None:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    text = str(text)
    if not text or any(w in text for w in ("list", "dict", "tuple", "Config", "Warehouse", "[")):
        return None
    if "datetime" in text or "date" in text:
        return "datetime"
    if "str" in text or text in ("Any", "Literal"):
        return "str"
    for kind in ("bool", "float", "int"):
        if kind in text:
            return kind
    return None


def prepare(name: str, given: dict[str, Any], *, wh: Warehouse, config: Config) -> dict[str, Any]:
    """Checked keyword arguments for analysis ``name`` from query values ``given``."""
    params = {p.name: p for p in params_of(name)}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or value == "" or key not in params:
            continue
        out[key] = check(key, value, wh=wh, config=config, kind=params[key].kind)
    if "write" in inspect.signature(function(name)).parameters:
        out["write"] = False  # a read never writes (e.g. the scores table)
    period = out.pop("period", None) if params.get("period", Param("", "str")).virtual else None
    if period is not None:
        start, end = parse_period(period)
        out.setdefault("since", to_datetime(start))
        out.setdefault("until", to_datetime(end - timedelta(days=1)))
    return out


def check(key: str, value: Any, *, wh: Warehouse, config: Config, kind: str = "str") -> Any:
    """``value`` for parameter ``key``, checked; an :class:`InputError` says what to fix."""
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise InputError(f"{key}: longer than {MAX_TEXT} characters")
    if kind == "datetime":
        return to_datetime(value, name=key)
    if kind in ("int", "float", "bool") and isinstance(value, str):
        return _number(key, value, kind)
    if key == "period":
        parse_period(value)
        return value
    if key in BREAKDOWNS:
        # contacts columns break the funnel down; touchpoint columns the attribution;
        # owner groups the pipeline, stuck, handoffs and funnel
        from fullfunnel.analytics.groups import BY as OWNER_GROUPS

        columns = [c for c in wh.table("contacts").columns if c != "contact_id"]
        touch = [c for c in ("channel", "campaign", "tactic") if c not in columns]
        if value not in columns and value not in touch and value not in OWNER_GROUPS:
            raise InputError(
                f"{key} '{value}' is not a column to break down by; use a contacts column "
                f"({', '.join(columns)}), an owner group ({', '.join(OWNER_GROUPS)}) or, for "
                f"attribution, {', '.join(touch)}."
                + did_you_mean(value, [*columns, *touch, *OWNER_GROUPS])
            )
    elif key in TEAMS:
        if value not in config.teams:
            raise InputError(
                f"{key} '{value}' is not a team; teams are {', '.join(config.teams)}."
                + did_you_mean(value, config.teams)
            )
    elif key == "segment":
        if value not in SEGMENTS:
            raise InputError(
                f"segment '{value}' must be one of {', '.join(SEGMENTS)}."
                + did_you_mean(value, SEGMENTS)
            )
    elif key in STAGES and kind == "str":
        names = [*config.stage_names, *config.exits]
        if value not in names:
            raise InputError(
                f"{key} '{value}' is not a stage; stages are {', '.join(config.stage_names)}."
                + did_you_mean(value, names)
            )
    return value


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
