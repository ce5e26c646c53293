"""Salesforce exports (Data Export / Data Loader CSV with API field names), no mapping.

Objects and where they go:

- Account → accounts; Contact → contacts.
- Lead → contacts (a converted lead becomes its ConvertedContactId, so the person
  keeps one id across lead and contact) and stage_events: ``lead`` at CreatedDate,
  and the stage its Status maps to (``[salesforce.lead_status]``) at ConvertedDate
  for converted leads, else at LastModifiedDate.
- Opportunity → opportunities, and the contact's ``opportunity`` (CreatedDate),
  ``customer`` or ``closed_lost`` (CloseDate) events. The contact is ContactId, or
  the lead converted into the opportunity (ConvertedOpportunityId in Lead.csv).
- OpportunityHistory → opportunity_history.
- OpportunityContactRole → opportunity_contacts (the buying group: contact, role, primary).
- Campaign → spend (ActualCost at StartDate, channel from Type).
- CampaignMember → touchpoints (marketing, channel from the campaign's Type).
- Task / Event → touchpoints (calls, emails, meetings), team from the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from fullfunnel.config import Config
from fullfunnel.ingest import headers, sql
from fullfunnel.ingest import validate as v
from fullfunnel.ingest.plan import Plan
from fullfunnel.ingest.salesforce_objects import (
    _account,
    _activity,
    _campaign,
    _contact,
    _contact_role,
    _history,
    _key,
    _lead,
    _member,
    _need,
    _opportunity,
)

ORDER = (
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityHistory",
    "OpportunityContactRole",
    "Campaign",
    "CampaignMember",
    "Task",
    "Event",
)


# API names, and the labels a report export (or a Data Loader export with labels)
# writes for them, for every object
ALIASES = headers.aliases(
    {
        "CreatedDate": ("Created Date", "Create Date", "Created"),
        "LastModifiedDate": ("Last Modified Date", "Last Modified", "Last Activity"),
        "SystemModstamp": ("System Modstamp",),
        "OwnerId": (
            "Owner ID",
            "Owner",
            "Owner Name",
            "Opportunity Owner",
            "Lead Owner",
            "Contact Owner",
            "Account Owner",
            "Full Name",
        ),
        "LeadSource": ("Lead Source",),
        "StageName": ("Stage", "Stage Name", "Opportunity Stage", "To Stage"),
        "CloseDate": ("Close Date", "Closed Date"),
        "Amount": ("Amount (converted)", "Opportunity Amount"),
        "IsWon": ("Won",),
        "IsClosed": ("Closed",),
        "Probability": ("Probability (%)", "Probability %"),
        "ForecastCategoryName": ("Forecast Category", "ForecastCategory"),
        "Status": ("Lead Status", "Member Status"),
        "IsConverted": ("Converted",),
        "ConvertedDate": ("Converted Date",),
        "ConvertedContactId": ("Converted Contact ID", "Converted Contact"),
        "ConvertedAccountId": ("Converted Account ID", "Converted Account"),
        "ConvertedOpportunityId": ("Converted Opportunity ID", "Converted Opportunity"),
        "Title": (),
        "Email": (),
        "LastName": ("Last Name",),
        "FirstName": ("First Name",),
        "Industry": (),
        "NumberOfEmployees": ("Employees", "No. of Employees", "Number of Employees"),
        "BillingCountry": ("Billing Country",),
        "ShippingCountry": ("Shipping Country",),
        "MailingCountry": ("Mailing Country",),
        "Country": (),
        "FirstRespondedDate": ("First Responded Date",),
        "HasResponded": ("Responded",),
        "ActualCost": ("Actual Cost", "Actual Cost in Campaign"),
        "BudgetedCost": ("Budgeted Cost", "Budgeted Cost in Campaign"),
        "StartDate": ("Start Date",),
        "Type": ("Opportunity Type", "Campaign Type", "Type"),
        "WhoId": ("Who ID", "Name ID"),
        "ActivityDate": ("Due Date", "Activity Date", "Date"),
        "TaskSubtype": ("Task Subtype",),
        "EventSubtype": ("Event Subtype",),
        "StartDateTime": ("Start Date Time", "Start"),
    }
)
# per object: its own id, its name, and the ids of the records it points at
_ID_LABELS = {
    "Account": "Account",
    "Contact": "Contact",
    "Lead": "Lead",
    "Opportunity": "Opportunity",
    "Campaign": "Campaign",
}


def renaming(columns: list[str], kind: str | None) -> dict[str, str]:
    """How a header of labels (or other spellings) reads as API names, for ``kind``."""
    own: dict[str, tuple[str, ...]] = {}
    for obj, label in _ID_LABELS.items():
        if obj == kind:
            own["Id"] = (f"{label} ID", f"{label} Id", "Record ID", "ID", "referenceId")
            own["Name"] = (f"{label} Name", "Name")
        else:
            own[f"{obj}Id"] = (f"{label} ID", f"{label} Id")
    if kind == "OpportunityHistory":
        own["OpportunityId"] = ("Opportunity ID", "Opportunity Id")
        own["CreatedDate"] = ("Edit Date", "Last Modified", "Stage Change Date", "Created Date")
        own["Id"] = ("History ID",)
    if kind == "OpportunityContactRole":
        own["OpportunityId"] = ("Opportunity ID", "Opportunity Id")
        own["ContactId"] = ("Contact ID", "Contact Id")
        own["Role"] = ("Contact Role", "Role")
        own["IsPrimary"] = ("Primary", "Is Primary", "Primary Contact")
        own["Id"] = ("Contact Role ID", "Opportunity Contact Role ID")
    return headers.renaming(columns, {**ALIASES, **headers.aliases(own)})


def kind_of(columns: list[str], path: Path) -> str | None:
    """The Salesforce object a file holds: from its name (Lead.csv), else its header
    (API names or labels)."""
    by_name = {o.lower(): o for o in ORDER}
    stem = path.stem.lower().replace("_", "").replace("-", "")
    if stem in by_name:
        return by_name[stem]
    general = headers.renamed(columns, renaming(columns, None))
    labelled = {headers.norm(c) for c in columns}
    for kind in ("Opportunity", "Lead", "Contact", "Account", "Campaign"):
        if headers.norm(f"{kind} ID") in labelled or headers.norm(f"{kind} Id") in labelled:
            c = set(headers.renamed(columns, renaming(columns, kind)))
            hit = _kind(c)
            if hit in (kind, "OpportunityHistory", "CampaignMember"):
                return hit
    return _kind(set(general))


def _kind(c: set[str]) -> str | None:
    if {"OpportunityId", "ContactId", "Role"} <= c:  # a report of contact roles has no Id
        return "OpportunityContactRole"
    if "Id" not in c and not {"StageName", "CloseDate"} <= c:
        return None
    rules = [
        ("Lead", {"IsConverted"} <= c or {"ConvertedContactId"} <= c),
        ("OpportunityHistory", {"OpportunityId", "StageName"} <= c and "Id" in c),
        ("Opportunity", "StageName" in c and "OpportunityId" not in c),
        ("CampaignMember", "CampaignId" in c and bool({"LeadId", "ContactId"} & c)),
        ("Event", bool({"StartDateTime", "EventSubtype", "DurationInMinutes"} & c)),
        ("Task", "TaskSubtype" in c or {"WhoId", "ActivityDate"} <= c),
        ("Campaign", bool({"ActualCost", "BudgetedCost"} & c)),
        ("Contact", "AccountId" in c and bool({"LastName", "Email"} & c)),
        ("Account", "Name" in c and bool({"BillingCountry", "Industry", "NumberOfEmployees"} & c)),
    ]
    return next((kind for kind, hit in rules if hit), None)


@dataclass
class Lookups:
    """Cross-object facts read once per run: lead → contact, campaign → name and type."""

    tables: dict[str, pa.Table] = field(default_factory=dict)

    @classmethod
    def from_files(cls, paths: list[Path], kinds: dict[Path, str]) -> Lookups:
        from fullfunnel.ingest import files

        out: dict[str, pa.Table] = {}
        con = files.private_connection()
        try:
            for path in paths:
                kind = kinds[path]
                if path.suffix.lower() == ".json":  # an sfdx tree export: no cross-object ids
                    continue
                reader = (
                    f"read_csv({sql.lit(str(path))}, header = true, all_varchar = true, "
                    "ignore_errors = true, normalize_names = false)"
                )
                header = con.sql(f"SELECT * FROM {reader} LIMIT 0").columns
                rename = renaming(header, kind)
                as_api = ", ".join(
                    f"{sql.ident(c)} AS {sql.ident(rename.get(c, c))}" for c in header
                )
                src = f"(SELECT {as_api} FROM {reader})"
                cols = set(headers.renamed(header, rename))
                if kind == "Lead" and {"Id", "ConvertedContactId"} <= cols:
                    opp = (
                        "NULLIF(trim(ConvertedOpportunityId), '')"
                        if "ConvertedOpportunityId" in cols
                        else "NULL::VARCHAR"
                    )
                    out["sf_leads"] = con.sql(
                        f"SELECT DISTINCT trim(Id) AS lead_id, "
                        f"NULLIF(trim(ConvertedContactId), '') AS contact_id, "
                        f"{opp} AS opportunity_id FROM {src} "
                        "WHERE NULLIF(trim(ConvertedContactId), '') IS NOT NULL"
                    ).fetch_arrow_table()
                if kind == "Campaign" and "Id" in cols:
                    name = "Name" if "Name" in cols else "Id"
                    typ = "Type" if "Type" in cols else "NULL"
                    out["sf_campaigns"] = con.sql(
                        f"SELECT DISTINCT trim(Id) AS campaign_id, {sql.ident(name)} AS name, "
                        f"{typ} AS type FROM {src}"
                    ).fetch_arrow_table()
        finally:
            con.close()
        return cls(out)

    def contact_of(self, expr: str) -> str:
        """SQL: the contact a lead or contact id stands for (a converted lead → its contact)."""
        if "sf_leads" not in self.tables:
            return expr
        return (
            f"coalesce((SELECT any_value(l.contact_id) FROM sf_leads l WHERE l.lead_id = {expr}), "
            f"{expr})"
        )


def plan(
    kind: str,
    columns: list[str],
    path: Path,
    *,
    config: Config,
    checks: v.Checks,
    lookups: Lookups,
) -> Plan:
    builder = {
        "Account": _account,
        "Contact": _contact,
        "Lead": _lead,
        "Opportunity": _opportunity,
        "OpportunityHistory": _history,
        "OpportunityContactRole": _contact_role,
        "Campaign": _campaign,
        "CampaignMember": _member,
        "Task": _activity,
        "Event": _activity,
    }[kind]
    rename = renaming(columns, kind)
    columns = headers.renamed(columns, rename)
    notes = []
    if _key(columns, kind) == "Name":
        notes.append(f"no {kind} ID column: each {kind.lower()} is keyed by its name")
    elif kind != "OpportunityContactRole":  # keyed by deal and contact, not its own Id
        _need(columns, path, kind, "Id")
    p = builder(kind, columns, path, config, checks, lookups)
    p.lookups = lookups.tables
    p.rename = rename
    p.notes = [*notes, *p.notes]
    return p
