"""Reading CSV, Parquet and JSON-lines files with DuckDB's readers, as text.

A file is read into the table ``raw`` of a private in-memory DuckDB connection:
every column as VARCHAR (so nothing is reinterpreted before the checks), plus
``_ff_row``, the 1-based data row (the header is not counted). CSV rows the
reader cannot parse (ragged rows, bad quoting, bytes that are not text in the
file's encoding) go to ``parse_rejects`` with their line and the reader's
reason, so that every input row is accounted for. DuckDB streams the file and
may spill to disk (``[ingest] memory_limit`` caps its memory): the file never
sits in Python memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from fullfunnel.errors import ConfigError, InputError
from fullfunnel.ingest.sql import ident, lit

FORMATS = ("csv", "parquet", "jsonl", "sfdx")
_CSV_ERRORS = {
    "TOO MANY COLUMNS": "ragged row: more fields than the header",
    "MISSING COLUMNS": "ragged row: fewer fields than the header",
    "INVALID ENCODING": "not valid text in the file's encoding (state it: encoding = 'latin-1')",
    "UNQUOTED VALUE": "bad quoting",
    "LINE SIZE OVER MAXIMUM": "line longer than the reader's maximum",
    "CAST ERROR": "value cannot be read",
}


def private_connection(
    *, memory_limit: str | None = None, progress: bool = False, spill_to: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for staging one load, in UTC, allowed to spill to disk.

    ``memory_limit`` (e.g. "2GB") is where it starts spilling, into ``spill_to``
    (default: the system's temporary directory); ``progress`` makes it track its
    statements' progress for ``query_progress()``.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar_print = false")  # never on the command's stdout
    con.execute(f"SET temp_directory = {lit(str(spill_to or tempfile.gettempdir()))}")
    if memory_limit:
        try:
            con.execute(f"SET memory_limit = {lit(memory_limit)}")
        except duckdb.Error as exc:
            con.close()
            raise ConfigError(
                f"[ingest] memory_limit = {memory_limit!r} is not a size DuckDB knows "
                f'({str(exc).splitlines()[0]}); write it like "1GB" or "4GB"'
            ) from exc
    if progress:
        from fullfunnel.ingest.progress import enable

        enable(con)
    return con


def sha256(path: Path, *, progress: Callable[[float], None] | None = None) -> str:
    """The file's SHA-256, read in 1 MB blocks; ``progress(bytes hashed)`` every 16 MB."""
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            done += len(block)
            if progress and done % (16 << 20) < len(block):
                progress(done)
    if progress:
        progress(done)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "txt", "tsv"):
        return "csv"
    if suffix in ("parquet", "pq"):
        return "parquet"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise InputError(
        f"{path}: cannot tell the format from the name; use 'ingest csv', 'ingest parquet' "
        "or 'ingest jsonl'"
    )


def check_file(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the files in it")
    return path


def read(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    watch: Callable[[Any], contextlib.AbstractContextManager] | None = None,
) -> tuple[list[str], int]:
    """Stage ``path`` as ``raw`` (+ ``parse_rejects``); return its columns and rows in.

    ``watch(con)`` wraps the statements that read the file (for progress).
    """
    watch = watch or (lambda _con: contextlib.nullcontext())
    check_file(path)
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: the file is empty (not even a header); export it again")
    src = lit(str(path))
    con.execute(
        "CREATE OR REPLACE TABLE parse_rejects (row_number BIGINT, raw VARCHAR, reason VARCHAR)"
    )
    try:
        if fmt == "csv":
            reader = _csv_reader(src, encoding, delimiter)
        elif fmt == "parquet":
            reader = f"read_parquet({src})"
        elif fmt == "jsonl":
            reader = f"read_json({src}, format = 'newline_delimited', records = true)"
        elif fmt == "sfdx":  # {"records": [{"attributes": {"type", "referenceId"}, …}]}
            reader = (
                'SELECT r.attributes."type" AS "sobjectType", r.attributes.referenceId AS '
                '"referenceId", r.* EXCLUDE (attributes) FROM (SELECT unnest(records) AS r '
                f"FROM read_json({src}, format = 'auto', records = true, "
                "maximum_object_size = 134217728))"
            )
            reader = f"({reader})"
        else:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        rel = con.sql(f"SELECT * FROM {reader}")
        columns = list(rel.columns)
        if fmt != "csv":
            casts = ", ".join(
                f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" if str(t) != "VARCHAR" else ident(c)
                for c, t in zip(rel.columns, rel.types, strict=True)
            )
            body = f"SELECT {casts} FROM {reader}"
        else:
            body = f"SELECT * FROM {reader}"
        with watch(con):
            con.execute(
                f"CREATE OR REPLACE TABLE raw AS SELECT row_number() OVER () AS _ff_row, * "
                f"FROM ({body})"
            )
    except duckdb.OutOfMemoryException:
        raise  # not the file's fault: the loader says which setting to raise
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise InputError(
            f"{path}: cannot be read as {fmt.upper()} ({first}); check the file type"
            + (" and its delimiter/encoding (a mapping can state them)" if fmt == "csv" else "")
        ) from exc
    if fmt == "csv" and columns == ["column0"] and _header_only_blank(con):
        raise InputError(f"{path}: the file is empty (not even a header); export it again")
    if fmt == "csv" and _header_ends_with_separator(path, delimiter):
        with watch(con):
            columns = _drop_trailing_column(con, src, columns, encoding, delimiter)
    if fmt == "csv":
        with watch(con):
            _number_parse_rejects(con)
    good = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    bad = con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]
    return columns, good + bad


