"""Which kind of export a file is, from its header and a look at its values.

:func:`recognise` names the shape ("Salesforce Opportunity export", "deal table",
"sales-team table"…), the table it loads into and how each column is read, so
that ``fullfunnel ingest FILE`` needs no mapping for the shapes B2B teams export:

- HubSpot contacts / companies / deals (display or internal names);
- Salesforce objects (API names or report labels) and sfdx tree-export JSON;
- a deal table (one row per deal: stage, dates, amount, agent, account) and the
  side tables that join to it by name: accounts, products, sales teams;
- a lead list (id, first-contact date, origin) and a list of closed deals that
  names the lead it came from;
- a file already in a canonical table's columns.

A ChannelAttribution path file is recognised too; it holds no contacts or dates,
so it is read by ``attribute --paths`` rather than loaded. Anything else gets an
error that lists the columns that could not be placed. A generic shape comes with
its mapping (:func:`mapping_toml` writes it for ``--save-mapping``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.ingest import files, headers, sql
from fullfunnel.ingest.mapping import Mapping_
from fullfunnel.schema import TABLES

# load order: what others point at goes first
TABLE_ORDER = (
    "accounts",
    "owners",
    "products",
    "contacts",
    "leads",
    "opportunities",
    "opportunity_history",
    "stage_events",
    "touchpoints",
    "spend",
    "targets",
)


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


# canonical column → the headers (normalised) that mean it, best first
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunityid", "dealid", "oppid", "opportunity", "id"),
    "stage": ("dealstage", "stage", "opportunitystage", "stagename", "pipelinestage", "status"),
    "amount": (
        "closevalue",
        "amount",
        "dealvalue",
        "dealamount",
        "value",
        "revenue",
        "dealsize",
        "bookings",
    ),
    "created_at": (
        "engagedate",
        "createdat",
        "createddate",
        "createdate",
        "created",
        "opendate",
        "startdate",
        "dateopened",
    ),
    "close_date": ("closedate", "closedat", "closingdate", "dateclosed", "expectedclosedate"),
    "owner_id": (
        "salesagent",
        "agent",
        "owner",
        "ownerid",
        "ownername",
        "salesrep",
        "rep",
        "accountexecutive",
        "dealowner",
    ),
    "account_id": ("account", "accountid", "accountname", "company", "companyname", "customer"),
    "probability": ("probability", "winprobability", "dealprobability"),
    "forecast_category": ("forecastcategory", "forecastcategoryname"),
    "product": ("product", "productname"),
}
_WON = ("won", "closedwon", "win", "closewon", "wonclosed")
_LOST = ("lost", "closedlost", "loss", "closelost", "lostclosed", "dead", "disqualified")


def recognise(path: Path, *, config: Config | None = None, fmt: str | None = None) -> Shape:
    """The shape of ``path`` (see the module doc); an InputError when it is none."""
    files.check_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (not even a header); export it again")
    fmt = fmt or _format(path)
    columns, sample, close = _peek(path, fmt)
    try:
        return shape_of(
            path, fmt, columns, sample, won_stage=(config or default_config()).won_stage
        )
    finally:
        close()


def shape_of(
    path: Path,
    fmt: str,
    columns: list[str],
    sample: Callable[[str], list[str]],
    *,
    won_stage: str = "customer",
) -> Shape:
    """The shape of a file with ``columns``; ``sample(col)`` gives a column's distinct values."""
    from fullfunnel.ingest import hubspot, salesforce

    norm = {headers.norm(c): c for c in reversed(columns)}
    if fmt == "sfdx":
        kinds = [k for k in sample("sobjectType") if k]
        kind = kinds[0] if len(kinds) == 1 else None
        if kind not in salesforce.ORDER:
            raise InputError(
                f"{path}: an sfdx tree export holding {', '.join(kinds) or 'no'} records; "
                f"export one file per object ({', '.join(salesforce.ORDER)})"
            )
        return _vendor(path, fmt, "salesforce", kind, columns, f"sfdx {kind} tree export")
    path_cols = _path_file(columns)
    if path_cols:
        return Shape(
            "ChannelAttribution path file",
            "",
            fmt,
            path_cols,
            unplaced=[c for c in columns if c not in path_cols.values()],
            notes=[
                "aggregated paths hold no contacts or dates, so nothing is loaded; "
                f"credit them with: fullfunnel attribute --paths {path}"
            ],
        )
    kind = hubspot.kind_of(columns)
    if kind:
        return _vendor(path, fmt, "hubspot", kind, columns, f"HubSpot {kind} export")
    kind = salesforce.kind_of(columns, path)
    if kind:
        return _vendor(path, fmt, "salesforce", kind, columns, f"Salesforce {kind} export")
    guesses = (_canonical, _deals, _teams, _products, _accounts, _closed_deals, _leads)
    for guess in (*guesses, _lead_list):
        found = guess(path, fmt, columns, norm, sample)
        if found:
            if found.mapping and found.mapping.constants.get("stage") == "customer":
                found.mapping.constants["stage"] = won_stage
            return found
    raise InputError(
        f"{path}: not a shape this tool knows (HubSpot or Salesforce export, deal table, "
        f"accounts, sales teams, products, lead list, closed deals, path file); its columns "
        f"{sql.listed(columns)} could not be placed. Load it with a mapping: "
        "fullfunnel ingest csv FILE --mapping MAP.toml (see docs/ingest.md)"
    )


