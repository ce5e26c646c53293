"""The REST API, event collection and the live dashboard (``fullfunnel serve``).

``create_app`` needs the ``server`` extra (FastAPI, uvicorn); the key and event
modules do not, so the CLI can manage keys without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from fullfunnel.server.app import create_app

        return create_app
    raise AttributeError(f"module 'fullfunnel.server' has no attribute {name!r}")