def _csv_reader(src: str, encoding: str | None, delimiter: str | None, *, pad: bool = False) -> str:
    """DuckDB's CSV reader of ``src``: every column as text, rows it cannot split kept
    in its rejects tables; ``pad``: rows one field short get a NULL last field."""
    opts = [
        "header = true",
        "all_varchar = true",
        "store_rejects = true",
        f"rejects_table = 'ff_reject_errors{'_pad' if pad else ''}'",
        f"rejects_scan = 'ff_reject_scans{'_pad' if pad else ''}'",
        "strict_mode = true",
        "max_line_size = 20000000",
        "normalize_names = false",
    ]
    if pad:
        opts.append("null_padding = true")
    if encoding:
        opts.append(f"encoding = {lit(encoding)}")
    if delimiter:
        opts.append(f"delim = {lit(delimiter)}")
    return f"read_csv({src}, {', '.join(opts)})"


def _header_ends_with_separator(path: Path, delimiter: str | None) -> bool:
    """Whether the header line ends with a separator (an unnamed last column)."""
    with path.open("rb") as fh:
        line = fh.readline(1 << 20)
    text = line.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
    return bool(text) and text[-1] in ((delimiter,) if delimiter else (",", ";", "\t", "|"))


def _drop_trailing_column(
    con: duckdb.DuckDBPyConnection,
    src: str,
    columns: list[str],
    encoding: str | None,
    delimiter: str | None,
) -> list[str]:
    """A header ``a,b,`` names an empty last column. When the rows leave it out (one
    field short), they are read again padded; the column goes when it holds nothing."""
    last = columns[-1]
    if not re.fullmatch(r"column\d+", last):
        return columns
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    short = (
        "ff_reject_errors" in tables
        and con.execute(
            "SELECT count(*) FROM ff_reject_errors WHERE error_type = 'MISSING COLUMNS'"
        ).fetchone()[0]
    )
    if short:
        reader = _csv_reader(src, encoding, delimiter, pad=True)
        if list(con.sql(f"SELECT * FROM {reader}").columns) == columns:
            con.execute(
                f"CREATE OR REPLACE TABLE raw AS SELECT row_number() OVER () AS _ff_row, * "
                f"FROM {reader}"
            )
            con.execute("DROP TABLE ff_reject_errors")
            con.execute("DROP TABLE ff_reject_scans")
            con.execute("ALTER TABLE ff_reject_errors_pad RENAME TO ff_reject_errors")
            con.execute("ALTER TABLE ff_reject_scans_pad RENAME TO ff_reject_scans")
    if con.execute(f"SELECT count({ident(last)}) FROM raw").fetchone()[0]:
        return columns
    con.execute(f"ALTER TABLE raw DROP COLUMN {ident(last)}")
    return columns[:-1]


def _header_only_blank(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) FROM raw").fetchone()[0] == 0


def _number_parse_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Give rows the reader refused their data-row numbers, and renumber the rest.

    DuckDB reports the record number of a refused row (header = 1); the rows it
    read are numbered around those, so that every data row has its own number.
    """
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "ff_reject_errors" not in tables:
        return
    reasons = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in _CSV_ERRORS.items())
    con.execute(
        f"""
        INSERT INTO parse_rejects
        SELECT line - 1 AS row_number, any_value(csv_line) AS raw,
               'line ' || line || ': ' || string_agg(DISTINCT CASE error_type {reasons}
                   ELSE lower(error_type) END, '; ') AS reason
        FROM ff_reject_errors GROUP BY line
        """
    )
    n = con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]
    if not n:
        return
    # the k-th read row is the k-th data row number not taken by a refused row
    con.execute(
        """
        CREATE OR REPLACE TABLE raw AS
        WITH gaps AS (
            SELECT row_number - row_number() OVER (ORDER BY row_number) AS free_before
            FROM parse_rejects
        )
        SELECT r._ff_row + (SELECT count(*) FROM gaps WHERE free_before < r._ff_row)
               AS _ff_row, r.* EXCLUDE (_ff_row)
        FROM raw r
        """
    )
