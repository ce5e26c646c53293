"""What a file was recognised as and how it loads (a Shape), and the mapping file that
loads it written out to edit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fullfunnel.errors import InputError
from fullfunnel.ingest.mapping import Mapping_


@dataclass
class Shape:
    """What a file was recognised as, and how it loads."""

    name: str  # e.g. "HubSpot deals export", "deal table"
    table: str  # canonical table it loads into ("" for a path file)
    fmt: str  # csv, parquet, jsonl or sfdx
    columns: dict[str, str]  # canonical column ← the file's column
    vendor: str | None = None  # "hubspot" or "salesforce": read by that adapter
    kind: str | None = None  # the vendor's object (deals, Opportunity…)
    mapping: Mapping_ | None = None  # the generic shapes: the mapping that loads it
    unplaced: list[str] = field(default_factory=list)  # file columns not read
    notes: list[str] = field(default_factory=list)

    def describe(self, most: int = 12) -> str:
        pairs = [f"{src} → {col}" for col, src in self.columns.items()]
        more = len(pairs) - most
        read = ", ".join(pairs[:most]) + (f" and {more} more columns as named" if more > 0 else "")
        return f"{self.name}: {read}" if read else self.name


def mapping_toml(shape: Shape) -> str:
    """The mapping of a generic shape as an editable TOML file."""
    m = shape.mapping
    if m is None:
        raise InputError(
            f"{shape.name}: read by the built-in {shape.vendor or 'path'} reader, which has no "
            "mapping file; its settings are in fullfunnel.toml"
        )
    lines = [
        f"# {shape.name}, as recognised; edit and load with --mapping",
        f"table = {_q(m.table)}",
    ]
    lines += ["", "[columns]"] + [f"{k} = {_q(c)}" for k, c in m.columns.items()]
    if m.constants:
        lines += ["", "[constants]"] + [f"{k} = {_q(c)}" for k, c in m.constants.items()]
    for col, values in m.values.items():
        lines += ["", f"[values.{col}]"] + [f"{_q(k)} = {_q(x)}" for k, x in values.items()]
    if m.stages:
        lines += ["", "[stages]"] + [f"{k} = {_q(c)}" for k, c in m.stages.items()]
    return "\n".join(lines) + "\n"


def _q(text: Any) -> str:
    return json.dumps(str(text), ensure_ascii=False)
