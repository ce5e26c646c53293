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
- Campaign → spend (ActualCost at StartDate, channel from Type).
- CampaignMember → touchpoints (marketing, channel from the campaign's Type).
- Task / Event → touchpoints (calls, emails, meetings), team from the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.ingest import headers, sql
from fullfunnel.ingest import validate as v
from fullfunnel.ingest.mapping import STATUSES, closed_need_amount, forecast_fields
from fullfunnel.ingest.plan import Plan

ORDER = (
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityHistory",
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
    return headers.renaming(columns, {**ALIASES, **headers.aliases(own)})


def settings(config: Config, key: str) -> dict[str, str]:
    """A ``[salesforce.<key>]`` mapping: the user's entries over the built-in ones."""
    return {**default_config()["salesforce"][key], **config["salesforce"][key]}


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


def _first(columns: list[str], *names: str) -> str | None:
    return next((n for n in names if n in columns), None)


def _need(columns: list[str], path: Path, kind: str, *names: str) -> None:
    for name in names:
        if name not in columns:
            raise InputError(
                f"{path}: the {kind} export has no '{name}' column; export {kind} again "
                f"with the {name} field (API names, as Data Loader writes them)"
            )


def _opt(exprs, name, columns, *cols, how=v.text):
    col = _first(columns, *cols)
    if col:
        exprs[name] = how(col)


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
    else:
        _need(columns, path, kind, "Id")
    p = builder(kind, columns, path, config, checks, lookups)
    p.lookups = lookups.tables
    p.rename = rename
    p.notes = [*notes, *p.notes]
    return p


def _key(columns: list[str], kind: str) -> str:
    """The column that keys a record: its Id, or (a report without ids) its Name."""
    named = kind in ("Opportunity", "Account", "Campaign")
    return "Name" if "Id" not in columns and named and "Name" in columns else "Id"


def _id(col: str = "Id") -> v.Expr:
    return v.required("Id", v.text(col))


def _created(columns, path, kind, checks) -> v.Expr:
    _need(columns, path, kind, "CreatedDate")
    return v.required("created_at", v.timestamp("CreatedDate", checks))


def _source(config: Config, col: str) -> v.Expr:
    return v.mapped(v.text(col), settings(config, "sources"), label="source", unknown="snake")


def _personal(exprs, columns, config) -> None:
    if config["ingest"]["personal"] == "hash" and "Email" in columns:
        exprs["email_sha256"] = v.hashed("Email")


def _account(kind, columns, path, config, checks, lookups) -> Plan:
    exprs = {"account_id": _id(_key(columns, kind))}
    _opt(exprs, "name", columns, "Name")
    _opt(exprs, "industry", columns, "Industry")
    _opt(exprs, "employees", columns, "NumberOfEmployees", how=v.headcount)
    _opt(exprs, "country", columns, "BillingCountry", "ShippingCountry")
    if "CreatedDate" in columns:
        exprs["created_at"] = v.timestamp("CreatedDate", checks)
    return Plan(source="salesforce:Account", table="accounts", columns=exprs)


def _person(exprs, columns, config, checks) -> None:
    _opt(exprs, "owner_id", columns, "OwnerId")
    _opt(exprs, "title", columns, "Title")
    _opt(exprs, "industry", columns, "Industry")
    _opt(exprs, "employees", columns, "NumberOfEmployees", how=v.headcount)
    _opt(exprs, "country", columns, "Country", "MailingCountry")
    if "LeadSource" in columns:
        exprs["source_channel"] = _source(config, "LeadSource")
    if "OwnerId" in columns:
        exprs["owner_team"] = v.mapped(
            v.text("OwnerId"),
            settings(config, "owner_teams"),
            label="owner",
            allowed=(),
            unknown="ignore",
        )
    _personal(exprs, columns, config)


def _contact(kind, columns, path, config, checks, lookups) -> Plan:
    exprs = {"contact_id": _id()}
    _opt(exprs, "account_id", columns, "AccountId")
    exprs["created_at"] = _created(columns, path, kind, checks)
    _person(exprs, columns, config, checks)
    return Plan(source="salesforce:Contact", table="contacts", columns=exprs)


def _lead(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "Status")
    allowed = (*config.stage_names, *config.exits)
    exprs: dict[str, v.Expr] = {}
    if "ConvertedContactId" in columns:
        exprs["contact_id"] = v.required("Id", v.first_text("ConvertedContactId", "Id"))
        _opt(exprs, "account_id", columns, "ConvertedAccountId")
    else:
        exprs["contact_id"] = _id()
    exprs["created_at"] = _created(columns, path, kind, checks)
    _person(exprs, columns, config, checks)
    exprs["_status"] = v.mapped(
        v.text("Status"),
        settings(config, "lead_status"),
        label="Lead Status",
        allowed=allowed,
        fix="add it under [salesforce.lead_status] in fullfunnel.toml",
    )
    stamps = []
    if "ConvertedDate" in columns:
        exprs["_converted"] = v.timestamp("ConvertedDate", checks)
        stamps.append("_converted")
    if "LastModifiedDate" in columns:
        exprs["_modified"] = v.timestamp("LastModifiedDate", checks)
        stamps.append("_modified")
    status_ts = f"coalesce({', '.join([*stamps, 'created_at'])})"
    owner = "owner_id" if "owner_id" in exprs else "NULL::VARCHAR"
    team = "owner_team" if "owner_team" in exprs else "NULL::VARCHAR"
    first = config.stage_names[0]
    derived = {
        "stage_events": (
            f"SELECT contact_id, {sql.lit(first)} AS stage, created_at AS ts, "
            f"{team} AS owner_team, {owner} AS owner_id, 'salesforce:Lead' AS source FROM ok "
            f"UNION ALL SELECT contact_id, _status, {status_ts}, {team}, {owner}, "
            f"'salesforce:Lead' FROM ok WHERE _status IS NOT NULL AND _status <> {sql.lit(first)}"
        )
    }
    return Plan(
        source="salesforce:Lead",
        table="contacts",
        columns=exprs,
        derived=derived,
    )


def _opportunity(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "StageName")
    exprs: dict[str, v.Expr] = {"opportunity_id": _id(_key(columns, kind))}
    _opt(exprs, "account_id", columns, "AccountId", "Account Name")
    contact = sql.value("ContactId") if "ContactId" in columns else "NULL::VARCHAR"
    if "sf_leads" in lookups.tables:
        contact = (
            f"coalesce({contact}, (SELECT any_value(l.contact_id) FROM sf_leads l "
            f"WHERE l.opportunity_id = trim({sql.ident(_key(columns, kind))})))"
        )
    exprs["contact_id"] = v.Expr(contact, sources=("ContactId",) if "ContactId" in columns else ())
    undated = "CreatedDate" not in columns  # an sfdx tree export leaves it out
    if undated:
        exprs["created_at"] = v.Expr("NULL::TIMESTAMP", kind="timestamp")
    else:
        exprs["created_at"] = _created(columns, path, kind, checks)
    exprs["stage"] = v.text("StageName")
    status = v.mapped(
        v.text("StageName"),
        settings(config, "opportunity_stages"),
        label="StageName",
        allowed=STATUSES,
        unknown="ignore",
    )
    won = v.boolean("IsWon") if "IsWon" in columns else None
    closed = v.boolean("IsClosed") if "IsClosed" in columns else None
    status_sql = f"coalesce({status.sql}, 'open')"
    errors = list(status.errors)
    if won is not None and closed is not None:
        status_sql = (
            f"CASE WHEN {won.sql} THEN 'won' WHEN {closed.sql} THEN 'lost' "
            f"WHEN {won.sql} IS NULL OR {closed.sql} IS NULL THEN {status_sql} ELSE 'open' END"
        )
        errors += [*won.errors, *closed.errors]
    exprs["status"] = v.Expr(status_sql, tuple(errors), ("StageName",))
    if "Amount" in columns:
        exprs["amount"] = closed_need_amount(v.number("Amount"), exprs["status"])
    else:
        exprs["amount"] = v.Expr("0.0::DOUBLE")
    if "CloseDate" in columns:
        exprs["close_date"] = v.timestamp("CloseDate", checks, future_ok=True)
    forecast_fields(exprs, columns, "Probability", "ForecastCategoryName")
    _opt(exprs, "owner_id", columns, "OwnerId")
    exprs.setdefault("owner_id", v.const(None))  # the derived events name it
    close = "close_date" if "CloseDate" in columns else "NULL::TIMESTAMP"
    stage_of = {"won": config.won_stage, "lost": "closed_lost"}
    opp_stage = config.opportunity_stage
    derived = {
        "stage_events": (
            f"SELECT contact_id, {sql.lit(opp_stage)} AS stage, created_at AS ts, "
            "NULL::VARCHAR AS owner_team, owner_id, 'salesforce:Opportunity' AS source "
            "FROM ok WHERE contact_id IS NOT NULL AND created_at IS NOT NULL "
            "UNION ALL SELECT contact_id, CASE status "
            + " ".join(f"WHEN {sql.lit(k)} THEN {sql.lit(s)}" for k, s in stage_of.items())
            + f" END, {close}, NULL::VARCHAR, owner_id, 'salesforce:Opportunity' FROM ok "
            f"WHERE contact_id IS NOT NULL AND status IN ('won', 'lost') AND {close} IS NOT NULL"
        )
    }
    notes = (
        ["no CreatedDate: deals count as open from the start; no sales cycle"] if undated else []
    )
    return Plan(
        source="salesforce:Opportunity",
        table="opportunities",
        columns=exprs,
        derived=derived,
        notes=notes,
    )


def _history(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "OpportunityId", "StageName", "CreatedDate")
    exprs = {
        "opportunity_id": v.required("OpportunityId", v.text("OpportunityId")),
        "stage": v.required("StageName", v.text("StageName")),
        "ts": v.required("CreatedDate", v.timestamp("CreatedDate", checks)),
    }
    if "Amount" in columns:
        exprs["amount"] = v.number("Amount")
    return Plan(
        source="salesforce:OpportunityHistory",
        table="opportunity_history",
        columns=exprs,
        orphans={"opportunity_id": "opportunities"},
    )


def _campaign(kind, columns, path, config, checks, lookups) -> Plan:
    start = _first(columns, "StartDate", "CreatedDate")
    if start is None:
        raise InputError(f"{path}: the Campaign export has no StartDate or CreatedDate column")
    day = v.timestamp(start, checks, future_ok=True)
    exprs = {
        "date": v.required(
            "date", v.Expr(f"CAST({day.sql} AS DATE)", day.errors, day.sources, day.dates)
        ),
        "channel": _source(config, "Type") if "Type" in columns else v.const("campaign"),
        "campaign": v.required("Name", v.first_text(*[c for c in ("Name", "Id") if c in columns])),
        "team": v.const("marketing"),
    }
    cost = _first(columns, "ActualCost", "BudgetedCost")
    if cost:
        n = v.number(cost)
        exprs["amount"] = v.Expr(f"coalesce({n.sql}, 0.0)", n.errors, n.sources)
    else:
        exprs["amount"] = v.Expr("0.0::DOUBLE")
    exprs["channel"] = v.Expr(
        f"coalesce({exprs['channel'].sql}, 'campaign')",
        exprs["channel"].errors,
        exprs["channel"].sources,
    )
    return Plan(source="salesforce:Campaign", table="spend", columns=exprs, dedupe=False)


def _member(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "CampaignId", "CreatedDate")
    who = [c for c in ("ContactId", "LeadId") if c in columns]
    exprs: dict[str, v.Expr] = {"touchpoint_id": _id()}
    person = v.first_text(*who)
    exprs["contact_id"] = v.required(
        "ContactId/LeadId", v.Expr(lookups.contact_of(person.sql), sources=person.sources)
    )
    responded = _first(columns, "FirstRespondedDate")
    ts = v.timestamp("CreatedDate", checks)
    if responded:
        r = v.timestamp(responded, checks)
        ts = v.Expr(
            f"coalesce({r.sql}, {ts.sql})",
            (*r.errors, *ts.errors),
            (responded, "CreatedDate"),
            (*r.dates, *ts.dates),
            "timestamp",
        )
    exprs["ts"] = v.required("ts", ts)
    campaign = sql.value("CampaignId")
    channel = "NULL::VARCHAR"
    if "sf_campaigns" in lookups.tables:
        sources = settings(config, "sources")
        ctype = f"(SELECT any_value(c.type) FROM sf_campaigns c WHERE c.campaign_id = {campaign})"
        channel = v.mapped(v.Expr(ctype), sources, label="campaign type", unknown="snake").sql
        campaign = (
            f"coalesce((SELECT any_value(c.name) FROM sf_campaigns c "
            f"WHERE c.campaign_id = {campaign}), {campaign})"
        )
    exprs["channel"] = v.Expr(f"coalesce({channel}, 'campaign')", sources=("CampaignId",))
    exprs["campaign"] = v.Expr(campaign, sources=("CampaignId",))
    responded_sql = "FALSE"
    if "HasResponded" in columns:
        responded_sql = f"coalesce({v.boolean('HasResponded').sql}, FALSE)"
    if responded:
        responded_sql = f"({responded_sql} OR {sql.value(responded)} IS NOT NULL)"
    exprs["kind"] = v.Expr(
        f"CASE WHEN {responded_sql} THEN 'campaign_response' ELSE 'campaign_member' END"
    )
    exprs["team"] = v.const("marketing")
    exprs["direction"] = v.const("inbound")
    return Plan(
        source="salesforce:CampaignMember",
        table="touchpoints",
        columns=exprs,
        orphans={"contact_id": "contacts"},
    )


def _activity(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "WhoId", "CreatedDate")
    exprs: dict[str, v.Expr] = {"touchpoint_id": _id()}
    who = v.text("WhoId")
    exprs["contact_id"] = v.required(
        "WhoId", v.Expr(lookups.contact_of(who.sql), sources=("WhoId",))
    )
    _opt(exprs, "account_id", columns, "AccountId")
    when = _first(columns, "ActivityDateTime", "StartDateTime", "ActivityDate")
    ts = v.timestamp("CreatedDate", checks)
    if when:
        w = v.timestamp(when, checks)
        ts = v.Expr(
            f"coalesce({w.sql}, {ts.sql})",
            (*w.errors, *ts.errors),
            (when, "CreatedDate"),
            (*w.dates, *ts.dates),
            "timestamp",
        )
    exprs["ts"] = v.required("ts", ts)
    sub = _first(columns, "TaskSubtype", "EventSubtype", "Type")
    kind_sql = "'meeting'" if kind == "Event" else "'task'"
    if sub:
        s = f"lower({sql.value(sub)})"
        kind_sql = (
            f"CASE WHEN {s} LIKE '%call%' THEN 'call' WHEN {s} LIKE '%email%' THEN 'email' "
            f"WHEN {s} LIKE '%meeting%' OR {s} = 'event' THEN 'meeting' ELSE {kind_sql} END"
        )
    exprs["kind"] = v.Expr(kind_sql, sources=(sub,) if sub else ())
    exprs["channel"] = v.Expr(
        f"CASE {kind_sql} WHEN 'call' THEN 'phone' WHEN 'email' THEN 'email' "
        "WHEN 'meeting' THEN 'meeting' ELSE 'sales_activity' END"
    )
    team = v.const(config["salesforce"]["default_touch_team"])
    if "OwnerId" in columns:
        owner = v.mapped(
            v.text("OwnerId"),
            settings(config, "owner_teams"),
            label="owner",
            allowed=(),
            unknown="ignore",
        )
        team = v.Expr(f"coalesce({owner.sql}, {team.sql})", sources=("OwnerId",))
    exprs["team"] = team
    exprs["direction"] = v.const("outbound")
    return Plan(
        source=f"salesforce:{kind}",
        table="touchpoints",
        columns=exprs,
        orphans={"contact_id": "contacts"},
    )
