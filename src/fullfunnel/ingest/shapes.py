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

from collections.abc import Callable
from pathlib import Path

from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.ingest import files, headers, sql
from fullfunnel.ingest.guesses import GUESSES
from fullfunnel.ingest.shape import Shape

# load order: what others point at goes first
TABLE_ORDER = (
    "accounts",
    "owners",
    "products",
    "contacts",
    "leads",
    "opportunities",
    "opportunity_history",
    "opportunity_contacts",
    "stage_events",
    "touchpoints",
    "spend",
    "targets",
)


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
    for guess in GUESSES:
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
        "OpportunityContactRole": "opportunity_contacts",
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
