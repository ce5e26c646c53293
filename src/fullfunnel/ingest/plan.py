"""What a source adapter hands to the loader: one file's way onto the canonical tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fullfunnel.ingest.validate import Expr


@dataclass
class Plan:
    """How the rows of one file become canonical rows.

    ``columns`` compute the primary table's columns (names starting with ``_`` are
    helpers, validated like the others but not loaded). ``derived`` are further
    tables as SQL over ``ok``: the accepted rows with every computed column.
    ``orphans`` lists columns whose value must exist as a key of another table
    (in the warehouse or in this load), e.g. ``{"contact_id": "contacts"}``.
    ``notes`` are said in the load's summary (how the file was understood).
    """

    source: str
    table: str
    columns: dict[str, Expr]
    derived: dict[str, str] = field(default_factory=dict)
    orphans: dict[str, str] = field(default_factory=dict)
    dedupe: bool = True
    lookups: dict[str, Any] = field(default_factory=dict)  # Arrow tables the SQL may read
    # source column → the name the plan reads it by (a label or another spelling of a
    # header the adapter knows); rejects keep the file's own header
    rename: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
