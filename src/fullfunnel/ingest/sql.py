"""SQL text of the load's staging queries: quoting, and a column's cleaned value.

The lowest layer of the ingest: the value readers (:mod:`validate`, :mod:`dates`)
and the loader build their SQL from these, and a file's column names reach an error
message through :func:`shown`.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def shown(name: str) -> str:
    """A file's column name as an error message shows it: on one line, any character
    that does not print (a line break in a quoted header, say) escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)


def listed(names: list[str], most: int = 12) -> str:
    """The first ``most`` of a file's column names for an error message, … if more."""
    more = " …" if len(names) > most else ""
    return ", ".join(shown(n) for n in names[:most]) + more


def value(col: str) -> str:
    """The trimmed text of a source column; empty text is NULL (and so are
    placeholders: the rows are read through :func:`cleaned`)."""
    return f"NULLIF(trim({ident(col)}), '')"
