"""Staging one file: its text in a private DuckDB, the canonical columns and each row's
problems in one vectorised pass, duplicate keys and orphans marked, and the outputs
and rejects written to Parquet for the warehouse to read."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from fullfunnel._dates import now
from fullfunnel.errors import ConfigError, InputError
from fullfunnel.ingest import dates, files
from fullfunnel.ingest.plan import Plan
from fullfunnel.ingest.progress import Meter
from fullfunnel.ingest.sql import ident, listed, lit, shown
from fullfunnel.ingest.validate import cleaned, nul_free
from fullfunnel.schema import table_spec
from fullfunnel.warehouse import ParquetFile, Warehouse, key_text_sql

# reject counts by reason, with the quoted values and row numbers left out
_REASONS_SQL = r"""
SELECT reason, count(*) FROM (
    SELECT regexp_replace(regexp_replace(unnest(string_split(_ff_reason, ' | ')),
           '''[^'']*''', '…', 'g'), 'data row \d+', 'a later data row') AS reason
    FROM staged WHERE _ff_reason IS NOT NULL
    UNION ALL SELECT regexp_replace(reason, '^line \d+: ', '') FROM parse_rejects
) GROUP BY reason ORDER BY 2 DESC, 1
"""


def _unwatched(con: Any = None) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def new_load_id() -> str:
    return f"{now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclasses.dataclass(frozen=True)
class Staged:
    """One file read and checked: its Parquet outputs (data tables first, then
    rejects) and the counts for its ``loads`` record."""

    plan: Plan
    load_id: str
    rows_in: int
    loaded: int
    rejected: int
    why: list[tuple[str, int]]
    files: dict[str, ParquetFile]
    keys: ParquetFile  # load_keys rows: every written row's key
    notes: list[str] = dataclasses.field(default_factory=list)


def stage_to_parquet(
    wh: Warehouse,
    path: Path,
    plan_for: Callable[[list[str], Path], Plan | None],
    workdir: Path,
    *,
    fmt: str,
    orphans: str,
    encoding: str | None,
    delimiter: str | None,
    memory_limit: str | None,
    meter: Meter,
) -> Staged:
    """Read and check ``path`` in a private DuckDB; write its accepted rows (per
    table) and its rejects as Parquet files in ``workdir``, without fetching them."""
    con = files.private_connection(
        memory_limit=memory_limit, progress=meter.active, spill_to=workdir / "spill"
    )
    try:
        meter.start("reading", weights=(9, 1) if fmt == "csv" else (1,))
        columns, rows_in = files.read(
            con, path, fmt, encoding=encoding, delimiter=delimiter, watch=meter.step
        )
        plan = plan_for(columns, path)
        if plan is None:
            raise InputError(f"{path}: the header does not match any known export")
        header = dict(zip(columns, columns, strict=True))  # name read by → file's header
        for old, new in plan.rename.items():
            con.execute(f"ALTER TABLE raw RENAME COLUMN {ident(old)} TO {ident(new)}")
            header[new] = header.pop(old)
        columns = list(header)
        meter.start("checking", weights=(1, 6, 2, 2))
        for name, table in plan.lookups.items():
            con.register(name, table)
        notes = [*plan.notes, *stage(con, plan, columns, path, watch=meter.step)]
        with meter.step(con):
            mark_duplicates(con, plan)
        with meter.step(con):
            if orphans == "reject":
                mark_orphans(con, wh, plan)
        load_id = new_load_id()
        loaded = con.execute("SELECT count(*) FROM staged WHERE _ff_reason IS NULL").fetchone()[0]
        rejected = con.execute(
            "SELECT (SELECT count(*) FROM staged WHERE _ff_reason IS NOT NULL) "
            "+ (SELECT count(*) FROM parse_rejects)"
        ).fetchone()[0]
        why = con.execute(_REASONS_SQL).fetchall() if rejected else []
        con.execute("CREATE OR REPLACE VIEW ok AS SELECT * FROM staged WHERE _ff_reason IS NULL")
        outputs = output_sql(plan)
        # the warehouse writes a table in about three times the time DuckDB takes to stage it
        n = len(outputs)
        meter.start("writing", weights=(1 if rejected else 0, *[2] * n, 6 * n + 1))
        with meter.step(con):
            rejects = None
            if rejected:
                rejects = copy_parquet(
                    con, rejects_sql(load_id, plan.source, header), workdir / "rejects.parquet"
                )
        con.execute("DROP TABLE raw")  # only rejected rows needed it
        out: dict[str, ParquetFile] = {}
        for table, sql in outputs.items():
            with meter.step(con):
                out[table] = copy_parquet(con, sql, workdir / f"{table}.parquet")
        keys = copy_parquet(con, keys_sql(load_id, out), workdir / "load_keys.parquet")
        if rejects is not None:
            out["rejects"] = rejects
    except duckdb.OutOfMemoryException as exc:
        raise ConfigError(
            f"{path}: reading and checking it needs more memory than [ingest] memory_limit "
            f"= {memory_limit!r} allows ({str(exc).splitlines()[0]}); raise it in "
            'fullfunnel.toml (e.g. memory_limit = "4GB")'
        ) from exc
    except duckdb.Error as exc:  # pragma: no cover - a plan this module failed to check
        raise InputError(
            f"{path}: cannot be loaded as read ({str(exc).splitlines()[0]}); check its "
            "columns against docs/ingest.md, or load it with a mapping"
        ) from exc
    finally:
        con.close()  # its memory is free before the warehouse reads the files
    if loaded + rejected != rows_in:  # pragma: no cover - the invariant itself
        raise AssertionError(f"{path}: {rows_in} rows in but {loaded} + {rejected} accounted")
    return Staged(plan, load_id, rows_in, loaded, rejected, why, out, keys, notes)


def rejects_sql(load_id: str, source: str, columns: dict[str, str]) -> str:
    """Every rejected row (checks and reader) with its raw text, in file order."""
    return f"""
        SELECT {lit(load_id)} AS load_id, {lit(source)} AS source, row_number, raw, reason
        FROM (
            SELECT s._ff_row AS row_number, {raw_json(columns)} AS raw, s._ff_reason AS reason
            FROM staged s JOIN raw r USING (_ff_row) WHERE s._ff_reason IS NOT NULL
            -- a NUL spelled as JSON spells it (as in the checked rows' raw): every
            -- engine's text can hold that
            UNION ALL SELECT row_number, replace(raw, chr(0), '\\u0000'), reason
            FROM parse_rejects
        ) ORDER BY row_number
    """


def keys_sql(load_id: str, outputs: dict[str, ParquetFile]) -> str:
    """The ``load_keys`` rows of a load: the key of every row in its output files."""
    return " UNION ALL ".join(
        f"SELECT {lit(load_id)} AS load_id, {lit(table)} AS table_name, "
        f"{key_text_sql(table_spec(table), pq.read_schema(f.path).names)} AS key "
        f"FROM read_parquet({lit(str(f.path))})"
        for table, f in outputs.items()
    )


def copy_parquet(con: Any, sql: str, path: Path) -> ParquetFile:
    """Write the rows of ``sql`` to a Parquet file, streaming inside DuckDB."""
    con.execute(f"COPY ({sql}) TO {lit(str(path))} (FORMAT parquet)")
    return ParquetFile(path)


def stage(
    con: Any, plan: Plan, columns: list[str], path: Path, *, watch: Callable = _unwatched
) -> list[str]:
    """Compute every column and every row's problems into ``staged``; return notes on
    how the file was read (each date column's format when not ISO)."""
    present = set(columns)
    for name, expr in plan.columns.items():
        missing = [c for c in expr.sources if c not in present]
        if missing:
            raise InputError(
                f"{path}: no column '{shown(missing[0])}' (needed for "
                f"{plan.table}.{name.lstrip('_')}); the file has {listed(columns)}. "
                "Export it with that column, or map another one in the mapping's [columns]"
            )
    errors = [err for e in plan.columns.values() for err in e.errors]
    texts = [e.sources for e in plan.columns.values() if e.kind == "string"]
    errors += nul_free(list(dict.fromkeys(c for sources in texts for c in sources)))
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
        notes = _read_dates(con, plan, columns, str(path), watch)
        with watch(con):
            con.execute(
                f"CREATE OR REPLACE TABLE staged AS SELECT _ff_row, {cols}, {reason} AS _ff_reason "
                "FROM clean"
            )
    except (duckdb.InvalidInputException, duckdb.NotImplementedException) as exc:
        # a stated time zone or date format the engine does not know
        raise InputError(
            f"{path}: {str(exc).splitlines()[0]}; state the time zone as an IANA name "
            "(e.g. Europe/Berlin) and date formats with strptime codes (e.g. %d/%m/%Y %H:%M)"
        ) from exc
    except duckdb.OutOfMemoryException:
        raise  # not the file's fault: the loader says which setting to raise
    except duckdb.Error as exc:  # pragma: no cover - a mapping this module failed to check
        raise InputError(
            f"{path}: its columns cannot be computed under this mapping "
            f"({str(exc).splitlines()[0]}); check the mapping's [columns] and [values]"
        ) from exc
    return notes


def _read_dates(con: Any, plan: Plan, columns: list[str], where: str, watch: Callable) -> list[str]:
    """The rows without placeholders as ``clean``; each date column's format found
    from its values (or refused); the notes on the formats found."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW clean AS SELECT _ff_row, {cleaned(columns)} FROM raw")
    exprs = plan.columns.values()
    found = [d for e in exprs for d in e.dates]
    with watch(con):
        dates.define_defaults(con, columns)
        iso = dates.all_iso(con, list(dict.fromkeys(c for c, fmt in found if not fmt)))
        notes = dates.resolve(con, where, found, iso=iso)
        single = [e for e in exprs if len(e.dates) == 1 and len(e.sources) == 1]
        checked = {e.dates[0][0]: (e.sql, e.dates[0][1]) for e in single}
        dates.refuse_unreadable(con, where, {c: v for c, v in checked.items() if c not in iso})
    return notes


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
        # the warehouse's keys arrive in batches into a (spillable) table of the
        # private DuckDB, never as one Arrow table
        batches = wh.table(table).select(key).distinct().to_pyarrow_batches()
        con.register("_ff_known_batches", batches)
        con.execute("CREATE OR REPLACE TABLE _ff_known AS SELECT * FROM _ff_known_batches")
        con.unregister("_ff_known_batches")
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
        con.execute("DROP TABLE _ff_known")


def output_sql(plan: Plan) -> dict[str, str]:
    """The SQL of the accepted rows of the primary table and of every derived table."""
    visible = [n for n in plan.columns if not n.startswith("_")]
    primary = f"SELECT {', '.join(ident(c) for c in visible)} FROM ok"
    if not plan.dedupe or not any(k in plan.columns for k in table_spec(plan.table).key):
        primary += " ORDER BY _ff_row"  # keys may repeat and the last row wins
    parts: dict[str, list[str]] = {plan.table: [primary]}
    for table, sql in plan.derived.items():
        parts.setdefault(table, []).append(sql)
    return {t: " UNION ALL BY NAME ".join(f"({q})" for q in qs) for t, qs in parts.items()}


def raw_json(columns: dict[str, str]) -> str:
    """The raw row as a JSON object of its text fields, the file's header → value
    (``columns``: column of ``raw`` → the header it had in the file)."""
    pairs = ", ".join(f"{lit(label)}, r.{ident(c)}" for c, label in columns.items())
    return f"CAST(json_object({pairs}) AS VARCHAR)"
