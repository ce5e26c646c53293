"""Each date column's format, read from the whole column before any row is checked.

A date column without a stated format is parsed by a DuckDB macro named after the
column (:func:`parser`); :func:`resolve` looks at the column once (one aggregate
query) and defines the macro: ISO text (the default), day-first or month-first
dates such as ``31/01/2025``, ``01-31-2025`` or ``31.01.2025`` (the order is decided
by the column: a first part above 12 means day first, a second part above 12 month
first), or Excel serial numbers (``45123`` is 2023-07-16) when every value is one.
A column whose order cannot be told, or of which no value is a date, stops the load
with one error naming the file, the column and ``--date-format``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fullfunnel.errors import InputError

# an Excel serial day between 1990-01-01 and 2099-12-31
_SERIAL = (32874, 73415)
_SERIAL_RE = r"^\d{5}(\.\d+)?$"
_PROFILE = (
    *("n", "slashed", "max_first", "max_second", "sep", "year_len"),
    *("ambiguous", "day_first", "month_first", "serial", "example"),
)
_PARTS = r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{2}|\d{4})(?:$|\D)"


def parser(col: str) -> str:
    """The name of the macro that parses column ``col`` (text → TIMESTAMP)."""
    return "_ff_date_" + hashlib.sha1(col.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def described(col: str) -> str:
    """The name of the macro that says how column ``col`` is read (for messages)."""
    return parser(col) + "_how"


def _shown(text: Any) -> str:
    from fullfunnel.ingest.sql import shown

    return shown(str(text))


def _strptime(fmt: str) -> str:
    formats = [fmt, f"{fmt} %H:%M", f"{fmt} %H:%M:%S", f"{fmt}T%H:%M:%S"]
    return f"try_strptime(x, [{', '.join(_lit(f) for f in formats)}])"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _define(con: Any, col: str, body: str, how: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP MACRO {parser(col)}(x) AS ({body})")
    con.execute(f"CREATE OR REPLACE TEMP MACRO {described(col)}() AS {_lit(how)}")


def _profile(con: Any, col: str) -> dict[str, Any]:
    from fullfunnel.ingest.sql import value

    v = value(col)
    parts = f"regexp_extract({v}, {_lit(_PARTS)}, ['a', 's', 'b', 'y'])"
    row = con.execute(
        f"""
        WITH p AS (SELECT {v} AS v, {parts} AS p FROM clean),
        q AS (SELECT v, p, try_cast(NULLIF(p.a, '') AS INT) AS a,
                     try_cast(NULLIF(p.b, '') AS INT) AS b FROM p)
        SELECT count(v) AS n,
               count(a) AS slashed,
               coalesce(max(a), 0) AS max_first,
               coalesce(max(b), 0) AS max_second,
               mode(NULLIF(p.s, '')) AS sep,
               max(length(NULLIF(p.y, ''))) AS year_len,
               any_value(v) FILTER (a <> b AND a <= 12 AND b <= 12) AS ambiguous,
               any_value(v) FILTER (a > 12) AS day_first,
               any_value(v) FILTER (b > 12) AS month_first,
               count(*) FILTER (regexp_matches(v, {_lit(_SERIAL_RE)})
                   AND try_cast(v AS DOUBLE) BETWEEN {_SERIAL[0]} AND {_SERIAL[1]}) AS serial,
               any_value(v) AS example
        FROM q
        """
    ).fetchone()
    return dict(zip(_PROFILE, row, strict=True))


def define_defaults(con: Any, columns: list[str]) -> None:
    """Every column's parser as ISO, until :func:`resolve` finds it is another format."""
    for col in columns:
        _define(con, col, "try_cast(x AS TIMESTAMP)", "as YYYY-MM-DD[ HH:MM[:SS]]")


def all_iso(con: Any, columns: list[str]) -> set[str]:
    """The columns of which every value is ISO text: one cheap pass over ``clean``."""
    from fullfunnel.ingest.sql import value

    if not columns:
        return set()
    counts = ", ".join(
        f"count({value(c)}) = count(try_cast({value(c)} AS TIMESTAMP))" for c in columns
    )
    row = con.execute(f"SELECT {counts} FROM clean").fetchone()
    return {c for c, iso in zip(columns, row, strict=True) if iso}


