"""The DuckDB engine, the embedded default: a file or memory, Parquet read in place."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from fullfunnel.errors import InputError, WarehouseError, WarehouseLockedError
from fullfunnel.schema import TableSpec, table_spec
from fullfunnel.warehouse._base import _Engine, _ParquetInput, key_text_sql


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
                hint = "another process has it open; close it or use another warehouse (`db`)"
                raise WarehouseLockedError(
                    f"cannot open DuckDB warehouse {path}: {text} ({hint})"
                ) from exc
            if options and text.startswith("Invalid Input Error"):
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
        # that DuckDB runs slower than its own arg_max_null, which gives the same value
        # (measured in docs/benchmarks.md)
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
