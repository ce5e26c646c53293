"""The Typer application, global options and the one place user errors are caught."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from fullfunnel.errors import FullfunnelError, InputError


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@dataclasses.dataclass
class State:
    """Global options, shared by every command through the command context."""

    db: str | None = None
    config_path: Path | None = None
    format: Format = Format.table
    wide: bool = False  # tables at full width, every column (the terminal wraps)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # the command's own

    def warehouse(self, *, create: bool = False, borrow: bool = True) -> Any:
        """The warehouse; only a command that writes (``create``) may make a new one.

        A DuckDB file held by a running ``fullfunnel serve`` is borrowed from it for
        the command (``borrow``; :mod:`fullfunnel.server.lending`) and given back
        when the command ends. A command with an ``--as-of`` option left out reads
        the data as of its default date; when that is not today (a historical
        export), stderr says so.
        """
        from fullfunnel.errors import WarehouseLockedError
        from fullfunnel.warehouse import connect, duckdb_file

        try:
            wh = connect(self.db, create=create)
        except WarehouseLockedError as exc:
            held = duckdb_file(self.db)
            if not borrow or held is None:
                raise
            from fullfunnel.server.lending import borrow as borrow_from_server

            give_back = borrow_from_server(held, exc)
            try:
                wh = connect(self.db, create=create)
            except BaseException:
                give_back()
                raise
            _BORROWED.append((wh, give_back))
        if "as_of" in self.options and self.options["as_of"] is None:
            from fullfunnel.analytics.period import default_as_of

            _, note = default_as_of(wh)
            if note:
                _NOTES.append(note)
        return wh

    def config(self) -> Any:
        from fullfunnel.config import load_config

        return load_config(self.config_path)


class _Group(TyperGroup):
    """Turns every deliberate fullfunnel error into one line and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:
        _NOTES.clear()
        try:
            return self._invoke(ctx)
        finally:
            _give_back()

    def _spelling(self, ctx: Any) -> Callable[[str], str]:
        """How the failing command spells a library option: its argument's name
        (``KIND``) when it takes it as one, else the flag."""
        command = self.get_command(ctx, ctx.invoked_subcommand or "")
        return lambda option: _spelt_as_argument(command, option) or flag(option)

    def _invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
        except typer.Exit:  # a deliberate exit code (e.g. a check that fails)
            _print_notes()
            raise
        except InputError as exc:  # an option named as the library spells it: as a flag
            _fail(as_flags(exc.spelt(self._spelling(ctx))))
        except FullfunnelError as exc:
            _fail(as_flags(str(exc)))
        except Exception as exc:
            duckdb = sys.modules.get("duckdb")
            if duckdb is None or not isinstance(exc, duckdb.IOException):
                raise
            # a damaged or cut-short file can open and fail at its first read
            _fail(
                f"the warehouse's files cannot be read or written ({str(exc).splitlines()[0]}); "
                "restore a damaged file from a backup or move it aside to start afresh, "
                "or free disk space"
            )
        _print_notes()
        return result


def _spelt_as_argument(command: Any, option: str) -> str | None:
    """``KIND`` when ``option`` is a positional argument of ``command``, else None."""
    for param in getattr(command, "params", ()):
        if param.name == option and param.param_type_name == "argument":
            return option.upper()
    return None


def flag(option: str) -> str:
    """The CLI flag of a library option: ``within_days`` → ``--within``, as the
    registry spells it, else the name with dashes."""
    from fullfunnel.analytics.registry import ANALYSES

    for analysis in ANALYSES.values():
        declared = analysis.option(option)
        if declared is not None:
            return declared.cli_flag
    return "--" + option.replace("_", "-")


def as_flags(message: str) -> str:
    """``message`` with each option the library names as `name` said as its flag."""
    import re

    return re.sub(r"`([a-z][a-z_]*)`", lambda m: flag(m.group(1)), message)


# notes on how a command read the data (e.g. its as-of date), printed when it succeeds
_NOTES: list[str] = []
# warehouses borrowed from a running server, closed and given back when the command ends
_BORROWED: list[tuple[Any, Callable[[], None]]] = []


def _give_back() -> None:
    while _BORROWED:
        wh, give_back = _BORROWED.pop()
        try:
            wh.close()
        finally:
            give_back()


def _print_notes() -> None:
    """The notes, once each, after the answer (an error prints none: it is one line)."""
    for note in dict.fromkeys(_NOTES):
        _note(note)


def _note(message: str) -> None:
    """Print ``message`` as one note line on stderr."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[yellow]note:[/] {escape(as_flags(message))}", markup=True
    )


def _fail(message: str) -> NoReturn:
    """Print ``message`` as one error line and exit with 1."""
    from rich.console import Console
    from rich.markup import escape

    # escape: messages hold brackets, e.g. pip install 'fullfunnel[server]'
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", markup=True
    )
    raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_Group,
    help="Full-funnel B2B revenue analytics: where the funnel leaks, what to fix, what works.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help text is text: "[default: …]" and "fullfunnel[server]" must not read as markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    ctx: typer.Context,
    db: str | None = typer.Option(
        None,
        "--db",
        envvar="FULLFUNNEL_DB",
        help="Warehouse URL or DuckDB file (default ./fullfunnel.duckdb).",
    ),
    config: Path | None = typer.Option(
        None, "--config", envvar="FULLFUNNEL_CONFIG", help="fullfunnel.toml to use."
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    wide: bool = typer.Option(
        False, "--wide", help="Tables with every column at full width, not cut to the terminal."
    ),
) -> None:
    ctx.obj = State(db=db, config_path=config, format=fmt, wide=wide)


FORMAT_OPTION = typer.Option(
    None, "--format", "-f", help="Output format: table, json or csv [default: table]."
)


@contextmanager
def spinner(
    text: str, *, quiet: bool = False, transient: bool = True
) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr with the step in hand and the time it has taken; ``quiet``
    (JSON or CSV on stdout) shows nothing. Yields the function that names the step."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, quiet=quiet)
    console.quiet = quiet or not console.is_terminal  # a log file gets no blank lines
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=transient) as bar:
        task = bar.add_task(text, total=None)
        yield lambda step: bar.update(task, description=step)


def state(ctx: typer.Context, fmt: Format | None = None) -> State:
    """The global options, with a command's own ``--format`` taking precedence."""
    obj = ctx.find_root().obj
    st = obj if isinstance(obj, State) else State()
    st = dataclasses.replace(st, options=dict(ctx.params))
    return dataclasses.replace(st, format=fmt) if fmt is not None else st
