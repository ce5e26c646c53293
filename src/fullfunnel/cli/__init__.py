"""The ``fullfunnel`` command: thin shells over the library.

Each command parses its options, calls one library function and renders the
result it returns. The analysis commands are generated from the registry
(:mod:`fullfunnel.cli.analyses`); the other command modules register themselves
on :data:`app`. Heavy libraries are imported inside the commands so that
``--help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module

from fullfunnel.cli._app import app
from fullfunnel.cli.analyses import add_all as add_analysis_commands
from fullfunnel.cli.examples import attach as attach_examples

# command modules, each with its commands on ``app``
COMMAND_MODULES = (
    "core",
    "targets",
    "ingest",
    "sync",
    "playbook",
    "attribute",
    "serve",
    "score",
    "records",
    "notify",
)

for _name in COMMAND_MODULES:
    import_module(f"fullfunnel.cli.{_name}")
add_analysis_commands()
attach_examples(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
