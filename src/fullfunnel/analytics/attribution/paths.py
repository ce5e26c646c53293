"""Journeys as distinct paths, built and aggregated in the engine.

A *journey* is the ordered touches of one contact (or account, at account level)
inside the lookback window. A converting journey holds the touches strictly
before the conversion (the moment the contact reached the stage) and at most
``lookback_days`` before it; a journey that has not converted by ``as_of`` holds
its touches up to ``as_of``, at most ``lookback_days`` before its latest touch,
and counts as a *null* for the data-driven models. Touches at the same time are
ordered by label (their order is unknown; this keeps it the same on every engine).

Engines with arrays of structs build each journey as its sorted list of touches;
the others (Postgres) build the same rows in plain SQL. The engine groups
journeys into distinct paths and returns one row per path:
``path`` (labels joined by ``" > "``), ``conversions``, ``value``, ``nulls`` and
the positions (0-based, -1 for none) of the touches the position-based models
need:

- ``lead_pos``: the lead-creation touch, the last touch at or before the moment
  the contact became a lead (``reached_lead_at``);
- ``opp_pos``: the opportunity-creation touch, the last touch strictly before
  ``reached_opportunity_at`` (only when the conversion is the opportunity stage
  or later);
- ``won_pos``: the closed-won touch, the last touch strictly before
  ``reached_customer_at`` (only when the conversion is the customer stage or later).

With ``with_days`` the path also carries each touch's age in whole days before
the conversion (``days``, comma-separated), for time decay. Only these
aggregated rows reach Python, so 10M touchpoints are no burden.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from fullfunnel.analytics.attribution.touches import SEP
from fullfunnel.config import Config
from fullfunnel.errors import InputError, did_you_mean

BY = ("channel", "campaign", "tactic")
LEVELS = ("contact", "account")
VALUES = ("count", "pipeline", "bookings")
NO_LABEL = "(none)"


@dataclasses.dataclass(frozen=True, eq=False)
class Paths:
    """Distinct paths with their conversions, value and nulls (the models' input).

    ``frame`` columns: path, conversions, value, nulls, lead_pos, opp_pos, won_pos
    and, when times are known, days. ``unattributed`` counts conversions (and
    ``unattributed_value`` their value) that had no touch in the window.
    """

    frame: pd.DataFrame
    timed: bool = False
    unattributed: float = 0.0
    unattributed_value: float = 0.0

    @property
    def total_conversions(self) -> float:
        return float(self.frame["conversions"].sum())

    @property
    def total_value(self) -> float:
        return float(self.frame["value"].sum())


def paths_from_frame(
    frame: pd.DataFrame,
    *,
    path_col: str = "path",
    conv_col: str = "total_conversions",
    value_col: str | None = None,
    null_col: str | None = None,
    sep: str = ">",
    where: str = "paths",
) -> Paths:
    """Paths from a ChannelAttribution-style table (``a > b > c``, conversions, …).

    Channel names are trimmed of spaces; rows with the same path are summed.
    Without position data the conversion (last) touch stands in for the
    lead-creation touch, so ``u_shaped`` is the classic first/last split.
    """
    for opt, col in (
        ("path_col", path_col),
        ("conv_col", conv_col),
        ("value_col", value_col),
        ("null_col", null_col),
    ):
        if col is not None and col not in frame.columns:
            raise InputError(
                f"{where}: no column '{col}' (the {opt} given); the columns are "
                f"{', '.join(map(str, frame.columns))}." + did_you_mean(col, list(frame.columns))
            )
    if not sep.strip():
        raise InputError(f"{where}: the separator must contain a visible character, like ' > '")
    raw = frame[path_col].astype("string").fillna("")
    parts = raw.str.split(sep.strip(), regex=False).explode().str.strip()
    parts = parts[parts.fillna("") != ""]
    norm = parts.groupby(level=0).agg(SEP.join).reindex(frame.index)
    conv = _numeric(frame, conv_col, where)
    out = pd.DataFrame(
        {
            "path": norm,
            "conversions": conv,
            "value": _numeric(frame, value_col, where) if value_col else conv,
            "nulls": _numeric(frame, null_col, where) if null_col else 0.0,
        }
    )
    out = out[out["path"].notna()]
    out = out.groupby("path", as_index=False, sort=False)[["conversions", "value", "nulls"]].sum()
    n = out["path"].str.count(">") + 1
    out["lead_pos"] = np.where(out["conversions"] > 0, n - 1, -1).astype(np.int64)
    out["opp_pos"] = -1
    out["won_pos"] = -1
    return Paths(out)


def read_paths_file(
    path: str | Path,
    *,
    path_col: str = "path",
    conv_col: str = "total_conversions",
    value_col: str | None = None,
    null_col: str | None = None,
    sep: str = ">",
) -> Paths:
    """Read a path file in the ChannelAttribution format (CSV; ``,``, ``;`` or tab).

    >>> import io, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> _ = open(f, "w").write("path;total_conversions\\na > b;2\\nb;1\\n")
    >>> read_paths_file(f).frame[["path", "conversions"]].values.tolist()
    [['a > b', 2.0], ['b', 1.0]]
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"path file {p} not found; check its name")
    try:
        with p.open(encoding="utf-8") as fh:
            head = fh.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text; save it as UTF-8 CSV") from exc
    delim = max((";", ",", "\t"), key=head.count)
    try:
        frame = pd.read_csv(p, sep=delim, dtype={path_col: "string"})
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{p}: cannot be read as CSV ({exc}); check the delimiter") from exc
    path_col, conv_col, value_col, null_col = path_columns(
        list(frame.columns), path_col, conv_col, value_col, null_col
    )
    return paths_from_frame(
        frame,
        path_col=path_col,
        conv_col=conv_col,
        value_col=value_col,
        null_col=null_col,
        sep=sep,
        where=str(p),
    )


