"""The loader: one file in, canonical rows + rejects + a loads record out, atomically.

For each file: hash it (a file whose SHA-256 was loaded before for the same
source is skipped), stage it as text in a private DuckDB, compute the canonical
columns and every row's problems in one vectorised pass, reject duplicate keys
and orphans, then write the accepted rows, the rejects and the ``loads`` record
in ONE warehouse transaction. ``rows_in = rows_loaded + rows_rejected`` always.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
import pyarrow as pa

from fullfunnel._dates import now
from fullfunnel.errors import InputError
from fullfunnel.ingest import files
from fullfunnel.ingest.plan import Plan
from fullfunnel.ingest.validate import ident, lit, refuse_ambiguous_dates
from fullfunnel.result import Result
from fullfunnel.schema import table_spec
from fullfunnel.warehouse import Warehouse

Progress = Callable[[str], None]
# reject counts by reason, with the quoted values and row numbers left out
_REASONS_SQL = r"""
SELECT reason, count(*) FROM (
    SELECT regexp_replace(regexp_replace(unnest(string_split(_ff_reason, ' | ')),
           '''[^'']*''', '…', 'g'), 'data row \d+', 'a later data row') AS reason
    FROM staged WHERE _ff_reason IS NOT NULL
    UNION ALL SELECT regexp_replace(reason, '^line \d+: ', '') FROM parse_rejects
) GROUP BY reason ORDER BY 2 DESC, 1
"""
PlanFactory = Callable[[list[str], Path], Plan]


@dataclasses.dataclass(frozen=True, eq=False)
class IngestResult(Result):
    """One row per file (what was loaded, skipped or rejected) and the reject reasons."""

    title = "ingest"
    files: pd.DataFrame
    reasons: pd.DataFrame

    @property
    def rows_in(self) -> int:
        return int(self.files["rows_in"].sum()) if not self.files.empty else 0

    @property
    def rows_loaded(self) -> int:
        return int(self.files["rows_loaded"].sum()) if not self.files.empty else 0

    @property
    def rows_rejected(self) -> int:
        return int(self.files["rows_rejected"].sum()) if not self.files.empty else 0

    def headline(self) -> list[str]:
        lines = []
        for r in self.files.itertuples():
            if r.status == "skipped":
                lines.append(f"{r.file}: {r.note}; nothing changed")
            else:
                lines.append(
                    f"{r.file} ({r.source} → {r.tables}): {r.rows_in:,} rows in, "
                    f"{r.rows_loaded:,} loaded, {r.rows_rejected:,} rejected (load {r.load_id})"
                )
        if self.rows_rejected:
            lines.append("rejected rows by reason (see them with 'fullfunnel rejects --load ID'):")
            for r in self.reasons.itertuples():
                lines.append(f"  {r.rows:,} × {r.reason}")
        return lines


def new_load_id() -> str:
    return f"{now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def previous_load(wh: Warehouse, source: str, digest: str) -> str | None:
    """The id of an earlier successful load of the same bytes from the same source."""
    t = wh.table("loads")
    hit = (
        t.filter((t.sha256 == digest) & (t.source == source) & (t.status == "loaded"))
        .select("load_id")
        .limit(1)
        .to_pyarrow()
    )
    return hit["load_id"][0].as_py() if hit.num_rows else None


def load_files(
    wh: Warehouse,
    paths: Sequence[Path],
    plan_for: Callable[[list[str], Path], Plan | None],
    *,
    fmt_for: Callable[[Path], str],
    source_for: Callable[[Path], str],
    orphans: str = "reject",
    encoding: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Load each file in turn (each its own transaction) and summarise."""
    rows, reasons = [], []
    for path in paths:
        row, why = load_file(
            wh,
            Path(path),
            plan_for,
            fmt=fmt_for(Path(path)),
            source=source_for(Path(path)),
            orphans=orphans,
            encoding=encoding,
            delimiter=delimiter,
            progress=progress,
        )
        rows.append(row)
        reasons.extend(why)
    files_frame = pd.DataFrame(
        rows,
        columns=[
            "file",
            "source",
            "tables",
            "status",
            "load_id",
            "rows_in",
            "rows_loaded",
            "rows_rejected",
            "note",
        ],
    )
    reasons_frame = pd.DataFrame(reasons, columns=["file", "reason", "rows"])
    if not reasons_frame.empty:
        reasons_frame = (
            reasons_frame.groupby("reason", as_index=False)["rows"]
            .sum()
            .sort_values("rows", ascending=False, kind="stable")
            .reset_index(drop=True)
        )
    else:
        reasons_frame = pd.DataFrame(columns=["reason", "rows"])
    return IngestResult(files=files_frame, reasons=reasons_frame)


