"""One JSON line per request on the ``fullfunnel.server`` logger.

Each line holds the method, the path (no query string), the status, the time taken
in milliseconds and the id of the API key that the request was checked with (None
when it presented none, or one that was refused). Never the key itself: a key is
``ff_<id>_<secret>`` and only the id, which ``fullfunnel apikey list`` shows
anyway, is logged.

>>> import json
>>> json.loads(request_line("GET", "/api/health", 200, 1.234, None))["ms"]
1.2
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger("fullfunnel.server")

# the routes' key check leaves the key's id here, in the request's ASGI scope
KEY_ID = "fullfunnel.key_id"


def request_line(method: str, path: str, status: int, ms: float, key_id: str | None) -> str:
    """The log line of one request, as JSON."""
    return json.dumps(
        {"method": method, "path": path, "status": status, "ms": round(ms, 1), "key_id": key_id}
    )


class RequestLog:
    """ASGI middleware that logs every HTTP request once it has been answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            ms = (time.perf_counter() - start) * 1000
            line = request_line(scope["method"], scope["path"], status, ms, scope.get(KEY_ID))
            log.info(line)


def log_to_stderr() -> None:
    """Print the server's log lines on stderr, one request a line (``fullfunnel serve``)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
