"""The demo's account-level truth: how many accounts reached each account stage of
the default ``[accounts]`` model, counted from the simulated journeys and deals
themselves (not from the tables written out), so that the account view is tested
against what was planted."""

from __future__ import annotations

from typing import Any

import numpy as np

from fullfunnel.demo.company import STEPS


def account_truth(
    acc_of: np.ndarray,
    reached: np.ndarray,
    deals: tuple[np.ndarray, np.ndarray, np.ndarray],
    specs: list[dict[str, Any]],
    horizon: float,
) -> list[tuple[str, str, float]]:
    """One fact per account stage: ``account_stage_reached``, the number of accounts
    that reached it by ``horizon`` (a later stage reached implies the earlier ones, as
    the timeline counts them). ``acc_of`` is each contact's account, ``reached`` the
    days each contact reached each of ``STEPS``, ``deals`` each deal's contact, day
    created and day won (NaN: not won)."""
    n_acc = int(acc_of.max()) + 1 if acc_of.size else 0
    contact, created, won_at = deals
    times = {}
    for spec in specs:
        if "contact_stage" in spec:
            at = reached[:, STEPS.index(spec["contact_stage"])]
            k, within = int(spec.get("contacts", 1)), float(spec.get("within_days", 0))
            times[spec["name"]] = _kth_within(acc_of, at, k, within, n_acc, horizon)
        else:
            kind = spec["deals"]
            at, nth = (created, 1) if kind == "created" else (won_at, 1 if kind == "won" else 2)
            times[spec["name"]] = _nth(acc_of[contact], at, nth, n_acc, horizon)
    facts, later = [], np.full(n_acc, np.inf)
    for spec in reversed(specs):
        later = np.minimum(times[spec["name"]], later)
        facts.append(("account_stage_reached", spec["name"], float(np.isfinite(later).sum())))
    return facts[::-1]


def _kth_within(
    acc: np.ndarray, at: np.ndarray, k: int, within: float, n_acc: int, horizon: float
) -> np.ndarray:
    """Per account, the first moment a contact reached it with the contact k − 1
    before it (in time) no more than ``within`` days earlier (inf: never)."""
    keep = ~np.isnan(at) & (at <= horizon)
    acc, at = acc[keep], at[keep]
    order = np.lexsort((at, acc))
    acc, at = acc[order], at[order]
    out = np.full(n_acc, np.inf)
    if k == 1:
        np.minimum.at(out, acc, at)
        return out
    ok = np.zeros(at.size, dtype=bool)
    ok[k - 1 :] = (acc[k - 1 :] == acc[: -(k - 1)]) & (at[k - 1 :] - at[: -(k - 1)] <= within)
    np.minimum.at(out, acc[ok], at[ok])
    return out


def _nth(acc: np.ndarray, at: np.ndarray, nth: int, n_acc: int, horizon: float) -> np.ndarray:
    """Per account, the day of its ``nth`` deal event (created or won; inf: none)."""
    keep = ~np.isnan(at) & (at <= horizon)
    acc, at = acc[keep], at[keep]
    order = np.lexsort((at, acc))
    acc, at = acc[order], at[order]
    first = np.r_[True, acc[1:] != acc[:-1]] if acc.size else np.zeros(0, dtype=bool)
    rank = np.arange(acc.size) - np.maximum.accumulate(np.where(first, np.arange(acc.size), 0))
    out = np.full(n_acc, np.inf)
    pick = rank == nth - 1
    out[acc[pick]] = at[pick]
    return out
