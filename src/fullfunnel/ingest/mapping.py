"""The mapping file: how any CSV/Parquet/JSONL file becomes a canonical table.

A mapping is TOML::

    table = "touchpoints"          # the canonical table (or --table)
    timezone = "Europe/Berlin"     # dates without an offset are in this zone (default UTC)
    date_format = "%d/%m/%Y %H:%M" # for every date column without its own format
    encoding = "utf-8"             # CSV only; e.g. "latin-1"
    delimiter = ","                # CSV only

    [columns]                      # canonical column = source column
    touchpoint_id = "Id"
    ts = { from = "When", format = "%d.%m.%Y %H:%M", timezone = "UTC" }

    [constants]                    # canonical column = fixed value
    kind = "email"

    [values.channel]               # map source values onto the config's vocabulary
    "Paid Search" = "paid_search"

    [stages]                       # contacts only: wide export, one date column per stage
    mql = "Became MQL"             # → one stage_events row per non-empty date

Columns not named in ``[columns]`` are taken from a source column of the same
name, if there is one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fullfunnel.config import Config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.ingest import sql
from fullfunnel.ingest import validate as v
from fullfunnel.ingest.plan import Plan
from fullfunnel.schema import table_spec

_TOP = ("table", "timezone", "date_format", "encoding", "delimiter")
_SECTIONS = ("columns", "constants", "values", "stages")
ORPHANS = {
    "touchpoints": {"contact_id": "contacts"},
    "stage_events": {"contact_id": "contacts"},
    "opportunity_history": {"opportunity_id": "opportunities"},
    "opportunity_contacts": {"opportunity_id": "opportunities", "contact_id": "contacts"},
}
STATUSES = ("open", "won", "lost")
NEEDED = {"opportunities": ("amount",)}  # columns a file must have, though a row may not
EXTRAS = {"opportunities": {"probability": "float64", "forecast_category": "string"}}
PERSONAL = ("email", "first_name", "last_name", "full_name", "phone", "mobile")


@dataclass
class Mapping_:
    """A parsed mapping file."""

    table: str | None = None
    timezone: str | None = None
    date_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)
    path: str = "mapping"


def load_mapping(path: str | Path | None) -> Mapping_:
    """Read and check a mapping file (``None``: the empty mapping)."""
    if path is None:
        return Mapping_()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"mapping file {p} not found; check the `mapping` path")
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"mapping {p}: not valid TOML ({exc}); fix the syntax there") from exc
    return mapping_from_dict(raw, where=str(p))


def mapping_from_dict(raw: Mapping[str, Any], *, where: str = "mapping") -> Mapping_:
    known = (*_TOP, *_SECTIONS)
    for key in raw:
        if key not in known:
            raise InputError(
                f"{where}: unknown key '{key}'; a mapping has {', '.join(known)}."
                + did_you_mean(key, known)
            )
    for key in _TOP:
        if key in raw and not isinstance(raw[key], str):
            raise InputError(f"{where}: '{key}' must be text, like \"UTC\"")
    for key in _SECTIONS:
        if key in raw and not isinstance(raw[key], dict):
            raise InputError(f"{where}: [{key}] must be a table")
    for col, values in raw.get("values", {}).items():
        if not isinstance(values, dict):
            raise InputError(
                f'{where}: [values.{col}] must be a table of source value = "our value"'
            )
    for col, spec in raw.get("columns", {}).items():
        if isinstance(spec, dict):
            extra = set(spec) - {"from", "format", "timezone"}
            if extra or "from" not in spec:
                raise InputError(
                    f"{where}: [columns] {col} must be a column name or "
                    '{ from = "Column", format = "%d/%m/%Y", timezone = "UTC" }'
                )
        elif not isinstance(spec, str):
            raise InputError(f"{where}: [columns] {col} must name a source column")
    return Mapping_(
        **{k: raw.get(k) for k in _TOP},
        columns=dict(raw.get("columns", {})),
        constants=dict(raw.get("constants", {})),
        values={k: dict(m) for k, m in raw.get("values", {}).items()},
        stages=dict(raw.get("stages", {})),
        path=where,
    )


def typed(
    dtype: str, col: str, checks: v.Checks, *, fmt=None, tz=None, name: str = "", text=None
) -> v.Expr:
    """The canonical value of source column ``col`` for a column of type ``dtype``
    (``text``: SQL of the column's text to read instead, e.g. value-mapped)."""
    if dtype.startswith("timestamp"):
        future = name == "close_date"
        return v.timestamp(col, checks, fmt=fmt, timezone=tz, future_ok=future, text=text)
    if dtype == "date":
        e = v.timestamp(col, checks, fmt=fmt, timezone=tz, future_ok=True, text=text)
        return v.Expr(f"CAST({e.sql} AS DATE)", e.errors, e.sources, e.dates, "date")
    if dtype.startswith("int") and name == "employees" and text is None:
        return v.headcount(col)
    if dtype.startswith("int"):
        return v.number(col, integer=True, text=text)
    if dtype.startswith("float"):
        return v.number(col, text=text)
    if dtype == "boolean":
        return v.boolean(col, text=text)
    if text is not None:
        return v.Expr(text, sources=(col,))
    return v.text(col)


def plan_from_mapping(
    mapping: Mapping_,
    columns: list[str],
    *,
    table: str | None,
    config: Config,
    checks: v.Checks,
    path: object = None,
) -> Plan:
    """A :class:`Plan` for a generic file under ``mapping``."""
    name = table or mapping.table
    if not name:
        raise InputError(
            'table: say which table to load (or table = "…" in the mapping)', option="table"
        )
    spec = table_spec(name)
    if name in ("loads", "rejects", "pipeline_snapshots"):
        raise InputError(f"table {name} is written by the loader itself; load another table")
    dtypes = {n: str(t) for n, t in zip(spec.schema.names, spec.schema.types, strict=True)}
    dtypes = {**EXTRAS.get(name, {}), **dtypes}
    by_lower = {c.lower(): c for c in columns}
    wanted = dict(mapping.columns)
    for col in spec.columns:
        if col not in wanted and col not in mapping.constants and col.lower() in by_lower:
            wanted[col] = by_lower[col.lower()]
    exprs, sources = _read_columns(mapping, wanted, dtypes, spec, config, checks)
    for col, value in mapping.constants.items():
        if col not in dtypes and not spec.extensible:
            raise InputError(f"{mapping.path}: [constants] {col} is not a column of {name}")
        exprs[col] = v.Expr(
            sql.lit(str(value)) if not isinstance(value, int | float) else str(value)
        )
    _map_values(mapping, exprs, sources, dtypes, name, config, checks)
    for col in (*spec.required, *NEEDED.get(name, ())):
        if col not in exprs:
            raise InputError(
                f"{path or mapping.path}: table {name} needs column '{col}' but the file has "
                f'no column of that name; add  {col} = "<source column>"  under [columns] '
                f"(file columns: {sql.listed(columns)})"
            )
        if col in spec.required:
            exprs[col] = v.required(col, exprs[col])
    if name == "opportunities":
        _opportunity_rules(exprs)
    derived = {}
    if mapping.stages:
        if name != "contacts":
            raise InputError(f'{mapping.path}: [stages] needs table = "contacts"')
        derived["stage_events"] = wide_stage_events(
            exprs, mapping.stages, config, checks, source=f"file:{name}", where=mapping.path
        )
    return Plan(
        source=f"file:{name}",
        table=name,
        columns=exprs,
        derived=derived,
        orphans=ORPHANS.get(name, {}),
    )


def _read_columns(
    mapping: Mapping_,
    wanted: dict[str, Any],
    dtypes: dict[str, str],
    spec: Any,
    config: Config,
    checks: v.Checks,
) -> tuple[dict[str, v.Expr], dict[str, dict[str, Any]]]:
    """Each mapped column read as its type (personal data refused, or an email kept
    as its SHA-256), and the source options of each."""
    exprs: dict[str, v.Expr] = {}
    sources: dict[str, dict[str, Any]] = {}
    for col, src in wanted.items():
        if col not in dtypes and not spec.extensible:
            raise InputError(
                f"{mapping.path}: [columns] {col} is not a column of {spec.name} "
                f"({', '.join(spec.columns)})." + did_you_mean(col, list(spec.columns))
            )
        opts = src if isinstance(src, dict) else {"from": src}
        if col in PERSONAL:
            if col == "email" and config["ingest"]["personal"] == "hash":
                exprs["email_sha256"] = v.hashed(opts["from"])
                continue
            raise InputError(
                f"{mapping.path}: [columns] {col}: personal data is not loaded; remove it from "
                'the mapping (or, for email, set [ingest] personal = "hash" to keep its SHA-256)'
            )
        sources[col] = opts
        exprs[col] = typed(
            dtypes.get(col, "string"),
            opts["from"],
            checks,
            fmt=opts.get("format"),
            tz=opts.get("timezone"),
            name=col,
        )
    return exprs, sources


def _map_values(
    mapping: Mapping_,
    exprs: dict[str, v.Expr],
    sources: dict[str, dict[str, Any]],
    dtypes: dict[str, str],
    name: str,
    config: Config,
    checks: v.Checks,
) -> None:
    """The ``[values]`` of the mapping applied (text mapped, then read as its type),
    and the stage and status vocabularies checked."""
    for col, values in mapping.values.items():
        if col not in exprs:
            raise InputError(f"{mapping.path}: [values.{col}] maps a column that is not loaded")
        dtype = dtypes.get(col, "string")
        if dtype != "string" and col in sources:  # map the text, then read it as its type
            opts = sources[col]
            exprs[col] = typed(
                dtype,
                opts["from"],
                checks,
                fmt=opts.get("format"),
                tz=opts.get("timezone"),
                name=col,
                text=v.mapped_text(opts["from"], {str(k): str(x) for k, x in values.items()}),
            )
            continue
        if dtype != "string":
            raise InputError(f"{mapping.path}: [values.{col}] maps a constant; set it instead")
        exprs[col] = vocabulary(name, col, exprs[col], values, config)
    for col in ("stage", "status"):
        if col in exprs and col not in mapping.values:
            exprs[col] = vocabulary(name, col, exprs[col], {}, config)


def _opportunity_rules(exprs: dict[str, v.Expr]) -> None:
    """A closed deal needs its amount; a probability of 0–100 (most CRMs) is a share."""
    exprs["amount"] = closed_need_amount(exprs["amount"], exprs["status"])
    if "probability" in exprs:
        p = exprs["probability"]
        exprs["probability"] = v.Expr(
            f"CASE WHEN {p.sql} > 1 THEN {p.sql} / 100.0 ELSE {p.sql} END",
            p.errors,
            p.sources,
            p.dates,
            p.kind,
        )


def closed_need_amount(amount: v.Expr, status: v.Expr) -> v.Expr:
    """An open deal may have no amount yet (loaded as NULL); a won or lost one is
    rejected without one, as bookings, average deal and win rate need it."""
    where = f" (column {amount.sources[0]})" if amount.sources else ""
    quiet = "".join(f" AND ({e}) IS NULL" for e in amount.errors)  # said once
    need = (
        f"CASE WHEN ({amount.sql}) IS NULL AND ({status.sql}) IN ('won', 'lost'){quiet} THEN "
        f"{sql.lit(f'missing amount{where}: a won or lost deal needs one')} END"
    )
    return v.Expr(amount.sql, (*amount.errors, need), amount.sources, amount.dates, amount.kind)


def forecast_fields(exprs: dict[str, v.Expr], columns: list[str], probability: str, category: str):
    """A deal's win probability (0–1; a CRM's 0–100 is divided by 100) and forecast
    category (pipeline / best case / commit / closed / omitted), when the source has them."""
    if probability in columns:
        p = v.number(probability)
        exprs["probability"] = v.Expr(
            f"CASE WHEN {p.sql} > 1 THEN {p.sql} / 100.0 ELSE {p.sql} END", p.errors, p.sources
        )
    if category in columns:
        exprs["forecast_category"] = v.Expr(
            f"lower(replace({sql.value(category)}, ' ', '_'))", sources=(category,)
        )


def vocabulary(table: str, col: str, expr: v.Expr, values: Mapping[str, str], config: Config):
    """Check stage and status values against the config's vocabulary."""
    if table == "stage_events" and col == "stage":
        allowed = (*config.stage_names, *config.exits)
        return v.mapped(
            expr,
            values,
            label="stage",
            allowed=allowed,
            fix=f"map it under [values.stage] to one of {', '.join(allowed)}",
        )
    if table == "opportunities" and col == "status":
        return v.mapped(
            expr,
            values,
            label="status",
            allowed=STATUSES,
            fix="map it under [values.status] to open, won or lost",
        )
    return v.mapped(expr, values, label=col, unknown="keep") if values else expr


def wide_stage_events(
    exprs: dict[str, v.Expr],
    stages: Mapping[str, str | list[str]],
    config: Config,
    checks: v.Checks,
    *,
    source: str,
    where: str,
    fmt: str | None = None,
) -> str:
    """Add one helper date column per stage to ``exprs``; return the stage_events SQL."""
    allowed = (*config.stage_names, *config.exits)
    parts = []
    for stage, cols in stages.items():
        if stage not in allowed:
            raise InputError(
                f"{where}: [stages] {stage} is not a stage; use {', '.join(allowed)}"
                + did_you_mean(stage, allowed)
            )
        for i, col in enumerate([cols] if isinstance(cols, str) else cols):
            helper = f"_st_{stage}_{i}"
            exprs[helper] = v.timestamp(col, checks, fmt=fmt)
            owner_team = "owner_team" if "owner_team" in exprs else "NULL::VARCHAR"
            owner_id = "owner_id" if "owner_id" in exprs else "NULL::VARCHAR"
            parts.append(
                f"SELECT contact_id, {sql.lit(stage)} AS stage, {sql.ident(helper)} AS ts, "
                f"{owner_team} AS owner_team, {owner_id} AS owner_id, {sql.lit(source)} AS source "
                f"FROM ok WHERE {sql.ident(helper)} IS NOT NULL"
            )
    return " UNION ALL ".join(parts)
