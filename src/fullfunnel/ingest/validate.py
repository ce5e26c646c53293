"""Column expressions and row checks, written as DuckDB SQL over the raw text columns.

Every source column is read as text. A :class:`Expr` turns one or more of them
into a canonical value *and* says, per row, what is wrong with it (a message, or
NULL when the value is fine). The runner concatenates the messages of every
column into the row's reject reason: a row is loaded only when it has none.
Everything here is vectorised SQL; no Python runs per row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fullfunnel.ingest import dates
from fullfunnel.ingest.sql import ident, lit, value

MIN_DATE = "1990-01-01"
# what CRM exports write for "no value" (Salesforce's "--None--", a picklist's "Select"),
# as written, in lower, upper and title case: an exact match is cheap on every value
PLACEHOLDERS = tuple(
    dict.fromkeys(
        v
        for p in ("", "-", "N/A", "Select", "--None--")
        for v in (p, p.lower(), p.upper(), p.capitalize(), p.title())
    )
)
_OFFSET = r"\d[T ]\d.*(Z|[+-]\d\d:?\d\d)$"


@dataclass(frozen=True)
class Expr:
    """A canonical value computed from raw text, with the problems it finds per row."""

    sql: str
    errors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # source columns it reads (must exist in the file)
    dates: tuple[tuple[str, str | None], ...] = ()  # (source column, stated format)
    kind: str = "string"
    missing: str | None = None  # message when the value is empty (required columns)


@dataclass
class Checks:
    """Row-level rules every expression applies: date range, future, time zone."""

    timezone: str = "UTC"
    min_date: str = MIN_DATE
    max_date: str = "now"  # 'now' → now plus one day
    date_format: str | None = None  # strptime format for every date without its own
    extra: dict[str, str] = field(default_factory=dict)


def cleaned(columns: list[str]) -> str:
    """The SELECT list of ``raw`` with each placeholder (``N/A``, ``--None--``…) as NULL."""
    listed = ", ".join(lit(p) for p in PLACEHOLDERS)
    return ", ".join(
        f"CASE WHEN {ident(c)} IN ({listed}) THEN NULL ELSE {ident(c)} END AS {ident(c)}"
        for c in columns
    )


def norm_key(text: str) -> str:
    """How value mappings compare: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _norm_sql(sql: str) -> str:
    return f"regexp_replace(lower({sql}), '[^a-z0-9]', '', 'g')"


def const(text: str | None) -> Expr:
    return Expr("NULL::VARCHAR" if text is None else lit(text))


def text(col: str) -> Expr:
    return Expr(value(col), sources=(col,))


def first_text(*cols: str) -> Expr:
    """The first non-empty of several columns."""
    return Expr(f"coalesce({', '.join(value(c) for c in cols)})", sources=cols)


def hashed(col: str) -> Expr:
    return Expr(f"sha256(lower({value(col)}))", sources=(col,))


def timestamp(
    col: str,
    checks: Checks,
    *,
    fmt: str | None = None,
    timezone: str | None = None,
    future_ok: bool = False,
    text: str | None = None,
) -> Expr:
    """A point in time as naive UTC from ISO text, epoch milliseconds or a stated format.

    Text with an offset (``Z``, ``+0000``, ``-05:00``) is converted to UTC; text
    without one is read in ``timezone`` (default: the ingest time zone). Without a
    format, the column's own format is found from its values (:mod:`.dates`).
    ``text`` replaces the column's text (a value mapping applied first).
    """
    v = text or value(col)
    tz = timezone or checks.timezone
    fmt = fmt or checks.date_format
    if fmt:
        formats = [fmt, fmt.split(" ")[0]] if " " in fmt else [fmt]
        parsed_local = f"try_strptime({v}, [{', '.join(lit(f) for f in formats)}])"
        if "%z" in fmt or "%Z" in fmt:
            parsed = f"({parsed_local} AT TIME ZONE 'UTC')"
            local = None
        else:
            local = parsed_local
    else:
        local = f"{dates.parser(col)}({v})"
    if local is not None:
        zoned = (
            local
            if tz.upper() == "UTC"
            else f"(({local} AT TIME ZONE {lit(tz)}) AT TIME ZONE 'UTC')"
        )
        if fmt:
            parsed = zoned
        else:
            parsed = (
                f"CASE WHEN regexp_full_match({v}, '\\d{{11,13}}') "
                f"THEN epoch_ms(try_cast({v} AS BIGINT)) "
                f"WHEN regexp_matches({v}, {lit(_OFFSET)}) "
                f"THEN (try_cast({v} AS TIMESTAMPTZ) AT TIME ZONE 'UTC') "
                f"ELSE {zoned} END"
            )
    parsed = f"CAST({parsed} AS TIMESTAMP)"
    how = lit(f"in the format {fmt}") if fmt else f"{dates.described(col)}()"
    errors = [
        f"CASE WHEN {v} IS NOT NULL AND {parsed} IS NULL THEN "
        f"{lit(f'{col}: ')} || {lit(chr(39))} || {v} || "
        f"{lit(chr(39) + ' is not a date ')} || {how} END",
        f"CASE WHEN {parsed} < TIMESTAMP {lit(checks.min_date)} THEN "
        f"{lit(f'{col}: date before {checks.min_date[:4]}')} END",
    ]
    if not future_ok:
        limit = (
            "(now()::TIMESTAMP + INTERVAL 1 DAY)"
            if checks.max_date == "now"
            else f"TIMESTAMP {lit(checks.max_date)}"
        )
        errors.append(f"CASE WHEN {parsed} > {limit} THEN {lit(f'{col}: date in the future')} END")
    return Expr(parsed, tuple(errors), sources=(col,), dates=((col, fmt),), kind="timestamp")