def _format(path: Path) -> str:
    fmt = files.detect_format(path)
    if fmt == "jsonl":
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"{") and b'"records"' in head and b'"attributes"' in head:
            return "sfdx"
    return fmt


def _peek(path: Path, fmt: str) -> tuple[list[str], Callable[[str], list[str]], Callable]:
    """The columns of a file, a way to see a column's distinct values (up to 50), and
    the way to close the connection that reads them."""
    con = files.private_connection()
    try:
        files.read(con, path, fmt)
    except InputError:
        con.close()
        raise
    columns = [c for c in con.sql("SELECT * FROM raw LIMIT 0").columns if c != "_ff_row"]

    def sample(col: str) -> list[str]:
        if col not in columns:
            return []
        rows = con.execute(
            f"SELECT DISTINCT trim(CAST({sql.ident(col)} AS VARCHAR)) AS x FROM raw "
            f"WHERE nullif(trim(CAST({sql.ident(col)} AS VARCHAR)), '') IS NOT NULL "
            "ORDER BY x LIMIT 50"
        ).fetchall()
        return [r[0] for r in rows]

    return columns, sample, con.close


def _vendor(path, fmt, vendor, kind, columns, name) -> Shape:
    from fullfunnel.ingest import hubspot, salesforce

    if vendor == "hubspot":
        rename = hubspot.renaming(columns)
    else:
        rename = salesforce.renaming(columns, kind)
    read = {rename.get(c, c): c for c in columns if c in rename}
    return Shape(name, _VENDOR_TABLES[vendor][kind], fmt, read, vendor=vendor, kind=kind)


_VENDOR_TABLES = {
    "hubspot": {"contacts": "contacts", "companies": "accounts", "deals": "opportunities"},
    "salesforce": {
        "Account": "accounts",
        "Contact": "contacts",
        "Lead": "contacts",
        "Opportunity": "opportunities",
        "OpportunityHistory": "opportunity_history",
        "Campaign": "spend",
        "CampaignMember": "touchpoints",
        "Task": "touchpoints",
        "Event": "touchpoints",
    },
}


def _path_file(columns: list[str]) -> dict[str, str]:
    from fullfunnel.analytics.attribution.paths import PATH_COLUMNS, path_columns

    lower = {c.strip().lower() for c in columns}
    if not (set(PATH_COLUMNS["path"]) & lower and set(PATH_COLUMNS["conversions"]) & lower):
        return {}
    path, conv, value, null = path_columns(columns)
    found = {"path": path, "conversions": conv, "value": value, "nulls": null}
    return {k: c for k, c in found.items() if c}


def _pick(norm: dict[str, str], role: str, taken: set[str] | None = None) -> str | None:
    for name in _SYNONYMS[role]:
        col = norm.get(name)
        if col and col not in (taken or set()):
            return col
    return None


