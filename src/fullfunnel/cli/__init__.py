"""The ``fullfunnel`` command: thin shells over the library.

Each command parses its options, calls one library function and renders the
result it returns. Command modules register themselves on :data:`app`; heavy
libraries are imported inside the commands so that ``--help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module

from fullfunnel.cli._app import app
from fullfunnel.cli.examples import attach as attach_examples

# command modules, each with its commands on ``app``
COMMAND_MODULES = ("core", "plan", "ingest", "sync", "diagnose", "attribute", "serve", "score")

for _name in COMMAND_MODULES:
    import_module(f"fullfunnel.cli.{_name}")
attach_examples(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