def number(col: str, *, integer: bool = False, text: str | None = None) -> Expr:
    """A number; thousands separators and currency signs are ignored."""
    v = text or value(col)
    cleaned = f"regexp_replace({v}, '[,$€£ ]', '', 'g')"
    # nan/inf and whole numbers beyond 64 bits are not numbers a table can hold
    parsed = f"try_cast({cleaned} AS DOUBLE)"
    parsed = f"CASE WHEN isfinite({parsed}) THEN {parsed} END"
    if integer:
        parsed = f"CASE WHEN {parsed} = round({parsed}) THEN try_cast({parsed} AS BIGINT) END"
    what = "a whole number" if integer else "a number"
    err = (
        f"CASE WHEN {v} IS NOT NULL AND {parsed} IS NULL THEN "
        f"{lit(f'{col}: ')} || {lit(chr(39))} || {v} || {lit(chr(39) + ' is not ' + what)} END"
    )
    return Expr(parsed, (err,), sources=(col,), kind="int" if integer else "float")


def boolean(col: str, *, text: str | None = None) -> Expr:
    """true/false, t/f, 1/0, yes/no, y/n in any case."""
    v = text or value(col)
    key = f"lower({v})"
    parsed = (
        f"CASE WHEN {key} IN ('true', 't', '1', 'yes', 'y') THEN TRUE "
        f"WHEN {key} IN ('false', 'f', '0', 'no', 'n') THEN FALSE END"
    )
    err = (
        f"CASE WHEN {v} IS NOT NULL AND ({parsed}) IS NULL THEN "
        f"{lit(f'{col}: ')} || {lit(chr(39))} || {v} || {lit(chr(39) + ' is not true/false')} END"
    )
    return Expr(parsed, (err,), sources=(col,), kind="bool")


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def unmangled_range(v: str) -> str:
    """SQL: text as a range, with Excel's dates turned back into the range they were
    typed as ("01-May" → "1-5", "Nov-50" → "11-50")."""
    months = (
        "CASE lower(m) "
        + " ".join(f"WHEN {lit(m)} THEN '{i}'" for i, m in enumerate(_MONTHS, 1))
        + " END"
    )
    day_mon = rf"regexp_extract({v}, '^(\d{{1,2}})[-/ ]([A-Za-z]{{3}})$', ['d', 'm'])"
    mon_num = rf"regexp_extract({v}, '^([A-Za-z]{{3}})[-/ ](\d{{1,4}})$', ['m', 'd'])"
    day_mon_sql = months.replace("lower(m)", f"lower({day_mon}.m)")
    mon_num_sql = months.replace("lower(m)", f"lower({mon_num}.m)")
    return (
        f"CASE WHEN {day_mon}.d <> '' AND ({day_mon_sql}) IS NOT NULL "
        f"THEN CAST(CAST({day_mon}.d AS INTEGER) AS VARCHAR) || '-' || ({day_mon_sql}) "
        f"WHEN {mon_num}.m <> '' AND ({mon_num_sql}) IS NOT NULL "
        f"THEN ({mon_num_sql}) || '-' || {mon_num}.d ELSE {v} END"
    )


