"""Ingest throughput: N touchpoints from CSV and from Parquet into a DuckDB warehouse.

Writes N synthetic touchpoints (and the contacts they belong to) into a temporary
directory as CSV and Parquet, then loads each file with ``fullfunnel.ingest`` in
a fresh process and prints rows/s and the peak resident memory of that process.
Every row goes through the full path: read as text by DuckDB, parsed, checked
(dates, required columns, duplicate keys, orphans), loaded in one transaction.

    python benchmarks/bench_ingest.py --rows 10000000
    python benchmarks/bench_ingest.py --rows 100000      # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHANNELS = np.array(["paid_search", "paid_social", "seo", "content", "webinar", "email"])
KINDS = np.array(["web_visit", "form_fill", "email", "call", "meeting"])


def generate(rows: int, out: Path, seed: int = 7) -> tuple[Path, Path, Path]:
    """Touchpoints as CSV and Parquet, and their contacts as Parquet."""
    rng = np.random.default_rng(seed)
    contacts = max(rows // 10, 1)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    chunk = 2_000_000
    csv_path, pq_path = out / "touchpoints.csv", out / "touchpoints.parquet"
    writer = None
    csv_writer = None
    for lo in range(0, rows, chunk):
        n = min(chunk, rows - lo)
        ts = start + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")
        table = pa.table(
            {
                "touchpoint_id": pa.array(np.char.add("T", np.arange(lo, lo + n).astype(str))),
                "contact_id": pa.array(np.char.add("C", rng.integers(0, contacts, n).astype(str))),
                "ts": pa.array(ts.astype("datetime64[s]").astype(str)),
                "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), n)]),
                "kind": pa.array(KINDS[rng.integers(0, len(KINDS), n)]),
                "cost": pa.array(np.round(rng.random(n) * 10, 2).astype(str)),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(pq_path, table.schema)
            csv_writer = pacsv.CSVWriter(csv_path, table.schema)
        writer.write_table(table)
        csv_writer.write_table(table)
    writer.close()
    csv_writer.close()
    contacts_path = out / "contacts.parquet"
    pq.write_table(
        pa.table(
            {
                "contact_id": pa.array(np.char.add("C", np.arange(contacts).astype(str))),
                "created_at": pa.array(
                    np.full(contacts, np.datetime64("2023-12-01T00:00:00", "us"))
                ),
            }
        ),
        contacts_path,
    )
    return csv_path, pq_path, contacts_path


def worker(path: str, fmt: str, db: str, contacts: str) -> None:
    """Load ``path`` in this process and print one JSON line of figures."""
    import pyarrow.parquet as pq

    import fullfunnel as ff
    from fullfunnel.ingest import ingest_files

    wh = ff.connect(db)
    wh.load("contacts", pq.read_table(contacts))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = ingest_files(wh, [path], fmt=fmt, table="touchpoints")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "format": fmt,
                "rows_in": result.rows_in,
                "rows_loaded": result.rows_loaded,
                "rows_rejected": result.rows_rejected,
                "seconds": round(seconds, 2),
                "rows_per_s": round(result.rows_in / seconds),
                "peak_rss_mb": round(peak / 1024),
                "rss_before_mb": round(base_rss / 1024),
            }
        )
    )
    wh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="touchpoints to load")
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: temp)")
    parser.add_argument("--worker", nargs=4, metavar=("PATH", "FMT", "DB", "CONTACTS"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        csv_path, pq_path, contacts = generate(args.rows, out)
        print(
            f"generated {args.rows:,} touchpoints in {time.perf_counter() - t0:.1f}s: "
            f"CSV {csv_path.stat().st_size / 1e6:,.0f} MB, "
            f"Parquet {pq_path.stat().st_size / 1e6:,.0f} MB"
        )
        for path, fmt in ((csv_path, "csv"), (pq_path, "parquet")):
            db = str(out / f"bench-{fmt}.duckdb")
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", str(path), fmt, db, str(contacts)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(proc.returncode)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"{fmt:8s} {r['rows_in']:>12,} rows in {r['seconds']:7.1f}s  "
                f"{r['rows_per_s']:>10,} rows/s  loaded {r['rows_loaded']:,}  "
                f"rejected {r['rows_rejected']:,}  peak RSS {r['peak_rss_mb']:,} MB "
                f"(before the load: {r['rss_before_mb']:,} MB)"
            )


if __name__ == "__main__":
    main()
