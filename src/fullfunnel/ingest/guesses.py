"""The guesses for a file of no known vendor: a canonical table, deals, sales teams,
products, accounts, closed deals, leads or a plain lead list, each recognised by its
headers (and values) and read by a mapping."""

from __future__ import annotations

import re

from fullfunnel.ingest import headers
from fullfunnel.ingest.mapping import Mapping_
from fullfunnel.ingest.shape import Shape
from fullfunnel.schema import TABLES

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
            spec.name
            in ("loads", "rejects", "load_keys", "scores", "sync_state", "pipeline_snapshots")
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


# in the order they are tried: the first that recognises the file wins, and a plain
# lead list (a flag and no dates) is the last resort
GUESSES = (_canonical, _deals, _teams, _products, _accounts, _closed_deals, _leads, _lead_list)
