"""What every engine shares: preparing data to the canonical types, and the engine
base the DuckDB, Spark, Postgres and generic Ibis engines build on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fullfunnel.errors import InputError, WarehouseError
from fullfunnel.schema import TableSpec

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
            "(DuckDB only); load the corrected file without `replace` (it upserts by key)"
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


class _GenericEngine(_Engine):
    """Any other Ibis backend: correct but not transactional; loads go through pandas."""
