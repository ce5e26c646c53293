"""One error root for everything fullfunnel raises on purpose.

::

    FullfunnelError
     ├── ConfigError      (also ValueError)  a setting in fullfunnel.toml is wrong
     ├── InputError       (also ValueError)  a file, row, column or argument is wrong
     ├── WarehouseError                      the warehouse cannot be opened or written
     ├── SourceError                         a CRM API refused or failed a pull
     └── MissingExtraError (also ImportError) an optional dependency is not installed

Every message says what is wrong, where (file, row, column or setting) and how to
fix it. The CLI catches the root, prints one line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable


class FullfunnelError(Exception):
    """Base of every error fullfunnel raises deliberately."""


class ConfigError(FullfunnelError, ValueError):
    """A configuration value is unknown, out of range or inconsistent."""


class InputError(FullfunnelError, ValueError):
    """User input (a file, a row, an argument) cannot be used as given.

    An error about one option names it first, as the library spells it
    (``lift_points 120: …``), and says so in ``option``; a face that spells the
    option otherwise (the CLI's ``--lift-points``) rewords it with :meth:`spelt`.
    An option a message advises is written `name` (in backticks), which the CLI
    also says as its flag.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option

    def spelt(self, spell: Callable[[str], str]) -> str:
        """The message with its option's name as ``spell`` gives it."""
        text = str(self)
        if self.option and text.startswith(self.option):
            return spell(self.option) + text[len(self.option) :]
        return text


class WarehouseError(FullfunnelError):
    """The warehouse cannot be connected to, read or written."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the warehouse's file (DuckDB lets one open it)."""


class SourceError(FullfunnelError):
    """A CRM API (HubSpot, Salesforce) refused a request or could not be reached."""


class MissingExtraError(FullfunnelError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package: pip install 'fullfunnel[{extra}]'"
        )


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A ' Did you mean …?' hint for a misspelt name, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