def _generic(
    name, table, fmt, columns, read, *, values=None, constants=None, stages=None, notes=()
):
    """A generic shape and its mapping."""
    used = set(read.values()) | set((stages or {}).values())
    mapping = Mapping_(
        table=table,
        columns=dict(read),
        constants=dict(constants or {}),
        values=dict(values or {}),
        stages=dict(stages or {}),
        path=f"{name} (recognised)",
    )
    shown = {**read, **{f"{s} (stage date)": c for s, c in (stages or {}).items()}}
    return Shape(
        name,
        table,
        fmt,
        shown,
        mapping=mapping,
        unplaced=[c for c in columns if c not in used],
        notes=list(notes),
    )


def _canonical(path, fmt, columns, norm, sample) -> Shape | None:
    """A file already in one canonical table's column names (the best-covered one)."""
    have = set(columns)
    best = None
    for spec in TABLES.values():
        if (
            spec.name in ("loads", "rejects", "load_keys", "scores", "sync_state")
            or not spec.required
        ):
            continue
        if set(spec.required) <= have:
            hits = len(have & set(spec.columns))
            if best is None or hits > best[0]:
                best = (hits, spec)
    if best is None or best[0] * 4 < len(columns) * 3:  # other columns too: not this
        return None
    spec = best[1]
    read = {c: c for c in spec.columns if c in have}
    return _generic(f"{spec.name} table (canonical columns)", spec.name, fmt, columns, read)


def _status_values(values: list[str]) -> dict[str, str]:
    """Each stage value seen → open, won or lost (by its name)."""
    out = {}
    for value in values:
        key = headers.norm(value)
        out[value] = "won" if key in _WON else "lost" if key in _LOST else "open"
    return out


def _deals(path, fmt, columns, norm, sample) -> Shape | None:
    """One row per deal: an id, a stage, and a close date or an amount."""
    ident = _pick(norm, "opportunity_id")
    stage = _pick(norm, "stage")
    amount = _pick(norm, "amount")
    if not (ident and stage and amount):
        return None
    statuses = _status_values(sample(stage))
    if "won" not in statuses.values() and "lost" not in statuses.values():
        return None  # no won or lost stage: not a deal table
    read = {"opportunity_id": ident, "stage": stage, "status": stage}
    for role in ("created_at", "close_date", "amount", "owner_id", "account_id", "probability"):
        col = _pick(norm, role, set(read.values()))
        if col:
            read[role] = col
    for role in ("forecast_category", "product"):
        col = _pick(norm, role, set(read.values()))
        if col:
            read[role] = col
    notes = []
    if "created_at" not in read:
        notes.append("no created/engage date: deals count as open from the start; no cycle")
    open_values = sorted(k for k, s in statuses.items() if s == "open")
    if open_values:
        notes.append(f"open stages: {', '.join(open_values)}")
    return _generic(
        "deal table", "opportunities", fmt, columns, read, values={"status": statuses}, notes=notes
    )


def _teams(path, fmt, columns, norm, sample) -> Shape | None:
    """Sales agents with their manager and (regional) office."""
    agent = _pick(norm, "owner_id")
    manager = next((norm[n] for n in ("manager", "salesmanager", "managername") if n in norm), None)
    office = next(
        (norm[n] for n in ("regionaloffice", "office", "region", "salesoffice") if n in norm), None
    )
    if not (agent and (manager or office)) or len(columns) > 6:
        return None
    read = {"owner_id": agent}
    if manager:
        read["manager"] = manager
    if office:
        read["office"] = office
    team = next((norm[n] for n in ("team", "salesteam") if n in norm), None)
    if team:
        read["team"] = team
    return _generic("sales-team table", "owners", fmt, columns, read)


def _products(path, fmt, columns, norm, sample) -> Shape | None:
    product = _pick(norm, "product")
    price = next(
        (norm[n] for n in ("salesprice", "price", "listprice", "unitprice") if n in norm), None
    )
    if not (product and price) or _pick(norm, "opportunity_id"):
        return None
    read = {"product": product, "price": price}
    series = next(
        (norm[n] for n in ("series", "productline", "family", "category") if n in norm), None
    )
    if series:
        read["series"] = series
    return _generic("product table", "products", fmt, columns, read)