def load_file(
    wh: Warehouse,
    path: Path,
    plan_for: Callable[[list[str], Path], Plan | None],
    *,
    fmt: str,
    source: str,
    orphans: str = "reject",
    encoding: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> tuple[list[Any], list[tuple[str, str, int]]]:
    """Load one file; return its summary row and its (file, reason, rows) counts."""
    say = progress or (lambda _msg: None)
    files.check_file(path)
    started = now()
    say(f"hashing {path.name}")
    digest = files.sha256(path)
    earlier = previous_load(wh, source, digest)
    if earlier:
        return [
            str(path),
            source,
            "",
            "skipped",
            earlier,
            0,
            0,
            0,
            f"already loaded (load {earlier}, same sha256)",
        ], []
    con = files.private_connection()
    try:
        say(f"reading {path.name}")
        columns, rows_in = files.read(con, path, fmt, encoding=encoding, delimiter=delimiter)
        plan = plan_for(columns, path)
        if plan is None:
            raise InputError(f"{path}: the header does not match any known export")
        say(f"checking {path.name}")
        for name, table in plan.lookups.items():
            con.register(name, table)
        stage(con, plan, columns, path)
        mark_duplicates(con, plan)
        if orphans == "reject":
            mark_orphans(con, wh, plan)
        say(f"loading {path.name}")
        load_id = new_load_id()
        rejects = con.execute(
            f"""
            SELECT {lit(load_id)} AS load_id, {lit(plan.source)} AS source, row_number, raw, reason
            FROM (
                SELECT s._ff_row AS row_number, {raw_json(columns)} AS raw, s._ff_reason AS reason
                FROM staged s JOIN raw r USING (_ff_row) WHERE s._ff_reason IS NOT NULL
                UNION ALL SELECT row_number, raw, reason FROM parse_rejects
            ) ORDER BY row_number
            """
        ).fetch_arrow_table()
        loaded = con.execute("SELECT count(*) FROM staged WHERE _ff_reason IS NULL").fetchone()[0]
        why = con.execute(_REASONS_SQL).fetchall()
        con.execute("DROP TABLE raw")  # only rejected rows needed it; free it before the fetch
        outputs = collect(con, plan)
    finally:
        con.close()
    rejected = rejects.num_rows
    if loaded + rejected != rows_in:  # pragma: no cover - the invariant itself
        raise AssertionError(f"{path}: {rows_in} rows in but {loaded} + {rejected} accounted")
    record = pa.table(
        {
            "load_id": [load_id],
            "source": [source],
            "file": [str(path.resolve())],
            "sha256": [digest],
            "rows_in": pa.array([rows_in], pa.int64()),
            "rows_loaded": pa.array([loaded], pa.int64()),
            "rows_rejected": pa.array([rejected], pa.int64()),
            "started_at": pa.array([started], pa.timestamp("us")),
            "finished_at": pa.array([now()], pa.timestamp("us")),
            "status": ["loaded"],
        }
    )
    batch = dict(outputs)
    if rejected:
        batch["rejects"] = rejects
    batch["loads"] = record
    wh.load_many(batch)
    tables = ", ".join(outputs)
    return (
        [str(path), plan.source, tables, "loaded", load_id, rows_in, loaded, rejected, ""],
        [(str(path), reason, n) for reason, n in why],
    )


def stage(con: Any, plan: Plan, columns: list[str], path: Path) -> None:
    """Compute every column and every row's problems into ``staged``."""
    present = set(columns)
    for name, expr in plan.columns.items():
        missing = [c for c in expr.sources if c not in present]
        if missing:
            raise InputError(
                f"{path}: no column '{missing[0]}' (needed for {plan.table}.{name.lstrip('_')}); "
                f"the file has {', '.join(columns[:12])}{' …' if len(columns) > 12 else ''}. "
                "Export it with that column, or map another one in the mapping's [columns]"
            )
    refuse_ambiguous_dates(con, str(path), [d for e in plan.columns.values() for d in e.dates])
    errors = [err for e in plan.columns.values() for err in e.errors]
    missing = [
        f"CASE WHEN ({e.sql}) IS NULL THEN {lit(e.missing)} END"
        for e in plan.columns.values()
        if e.missing
    ]
    reason = " , ".join(
        f"NULLIF(concat_ws(' | ', {', '.join(group)}), '')" for group in (errors, missing) if group
    )
    reason = f"coalesce({reason}, NULL::VARCHAR)" if reason else "NULL::VARCHAR"
    cols = ", ".join(f"{e.sql} AS {ident(n)}" for n, e in plan.columns.items())
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE staged AS SELECT _ff_row, {cols}, {reason} AS _ff_reason "
            "FROM raw"
        )
    except (duckdb.InvalidInputException, duckdb.NotImplementedException) as exc:
        # a stated time zone or date format the engine does not know
        raise InputError(
            f"{path}: {str(exc).splitlines()[0]}; state the time zone as an IANA name "
            "(e.g. Europe/Berlin) and date formats with strptime codes (e.g. %d/%m/%Y %H:%M)"
        ) from exc


