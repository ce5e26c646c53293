"""The points baseline: a transparent fit + engagement score, as marketing-automation
tools configure it, computed on the same feature rows as the model.

Nothing here is learned from data; it is the yardstick the model must beat.
Each rule is (what it rewards, points) so that the table can be printed as is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Rule = tuple[str, Callable[[pd.DataFrame], np.ndarray]]


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.zeros(len(frame))
    return frame[name].fillna(0).to_numpy(dtype=float)


def _matching(frame: pd.DataFrame, prefix: str, contains: str, suffix: str) -> np.ndarray:
    cols = [c for c in frame if c.startswith(prefix) and contains in c and c.endswith(suffix)]
    return frame[cols].fillna(0).to_numpy(dtype=float).sum(axis=1) if cols else np.zeros(len(frame))


def _level(frame: pd.DataFrame) -> np.ndarray:
    return (
        frame["title_level"].to_numpy(dtype=float)
        if "title_level" in frame
        else np.full(len(frame), np.nan)
    )


def _stages_reached(frame: pd.DataFrame) -> np.ndarray:
    cols = [c for c in frame if c.startswith("days_since_") and c != "days_since_created"]
    return frame[cols].notna().to_numpy().sum(axis=1) if cols else np.zeros(len(frame))


RULES: list[Rule] = [
    ("C-level title: +20", lambda f: np.where(_level(f) == 5, 20, 0)),
    ("VP title: +15", lambda f: np.where(_level(f) == 4, 15, 0)),
    ("director or head title: +10", lambda f: np.where(_level(f) == 3, 10, 0)),
    ("manager title: +5", lambda f: np.where(_level(f) == 2, 5, 0)),
    ("student or intern: -15", lambda f: np.where(_level(f) == 0, -15, 0)),
    ("1,000+ employees: +10", lambda f: np.where(_col(f, "employees") >= 1000, 10, 0)),
    (
        "200-999 employees: +5",
        lambda f: np.where((_col(f, "employees") >= 200) & (_col(f, "employees") < 1000), 5, 0),
    ),
    (
        "web visit in 30 days: +2 each, up to 10",
        lambda f: np.minimum(2 * _col(f, "kind__web_visit__30d"), 10),
    ),
    (
        "form fill in 30 days: +5 each, up to 15",
        lambda f: np.minimum(5 * _col(f, "kind__form_fill__30d"), 15),
    ),
    (
        "email engagement in 30 days: +1 each, up to 5",
        lambda f: np.minimum(_col(f, "kind__email__30d"), 5),
    ),
    (
        "webinar or event in 90 days: +5 each, up to 10",
        lambda f: np.minimum(5 * (_col(f, "kind__webinar__90d") + _col(f, "kind__event__90d")), 10),
    ),
    (
        "demo or meeting in 90 days: +10 each, up to 20",
        lambda f: np.minimum(10 * (_col(f, "kind__demo__90d") + _col(f, "kind__meeting__90d")), 20),
    ),
    (
        "pricing page in 90 days: +10",
        lambda f: np.where(_matching(f, "tactic__", "pricing", "__90d") > 0, 10, 0),
    ),
    ("each funnel stage reached past the first: +10", lambda f: 10 * _stages_reached(f)),
    (
        "no touch in 30 days: -10",
        lambda f: np.where(_col(f, "touches_30d") == 0, -10, 0),
    ),
    (
        "no touch in 90 days: another -10",
        lambda f: np.where(_col(f, "touches_90d") == 0, -10, 0),
    ),
]


def points(frame: pd.DataFrame) -> np.ndarray:
    """The points score of every feature row."""
    total = np.zeros(len(frame))
    for _, rule in RULES:
        total = total + np.asarray(rule(frame), dtype=float)
    return total


def rules_frame() -> pd.DataFrame:
    """The rules, for display."""
    return pd.DataFrame({"rule": [name for name, _ in RULES]})