# ChannelAttribution's names first, then other common spellings
PATH_COLUMNS = {
    "path": ("path", "paths", "channel_path", "journey"),
    "conversions": ("total_conversions", "conversions", "total_conversion", "conv"),
    "value": ("total_conversion_value", "conversion_value", "total_value", "value", "revenue"),
    "null": ("total_null", "total_nulls", "null", "nulls", "non_conversions"),
}


def path_columns(
    columns: list[str],
    path_col: str = "path",
    conv_col: str = "total_conversions",
    value_col: str | None = None,
    null_col: str | None = None,
) -> tuple[str, str, str | None, str | None]:
    """The path, conversions, value and null columns of a path file: those given, else
    found by name (the value and null columns only when the file has them)."""
    by_lower = {c.strip().lower(): c for c in columns}

    def find(role: str, given: str | None, default: str | None) -> str | None:
        if given is not None and (given != default or given in columns):
            return given
        return next((by_lower[n] for n in PATH_COLUMNS[role] if n in by_lower), given)

    return (
        find("path", path_col, "path"),
        find("conversions", conv_col, "total_conversions"),
        find("value", value_col, None),
        find("null", null_col, None),
    )


def _numeric(frame: pd.DataFrame, col: str | None, where: str) -> pd.Series:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputError(f"{where}: column '{col}' is not a number at row {row}; fix that cell")
    if (values < 0).any():
        raise InputError(f"{where}: column '{col}' has negative numbers; counts must be 0 or more")
    return values.fillna(0).astype(float)


def check_options(config: Config, *, conversion: str, by: str, level: str, value: str) -> None:
    """Fail early, with the fix, on an unknown stage, breakdown, level or value."""
    config.stage(conversion)
    for opt, given, choices in (("by", by, BY), ("level", level, LEVELS)):
        if given not in choices:
            raise InputError(
                f"{opt} {given!r}: use one of {', '.join(choices)}." + did_you_mean(given, choices),
                option=opt,
            )
    if value not in VALUES:
        raise InputError(
            f"value {value!r}: use count (conversions), pipeline (opportunity amount) or "
            "bookings (won amount)." + did_you_mean(value, VALUES),
            option="value",
        )
