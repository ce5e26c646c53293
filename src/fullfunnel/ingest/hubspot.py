"""HubSpot exports as HubSpot writes them: contacts, companies and deals, no mapping.

Which export a file is comes from its header. Dates are read as HubSpot writes
them (``2024-03-05 14:22`` in the portal's time zone, or ISO with an offset, or
epoch milliseconds); lifecycle stages, deal stages and sources map onto the
stage model and channels through ``[hubspot.*]`` in the config.
"""

from __future__ import annotations

import re
from pathlib import Path

from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.ingest import headers, sql
from fullfunnel.ingest import validate as v
from fullfunnel.ingest.mapping import (
    STATUSES,
    closed_need_amount,
    forecast_fields,
    wide_stage_events,
)
from fullfunnel.ingest.plan import Plan

ORDER = ("companies", "contacts", "deals")
_BECAME = re.compile(r"^Became an? (.+) Date$", re.IGNORECASE)
_LIFECYCLE_DATE = re.compile(r"^hs_lifecyclestage_(.+)_date$", re.IGNORECASE)

# the headers read below, and the internal property names an API pull or an
# export "with internal names" writes for them
ALIASES = headers.aliases(
    {
        "Record ID": ("hs_object_id", "id", "Contact ID", "Company ID", "Deal ID"),
        "Email": ("email",),
        "First Name": ("firstname",),
        "Last Name": ("lastname",),
        "Create Date": ("createdate", "Created Date", "Create date"),
        "Lifecycle Stage": ("lifecyclestage",),
        "Original Source": ("hs_analytics_source", "Original Source Type"),
        "Latest Source": ("hs_latest_source",),
        "Contact owner": ("hubspot_owner_id", "HubSpot Owner", "Owner"),
        "Job Title": ("jobtitle",),
        "Industry": ("industry",),
        "Country/Region": ("country", "Country"),
        "Number of Employees": ("numemployees", "numberofemployees"),
        "Associated Company ID": ("associatedcompanyid", "Associated Company ID (Primary)"),
        "Company name": ("name", "Company Name"),
        "Company Domain Name": ("domain",),
        "Deal Name": ("dealname",),
        "Deal Stage": ("dealstage",),
        "Amount": ("amount",),
        "Close Date": ("closedate", "Close date"),
        "Deal owner": (),
        "Deal probability": ("hs_deal_stage_probability", "Deal Stage Probability"),
        "Forecast category": ("hs_manual_forecast_category", "Forecast Category"),
        "Associated Company IDs": ("associatedcompanyids",),
        "Associated Contact IDs": ("associatedcontactids", "associatedvids"),
    }
)
_OWNER = {"contacts": "Contact owner", "companies": "Company owner", "deals": "Deal owner"}


def renaming(columns: list[str]) -> dict[str, str]:
    """How a header with internal names (or other spellings) reads as the export's
    display names; ``hs_lifecyclestage_<stage>_date`` reads as "Became a <stage> Date"."""
    marked = any(c == "Record ID" or c.lower().startswith("hs_") for c in columns)
    if not marked:  # another tool's "name" or "email" is not a HubSpot property
        return {}
    out = headers.renaming(columns, ALIASES)
    for col in columns:
        m = _LIFECYCLE_DATE.match(col)
        if m and col not in out:
            out[col] = f"Became a {m.group(1)} Date"
    owner = next((c for c, t in out.items() if t == "Contact owner"), None)
    if owner:  # whose owner it is depends on the export
        del out[owner]
        kind = _kind(headers.renamed(columns, out))
        if kind in _OWNER and _OWNER[kind] not in columns:
            out[owner] = _OWNER[kind]
    return out


def settings(config: Config, key: str) -> dict[str, str]:
    """A ``[hubspot.<key>]`` mapping: the user's entries over the built-in ones."""
    builtin = default_config()["hubspot"][key]
    return {**builtin, **config["hubspot"][key]}