def headcount(col: str) -> Expr:
    """A number of employees: a whole number, or a range as CRMs store it ("11-50",
    "1,001-5,000", "1000+", Excel's "01-May" for "1-5"), read as its lower bound."""
    v = unmangled_range(value(col))
    low = rf"regexp_extract(regexp_replace({v}, '[, ]', '', 'g'), '^(\d+)(\+|[-–]\d+|to\d+)?$', 1)"
    parsed = f"try_cast(NULLIF({low}, '') AS BIGINT)"
    err = (
        f"CASE WHEN {value(col)} IS NOT NULL AND {parsed} IS NULL THEN "
        f"{lit(f'{col}: ')} || {lit(chr(39))} || {value(col)} || "
        f"{lit(chr(39) + ' is not a number of employees (like 250, 11-50 or 1000+)')} END"
    )
    return Expr(parsed, (err,), sources=(col,), kind="int")


def mapped_text(col: str, mapping: Mapping[str, str]) -> str:
    """The text of source column ``col`` translated through ``mapping`` (keys compared
    by :func:`norm_key`; "" maps the empty cell), before it is read as a number, date
    or boolean."""
    raw = f"coalesce(trim({ident(col)}), '')"
    whens = " ".join(f"WHEN {lit(norm_key(k))} THEN {lit(v)}" for k, v in mapping.items())
    return f"NULLIF(CASE {_norm_sql(raw)} {whens} ELSE {raw} END, '')" if whens else value(col)


def mapped(
    base: Expr,
    mapping: Mapping[str, str],
    *,
    label: str,
    allowed: tuple[str, ...] | None = None,
    unknown: str = "reject",
    fix: str = "",
) -> Expr:
    """``base`` translated through ``mapping`` (keys compared by :func:`norm_key`).

    A value that maps to "" is dropped (NULL); the key "" gives empty cells a value.
    A value not in the mapping is kept
    as is when it is already one of ``allowed`` (or when ``unknown='keep'``), turned
    into snake_case when ``unknown='snake'``, else the row is rejected.
    """
    key = _norm_sql(base.sql)
    whens = " ".join(
        f"WHEN {lit(norm_key(k))} THEN {'NULL' if v == '' else lit(v)}" for k, v in mapping.items()
    )
    known = f"{key} IN ({', '.join(lit(norm_key(k)) for k in mapping)})" if mapping else "FALSE"
    if unknown == "snake":
        fallback = f"trim(regexp_replace(lower({base.sql}), '[^a-z0-9]+', '_', 'g'), '_')"
    elif allowed is not None and not allowed:
        fallback = "NULL::VARCHAR"
    elif allowed is not None:
        listed = ", ".join(lit(a) for a in allowed)
        fallback = f"CASE WHEN lower({base.sql}) IN ({listed}) THEN lower({base.sql}) END"
    else:
        fallback = base.sql
    inner = f"CASE {key} {whens} ELSE {fallback} END" if whens else fallback
    empty = next((v for k, v in mapping.items() if norm_key(k) == ""), "")
    sql = f"(CASE WHEN {base.sql} IS NULL THEN {lit(empty) if empty else 'NULL'} ELSE {inner} END)"
    errors = list(base.errors)
    if unknown == "reject":
        ok = f"lower({base.sql}) IN ({', '.join(lit(a) for a in allowed)})" if allowed else "FALSE"
        errors.append(
            f"CASE WHEN {base.sql} IS NOT NULL AND NOT ({known}) AND NOT ({ok}) THEN "
            f"{lit(f'unknown {label} ')} || {lit(chr(39))} || {base.sql} || {lit(chr(39))}"
            f" || {lit(' (' + fix + ')' if fix else '')} END"
        )
    return Expr(sql, tuple(errors), base.sources, base.dates, base.kind)


def required(name: str, expr: Expr) -> Expr:
    """``expr`` must not be empty (reported only when nothing else is wrong with the row)."""
    where = f" (column {expr.sources[0]})" if expr.sources else ""
    return Expr(
        expr.sql, expr.errors, expr.sources, expr.dates, expr.kind, f"missing {name}{where}"
    )


def nul_free(columns: list[str]) -> list[str]:
    """Row errors for source text holding a NUL character (a zero byte).

    PostgreSQL's text cannot store one, so every engine refuses it: a file loads
    the same everywhere, and the row goes to rejects instead of failing the load.
    """
    return [
        f"CASE WHEN contains({ident(c)}, chr(0)) THEN "
        f"{lit(f'NUL character in column {c} (a zero byte; remove it from the file)')} END"
        for c in columns
    ]