def mark_duplicates(con: Any, plan: Plan) -> None:
    """Of accepted rows sharing a key, the last one is loaded and the others rejected."""
    if not plan.dedupe:
        return
    key = [k for k in table_spec(plan.table).key if k in plan.columns]
    if not key:
        return
    keys = ", ".join(ident(k) for k in key)
    shown = " || '/' || ".join(f"coalesce(CAST({ident(k)} AS VARCHAR), '')" for k in key)
    con.execute(
        f"""
        UPDATE staged SET _ff_reason = 'duplicate key {"/".join(key)} ''' || d.k
            || ''': data row ' || d.last || ' has the same key and was loaded'
        FROM (
            SELECT _ff_row, {shown} AS k, max(_ff_row) OVER (PARTITION BY {keys}) AS last
            FROM staged WHERE _ff_reason IS NULL
        ) d
        WHERE staged._ff_row = d._ff_row AND d._ff_row <> d.last
        """
    )


def mark_orphans(con: Any, wh: Warehouse, plan: Plan) -> None:
    """Reject rows that point at a contact (or other record) nobody has loaded."""
    for column, table in plan.orphans.items():
        if column not in plan.columns:
            continue
        key = table_spec(table).key[0]
        known = wh.table(table).select(key).distinct().to_pyarrow()
        con.register("_ff_known", known)
        own = ""
        if table == plan.table:  # keys of this very file count too
            own = f" UNION ALL SELECT {ident(key)} FROM staged WHERE _ff_reason IS NULL"
        con.execute(
            f"""
            UPDATE staged SET _ff_reason = {lit(f"unknown {column} '")} || {ident(column)}
                || {lit(f"' (no such {table} row: load {table} first)")}
            WHERE _ff_reason IS NULL AND {ident(column)} IS NOT NULL
              AND {ident(column)} NOT IN (SELECT {ident(key)} FROM _ff_known{own})
            """
        )
        con.unregister("_ff_known")


def collect(con: Any, plan: Plan) -> dict[str, pa.Table]:
    """The accepted rows of the primary table and every derived table, as Arrow."""
    con.execute("CREATE OR REPLACE VIEW ok AS SELECT * FROM staged WHERE _ff_reason IS NULL")
    visible = [n for n in plan.columns if not n.startswith("_")]
    out = {
        plan.table: con.execute(
            f"SELECT {', '.join(ident(c) for c in visible)} FROM ok ORDER BY _ff_row"
        ).fetch_arrow_table()
    }
    for table, sql in plan.derived.items():
        arrow = con.execute(sql).fetch_arrow_table()
        if table in out:
            arrow = pa.concat_tables([out[table], arrow], promote_options="permissive")
        out[table] = arrow
    return out


def raw_json(columns: list[str]) -> str:
    """The raw row as a JSON object of its text fields, header → value."""
    pairs = ", ".join(f"{lit(c)}, r.{ident(c)}" for c in columns)
    return f"CAST(json_object({pairs}) AS VARCHAR)"


def list_loads(wh: Warehouse) -> LoadsResult:
    """Every load, newest first."""
    t = wh.table("loads")
    frame = t.order_by(ibis.desc("started_at")).to_pandas()
    return LoadsResult(loads=frame)


def list_rejects(wh: Warehouse, *, load_id: str | None = None, limit: int = 1000) -> RejectsResult:
    """Rejected rows (of one load, or of every load), with raw text and reason."""
    t = wh.table("rejects")
    if load_id:
        known = wh.table("loads").filter(wh.table("loads").load_id == load_id).count().execute()
        if not known:
            raise InputError(f"no load '{load_id}'; list them with 'fullfunnel loads'")
        t = t.filter(t.load_id == load_id)
    frame = t.order_by(["load_id", "row_number"]).limit(limit).to_pandas()
    total = int(t.count().execute())
    return RejectsResult(rejects=frame, total=total, load_id=load_id)


@dataclasses.dataclass(frozen=True, eq=False)
class LoadsResult(Result):
    title = "loads"
    loads: pd.DataFrame

    def headline(self) -> list[str]:
        if self.loads.empty:
            return ["no loads yet: load files with 'fullfunnel ingest'"]
        return [
            f"{len(self.loads)} load(s): {int(self.loads.rows_loaded.sum()):,} rows loaded, "
            f"{int(self.loads.rows_rejected.sum()):,} rejected"
        ]


@dataclasses.dataclass(frozen=True, eq=False)
class RejectsResult(Result):
    title = "rejects"
    rejects: pd.DataFrame
    total: int
    load_id: str | None

    def headline(self) -> list[str]:
        where = f" in load {self.load_id}" if self.load_id else ""
        shown = f" (first {len(self.rejects)} shown)" if len(self.rejects) < self.total else ""
        return [f"{self.total:,} rejected row(s){where}{shown}"]
