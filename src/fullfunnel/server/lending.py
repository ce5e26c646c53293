"""One DuckDB file, a live server and CLI commands at the same time.

DuckDB lets one process at a time open a file. While ``fullfunnel serve`` runs on
one, it holds it and announces itself beside it, in ``<file>.serve.json`` (its
address, its process and a secret token, readable by its owner only). A CLI command
that finds the file locked and such an announcement asks the server to *lend* it
the warehouse: the server finishes the requests in flight, closes its connection
and answers; the command opens the file, does its work (an ingest, a score, a
read), closes it and *gives it back*; the server opens it again and forgets every
cached result (the data may have changed). Requests that arrive meanwhile wait
for the warehouse to come back; none fails. A lend whose command died is taken
back when its process is gone, and one that runs past ``server.lend_seconds`` makes
the waiting requests answer 503 instead of hanging.

Postgres and Spark serve many connections natively: they need none of this.

The CLI side uses only the standard library (no server extra needed).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fullfunnel.errors import WarehouseError

TOKEN_HEADER = "X-Lend-Token"
LEND_PATH, RETURN_PATH = "/admin/lend", "/admin/return"


def announcement(db_file: Path) -> Path:
    """Where a server on ``db_file`` announces itself."""
    return db_file.with_name(db_file.name + ".serve.json")


def announce(db_file: Path, url: str) -> tuple[Path, str]:
    """Write the announcement of a server at ``url`` on ``db_file``; its token."""
    token = secrets.token_urlsafe(32)
    path = announcement(db_file)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "pid": os.getpid(), "token": token}, f)
    return path, token


def withdraw(path: Path) -> None:
    """Remove an announcement (the server stops)."""
    path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (0 and below name no one process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


class LendableLock:
    """The server's warehouse lock: reentrant, and closed to everyone while the
    warehouse is lent to a CLI command."""

    def __init__(self, wait_seconds: float) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._wait = wait_seconds
        self.borrower: int | None = None  # the pid of the command holding the file
        self._reopen: Callable[[], None] = lambda: None
        self._counting = threading.Lock()
        self.waiting = 0  # threads waiting to take the lock

    def __enter__(self) -> LendableLock:
        with self._counting:
            self.waiting += 1
        try:
            self._cond.acquire()
        finally:
            with self._counting:
                self.waiting -= 1
        if not self._cond.wait_for(self._available, timeout=self._wait):
            self._cond.release()
            raise WarehouseError(
                f"the warehouse is lent to a CLI command (process {self.borrower}) for more "
                f"than {self._wait:g} s; try again when it is done"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._cond.release()

    def after_others(self, most: float = 30.0) -> None:
        """For background work between its steps: let the threads waiting for the
        lock take it first (a lock is not fair: the one that just released it would
        win again), for at most ``most`` seconds."""
        deadline = time.monotonic() + most
        while self.waiting and time.monotonic() < deadline:
            time.sleep(0.01)

    def _available(self) -> bool:
        if self.borrower is not None and not alive(self.borrower):
            self.borrower = None  # its command died without giving it back
            self._reopen()
        return self.borrower is None

    def lend(self, pid: int, close: Callable[[], None], reopen: Callable[[], None]) -> None:
        """Wait for the requests in flight, ``close`` the warehouse and mark it lent to
        ``pid``; ``reopen`` runs when it comes back."""
        with self:
            close()
            self.borrower, self._reopen = pid, reopen

    def give_back(self, pid: int) -> bool:
        """The borrower ``pid`` is done: reopen and let the waiting requests in."""
        with self._cond:
            if self.borrower != pid:
                return False
            self.borrower = None
            self._reopen()
            self._cond.notify_all()
            return True


def borrow(db_file: Path, cause: WarehouseError) -> Callable[[], None]:
    """Ask the server announced beside ``db_file`` to lend it the warehouse; the
    function that gives it back. ``cause`` (the lock error) is raised when no live
    server is announced."""
    path = announcement(db_file)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        raise cause from None
    if not alive(int(info.get("pid", 0))):
        raise cause from None
    url, token, pid = info["url"].rstrip("/"), info["token"], os.getpid()

    def call(route: str) -> None:
        body = json.dumps({"pid": pid}).encode()
        request = urllib.request.Request(
            url + route,
            data=body,
            method="POST",
            headers={TOKEN_HEADER: token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                answer.read()
        except (urllib.error.URLError, OSError) as exc:
            raise WarehouseError(
                f"the warehouse {db_file} is held by 'fullfunnel serve' at {url}, which did "
                f"not lend it ({exc}); stop the server, or try again"
            ) from exc

    call(LEND_PATH)
    return lambda: call(RETURN_PATH)
