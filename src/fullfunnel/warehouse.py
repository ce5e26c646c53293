"""The warehouse: the canonical tables on an Ibis backend, loaded atomically.

``connect()`` is the only place that knows which engine runs underneath. Analytics
take a :class:`Warehouse` and build Ibis expressions on ``wh.table(name)``; what
differs between engines (connecting, bulk loads, transactions) is declared here
in one engine class each.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fullfunnel.errors import InputError, MissingExtraError, WarehouseError
from fullfunnel.schema import TABLES, TableSpec, table_spec

DB_ENV = "FULLFUNNEL_DB"
DEFAULT_DB = "fullfunnel.duckdb"
_SHARED_KEPT = 8  # materialised derived tables kept per warehouse (a run of diagnose uses 4)

Data = Any  # a ParquetFile, a pandas DataFrame, a pyarrow Table, or what pyarrow.table() takes


@dataclass(frozen=True)
class ParquetFile:
    """A Parquet file to load as it is: the engine reads it, its rows never enter Python.

    The columns are matched by name and cast to the canonical types like any
    other data; the file must stay in place until the load returns.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))


class Warehouse:
    """The canonical tables on one Ibis connection."""

    def __init__(self, engine: _Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.engine.create_missing(TABLES.values())
        # tables derived from the canonical ones and materialised once (see ``shared``)
        self._shared: dict[Any, tuple[ir.Table, frozenset[str]]] = {}
        # small Python values (KPIs) computed once per key (see ``memo``)
        self._memo: dict[Any, tuple[Any, frozenset[str]]] = {}

    @property
    def con(self) -> ibis.BaseBackend:
        """The Ibis connection, for expressions beyond the canonical tables."""
        return self.engine.con

    @property
    def name(self) -> str:
        return self.engine.name

    def arg_max(self, value: ir.Column, key: ir.Column) -> ir.Scalar:
        """Aggregate: ``value`` at the row with the greatest ``key`` (null when that
        row's value is), as Ibis's ``argmax``, spelled as the engine runs it fastest."""
        return self.engine.arg_max(value, key)

    @property
    def nested_types(self) -> bool:
        """Whether queries may build arrays of structs (DuckDB and Spark; Postgres not)."""
        return self.engine.nested_types

    def __repr__(self) -> str:
        return f"Warehouse({self.url!r}, engine={self.name!r})"

    def table(self, name: str) -> ir.Table:
        """The canonical table ``name`` as an Ibis expression."""
        table_spec(name)
        return self.engine.table(name)

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute())

    def load(self, name: str, data: Data, *, replace: bool = False) -> int:
        """Upsert ``data`` into table ``name`` by its key, all or nothing.

        Rows whose key already exists replace the stored row; within ``data`` the
        last row for a key wins. ``replace=True`` empties the table first.
        Returns the number of rows written.
        """
        return self.load_many({name: data}, replace=replace)[name]

    def load_many(
        self,
        tables: Mapping[str, Data],
        *,
        replace: bool = False,
        progress: Callable[[float, float], None] | None = None,
    ) -> dict[str, int]:
        """Upsert several tables in one transaction: either all land or none does.

        A table's data is Arrow/pandas (it passes through Python) or a
        :class:`ParquetFile` (the engine reads it itself, inside the transaction).
        ``progress(rows written, rows in all)`` is called after each table, and
        while one is written when the engine tells (from a background thread).
        """
        self._release(set(tables))  # what was derived from the old rows is stale
        prepared = {name: _prepare(table_spec(name), data) for name, data in tables.items()}
        total = sum(data.num_rows for data in prepared.values())
        written: dict[str, int] = {}
        done = 0
        with self.engine.transaction():
            for name, data in prepared.items():

                def part(fraction: float, before: int = done, rows: int = data.num_rows) -> None:
                    progress(before + rows * fraction, total)

                with self.engine.reporting(part if progress else None):
                    written[name] = self.engine.upsert(table_spec(name), data, replace=replace)
                done += data.num_rows
                if progress:
                    progress(done, total)
        return written

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around several writes (:meth:`unload`, :meth:`load_many`):
        all land or none does. Only engines that can remove a load nest them."""
        self.engine.check_unload()
        with self.engine.transaction():
            yield

    def unload(self, load_ids: Sequence[str]) -> dict[str, int]:
        """Remove the rows that the loads ``load_ids`` wrote last (by ``load_keys``), their
        rejects and their ``loads`` records, in one transaction; rows removed per table.

        A row a later load wrote again belongs to that load and stays; a row the load
        replaced does not come back.
        """
        self.engine.check_unload()
        self._release()
        with self.engine.transaction():
            return self.engine.unload(list(load_ids))

    def cache(self, expr: ir.Table) -> ir.Table:
        """Materialise ``expr`` once (temporary), for reuse by several analyses."""
        return self.engine.cache(expr)

    def shared(
        self, key: Any, build: Callable[[], ir.Table], *, reads: tuple[str, ...]
    ) -> ir.Table:
        """``build()`` materialised once and shared by every caller asking for ``key``.

        Analyses of one run ask for the same derived tables (the lifecycle timeline
        as of the run's date) many times; the first asks the engine, the others
        reuse its result. A load into a table it ``reads`` drops it (the engine
        would otherwise hand back the stale copy for the same expression); the
        few most recently used are kept.
        """
        if key in self._shared:
            self._shared[key] = self._shared.pop(key)  # most recently used last
            return self._shared[key][0]
        table = self.cache(build())
        self._shared[key] = (table, frozenset(reads))
        while len(self._shared) > _SHARED_KEPT:  # freed once nobody holds it
            del self._shared[next(iter(self._shared))]
        return table

    def memo(self, key: Any, build: Callable[[], Any], *, reads: tuple[str, ...]) -> Any:
        """``build()`` computed once per ``key`` and reused until a load into a table it
        ``reads``: how a KPI is computed once per (as-of, window, filters) and every
        analysis of a run reads the same value."""
        if key not in self._memo:
            self._memo[key] = (build(), frozenset(reads))
        return self._memo[key][0]

    def _release(self, tables: set[str] | None = None) -> None:
        """Drop the shared tables and memos that read any of ``tables`` (None: all)."""
        for key, (_, reads) in list(self._memo.items()):
            if tables is None or reads & tables:
                del self._memo[key]
        for key, (table, reads) in list(self._shared.items()):
            if tables is None or reads & tables:
                del self._shared[key]
                table.release()

    def close(self) -> None:
        self._release()  # while the connection is still open
        self.engine.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str | os.PathLike[str] | Any | None = None, *, create: bool = True) -> Warehouse:
    """Open (and, with ``create``, create if needed) the warehouse.

    ``create=False`` refuses a DuckDB file that does not exist, creating nothing:
    reading a mistyped path must not answer from a new, empty warehouse.

    ``url`` may be ``duckdb:///path/file.duckdb`` or a plain ``.duckdb`` path
    (default: ``$FULLFUNNEL_DB``, else ``./fullfunnel.duckdb``), ``duckdb://:memory:``,
    ``spark://local[2]`` / ``pyspark://local[2]`` (optionally ``?database=NAME`` and
    ``&warehouse=DIR``, where a new session writes its tables), a
    SparkSession, an Ibis DuckDB or PySpark connection, or any other Ibis URL.

    >>> wh = connect("duckdb://:memory:")
    >>> wh.count("contacts")
    0
    """
    if url is None:
        url = os.environ.get(DB_ENV) or DEFAULT_DB
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        return _connect_object(url)
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "duckdb", url
    scheme = scheme.lower()
    query = {}
    if "?" in rest:
        rest, _, qs = rest.partition("?")
        query = dict(p.split("=", 1) for p in qs.split("&") if "=" in p)
    if scheme == "duckdb":
        path = rest or ":memory:"
        if not create and path != ":memory:" and not Path(path).expanduser().exists():
            raise WarehouseError(
                f"no warehouse at {path}: run 'fullfunnel demo' to try the tool on a synthetic "
                "company, or 'fullfunnel ingest FILE' to load your data (or pass --db with the "
                "right path)"
            )
        return Warehouse(_DuckDBEngine.open(rest, query), url)
    if scheme in ("spark", "pyspark"):
        return Warehouse(_SparkEngine.open(rest or "local[*]", query), url)
    if scheme in ("postgres", "postgresql"):
        try:
            import psycopg  # noqa: F401  (Ibis's Postgres backend needs it)
        except ImportError as exc:
            raise MissingExtraError("a PostgreSQL warehouse", "postgres", "psycopg") from exc
    try:
        con = ibis.connect(url)
    except Exception as exc:
        raise WarehouseError(
            f"cannot connect to {url!r}: {exc}. Use duckdb:///path/file.duckdb, "
            "spark://local[2], or an Ibis backend URL."
        ) from exc
    return Warehouse(_generic(con, configure=True), url)


def _connect_object(obj: Any) -> Warehouse:
    module = type(obj).__module__
    if module.startswith("pyspark"):
        return Warehouse(_SparkEngine(ibis.pyspark.connect(obj), database=None), "spark://session")
    if isinstance(obj, ibis.BaseBackend):
        if obj.name == "duckdb":
            return Warehouse(_DuckDBEngine(obj), "duckdb://connection")
        if obj.name == "pyspark":
            return Warehouse(_SparkEngine(obj, database=None), "spark://connection")
        return Warehouse(_generic(obj, configure=False), f"{obj.name}://connection")
    raise WarehouseError(
        f"cannot use a {type(obj).__name__} as a warehouse: pass a URL, a SparkSession "
        "or an Ibis connection"
    )


def key_text_sql(spec: TableSpec, present: Sequence[str] | None = None) -> str:
    """DuckDB SQL of a row's key as one text (``load_keys.key``): each key column as
    its canonical type's text, NULL as \\N, joined by the unit separator. A key
    column not in ``present`` (the columns of the rows' source) is NULL."""
    parts = []
    for name in spec.key:
        if present is not None and name not in present:
            parts.append("'\\N'")
            continue
        dtype = spec.schema[name]
        kind = "TIMESTAMP" if dtype.is_timestamp() else "DATE" if dtype.is_date() else "VARCHAR"
        parts.append(f"coalesce(CAST(CAST(\"{name}\" AS {kind}) AS VARCHAR), '\\N')")
    return " || chr(31) || ".join(parts)


# --- preparing input ---------------------------------------------------------------


def _prepare(spec: TableSpec, data: Data) -> pa.Table | _ParquetInput:
    """Cast ``data`` to the table's types; extra columns only where the table allows."""
    if isinstance(data, ParquetFile):
        return _prepare_parquet(spec, data.path)
    try:
        arrow = (
            data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        )
    except Exception:
        arrow = pa.table(data)
    missing = [c for c in spec.required if c not in arrow.column_names]
    if missing:
        raise InputError(
            f"table {spec.name}: missing required column(s) {', '.join(missing)}; "
            f"map them from your data (required: {', '.join(spec.required)})"
        )
    target = spec.schema.to_pyarrow()
    columns, fields = [], []
    for field in target:
        if field.name in arrow.column_names:
            columns.append(_cast(spec, arrow[field.name], field))
        else:
            columns.append(pa.nulls(arrow.num_rows, field.type))
        fields.append(field)
    extra = [c for c in arrow.column_names if c not in spec.columns]
    if extra and not spec.extensible:
        raise InputError(
            f"table {spec.name}: unknown column(s) {', '.join(extra)}; rename them to "
            f"canonical columns ({', '.join(spec.columns)}) or drop them"
        )
    for name in extra:
        _check_extra(spec, name)
        col = arrow[name]
        if pa.types.is_null(col.type):
            col = col.cast(pa.string())
        columns.append(col)
        fields.append(pa.field(name, col.type))
    out = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    for key in spec.required:
        nulls = out[key].null_count
        if nulls:
            raise InputError(f"table {spec.name}: column {key} is empty in {nulls} row(s)")
    return out


def _check_extra(spec: TableSpec, name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise InputError(
            f"table {spec.name}: extra column '{name}' must be lower-case letters, digits "
            "and _ (rename it in the mapping)"
        )


@dataclass(frozen=True)
class _ParquetInput:
    """A checked Parquet file: per column to store, its type in the file (None: absent)
    and the type to store, in the table's column order, extra columns last."""

    path: Path
    num_rows: int
    columns: tuple[tuple[str, pa.DataType | None, pa.DataType], ...]


def _prepare_parquet(spec: TableSpec, path: Path) -> _ParquetInput:
    """The checks of :func:`_prepare` on a Parquet file, from its metadata (no rows are
    read unless a required column's statistics lack a null count)."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({exc}); check the file") from exc
    schema = meta.schema.to_arrow_schema()
    names = schema.names
    missing = [c for c in spec.required if c not in names]
    if missing:
        raise InputError(
            f"table {spec.name}: missing required column(s) {', '.join(missing)}; "
            f"map them from your data (required: {', '.join(spec.required)})"
        )
    extra = [c for c in names if c not in spec.columns]
    if extra and not spec.extensible:
        raise InputError(
            f"table {spec.name}: unknown column(s) {', '.join(extra)}; rename them to "
            f"canonical columns ({', '.join(spec.columns)}) or drop them"
        )
    columns = []
    for field in spec.schema.to_pyarrow():
        source = schema.field(field.name).type if field.name in names else None
        columns.append((field.name, source, field.type))
    for name in extra:
        _check_extra(spec, name)
        source = schema.field(name).type
        columns.append((name, source, pa.string() if pa.types.is_null(source) else source))
    for key in spec.required:
        nulls = _null_count(path, meta, names.index(key))
        if nulls:
            raise InputError(f"table {spec.name}: column {key} is empty in {nulls} row(s)")
    return _ParquetInput(path, meta.num_rows, tuple(columns))


def _null_count(path: Path, meta: pq.FileMetaData, index: int) -> int:
    """Nulls in one column: from the row groups' statistics, else by streaming it."""
    stats = [meta.row_group(i).column(index).statistics for i in range(meta.num_row_groups)]
    if all(s is not None and s.has_null_count for s in stats):
        return sum(s.null_count for s in stats)
    name = meta.schema.to_arrow_schema().names[index]
    batches = pq.ParquetFile(path).iter_batches(columns=[name])
    return sum(batch.column(0).null_count for batch in batches)


def _cast(spec: TableSpec, col: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(col.type) and col.type.tz:
        col = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(col.type):
        return col.cast(field.type)
    try:
        return col.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(
            f"table {spec.name}: column {field.name} cannot be read as {field.type} ({exc})"
        ) from exc


# --- engines ---------------------------------------------------------------------------


class _Engine:
    """What an engine must provide; subclasses declare their differences."""

    name = "generic"
    nested_types = False  # portable SQL unless the engine is known to have them

    def __init__(self, con: ibis.BaseBackend) -> None:
        self.con = con

    def table(self, name: str) -> ir.Table:
        return self.con.table(name)

    def create_missing(self, specs: Any) -> None:
        existing = set(self.con.list_tables())
        for spec in specs:
            if spec.name not in existing:
                self.con.create_table(spec.name, schema=spec.schema)

    def cache(self, expr: ir.Table) -> ir.Table:
        return expr.cache()

    def arg_max(self, value: ir.Column, key: ir.Column) -> ir.Scalar:
        return value.argmax(key)

    def _sqltype(self, dtype: pa.DataType) -> str:
        return self.con.compiler.type_mapper.to_string(ibis.dtype(dtype).copy(nullable=True))

    def _add_columns(self, spec: TableSpec, fields: list[tuple[str, pa.DataType]]) -> None:
        """Add to the stored table the columns of ``fields`` it lacks (extra columns),
        on engines whose driver connection runs SQL (DuckDB, Postgres)."""
        stored = set(self.con.table(spec.name).columns)
        for name, dtype in fields:
            if name not in stored:
                # the driver's own connection (DuckDB's, psycopg's) runs it
                self.con.con.execute(
                    f'ALTER TABLE "{spec.name}" ADD COLUMN "{name}" {self._sqltype(dtype)}'
                )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def check_unload(self) -> None:
        raise WarehouseError(
            f"removing or replacing a load is not supported on a {self.name} warehouse yet "
            "(DuckDB only); load the corrected file without --replace (it upserts by key)"
        )

    def unload(self, load_ids: list[str]) -> dict[str, int]:  # pragma: no cover
        self.check_unload()
        return {}

    @contextmanager
    def reporting(self, report: Callable[[float], None] | None) -> Iterator[None]:
        """While an upsert runs, ``report(fraction done)`` when the engine can tell."""
        yield

    def upsert(self, spec: TableSpec, arrow: pa.Table | _ParquetInput, *, replace: bool) -> int:
        if isinstance(arrow, _ParquetInput):  # this path goes through pandas anyway
            arrow = _prepare(spec, pq.read_table(arrow.path))
        current = self.con.table(spec.name).to_pyarrow()
        if replace or current.num_rows == 0:
            merged = arrow
        else:
            merged = pa.concat_tables([current, arrow], promote_options="permissive")
        frame = merged.to_pandas().drop_duplicates(list(spec.key), keep="last")
        self.con.create_table(spec.name, frame, overwrite=True)
        return arrow.num_rows

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect:
            disconnect()


def _generic(con: ibis.BaseBackend, *, configure: bool) -> _Engine:
    """The engine of another Ibis backend; ``configure``: the connection is ours to set."""
    if con.name != "postgres":
        return _GenericEngine(con)
    if configure:
        for setting in _PostgresEngine.SETTINGS:
            con.raw_sql(f"SET {setting}").close()
    return _PostgresEngine(con)


class _GenericEngine(_Engine):
    """Any other Ibis backend: correct but not transactional; loads go through pandas."""


_COPY_ROWS = 100_000  # rows per slice of CSV text a Postgres load sends


class _PostgresEngine(_Engine):
    """PostgreSQL: loads in one transaction through COPY; tables materialised for reuse
    get statistics."""

    name = "postgres"
    # Session settings on a connection fullfunnel opens. Its queries are analytic:
    # with nested loops the planner, misled by row estimates of derived tables, took
    # 54 s for the training examples of a 3,000-contact company (1.5 s without); JIT
    # spent 5.1 s compiling that one query and saved nothing.
    SETTINGS = ("enable_nestloop = off", "jit = off")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # DDL is transactional in Postgres: the staging tables and the writes of every
        # table of a load commit together or not at all
        with self.con.con.transaction():
            yield

    def upsert(self, spec: TableSpec, arrow: pa.Table | _ParquetInput, *, replace: bool) -> int:
        """Rows as CSV into a staging table by COPY (the server parses them), then
        the stored rows of their keys deleted and the last row per key inserted."""
        import psycopg
        import pyarrow.csv

        if isinstance(arrow, _ParquetInput):
            arrow = _prepare(spec, pq.read_table(arrow.path))
        self._add_columns(spec, [(f.name, f.type) for f in arrow.schema])
        raw = self.con.con
        staging, table = f'"_ff_staging_{spec.name}"', f'"{spec.name}"'
        cols = ", ".join(f'"{name}"' for name in arrow.column_names)
        keys = ", ".join(f'"{k}"' for k in spec.key)
        raw.execute(
            f"CREATE TEMPORARY TABLE {staging} (LIKE {table}, "
            "_ff_ord bigint GENERATED ALWAYS AS IDENTITY)"
        )
        options = pyarrow.csv.WriteOptions(include_header=False)
        try:
            with raw.cursor().copy(f"COPY {staging} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                # a slice at a time, so the text never holds the whole table; a null is
                # written unquoted (NULL to COPY), the empty text as ""
                for batch in arrow.to_batches(max_chunksize=_COPY_ROWS):
                    text = pa.BufferOutputStream()
                    pyarrow.csv.write_csv(batch, text, options)
                    copy.write(memoryview(text.getvalue()))
        except psycopg.errors.DataError as exc:  # e.g. a NUL character, which text cannot hold
            # its context reads "COPY <staging>, line N[, column C]": N counts the rows sent
            where = (exc.diag.context or "").replace(f"COPY _ff_staging_{spec.name}, ", "")
            raise InputError(
                f"{spec.name}: PostgreSQL refused a value ({exc.diag.message_primary}, at "
                f"{where.replace('line', 'row', 1)} of the rows loaded); fix or remove it"
            ) from exc
        if replace:
            raw.execute(f"DELETE FROM {table}")
        else:
            match = " AND ".join(f't."{k}" = s."{k}"' for k in spec.key)  # keys are not null
            raw.execute(f"DELETE FROM {table} AS t USING {staging} AS s WHERE {match}")
        raw.execute(
            f"INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({keys}) {cols} "
            f"FROM {staging} ORDER BY {keys}, _ff_ord DESC"
        )
        raw.execute(f"DROP TABLE {staging}")
        return arrow.num_rows

    def cache(self, expr: ir.Table) -> ir.Table:
        # autovacuum never analyses temporary tables: without statistics the planner
        # takes a cached timeline for one row and nests loops over it (7.2 s for the
        # open contacts' features of a 3,000-contact company, 0.1 s once analysed)
        table = expr.cache()
        self.con.raw_sql(f'ANALYZE "{table.get_name()}"').close()
        return table


@functools.cache
def _duckdb_arg_max(value: Any, key: Any) -> Callable[..., ir.Scalar]:
    """DuckDB's ``arg_max_null`` for a value and a key of these types."""

    def arg_max_null(value, key):  # typed by the signature
        """The value at the greatest key, null included (DuckDB's arg_max skips it)."""

    return ibis.udf.agg.builtin(name="arg_max_null", signature=((value, key), value))(arg_max_null)


class _DuckDBEngine(_Engine):
    """The embedded default: one file, real transactions, loads stay in the engine."""

    name = "duckdb"
    nested_types = True
    # Settings a URL's query may override. DuckDB's allocator keeps the memory its
    # queries freed; a background thread hands it back, so the pandas work between
    # queries (scoring's, above all) reuses it instead of adding to the peak (at the
    # price of faulting it in again for the next big query: docs/benchmarks.md).
    # A new file is written in the storage format of DuckDB 1.3 (any version we
    # support reads it), not that of 0.10: its string compression writes the 10M
    # touchpoints of a large load ~20% faster, into a ~10% smaller file.
    DEFAULTS: Mapping[str, str] = {
        "allocator_background_threads": "true",
        "storage_compatibility_version": "v1.3.0",
    }

    @classmethod
    def open(cls, path: str, options: Mapping[str, str]) -> _DuckDBEngine:
        path = path or ":memory:"
        if path != ":memory:":
            path = str(Path(path).expanduser())
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = ibis.duckdb.connect(path, **{**cls.DEFAULTS, **options})
        except Exception as exc:
            text = str(exc).splitlines()[0]
            if "lock" in text.lower():
                hint = "another process has it open; close it or use another --db"
            elif options and text.startswith("Invalid Input Error"):
                hint = "check the DuckDB settings after '?' in the URL (docs/engines.md)"
            else:
                hint = "check the path, or move a damaged file aside to start afresh"
            raise WarehouseError(f"cannot open DuckDB warehouse {path}: {text} ({hint})") from exc
        # DuckDB draws its own bar on stdout for long queries, even into a pipe (and so
        # into --format json output); progress is ours to show, on stderr
        con.con.execute("SET enable_progress_bar_print = false")
        return cls(con)

    def arg_max(self, value: ir.Column, key: ir.Column) -> ir.Scalar:
        # Ibis spells argmax as first(value ORDER BY key DESC), an ordered aggregate
        # that DuckDB runs ~30% slower than its own arg_max_null (the same value; the
        # per-contact touch activity of 10M touchpoints: 0.83-0.88 s against 0.56-0.66 s)
        return _duckdb_arg_max(value.type(), key.type())(value, key)

    _depth = 0  # transactions open: an inner one joins the outer

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        raw = self.con.con
        raw.begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            raw.rollback()
            raise
        finally:
            self._depth = 0
        raw.commit()

    def check_unload(self) -> None:
        return None

    def unload(self, load_ids: list[str]) -> dict[str, int]:
        """Delete what ``load_ids`` own (see :meth:`Warehouse.unload`), in SQL."""
        raw = self.con.con
        ids = ", ".join("'" + i.replace("'", "''") + "'" for i in load_ids)
        tables = raw.execute(
            f"SELECT DISTINCT table_name FROM load_keys WHERE load_id IN ({ids}) ORDER BY 1"
        ).fetchall()
        removed: dict[str, int] = {}
        for (name,) in tables:
            spec = table_spec(name)
            removed[name] = raw.execute(
                f'DELETE FROM "{name}" WHERE {key_text_sql(spec)} IN (SELECT key FROM load_keys '
                f"WHERE load_id IN ({ids}) AND table_name = ?)",
                [name],
            ).fetchone()[0]
        removed["rejects"] = raw.execute(
            f"DELETE FROM rejects WHERE load_id IN ({ids})"
        ).fetchone()[0]
        raw.execute(f"DELETE FROM load_keys WHERE load_id IN ({ids})")
        raw.execute(f"DELETE FROM loads WHERE load_id IN ({ids})")
        return removed

    _span = (0.0, 1.0)  # the share of an upsert that its running statement stands for
    _TRACKING = (("enable_progress_bar", "true"), ("enable_progress_bar_print", "false"))

    @contextmanager
    def reporting(self, report: Callable[[float], None] | None) -> Iterator[None]:
        """Poll DuckDB's progress of the running statement from a thread (its own
        progress bar stays off screen; the settings are restored afterwards)."""
        if report is None:
            yield
            return
        import threading

        raw = self.con.con
        setting = "SELECT current_setting(?)"
        saved = [(k, raw.execute(setting, [k]).fetchone()[0]) for k, _ in self._TRACKING]
        for key, value in self._TRACKING:
            raw.execute(f"SET {key} = {value}")
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.2):
                lo, hi = self._span
                report(lo + (hi - lo) * max(raw.query_progress(), 0.0) / 100)

        poller = threading.Thread(target=poll, name="fullfunnel-load-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
            self._span = (0.0, 1.0)
            for key, value in saved:
                raw.execute(f"SET {key} = {str(value).lower()}")

    def upsert(self, spec: TableSpec, arrow: pa.Table | _ParquetInput, *, replace: bool) -> int:
        import duckdb

        raw = self.con.con
        if isinstance(arrow, _ParquetInput):
            fields = [(name, target) for name, _, target in arrow.columns]
        else:
            fields = [(field.name, field.type) for field in arrow.schema]
        self._add_columns(spec, fields)
        staging = f"_ff_staging_{spec.name}"
        cols = ", ".join(f'"{name}"' for name, _ in fields)
        if isinstance(arrow, _ParquetInput):
            # the engine reads the file itself, casting to the stored types as it goes
            path = "'" + str(arrow.path).replace("'", "''") + "'"
            casts = ", ".join(self._parquet_cast(*column) for column in arrow.columns)
            plain = f"SELECT {casts} FROM read_parquet({path})"
            numbered = (
                f"SELECT {casts}, file_row_number AS _ff_ord "
                f"FROM read_parquet({path}, file_row_number = true)"
            )
        else:
            raw.register(staging, arrow)
            plain = f"SELECT {cols} FROM {staging}"
            numbered = f"SELECT *, row_number() OVER () AS _ff_ord FROM {staging}"
        try:
            keys = ", ".join(f'"{k}"' for k in spec.key)
            deduped = (
                f"SELECT {cols} FROM ({numbered}) "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _ff_ord DESC) = 1"
            )
            # the window de-duplication and the DELETE cost as much as the insert: skip
            # them when the batch has no repeated key and the table holds nothing yet
            self._span = (0.0, 0.3)
            distinct = raw.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM ({plain}))")
            source = deduped if distinct.fetchone()[0] < arrow.num_rows else plain
            self._span = (0.3, 0.5)
            if replace:
                raw.execute(f'DELETE FROM "{spec.name}"')
            elif raw.execute(f'SELECT 1 FROM "{spec.name}" LIMIT 1').fetchone():
                match = " AND ".join(f't."{k}" IS NOT DISTINCT FROM s."{k}"' for k in spec.key)
                raw.execute(f'DELETE FROM "{spec.name}" AS t USING ({source}) AS s WHERE {match}')
            self._span = (0.5, 1.0)
            raw.execute(f'INSERT INTO "{spec.name}" BY NAME {source}')
        except duckdb.ConversionException as exc:
            raise InputError(
                f"table {spec.name}: a value of {getattr(arrow, 'path', 'the data')} cannot be "
                f"stored as its column's type ({str(exc).splitlines()[0]}); fix or drop it"
            ) from exc
        finally:
            if not isinstance(arrow, _ParquetInput):
                raw.unregister(staging)
        return arrow.num_rows

    def _parquet_cast(self, name: str, source: pa.DataType | None, target: pa.DataType) -> str:
        quoted = '"' + name.replace('"', '""') + '"'
        if source is None:
            return f"NULL::{self._sqltype(target)} AS {quoted}"
        if source == target:
            return quoted
        value = quoted
        if pa.types.is_timestamp(source) and source.tz and pa.types.is_timestamp(target):
            value = f"timezone('UTC', {quoted})"  # an instant, stored as naive UTC
        return f"CAST({value} AS {self._sqltype(target)}) AS {quoted}"


class _SparkEngine(_Engine):
    """Apache Spark through Ibis: tables are Spark tables (Parquet) in one database.

    A load builds every table's new version first and swaps them in only when all
    are ready, so a failure while building leaves the warehouse as it was.
    """

    name = "pyspark"
    nested_types = True

    def __init__(self, con: ibis.BaseBackend, database: str | None) -> None:
        super().__init__(con)
        self.spark = con._session
        self.database = database
        self._pending: dict[str, Any] | None = None
        if database:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")

    @classmethod
    def open(cls, master: str, options: Mapping[str, str]) -> _SparkEngine:
        # where the tables (and, in local mode, their catalog) live; ./spark-warehouse in
        # local mode, a cluster's own setting otherwise
        local = master.startswith("local")
        given = options.get("warehouse") or ("spark-warehouse" if local else None)
        warehouse = str(Path(given).expanduser().resolve()) if given else None
        session = spark_session(master, warehouse=warehouse)
        if local:
            try:
                session.sql("SHOW DATABASES").collect()  # the catalog opens its metastore here
            except Exception as exc:
                raise WarehouseError(
                    f"cannot open the Spark warehouse {warehouse}: "
                    f"{str(exc).splitlines()[0]} (another process may have it open: its "
                    "metastore lets one at a time; close that one, or use another ?warehouse=)"
                ) from exc
        return cls(ibis.pyspark.connect(session), options.get("database"))

    def _qualified(self, name: str) -> str:
        return f"`{self.database}`.`{name}`" if self.database else f"`{name}`"

    def table(self, name: str) -> ir.Table:
        return self.con.table(name, database=self.database)

    def create_missing(self, specs: Any) -> None:
        existing = set(self.con.list_tables(database=self.database))
        for spec in specs:
            if spec.name not in existing:
                self.con.create_table(spec.name, schema=spec.schema, database=self.database)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._pending = {}
        try:
            yield
            for name, frame in self._pending.items():
                frame.write.mode("overwrite").format("parquet").saveAsTable(self._qualified(name))
        finally:
            self._pending = None

    def upsert(self, spec: TableSpec, arrow: pa.Table | _ParquetInput, *, replace: bool) -> int:
        from ibis.backends.pyspark.datatypes import PySparkSchema, PySparkType
        from pyspark.sql import functions as F
        from pyspark.sql.window import Window

        if isinstance(arrow, _ParquetInput):
            # Spark reads the file itself (the path must be visible to its executors)
            read = self.spark.read.parquet(str(arrow.path))
            incoming = read.select(
                *[
                    (F.lit(None) if source is None else F.col(f"`{name}`"))
                    .cast(PySparkType.from_ibis(ibis.dtype(target)))
                    .alias(name)
                    for name, source, target in arrow.columns
                ]
            )
        else:
            schema = PySparkSchema.from_ibis(ibis.Schema.from_pyarrow(arrow.schema))
            # Spark 4 takes Arrow directly: ~5x faster than going through pandas
            incoming = self.spark.createDataFrame(arrow, schema=schema)
        order = Window.partitionBy(*spec.key).orderBy(F.col("_ff_ord").desc())
        incoming = (
            incoming.withColumn("_ff_ord", F.monotonically_increasing_id())
            .withColumn("_ff_rn", F.row_number().over(order))
            .where("_ff_rn = 1")
            .drop("_ff_ord", "_ff_rn")
        )
        current = self.spark.table(self._qualified(spec.name))
        if replace:
            merged = incoming
        else:
            cond = [current[k].eqNullSafe(incoming[k]) for k in spec.key]
            kept = current.join(incoming, on=cond, how="left_anti")
            merged = kept.unionByName(incoming, allowMissingColumns=True)
        # cut the lineage so the table can be overwritten while it is read
        merged = merged.localCheckpoint(eager=True)
        if self._pending is None:
            merged.write.mode("overwrite").format("parquet").saveAsTable(self._qualified(spec.name))
        else:
            self._pending[spec.name] = merged
        return arrow.num_rows

    def close(self) -> None:  # the session is shared; leave it running
        pass


def spark_session(master: str = "local[*]", *, warehouse: str | None = None, **conf: str) -> Any:
    """A SparkSession in UTC with a small shuffle, created once and shared.

    ``warehouse`` is the directory of the tables. In local mode their catalog lives
    there too: an embedded Derby metastore in ``metastore_db`` keeps the tables known
    to the next session, in another process. Spark's own catalog lives in memory and
    forgets them, and then refuses to create a table where its files already are.
    Derby lets one process at a time open it, as DuckDB does its file. A cluster
    keeps the metastore it is configured with.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingExtraError("the Spark engine", "spark", "pyspark") from exc
    if warehouse is not None:
        conf = {"spark.sql.warehouse.dir": warehouse, **conf}
    if warehouse is not None and master.startswith("local"):
        Path(warehouse).mkdir(parents=True, exist_ok=True)
        conf = {
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={Path(warehouse) / 'metastore_db'};create=true"
            ),
            "spark.driver.extraJavaOptions": (
                f"-Dderby.stream.error.file={Path(warehouse) / 'derby.log'}"
            ),
            **conf,
        }
    builder = (
        SparkSession.builder.master(master)
        .appName("fullfunnel")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.legacy.createHiveTableByDefault", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("FATAL")
    return session