def resolve(
    con: Any, where: str, dates: list[tuple[str, str | None]], *, iso: set[str] = frozenset()
) -> list[str]:
    """Define the parser of every date column without a stated format, from its values
    in ``clean`` (``iso``: columns known to be ISO); a note for each not read as ISO."""
    notes = []
    for col, fmt in dict(dates).items():
        if fmt or col in iso:
            continue
        p = _profile(con, col)
        if p["slashed"]:
            fmt = _order(where, col, p)
            # ISO text cannot be misread: it is taken as well
            body = f"coalesce({_strptime(fmt)}, try_cast(x AS TIMESTAMP))"
            _define(con, col, body, f"in the format {fmt}")
            why = (
                f"a value has day {p['max_first']}"
                if p["max_first"] > 12
                else f"a value has month-first '{_shown(p['month_first'])}'"
                if p["max_second"] > 12
                else "day and month are equal in every value"
            )
            notes.append(f"column {_shown(col)}: dates read as {fmt} ({why})")
        elif p["n"] and p["serial"] == p["n"]:
            body = (
                "TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(try_cast(x AS DOUBLE)"
                " * 86400000000) AS BIGINT))"
            )
            _define(con, col, body, "as an Excel serial day number")
            example = _shown(p["example"])
            notes.append(f"column {_shown(col)}: Excel serial day numbers (e.g. {example})")
    return notes


def _order(where: str, col: str, p: dict[str, Any]) -> str:
    """The strptime format of a column of dd/mm or mm/dd dates, from the whole column."""
    sep = p["sep"] or "/"
    year = "%y" if p["year_len"] == 2 else "%Y"
    day_first, month_first = p["max_first"] > 12, p["max_second"] > 12
    name = _shown(col)
    if day_first and month_first:
        raise InputError(
            f"{where}: column '{name}' mixes day-first dates ('{_shown(p['day_first'])}') and "
            f"month-first dates ('{_shown(p['month_first'])}'); export it in one format, or pass "
            f"`date_format` '%d{sep}%m{sep}{year}' (rows in the other format are rejected)"
        )
    if not day_first and not month_first and p["ambiguous"] is not None:
        raise InputError(
            f"{where}: column '{name}' holds dates like '{_shown(p['ambiguous'])}', which could be "
            "day/month or month/day, and no value in the column tells which (none has a "
            f"part above 12); pass `date_format` '%d{sep}%m{sep}{year}' (or "
            f"'%m{sep}%d{sep}{year}'), or state it in a mapping file: [columns] ... = "
            f'{{ from = "{name}", format = "%d{sep}%m{sep}{year}" }}'
        )
    return f"%m{sep}%d{sep}{year}" if month_first else f"%d{sep}%m{sep}{year}"


def refuse_unreadable(con: Any, where: str, columns: dict[str, tuple[str, str | None]]) -> None:
    """Fail when a date column has values and not one of them is a date: a wrong
    format, not bad rows. ``columns``: source column → (its parsed SQL, stated format)."""
    from fullfunnel.ingest.sql import value

    if not columns:
        return
    counts = ", ".join(
        f"count({value(c)}), count({sql}), any_value({value(c)}), "
        + (_lit(f"in the format {fmt}") if fmt else f"{described(c)}()")
        for c, (sql, fmt) in columns.items()
    )
    row = con.execute(f"SELECT {counts} FROM clean").fetchone()
    for i, col in enumerate(columns):
        n, parsed, example, how = row[4 * i : 4 * i + 4]
        if n and not parsed:
            raise InputError(
                f"{where}: column '{_shown(col)}': no value is a date {how} "
                f"(e.g. '{_shown(example)}'); "
                "pass its format as `date_format` (e.g. '%d-%m-%Y' or "
                "'%b %d, %Y'), or state it in the mapping's [columns]"
            )