def kind_of(columns: list[str]) -> str | None:
    """contacts, companies or deals, from the header (display or internal names);
    None when it is none of them."""
    return _kind(headers.renamed(columns, renaming(columns)))


def _kind(columns: list[str]) -> str | None:
    cols = set(columns)
    if {"Deal Stage", "Deal Name"} & cols:
        return "deals"
    if {"Email", "First Name", "Last Name", "Contact owner"} & cols or any(
        _BECAME.match(c) for c in cols
    ):
        return "contacts"
    if {"Company name", "Company Domain Name", "Company owner"} & cols:
        return "companies"
    return None


def _first(columns: list[str], *names: str) -> str | None:
    return next((n for n in names if n in columns), None)


def _opt(exprs: dict[str, v.Expr], name: str, columns: list[str], *cols: str, how=v.text):
    col = _first(columns, *cols)
    if col:
        exprs[name] = how(col)


def _id(columns: list[str], path: Path, *names: str) -> v.Expr:
    col = _first(columns, "Record ID", *names)
    if col is None:
        raise InputError(
            f"{path}: no 'Record ID' column; export again with the Record ID property "
            "(HubSpot: Export → include all properties)"
        )
    return v.required("Record ID", v.text(col))


def plan(columns: list[str], path: Path, *, config: Config, checks: v.Checks) -> Plan | None:
    rename = renaming(columns)
    columns = headers.renamed(columns, rename)
    kind = _kind(columns)
    if kind == "contacts":
        p = contacts_plan(columns, path, config=config, checks=checks)
    elif kind == "companies":
        p = companies_plan(columns, path, checks=checks)
    elif kind == "deals":
        p = deals_plan(columns, path, config=config, checks=checks)
    else:
        return None
    p.rename = rename
    return p


def _created(columns: list[str], path: Path, checks: v.Checks) -> v.Expr:
    col = _first(columns, "Create Date", "Create date", "Created Date")
    if col is None:
        raise InputError(
            f"{path}: no 'Create Date' column; export again including the Create Date property"
        )
    return v.required("created_at", v.timestamp(col, checks))


def contacts_plan(columns: list[str], path: Path, *, config: Config, checks: v.Checks) -> Plan:
    lifecycle = settings(config, "lifecycle_stages")
    sources = settings(config, "sources")
    allowed = (*config.stage_names, *config.exits)
    fix = "add it under [hubspot.lifecycle_stages] in fullfunnel.toml"
    exprs: dict[str, v.Expr] = {"contact_id": _id(columns, path, "Contact ID")}
    _opt(exprs, "account_id", columns, "Associated Company ID", "Associated Company ID (Primary)")
    exprs["created_at"] = _created(columns, path, checks)
    for name, col in (("source_channel", "Original Source"), ("latest_source", "Latest Source")):
        if col in columns:
            exprs[name] = v.mapped(v.text(col), sources, label="source", unknown="snake")
    _opt(exprs, "owner_id", columns, "Contact owner", "HubSpot Owner")
    _opt(exprs, "title", columns, "Job Title")
    _opt(exprs, "industry", columns, "Industry")
    _opt(exprs, "country", columns, "Country/Region", "Country")
    _opt(
        exprs,
        "employees",
        columns,
        "Number of Employees",
        how=v.headcount,
    )
    if "Lifecycle Stage" in columns:
        exprs["lifecycle_stage"] = v.mapped(
            v.text("Lifecycle Stage"), lifecycle, label="lifecycle stage", allowed=allowed, fix=fix
        )
    if config["ingest"]["personal"] == "hash" and "Email" in columns:
        exprs["email_sha256"] = v.hashed("Email")
    stages: dict[str, list[str]] = {}
    for col in columns:
        m = _BECAME.match(col)
        if not m:
            continue
        stage = lifecycle.get(v.norm_key(m.group(1)))
        if stage is None:
            raise InputError(
                f"{path}: column '{col}' names lifecycle stage '{m.group(1)}', which has no "
                f'mapping; {fix}, e.g. {v.norm_key(m.group(1))} = "mql" (or "" to ignore)'
            )
        if stage:
            stages.setdefault(stage, []).append(col)
    derived = {}
    if stages:
        derived["stage_events"] = wide_stage_events(
            exprs, stages, config, checks, source="hubspot:contacts", where=str(path)
        )
    return Plan(source="hubspot:contacts", table="contacts", columns=exprs, derived=derived)


