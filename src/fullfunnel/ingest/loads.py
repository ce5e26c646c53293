"""The loader: one file in, canonical rows + rejects + a loads record out, atomically.

For each file: hash it (a file whose SHA-256 was loaded before for the same
source is skipped), stage it as text in a private DuckDB, compute the canonical
columns and every row's problems in one vectorised pass, reject duplicate keys
and orphans, then write the accepted rows, the rejects and the ``loads`` record
in ONE warehouse transaction. ``rows_in = rows_loaded + rows_rejected`` always.

The rows never pass through Python: the private DuckDB writes each output table
(and the rejects) to a temporary Parquet file, and the warehouse's engine reads
those files itself inside the transaction. The files live in a directory of
their own under the system's temporary directory, removed when the load ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from fullfunnel._dates import now
from fullfunnel.errors import InputError
from fullfunnel.ingest import files
from fullfunnel.ingest.plan import Plan
from fullfunnel.ingest.progress import Meter, Progress
from fullfunnel.ingest.staging import (
    stage_to_parquet,
)
from fullfunnel.ingest.unload import earlier_loads
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

PlanFactory = Callable[[list[str], Path], Plan]


_WORKDIR_PREFIX = "fullfunnel-load-"  # a load's Parquet files and DuckDB's spill files
_STALE_SECONDS = 24 * 3600


def sweep_stale_workdirs() -> None:
    """Remove the working directories of loads killed a day ago or more (a killed
    process cannot remove its own)."""
    cutoff = time.time() - _STALE_SECONDS
    for old in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)


@dataclasses.dataclass(frozen=True, eq=False)
class IngestResult(Result):
    """One row per file (what was loaded, skipped or rejected) and the reject reasons."""

    title = "ingest"
    files: pd.DataFrame
    reasons: pd.DataFrame
    checks: tuple[str, ...] = ()  # after the load: date range, names spelled otherwise

    @property
    def rows_in(self) -> int:
        return int(self.files["rows_in"].sum()) if not self.files.empty else 0

    @property
    def rows_loaded(self) -> int:
        return int(self.files["rows_loaded"].sum()) if not self.files.empty else 0

    @property
    def rows_rejected(self) -> int:
        return int(self.files["rows_rejected"].sum()) if not self.files.empty else 0

    def display_columns(self) -> dict[str, list[str]]:
        # the notes are in the headline; the table is the counts
        return {"files": ["file", "tables", "status", "rows_in", "rows_loaded", "rows_rejected"]}

    def with_recognised(self, shapes: dict[str, Any]) -> IngestResult:
        """The result with a row for each recognised file that is not loaded (a path
        file): what it is and where it is used instead."""
        if not shapes:
            return self
        rows = [
            [f, "", "", "not loaded", "", 0, 0, 0, "; ".join([s.describe(), *s.notes])]
            for f, s in shapes.items()
        ]
        extra = pd.DataFrame(rows, columns=self.files.columns)
        files = pd.concat([self.files, extra], ignore_index=True) if len(self.files) else extra
        return dataclasses.replace(self, files=files)

    def with_checks(self, checks: list[str]) -> IngestResult:
        return dataclasses.replace(self, checks=tuple(checks)) if checks else self

    def headline(self) -> list[str]:
        lines = []
        for r in self.files.itertuples():
            if r.status == "not loaded":
                lines.append(f"{r.file}: not loaded")
                lines.extend(f"  {note}" for note in filter(None, r.note.split("; ")))
                continue
            if r.status == "skipped":
                lines.append(f"{r.file}: {r.note}; nothing changed")
            else:
                lines.append(
                    f"{r.file} ({r.source} → {r.tables}): {r.rows_in:,} rows in, "
                    f"{r.rows_loaded:,} loaded, {r.rows_rejected:,} rejected (load {r.load_id})"
                )
                lines.extend(f"  {note}" for note in filter(None, r.note.split("; ")))
        if self.rows_rejected:
            lines.append("rejected rows by reason (see them with 'fullfunnel rejects --load ID'):")
            for r in self.reasons.itertuples():
                lines.append(f"  {r.rows:,} × {r.reason}")
        return [*lines, *self.checks]


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
    memory_limit: str | None = None,
    replace: bool = False,
) -> IngestResult:
    """Load each file in turn (each its own transaction) and summarise; ``replace``:
    a file loaded before from the same path (other bytes) takes its earlier load's place."""
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
            memory_limit=memory_limit,
            replace=replace,
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
    memory_limit: str | None = None,
    replace: bool = False,
) -> tuple[list[Any], list[tuple[str, str, int]]]:
    """Load one file; return its summary row and its (file, reason, rows) counts.

    ``replace``: the earlier loads of the same path and source are removed in the
    same transaction (:mod:`fullfunnel.ingest.unload`)."""
    meter = Meter(progress, str(path))
    files.check_file(path)
    if replace:
        wh.engine.check_unload()
    started = now()
    meter.start("hashing", total=path.stat().st_size)
    digest = files.sha256(path, progress=meter.report)
    meter.finish()
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
    sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX, dir=tempfile.gettempdir()))
    try:
        staged = stage_to_parquet(
            wh,
            path,
            plan_for,
            workdir,
            fmt=fmt,
            orphans=orphans,
            encoding=encoding,
            delimiter=delimiter,
            memory_limit=memory_limit,
            meter=meter,
        )
        record = pa.table(
            {
                "load_id": [staged.load_id],
                "source": [source],
                "file": [str(path.resolve())],
                "sha256": [digest],
                "rows_in": pa.array([staged.rows_in], pa.int64()),
                "rows_loaded": pa.array([staged.loaded], pa.int64()),
                "rows_rejected": pa.array([staged.rejected], pa.int64()),
                "started_at": pa.array([started], pa.timestamp("us")),
                "finished_at": pa.array([now()], pa.timestamp("us")),
                "status": ["loaded"],
            }
        )
        older = earlier_loads(wh, source, str(path.resolve())) if replace else []
        with meter.step() as part, wh.transaction() if older else contextlib.nullcontext():
            removed = wh.unload(older) if older else {}
            wh.load_many(
                {**staged.files, "loads": record, "load_keys": staged.keys},
                progress=lambda done, total: part(done / total if total else 1.0),
            )
        meter.finish()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    plan = staged.plan
    return (
        [
            str(path),
            plan.source,
            ", ".join(t for t in staged.files if t != "rejects"),
            "loaded",
            staged.load_id,
            staged.rows_in,
            staged.loaded,
            staged.rejected,
            "; ".join([*_replaced(older, removed), *staged.notes]),
        ],
        [(str(path), reason, n) for reason, n in staged.why],
    )


def _replaced(older: list[str], removed: dict[str, int]) -> list[str]:
    if not older:
        return []
    rows = ", ".join(f"{n:,} {t}" for t, n in removed.items() if n) or "no rows"
    return [f"replaced load {', '.join(older)} (removed {rows})"]


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
