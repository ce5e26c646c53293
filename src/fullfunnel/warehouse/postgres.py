"""The PostgreSQL engine: loads through COPY, transactions on one connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from fullfunnel.errors import InputError
from fullfunnel.schema import TableSpec
from fullfunnel.warehouse._base import _Engine, _ParquetInput, _prepare

_COPY_ROWS = 100_000  # rows per slice of CSV text a Postgres load sends


class _PostgresEngine(_Engine):
    """PostgreSQL: loads in one transaction through COPY; tables materialised for reuse
    get statistics."""

    name = "postgres"
    # Session settings on a connection fullfunnel opens. Its queries are analytic:
    # misled by the row estimates of derived tables, the planner picks nested loops
    # that take many times longer than hash joins, and JIT spends longer compiling
    # such a query than it saves.
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
        # takes a cached timeline for one row and nests loops over it
        table = expr.cache()
        self.con.raw_sql(f'ANALYZE "{table.get_name()}"').close()
        return table
