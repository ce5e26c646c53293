"""Other spellings of the headers an adapter reads: a vendor's internal names or its
labels, in any case and spacing. :func:`renaming` says which file column each
known header is; the loader renames them before the adapter's plan reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping


def norm(header: str) -> str:
    """A header as compared: lower case, letters and digits only ("Close Date" → closedate)."""
    return re.sub(r"[^0-9a-z]", "", header.lower())


def renaming(columns: list[str], aliases: Mapping[str, str]) -> dict[str, str]:
    """``{file column: header the adapter reads}`` for columns that are another
    spelling of a known header (``aliases``: normalised spelling → header). A header
    the file already has under its own name is never taken twice."""
    taken = set(columns)
    out: dict[str, str] = {}
    for col in columns:
        target = aliases.get(norm(col))
        if target and target != col and target not in taken:
            out[col] = target
            taken.add(target)
    return out


def aliases(known: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The lookup for :func:`renaming` from ``{header: (other spellings…)}``; a header
    is also known by its own normalised spelling."""
    out: dict[str, str] = {}
    for header, others in known.items():
        for spelling in (header, *others):
            out.setdefault(norm(spelling), header)
    return out


def renamed(columns: list[str], rename: Mapping[str, str]) -> list[str]:
    return [rename.get(c, c) for c in columns]
