"""The warehouse: the canonical tables on an Ibis backend, loaded atomically.

``connect()`` is the only place that knows which engine runs underneath. Analytics
take a :class:`Warehouse` and build Ibis expressions on ``wh.table(name)``; what
differs between engines (connecting, bulk loads, transactions) is declared here
in one engine class each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from fullfunnel.errors import MissingExtraError, WarehouseError
from fullfunnel.schema import TABLES, table_spec
from fullfunnel.warehouse._base import (
    Data,
    ParquetFile,
    _Engine,
    _GenericEngine,
    _prepare,
    key_text_sql,
)
from fullfunnel.warehouse.duckdb_engine import _DuckDBEngine
from fullfunnel.warehouse.postgres import _PostgresEngine
from fullfunnel.warehouse.spark import _SparkEngine, spark_session

__all__ = [
    "DB_ENV",
    "DEFAULT_DB",
    "Data",
    "ParquetFile",
    "Warehouse",
    "connect",
    "key_text_sql",
    "spark_session",
]

DB_ENV = "FULLFUNNEL_DB"
DEFAULT_DB = "fullfunnel.duckdb"
# the tables analyses read (not those they write, e.g. scores, or the server's keys)
DATA_TABLES = (
    "accounts",
    "contacts",
    "touchpoints",
    "stage_events",
    "opportunities",
    "owners",
    "leads",
    "products",
    "opportunity_history",
    "opportunity_contacts",
    "pipeline_snapshots",
    "spend",
    "targets",
    "loads",
    "demo_truth",
)
_SHARED_KEPT = 8  # materialised derived tables kept per warehouse (a run of diagnose uses 4)


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

    @property
    def base(self) -> Warehouse:
        """The warehouse at contact grain (an account-level view answers its own)."""
        return self

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

    def data_version(self) -> str:
        """A fingerprint of the data the analyses read: each input table's row count
        and newest timestamps, and the loads. Any load, sync or collected event
        changes it; what a run derived from the data can be reused while it holds."""
        import hashlib
        import json

        parts = []
        for name in DATA_TABLES:
            t = self.table(name)
            stamps = [c for c, dtype in t.schema().items() if dtype.is_timestamp()]
            row = t.aggregate(rows=t.count(), **{c: t[c].max() for c in stamps}).execute()
            parts.append([name, *map(str, row.iloc[0].tolist())])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]

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
            if "opportunities" in prepared:  # in the same transaction as the load
                self._snapshot_pipeline()
        return written

    def _snapshot_pipeline(self) -> None:
        """Record the deals this load changed (:mod:`fullfunnel.warehouse.snapshots`)."""
        from fullfunnel._dates import now
        from fullfunnel.warehouse.snapshots import changed_deals

        rows = changed_deals(
            self.table("opportunities"), self.table("pipeline_snapshots"), now()
        ).to_pyarrow()
        if rows.num_rows:
            spec = table_spec("pipeline_snapshots")
            self.engine.upsert(spec, _prepare(spec, rows), replace=False)

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

    def reopen(self) -> None:
        """Open the connection again after :meth:`close` (another process may have
        written in between: nothing derived is kept)."""
        self._release()
        self.engine = connect(self.url, create=False).engine

    @property
    def duckdb_file(self) -> Path | None:
        """The DuckDB file this warehouse is, if it is one (a lock is taken on it)."""
        return duckdb_file(self.url) if self.name == "duckdb" else None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _url(url: str | os.PathLike[str] | Any | None) -> str | None:
    """The warehouse URL as text (the default when None); None for a connection."""
    if url is None:
        return os.environ.get(DB_ENV) or DEFAULT_DB
    if isinstance(url, os.PathLike):
        return os.fspath(url)
    return url if isinstance(url, str) else None


def _parts(url: str) -> tuple[str, str, dict[str, str]]:
    """A warehouse URL as scheme, location and settings (a plain path: DuckDB)."""
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "duckdb", url
    query = {}
    if "?" in rest:
        rest, _, qs = rest.partition("?")
        query = dict(p.split("=", 1) for p in qs.split("&") if "=" in p)
    return scheme.lower(), rest, query


def duckdb_file(url: str | os.PathLike[str] | None) -> Path | None:
    """The DuckDB file a warehouse URL (or the default) names; None for any other."""
    text = _url(url)
    if text is None:
        return None
    scheme, rest, _ = _parts(text)
    if scheme != "duckdb" or rest in ("", ":memory:"):
        return None
    return Path(rest).expanduser().resolve()


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
    text = _url(url)
    if text is None:
        return _connect_object(url)
    url = text
    scheme, rest, query = _parts(url)
    if scheme == "duckdb":
        path = rest or ":memory:"
        if not create and path != ":memory:" and not Path(path).expanduser().exists():
            raise WarehouseError(
                f"no warehouse at {path}: run 'fullfunnel demo' to try the tool on a synthetic "
                "company, or 'fullfunnel ingest FILE' to load your data (or give the right "
                "path as `db`)"
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


def _generic(con: ibis.BaseBackend, *, configure: bool) -> _Engine:
    """The engine of another Ibis backend; ``configure``: the connection is ours to set."""
    if con.name != "postgres":
        return _GenericEngine(con)
    if configure:
        for setting in _PostgresEngine.SETTINGS:
            con.raw_sql(f"SET {setting}").close()
    return _PostgresEngine(con)
