"""The demo's buying groups: who plays which role on each deal, with a planted effect.

Each deal takes role contacts among the contacts of its account. A role is
*engaged* when its contact has a touch in the window the analysis reads
(:mod:`fullfunnel.analytics.buying_group`: the ``engaged_days`` before the deal's
end); the demo's touches are fixed, so engaged roles go to contacts that have such
a touch and involved-only ones to contacts that have none. The economic buyer is
engaged so that, within every close quarter, deals with it engaged are won
``PLANTED_RATIO`` times as often as those without (the share engaged is the same
in every quarter, so any union of quarters, such as the KPI window, shows the same
ratio); the other roles are engaged regardless of the outcome (ratio 1).

Draws come from a generator of its own (seeded from the company), so every other
demo table stays what the seed made it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.config import default_config
from fullfunnel.demo.company import DAY_US

if TYPE_CHECKING:
    from fullfunnel.demo.simulate import _Company, _Opportunities

PLANTED_RATIO = 2.0  # win rate with the economic buyer engaged / without
# per role: the share of won deals with it engaged, and the planted ratio of win
# rates with it engaged / without (1: engaged on won and lost deals alike)
PLANTED = {
    "economic_buyer": (0.7, PLANTED_RATIO),
    "champion": (0.6, 1.0),
    "technical_evaluator": (0.45, 1.0),
    "user": (0.5, 1.0),
}
INVOLVED_ONLY = 0.25  # a role not engaged is on the deal without a touch this often
# the CRM's spellings of each role (Salesforce's standard ones, and two of its own)
CRM_NAMES = {
    "economic_buyer": ("Economic Buyer", "Decision Maker", "Economic Decision Maker"),
    "champion": ("Executive Sponsor", "Influencer", "Champion"),
    "technical_evaluator": ("Technical Buyer", "Evaluator"),
    "user": ("Business User",),
}
ROLES = tuple(PLANTED)
TRUTH = [("buying_group_ratio", role, ratio) for role, (_, ratio) in PLANTED.items()]


def opportunity_contacts(
    co: _Company, opps: _Opportunities, touches: pa.Table, contact_ids: pa.Array
) -> pa.Table:
    """The opportunity_contacts table of the demo company (see the module doc)."""
    rng = np.random.default_rng([co.n, opps.rows.size, int(opps.amount.sum()) % 2**31, 0xB6])
    days = default_config()["buying_group"]["engaged_days"]
    n_opp = opps.rows.size
    is_open = opps.status == "open"
    end = np.where(is_open, co.horizon, opps.close)
    start = np.maximum(end - days, co.reached[opps.rows, 4] - days)
    pair_opp, pair_contact = _pairs(co.acc_of, co.acc_of[opps.rows])
    touchable = _touched(co, touches, pair_contact, start[pair_opp], end[pair_opp])
    # each deal's contacts: the touched first, each part in random order
    order = np.lexsort((rng.random(pair_opp.size), ~touchable, pair_opp))
    pair_opp, pair_contact, touchable = pair_opp[order], pair_contact[order], touchable[order]
    first = np.searchsorted(pair_opp, np.arange(n_opp))
    n_touched = np.bincount(pair_opp[touchable], minlength=n_opp)
    n_untouched = np.bincount(pair_opp, minlength=n_opp) - n_touched
    quarter = _close_quarter(co.origin, opps.close, ~is_open)
    # role by role, each from the touched contacts the roles before left free
    engaged = np.zeros((n_opp, len(ROLES)), dtype=bool)
    for j, (won_share, ratio) in enumerate(PLANTED.values()):
        free = n_touched > engaged.sum(axis=1)
        p = _chance(quarter, opps.status, free, won_share, ratio)
        engaged[:, j] = rng.random(n_opp) < p
    slot = np.cumsum(engaged, axis=1) - 1
    involved = ~engaged & (rng.random(engaged.shape) < INVOLVED_ONLY)
    slot_u = np.cumsum(involved, axis=1) - 1
    involved &= slot_u < n_untouched[:, None]
    who = np.where(engaged, first[:, None] + slot, first[:, None] + n_touched[:, None] + slot_u)
    deal, role = np.nonzero(engaged | involved)
    contact = pair_contact[who[deal, role]]
    # the deal's own contact is on it: in its role, or as "Other" when it drew none
    primary = opps.rows
    has_role = np.zeros(n_opp, dtype=bool)
    has_role[deal[contact == primary[deal]]] = True
    rest = np.flatnonzero(~has_role)
    names = np.array([rng.choice(CRM_NAMES[r], deal.size) for r in ROLES])[
        role, np.arange(deal.size)
    ]
    deal = np.concatenate([deal, rest])
    contact = np.concatenate([contact, primary[rest]])
    names = np.concatenate([names, np.full(rest.size, "Other")])
    return pa.table(
        {
            "opportunity_id": pc.take(opps.ids, pa.array(deal)),
            "contact_id": pc.take(contact_ids, pa.array(contact)),
            "role": pa.array(names),
            "is_primary": pa.array(contact == primary[deal]),
        }
    )


def _pairs(acc_of: np.ndarray, deal_acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (deal, contact of the deal's account) pair, as two row-number arrays."""
    by_acc = np.argsort(acc_of, kind="stable")
    sizes = np.bincount(acc_of, minlength=int(max(acc_of.max(), deal_acc.max())) + 1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    per_deal = sizes[deal_acc]
    pair_opp = np.repeat(np.arange(deal_acc.size), per_deal)
    within = np.arange(pair_opp.size) - np.repeat(np.cumsum(per_deal) - per_deal, per_deal)
    return pair_opp, by_acc[starts[deal_acc][pair_opp] + within]


def _touched(
    co: _Company, touches: pa.Table, contact: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Whether ``contact[i]`` has a touch in [start[i], end[i]] (days since origin)."""
    base = np.datetime64(co.origin, "us").astype(np.int64)
    day = (touches["ts"].cast(pa.int64()).to_numpy() - base) / DAY_US
    span = 4 * (co.horizon + 1000)  # wider than any day offset: keys never overlap
    keys = np.sort(touches["contact_id"].to_numpy() * span + day)
    lo = np.searchsorted(keys, contact * span + start, side="left")
    hi = np.searchsorted(keys, contact * span + end, side="right")
    return hi > lo


def _close_quarter(origin: datetime, close: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """Each closed deal's calendar quarter of close (0 for the first; 0 when open)."""
    at = np.datetime64(origin, "us") + (np.nan_to_num(close) * DAY_US).astype("timedelta64[us]")
    quarter = at.astype("datetime64[M]").astype(np.int64) // 3
    return np.where(closed, quarter - quarter[closed].min(initial=0), 0)


def _chance(
    quarter: np.ndarray, status: np.ndarray, free: np.ndarray, won_share: float, ratio: float
) -> np.ndarray:
    """Each deal's chance of the role engaged (0 where no touched contact is free).

    Per close quarter, a share ``c`` of the won deals and ``share`` of all closed
    ones get it engaged, which makes the win rate with it engaged ``ratio`` times
    the rate without; the shares being the same in every quarter, so is the ratio
    over any run of quarters. ``c`` is ``won_share``, or less where too few deals
    have a free touched contact. Open deals get it with chance ``share``."""
    won, closed = status == "won", status != "open"
    size = int(quarter.max(initial=0)) + 1
    n_q = np.bincount(quarter[closed], minlength=size)
    won_q = np.bincount(quarter[won], minlength=size)
    won_fq = np.bincount(quarter[won & free], minlength=size)
    lost_fq = np.bincount(quarter[closed & ~won & free], minlength=size)
    big = n_q >= 30  # small quarters may clip a little; they would shrink c for nothing
    c = np.linspace(won_share, 0.05, 60)[:, None]
    share = c / (c + ratio * (1 - c))
    fits = (c * won_q <= won_fq) & (share * n_q - c * won_q <= lost_fq)
    ok = (fits | ~big).all(axis=1)
    c, share = (c[ok.argmax(), 0], share[ok.argmax(), 0]) if ok.any() else (0.05, share[-1, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        p_won = c * won_q / won_fq
        p_lost = (share * n_q - c * won_q) / lost_fq
    p = np.where(won, p_won[quarter], p_lost[quarter])
    p = np.where(closed, p, share)
    return np.where(free, np.clip(np.nan_to_num(p), 0.0, 1.0), 0.0)