def _accounts(path, fmt, columns, norm, sample) -> Shape | None:
    """Accounts by name (how a deal table names them), with firmographics."""
    name = next(
        (norm[n] for n in ("account", "accountname", "company", "companyname") if n in norm), None
    )
    facts = {
        "industry": ("sector", "industry", "vertical"),
        "employees": ("employees", "numberofemployees", "headcount", "employeecount"),
        "country": ("officelocation", "country", "hqcountry", "billingcountry", "location"),
    }
    read: dict[str, str] = {}
    for col, names in facts.items():
        hit = next((norm[n] for n in names if n in norm), None)
        if hit:
            read[col] = hit
    if not name or not read or _pick(norm, "stage"):
        return None
    ident = norm.get("accountid")
    read = {"account_id": ident or name, **({"name": name} if ident else {}), **read}
    notes = [] if ident else ["accounts are keyed by their name, as the deal table names them"]
    return _generic("account table", "accounts", fmt, columns, read, notes=notes)


_LEAD_IDS = ("mqlid", "leadid", "prospectid", "contactid", "leadnumber", "personid", "id")
_FIRST = ("firstcontactdate", "createdat", "createddate", "createdate", "leaddate", "date")
_WON_AT = ("wondate", "closedwondate", "wonat", "dealdate", "closedate", "converteddate")


def _closed_deals(path, fmt, columns, norm, sample) -> Shape | None:
    """Won deals naming the lead they came from (and who closed them): the lead's
    won stage at the won date."""
    lead = next((norm[n] for n in _LEAD_IDS if n in norm and n != "id"), None)
    won = next((norm[n] for n in _WON_AT if n in norm), None)
    if not (lead and won) or _pick(norm, "stage"):
        return None
    read = {"contact_id": lead, "ts": won}
    owner = next(
        (norm[n] for n in ("srid", "salesrepid", "closerid", "ownerid", "owner") if n in norm), None
    )
    if owner:
        read["owner_id"] = owner
    return _generic(
        "closed-deals list",
        "stage_events",
        fmt,
        columns,
        read,
        constants={"stage": "customer", "source": "file:closed_deals"},
        notes=[f"each row: its lead ({lead}) reached the won stage at {won}"],
    )


def _leads(path, fmt, columns, norm, sample) -> Shape | None:
    """Leads with the date they came in and where from (an MQL list names its stage)."""
    lead = next((norm[n] for n in _LEAD_IDS if n in norm), None)
    first = next((norm[n] for n in _FIRST if n in norm), None)
    if not (lead and first):
        return None
    read = {"contact_id": lead, "created_at": first}
    origin = next(
        (norm[n] for n in ("origin", "leadsource", "source", "leadorigin", "channel") if n in norm),
        None,
    )
    if origin:
        read["source_channel"] = origin
    stage = "mql" if "mql" in headers.norm(lead) else "lead"
    return _generic(
        "lead list" if stage == "lead" else "MQL list",
        "contacts",
        fmt,
        columns,
        read,
        stages={stage: first},
        notes=[f"each row: a contact who became {stage} at {first}"],
    )


_FLAGS = {"true", "false", "t", "f", "1", "0", "yes", "no", "y", "n"}


def _lead_list(path, fmt, columns, norm, sample) -> Shape | None:
    """Leads with a converted flag and no dates: conversion by source and origin."""
    lead = next((norm[n] for n in _LEAD_IDS if n in norm), None)
    flag = next(
        (norm[n] for n in ("converted", "isconverted", "convertedflag", "won") if n in norm), None
    )
    if not (lead and flag) or any(n in norm for n in _FIRST):
        return None
    if not {x.lower() for x in sample(flag)} <= _FLAGS:
        return None
    read = {"lead_id": lead, "converted": flag}
    for col, names in (("source", ("leadsource", "source")), ("origin", ("leadorigin", "origin"))):
        hit = next((norm[n] for n in names if n in norm), None)
        if hit:
            read[col] = hit
    taken = set(read.values())
    for c in columns:  # the rest, for breakdowns, under snake_case names
        name = re.sub(r"[^0-9a-z]+", "_", c.lower()).strip("_")
        if c not in taken and name and name not in read and not name[0].isdigit():
            read[name] = c
    return _generic(
        "lead list (converted flag, no dates)",
        "leads",
        fmt,
        columns,
        read,
        notes=[
            "no dates: conversion by source and origin (fullfunnel funnel --by COLUMN); the "
            "analyses that need dates (stages, velocity, stuck, handoffs, forecast) are skipped"
        ],
    )


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
