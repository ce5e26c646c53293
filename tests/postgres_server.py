"""A throwaway PostgreSQL server for the engine tests.

``$FULLFUNNEL_TEST_POSTGRES`` (a URL such as ``postgres://user:pw@host:5432/db``)
points the tests at a server you run; otherwise one is started from the installed
server binaries (Debian's ``postgresql`` package) in a temporary directory, with
trust authentication on a free localhost port, and stopped at the end. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "FULLFUNNEL_TEST_POSTGRES"
MISSING = (
    "the Postgres tests need a server: apt-get install postgresql (its binaries are "
    f"found and a throwaway server started), or set {ENV}=postgres://user:pw@host:port/db, "
    "or leave them out with -m 'not postgres'"
)


def _binaries() -> Path | None:
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found = [p for p in found if p.parent.parent.name.isdigit()]
    if found:  # the newest of Debian's installed versions
        return max(found, key=lambda p: int(p.parent.parent.name)).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server() -> Iterator[str]:
    """The URL of a server the tests may create databases on."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    bindir = _binaries()
    if bindir is None:
        raise RuntimeError(MISSING)
    root = Path(tempfile.mkdtemp(prefix="fullfunnel-pg-"))
    data, port = root / "data", _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                f"as root, a 'postgres' user must run the server; {MISSING}"
            ) from None
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def new_database(url: str) -> str:
    """A fresh, empty database on the server at ``url``; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(url), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def _libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]
