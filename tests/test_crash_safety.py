"""Crash safety: a killed ingest leaves the warehouse exactly as before or as after.

An ingest runs as the real CLI in a subprocess and is killed with SIGKILL at
random moments; reopening the DuckDB file (which replays or discards its
write-ahead log) must show every table exactly as before the load or exactly as
after a complete one. A reader querying during a load sees only those two
states. A damaged or locked warehouse file gives one line and exit 1.

``FULLFUNNEL_KILL_POINTS`` sets the number of kills for a one-off deeper run
(see docs/reliability.md).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

import fullfunnel as ff
from fullfunnel.schema import TABLES

KILL_POINTS = int(os.environ.get("FULLFUNNEL_KILL_POINTS", "5"))
ROWS = 100_000
# columns that differ between two runs of the same load (its id and clock times)
VOLATILE = {
    "loads": ("load_id", "started_at", "finished_at"),
    "rejects": ("load_id",),
    "load_keys": ("load_id",),
}


def cli(db: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "FULLFUNNEL_DB": str(db), "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fullfunnel", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def state(db: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-free checksum of every table (volatile columns left out)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for name, spec in TABLES.items():
            cols = [c for c in spec.columns if c not in VOLATILE.get(name, ())]
            row = ", ".join(f'"{c}"' for c in cols)
            out[name] = con.execute(
                f'SELECT count(*), coalesce(sum(hash({row})), 0) FROM "{name}"'
            ).fetchone()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A big contacts file, a small one, and a warehouse holding the small one."""
    root = tmp_path_factory.mktemp("crash")
    big = root / "contacts.csv"
    with big.open("w") as fh:
        fh.write("contact_id,created_at,title,country,employees\n")
        fh.writelines(
            f"X{i},2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00,T{i % 97},DE,{i % 500}\n"
            for i in range(ROWS)
        )
        fh.write("X-bad,not a date,T,DE,1\n")  # one reject, so rejects is written too
    small = root / "small.csv"
    small.write_text("contact_id,created_at\nC1,2024-01-01\nC2,2024-01-02\n")
    base = root / "base.duckdb"
    with ff.connect(base) as wh:
        ff.ingest_files(wh, [small], table="contacts")
    after = root / "after.duckdb"
    shutil.copy(base, after)
    started = time.perf_counter()
    done = cli(after, "ingest", "csv", str(big), "--table", "contacts")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    return {"big": big, "base": base, "after": after, "seconds": time.perf_counter() - started}


def test_a_killed_ingest_leaves_the_warehouse_as_before_or_after(files, tmp_path):
    before, after = state(files["base"]), state(files["after"])
    assert after["contacts"][0] == 2 + ROWS and after["rejects"][0] == 1
    rng = random.Random(20261123)
    seen = {"before": 0, "after": 0}
    for k in range(KILL_POINTS):
        db = tmp_path / f"w{k}.duckdb"
        shutil.copy(files["base"], db)
        proc = cli(db, "ingest", "csv", str(files["big"]), "--table", "contacts")
        # from interpreter start-up to a little past the end of a whole load
        time.sleep(rng.uniform(0.1, 1.15 * files["seconds"]))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        now = state(db)
        assert now in (before, after), f"kill {k}: half-loaded warehouse {now}"
        seen["before" if now == before else "after"] += 1
    assert sum(seen.values()) == KILL_POINTS
    print(f"kill points: {KILL_POINTS}, as before: {seen['before']}, as after: {seen['after']}")


def test_a_reader_never_sees_a_half_loaded_file(files, tmp_path):
    db = tmp_path / "w.duckdb"
    shutil.copy(files["base"], db)
    wh = ff.connect(db)
    reader = wh.con.con.cursor()

    def counts() -> tuple[int, int, int]:
        return reader.execute(
            "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM rejects), "
            "(SELECT count(*) FROM loads)"
        ).fetchone()

    before = counts()
    failure: list[BaseException] = []

    def load() -> None:
        try:
            ff.ingest_files(wh, [files["big"]], table="contacts")
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)

    writer = threading.Thread(target=load)
    writer.start()
    observed = set()
    while writer.is_alive():
        observed.add(counts())
    writer.join()
    assert not failure
    after = counts()
    observed.add(after)
    assert after == (before[0] + ROWS, before[1] + 1, before[2] + 1)
    assert observed <= {before, after}, observed
    reader.close()
    wh.close()


def one_line_error(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_damaged_warehouse_file_is_one_clear_line(tmp_path):
    db = tmp_path / "damaged.duckdb"
    db.write_bytes(b"not a database " * 1000)
    line = one_line_error(cli(db, "funnel"))
    assert "not a valid DuckDB database file" in line and "move a damaged file aside" in line


def test_a_truncated_warehouse_file_is_one_clear_line(files, tmp_path):
    db = tmp_path / "truncated.duckdb"
    data = files["after"].read_bytes()
    db.write_bytes(data[: len(data) // 3])
    proc = cli(db, "funnel")
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if proc.returncode:  # damage noticed on open: one clear line
        lines = err.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), err


def test_a_locked_warehouse_file_is_one_clear_line(files, tmp_path):
    db = tmp_path / "locked.duckdb"
    shutil.copy(files["base"], db)
    holder = duckdb.connect(str(db))  # another process holds the write lock
    try:
        line = one_line_error(cli(db, "funnel"))
    finally:
        holder.close()
    assert "another process has it open" in line