def companies_plan(columns: list[str], path: Path, *, checks: v.Checks) -> Plan:
    exprs: dict[str, v.Expr] = {"account_id": _id(columns, path, "Company ID")}
    _opt(exprs, "name", columns, "Company name", "Name")
    _opt(exprs, "industry", columns, "Industry")
    _opt(
        exprs,
        "employees",
        columns,
        "Number of Employees",
        how=v.headcount,
    )
    _opt(exprs, "country", columns, "Country/Region", "Country")
    col = _first(columns, "Create Date", "Create date")
    if col:
        exprs["created_at"] = v.timestamp(col, checks)
    return Plan(source="hubspot:companies", table="accounts", columns=exprs)


def deals_plan(columns: list[str], path: Path, *, config: Config, checks: v.Checks) -> Plan:
    stages = settings(config, "deal_stages")
    exprs: dict[str, v.Expr] = {"opportunity_id": _id(columns, path, "Deal ID")}
    if "Deal Stage" not in columns:
        raise InputError(f"{path}: no 'Deal Stage' column; export deals with the Deal Stage")
    stage = v.text("Deal Stage")
    companies = _first(columns, "Associated Company IDs", "Associated Company ID")
    contacts = _first(columns, "Associated Contact IDs", "Associated Contact ID")
    if companies:
        exprs["account_id"] = v.Expr(
            f"NULLIF(trim(string_split({sql.value(companies)}, ';')[1]), '')", sources=(companies,)
        )
    if contacts:
        exprs["contact_id"] = v.Expr(
            f"NULLIF(trim(string_split({sql.value(contacts)}, ';')[1]), '')", sources=(contacts,)
        )
        exprs["_contacts"] = v.text(contacts)
    exprs["created_at"] = _created(columns, path, checks)
    exprs["stage"] = v.mapped(stage, {}, label="deal stage", unknown="snake")
    status = v.mapped(stage, stages, label="deal stage", allowed=STATUSES, unknown="ignore")
    exprs["status"] = v.Expr(f"coalesce({status.sql}, 'open')", status.errors, status.sources)
    if "Amount" in columns:
        exprs["amount"] = closed_need_amount(v.number("Amount"), exprs["status"])
    else:
        exprs["amount"] = v.Expr("0.0::DOUBLE")
    col = _first(columns, "Close Date", "Close date")
    if col:
        exprs["close_date"] = v.timestamp(col, checks, future_ok=True)
    forecast_fields(exprs, columns, "Deal probability", "Forecast category")
    _opt(exprs, "owner_id", columns, "Deal owner", "HubSpot Owner")
    exprs.setdefault("owner_id", v.const(None))  # the derived events name it
    derived = {}
    if contacts and col:
        # a lost deal ends the journey of the contacts on it
        derived["stage_events"] = (
            "SELECT contact_id, stage, ts, NULL::VARCHAR AS owner_team, owner_id, source FROM ("
            "SELECT trim(unnest(string_split(_contacts, ';'))) AS contact_id, "
            "'closed_lost' AS stage, close_date AS ts, owner_id, 'hubspot:deals' AS source "
            "FROM ok WHERE status = 'lost' AND close_date IS NOT NULL) WHERE contact_id <> ''"
        )
    return Plan(source="hubspot:deals", table="opportunities", columns=exprs, derived=derived)
