"""Loading sources into the canonical tables, with nothing lost.

- :func:`ingest`: any file of a shape :mod:`fullfunnel.ingest.shapes` knows, no mapping.
- :func:`ingest_files`: any CSV, Parquet or JSON-lines file, with a mapping.
- :func:`ingest_hubspot`: HubSpot contacts, companies and deals exports as they come.
- :func:`ingest_salesforce`: Salesforce Data Export / Data Loader CSVs (API names).

Every input row is loaded or kept in ``rejects`` with its raw text and a reason;
each file is one load (``loads``), written in one transaction, and loading the
same bytes again changes nothing. ``replace=True`` puts a corrected file in the
place of its earlier load (same path and source); :func:`unload` takes a load
back. The rows stay in the engines (a private DuckDB
reads and checks them, the warehouse reads its Parquet output); ``progress``
callbacks say how far each file has come (see :mod:`fullfunnel.ingest.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fullfunnel.config import Config, load_config
from fullfunnel.errors import InputError
from fullfunnel.ingest.loads import IngestResult, list_loads, list_rejects, load_files
from fullfunnel.ingest.progress import Progress
from fullfunnel.ingest.unload import UnloadResult, unload
from fullfunnel.ingest.validate import Checks
from fullfunnel.warehouse import Warehouse

__all__ = [
    "IngestResult",
    "Progress",
    "UnloadResult",
    "ingest",
    "ingest_files",
    "ingest_hubspot",
    "ingest_salesforce",
    "list_loads",
    "list_rejects",
    "unload",
]


def checks_for(config: Config, *, timezone: str | None, date_format: str | None) -> Checks:
    settings = config["ingest"]
    return Checks(
        timezone=timezone or settings["timezone"],
        min_date=settings["min_date"],
        date_format=date_format,
    )


def expand(paths: Sequence[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, and the files with one of ``suffixes`` inside given directories."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in suffixes)
            if not found:
                raise InputError(f"{p}: no {'/'.join(suffixes)} files in this directory")
            out.extend(found)
        elif not p.exists():
            raise InputError(f"{p}: file not found; check the path")
        else:
            out.append(p)
    if not out:
        raise InputError("no files given; pass one or more files or directories")
    return out


def ingest(
    wh: Warehouse,
    paths: Sequence[str | Path],
    *,
    config: Config | None = None,
    timezone: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    replace: bool = False,
    save_mapping: str | Path | None = None,
) -> IngestResult:
    """Recognise each file's shape and load it with no mapping, in dependency order
    (accounts and owners, contacts, deals, events); each file's line says what it was
    read as. ``save_mapping``: also write the mapping of each generic shape (a file
    for one input, else a directory of ``<name>.mapping.toml``)."""
    from fullfunnel.ingest import shapes

    config = config or load_config()
    checks = checks_for(config, timezone=timezone, date_format=date_format)
    targets = expand(
        paths, (".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
    )
    found = {p: shapes.recognise(p, config=config) for p in targets}
    if save_mapping is not None:
        _save_mappings(found, Path(save_mapping))
    order = {t: i for i, t in enumerate(shapes.TABLE_ORDER)}
    loadable = [p for p in targets if found[p].table]
    loadable.sort(key=lambda p: (order.get(found[p].table, len(order)), _vendor_rank(found[p])))
    sf = [p for p in loadable if found[p].vendor == "salesforce"]
    lookups = None
    if sf:
        from fullfunnel.ingest import salesforce

        lookups = salesforce.Lookups.from_files(sf, {p: found[p].kind for p in sf})

    def plan_for(columns: list[str], path: Path):
        from fullfunnel.ingest import hubspot, salesforce
        from fullfunnel.ingest.mapping import plan_from_mapping

        shape = found[path]
        if shape.vendor == "hubspot":
            plan = hubspot.plan(columns, path, config=config, checks=checks)
        elif shape.vendor == "salesforce":
            plan = salesforce.plan(
                shape.kind, columns, path, config=config, checks=checks, lookups=lookups
            )
        else:
            plan = plan_from_mapping(
                shape.mapping, columns, table=shape.table, config=config, checks=checks, path=path
            )
            plan.source = f"file:{shape.table}"
        plan.notes = [f"read as {shape.describe()}", *shape.notes, *plan.notes]
        return plan

    def source_for(path: Path) -> str:
        shape = found[path]
        if shape.vendor:
            return f"{shape.vendor}:{shape.kind}"
        return f"file:{shape.table}"

    result = load_files(
        wh,
        loadable,
        plan_for,
        fmt_for=lambda p: found[p].fmt,
        source_for=source_for,
        orphans=config["ingest"]["orphans"],
        progress=progress,
        memory_limit=config["ingest"]["memory_limit"] or None,
        replace=replace,
    )
    skipped = [p for p in targets if not found[p].table]
    return result.with_recognised({str(p): found[p] for p in skipped}).with_checks(
        after_load(wh) if result.rows_loaded else []
    )


def after_load(wh: Warehouse) -> list[str]:
    """What a leader should know about the data now in the warehouse: its date
    range (and so the as-of the analyses default to), and names the tables spell
    differently."""
    from fullfunnel.analytics.period import default_as_of
    from fullfunnel.ingest.joins import date_range, mismatches

    lines = []
    span = date_range(wh)
    if span:
        as_of, note = default_as_of(wh)
        lines.append(span + (f"; analyses default to as of {as_of:%Y-%m-%d}" if note else ""))
    return [*lines, *mismatches(wh)]


def _vendor_rank(shape) -> int:
    from fullfunnel.ingest import hubspot, salesforce

    if shape.vendor == "salesforce":
        return salesforce.ORDER.index(shape.kind)
    if shape.vendor == "hubspot":
        return hubspot.ORDER.index(shape.kind)
    return 0


def _save_mappings(found: dict, target: Path) -> None:
    from fullfunnel.ingest.shape import mapping_toml

    generic = {p: s for p, s in found.items() if s.mapping is not None}
    if not generic:
        raise InputError(
            "`save_mapping`: no file here is read by a mapping (HubSpot, Salesforce and path "
            "files have built-in readers, set up in fullfunnel.toml)"
        )
    if len(found) == 1:
        ((path, shape),) = generic.items()
        target.write_text(mapping_toml(shape), encoding="utf-8")
        return
    target.mkdir(parents=True, exist_ok=True)
    for path, shape in generic.items():
        (target / f"{path.stem}.mapping.toml").write_text(mapping_toml(shape), "utf-8")


def ingest_files(
    wh: Warehouse,
    paths: Sequence[str | Path],
    *,
    fmt: str | None = None,
    table: str | None = None,
    mapping: str | Path | None = None,
    config: Config | None = None,
    timezone: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    replace: bool = False,
) -> IngestResult:
    """Load CSV / Parquet / JSON-lines files into ``table`` under a mapping file.

    >>> import fullfunnel as ff, tempfile, pathlib
    >>> wh = ff.connect("duckdb://:memory:")
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "accounts.csv"
    >>> _ = f.write_text("account_id,name\\nA1,Acme\\n")
    >>> ingest_files(wh, [f], table="accounts").rows_loaded
    1
    """
    from fullfunnel.ingest import files
    from fullfunnel.ingest.mapping import load_mapping, plan_from_mapping

    config = config or load_config()
    m = load_mapping(mapping)
    checks = checks_for(
        config, timezone=timezone or m.timezone, date_format=date_format or m.date_format
    )
    name = table or m.table
    suffixes = {
        "csv": (".csv", ".tsv", ".txt"),
        "parquet": (".parquet", ".pq"),
        "jsonl": (".jsonl", ".ndjson", ".json"),
    }
    targets = expand(paths, suffixes[fmt] if fmt else sum(suffixes.values(), ()))
    return load_files(
        wh,
        targets,
        lambda columns, path: plan_from_mapping(
            m, columns, table=name, config=config, checks=checks, path=path
        ),
        fmt_for=lambda p: fmt or files.detect_format(p),
        source_for=lambda p: f"file:{name}",
        orphans=config["ingest"]["orphans"],
        encoding=m.encoding,
        delimiter=m.delimiter,
        progress=progress,
        memory_limit=config["ingest"]["memory_limit"] or None,
        replace=replace,
    )


def ingest_hubspot(
    wh: Warehouse,
    paths: Sequence[str | Path],
    *,
    config: Config | None = None,
    timezone: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    replace: bool = False,
) -> IngestResult:
    """Load HubSpot contacts, companies and deals exports; each file's kind comes from
    its header. Companies load first, then contacts, then deals."""
    from fullfunnel.ingest import hubspot

    config = config or load_config()
    checks = checks_for(config, timezone=timezone, date_format=date_format)
    targets = expand(paths, (".csv",))
    kinds = {p: hubspot.kind_of(_header(p)) for p in targets}
    unknown = [p for p, k in kinds.items() if k is None]
    if unknown:
        raise InputError(
            f"{unknown[0]}: not a HubSpot contacts, companies or deals export (its header has "
            "none of Email/First Name, Company name, Deal Stage); load it with 'ingest csv "
            "--mapping'"
        )
    targets.sort(key=lambda p: hubspot.ORDER.index(kinds[p]))
    return load_files(
        wh,
        targets,
        lambda columns, path: hubspot.plan(columns, path, config=config, checks=checks),
        fmt_for=lambda p: "csv",
        source_for=lambda p: f"hubspot:{kinds[p]}",
        orphans=config["ingest"]["orphans"],
        progress=progress,
        memory_limit=config["ingest"]["memory_limit"] or None,
        replace=replace,
    )


def ingest_salesforce(
    wh: Warehouse,
    paths: Sequence[str | Path],
    *,
    config: Config | None = None,
    timezone: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    replace: bool = False,
) -> IngestResult:
    """Load Salesforce object exports (Account, Contact, Lead, Opportunity,
    OpportunityHistory, OpportunityContactRole, Campaign, CampaignMember, Task, Event)
    in dependency order."""
    from fullfunnel.ingest import salesforce

    config = config or load_config()
    checks = checks_for(config, timezone=timezone, date_format=date_format)
    targets = expand(paths, (".csv",))
    kinds = {p: salesforce.kind_of(_header(p), p) for p in targets}
    unknown = [p for p, k in kinds.items() if k is None]
    if unknown:
        raise InputError(
            f"{unknown[0]}: not a Salesforce export this tool knows (Account, Contact, Lead, "
            "Opportunity, OpportunityHistory, OpportunityContactRole, Campaign, CampaignMember, "
            "Task, Event, with API "
            "field names); name the file after its object (e.g. Lead.csv) or use 'ingest csv "
            "--mapping'"
        )
    targets.sort(key=lambda p: salesforce.ORDER.index(kinds[p]))
    lookups = salesforce.Lookups.from_files(targets, kinds)
    return load_files(
        wh,
        targets,
        lambda columns, path: salesforce.plan(
            kinds[path], columns, path, config=config, checks=checks, lookups=lookups
        ),
        fmt_for=lambda p: "csv",
        source_for=lambda p: f"salesforce:{kinds[p]}",
        orphans=config["ingest"]["orphans"],
        progress=progress,
        memory_limit=config["ingest"]["memory_limit"] or None,
        replace=replace,
    )


def _header(path: Path) -> list[str]:
    """The column names of a CSV, read by DuckDB (no rows are read)."""
    from fullfunnel.ingest import files

    files.check_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (not even a header); export it again")
    con = files.private_connection()
    try:
        rel = con.sql(
            f"SELECT * FROM read_csv({files.lit(str(path))}, header = true, all_varchar = true, "
            "ignore_errors = true, normalize_names = false) LIMIT 0"
        )
        return list(rel.columns)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as CSV ({str(exc).splitlines()[0]})") from exc
    finally:
        con.close()
