"""Live pulls from the CRMs, loaded through the same readers as their exports.

A pull asks the vendor's own client (hubspot-api-client, simple-salesforce) for the
records changed since the cursor kept in ``sync_state``: per object, the newest
modification time loaded and the ids modified at that instant. The records are
written as the CSV an export with internal (API) names would be, columns in a fixed
order and rows by id, and loaded by :func:`~fullfunnel.ingest.ingest_hubspot` or
:func:`~fullfunnel.ingest.ingest_salesforce`. So an API pull and a file get the same
checks, rejects and load records, and an object with nothing new since the cursor
writes no file at all. The cursors move in one write after the load has committed:
a pull that fails, or is stopped, is simply pulled again.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from fullfunnel._dates import now
from fullfunnel.ingest.loads import IngestResult
from fullfunnel.result import Result, jsonable
from fullfunnel.warehouse import Warehouse

Tell = Callable[[str], None]  # progress: one line of what the pull is doing


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where the last pull of an object stopped: its newest modification time and the
    ids modified at that very time (a pull from ``>= at`` skips them)."""

    at: datetime
    ids: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Pulled:
    """The records of one object changed since its cursor, as an export's rows."""

    kind: str  # the export's kind: contacts, deals…, or Account, Opportunity…
    columns: tuple[str, ...]
    records: list[dict[str, str | None]]
    modified: list[datetime]  # each record's modification time, in the records' order
    since: Cursor | None

    @property
    def cursor(self) -> Cursor | None:
        """The cursor after this pull: unchanged when nothing new came."""
        if not self.modified:
            return self.since
        last = max(self.modified)
        if self.since and last < self.since.at:  # only unchanged records it points at
            return self.since
        ids = {r["_id"] for r, m in zip(self.records, self.modified, strict=True) if m == last}
        if self.since and self.since.at == last:
            ids |= self.since.ids
        return Cursor(last, frozenset(ids))


def new_since(
    records: list[dict[str, str | None]], modified: list[datetime], since: Cursor | None
) -> tuple[list[dict[str, str | None]], list[datetime]]:
    """The records a pull from ``>= since.at`` returned, less those already loaded:
    older ones (a pull to the second returns its whole second again) and the ids
    at the cursor's instant that have not changed again."""
    if since is None:
        return records, modified
    keep = [
        (r, m)
        for r, m in zip(records, modified, strict=True)
        if m > since.at or (m == since.at and r["_id"] not in since.ids)
    ]
    return [r for r, _ in keep], [m for _, m in keep]


def cursors(wh: Warehouse, source: str) -> dict[str, Cursor]:
    """The stored cursor of every object of ``source`` (hubspot or salesforce)."""
    t = wh.table("sync_state")
    rows = t.filter(t.source == source).select("object", "cursor", "cursor_ids").to_pyarrow()
    return {
        r["object"]: Cursor(r["cursor"], frozenset(filter(None, (r["cursor_ids"] or "").split())))
        for r in rows.to_pylist()
        if r["cursor"] is not None
    }


@dataclasses.dataclass(frozen=True, eq=False)
class SyncResult(Result):
    """Per object: records pulled since the cursor, and the load of them."""

    title = "sync"
    objects: pd.DataFrame  # object, since, pulled, cursor
    loaded: IngestResult
    source: str

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"objects": self.objects, **self.loaded.tables()}

    def display_columns(self) -> dict[str, list[str]]:
        return self.loaded.display_columns()

    def to_dict(self) -> dict:
        return {
            "kind": self.title,
            "source": self.source,
            "objects": jsonable(self.objects),
            "loaded": self.loaded.to_dict(),
            "headline": self.headline(),
        }

    def headline(self) -> list[str]:
        lines = []
        for r in self.objects.itertuples():
            since = f"since {r.since:%Y-%m-%d %H:%M:%S}" if pd.notna(r.since) else "in full"
            noun = "record" if r.pulled == 1 else "records"
            lines.append(f"{self.source} {r.object}: {r.pulled:,} {noun} pulled {since}")
        if not int(self.objects["pulled"].sum()):
            lines.append("nothing changed since the last sync; the warehouse is as it was")
        return [*lines, *self.loaded.headline()]


def load_pulled(
    wh: Warehouse,
    source: str,
    pulled: list[Pulled],
    load: Callable[..., IngestResult],
    **options,
) -> SyncResult:
    """Write each object's new records as an export file, load them with ``load``
    (the export reader), then move the cursors of the objects loaded."""
    with tempfile.TemporaryDirectory(prefix=f"fullfunnel-sync-{source}-") as tmp:
        paths = [_write(Path(tmp), p) for p in pulled if p.records]
        if paths:
            loaded = load(wh, paths, **options)
            # the files were the API's answer, in a folder that is gone: name them so
            files = loaded.files.assign(
                file=[f"{source} API {Path(f).stem}" for f in loaded.files["file"]]
            )
            loaded = dataclasses.replace(loaded, files=files)
        else:
            loaded = IngestResult(files=pd.DataFrame(), reasons=pd.DataFrame())
    moved = [p for p in pulled if p.records]
    if moved:
        state = pa.table(
            {
                "source": [source] * len(moved),
                "object": [p.kind for p in moved],
                "cursor": pa.array([p.cursor.at for p in moved], pa.timestamp("us")),
                "cursor_ids": [" ".join(sorted(p.cursor.ids)) for p in moved],
                "pulled": pa.array([len(p.records) for p in moved], pa.int64()),
                "synced_at": pa.array([now()] * len(moved), pa.timestamp("us")),
            }
        )
        wh.load("sync_state", state)
    objects = pd.DataFrame(
        {
            "object": [p.kind for p in pulled],
            "since": [p.since.at if p.since else None for p in pulled],
            "pulled": [len(p.records) for p in pulled],
            "cursor": [p.cursor.at if p.cursor else None for p in pulled],
        }
    )
    return SyncResult(objects=objects, loaded=loaded, source=source)


def _write(folder: Path, pulled: Pulled) -> Path:
    """The records as the export's CSV: the columns in their fixed order, rows by id,
    so the same records always make the same bytes."""
    rows = sorted(pulled.records, key=lambda r: r["_id"])
    table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in pulled.columns})
    path = folder / f"{pulled.kind}.csv"
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


def text(value: object) -> str | None:
    """A JSON value as export text: booleans as true/false, numbers as written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sync_hubspot(
    wh: Warehouse,
    token: str,
    *,
    host: str | None = None,
    full: bool = False,
    tell: Tell | None = None,
    **options,
) -> SyncResult:
    """Pull HubSpot companies, contacts and deals changed since the last sync (all of
    them the first time, or with ``full``) and load them as their exports would be."""
    from fullfunnel.ingest import ingest_hubspot
    from fullfunnel.sync import hubspot

    since = {} if full else cursors(wh, "hubspot")
    pulled = hubspot.pull(hubspot.client(token, host=host), since, tell)
    return load_pulled(wh, "hubspot", pulled, ingest_hubspot, **options)


def sync_salesforce(
    wh: Warehouse,
    *,
    full: bool = False,
    tell: Tell | None = None,
    login: dict[str, str | None],
    **options,
) -> SyncResult:
    """Pull the Salesforce objects changed since the last sync (``login``: username,
    password, security_token, domain, or instance_url and session_id) and load them
    as Data Loader exports would be."""
    from fullfunnel.ingest import ingest_salesforce
    from fullfunnel.sync import salesforce

    since = {} if full else cursors(wh, "salesforce")
    pulled = salesforce.pull(salesforce.client(**login), since, tell)
    return load_pulled(wh, "salesforce", pulled, ingest_salesforce, **options)
