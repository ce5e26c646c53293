"""The base of every analysis result: frozen numbers that renderers only present.

A result holds its tables as pandas DataFrames (small: the engine has already
aggregated) and its scalars as plain fields. ``to_frame()`` is the main table,
``to_dict()`` a JSON-safe dict of everything; the CLI, the report and the API
render these and never recompute.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import date, datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
    """Base class: subclasses are frozen dataclasses whose DataFrame fields are tables."""

    title: ClassVar[str] = "result"
    grain: ClassVar[str] = "contact"  # what a row of the funnel is (see :func:`at_level`)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result, main table first."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), pd.DataFrame)
        }

    def to_frame(self) -> pd.DataFrame:
        """The main table."""
        return next(iter(self.tables().values())).copy()

    def to_pandas(self) -> pd.DataFrame:
        """The main table, for a notebook (the same as :meth:`to_frame`)."""
        return self.to_frame()

    def to_arrow(self) -> Any:
        """The main table as a pyarrow Table."""
        import pyarrow as pa

        return pa.Table.from_pandas(self.to_frame(), preserve_index=False)

    def display_columns(self) -> dict[str, list[str]]:
        """Per table, the columns a terminal shows (every column when not listed)."""
        return {}

    def display_rows(self, name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        """The rows of table ``name`` a terminal shows, and what is left out (every
        row by default; JSON and CSV always hold them all)."""
        return frame, ""

    def headline(self) -> list[str]:
        """A few lines that state the finding; subclasses say more."""
        return []

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.title, "grain": self.grain}
        for f in dataclasses.fields(self):
            out[f.name] = jsonable(getattr(self, f.name))
        out["headline"] = self.headline()
        return out


_ACCOUNT_WORDS = re.compile(r"\b(C|c)ontact(s?)\b")


def at_level(result: Result, level: str) -> Result:
    """``result`` as computed on :mod:`~fullfunnel.analytics.accounts`' account view:
    marked so, its headline and summary speaking of accounts where they say contacts
    (every analysis writes its lines for the contact level)."""
    if level == "contact":
        return result
    object.__setattr__(result, "grain", level)
    for name in ("headline", "summary"):
        said = getattr(result, name, None)
        if said is not None:
            object.__setattr__(result, name, _reworded(said))
    return result


def _account_word(m: re.Match) -> str:
    return ("A" if m[1] == "C" else "a") + "ccount" + m[2]


def _reworded(said):
    def lines() -> list[str]:
        return [_ACCOUNT_WORDS.sub(_account_word, line) for line in said()]

    return lines


def count(value: Any) -> int:
    """An engine count as an int: a sum or count over no rows can come back null or NaN."""
    return 0 if value is None or pd.isna(value) else int(value)


def jsonable(value: Any) -> Any:
    """``value`` with DataFrames as lists of records, dates as ISO text, NaN as None."""
    if isinstance(value, pd.DataFrame):
        return [
            {str(k): jsonable(v) for k, v in row.items()} for row in value.to_dict(orient="records")
        ]
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is pd.NA:
        return None
    return value
