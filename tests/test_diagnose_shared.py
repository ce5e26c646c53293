"""What diagnose, stuck, handoffs and weight share: built once, the same numbers, fresh
after a load."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from fullfunnel._dates import literal
from fullfunnel.analytics.activity import contact_activity
from fullfunnel.analytics.diagnose import diagnose
from fullfunnel.analytics.effort import effort_by_segment
from fullfunnel.analytics.handoffs import handoffs, touch_segments
from fullfunnel.analytics.stuck import stuck
from fullfunnel.config import default_config
from fullfunnel.lifecycle import timeline

AS_OF = datetime(2026, 11, 23)  # the demo fixture's as_of too
CONFIG = default_config()


def test_stuck_and_handoffs_match_the_parts_of_diagnose(demo_wh):
    d = diagnose(demo_wh, as_of=AS_OF)
    assert contact_activity(demo_wh, CONFIG, AS_OF) is contact_activity(demo_wh, CONFIG, AS_OF)
    s, h = stuck(demo_wh, as_of=AS_OF), handoffs(demo_wh, as_of=AS_OF)
    assert s.total == d.stuck.total > 0
    pd.testing.assert_frame_equal(s.by_stage, d.stuck.by_stage)
    pd.testing.assert_frame_equal(s.contacts, d.stuck.contacts)
    pd.testing.assert_frame_equal(h.handoffs, d.handoffs.handoffs)
    pd.testing.assert_frame_equal(h.matrix, d.handoffs.matrix)


def test_effort_counts_the_marketing_touches_of_the_window(demo_wh):
    tl = timeline(demo_wh, CONFIG, as_of=AS_OF)
    effort, _ = effort_by_segment(demo_wh, tl, CONFIG, AS_OF)
    since = AS_OF - timedelta(days=CONFIG["diagnose"]["window_days"])
    tp = demo_wh.table("touchpoints")
    tp = tp.filter(tp.ts <= literal(AS_OF), tp.ts > literal(since), tp.team == "marketing")
    seg = touch_segments(demo_wh, tl, CONFIG, tp)
    want = seg.group_by("segment").aggregate(n=seg.count()).execute()
    got = effort.set_index("segment")["touches"]
    assert want["n"].sum() > 0
    assert {k: got[k] for k in want["segment"]} == dict(
        zip(want["segment"], want["n"], strict=True)
    )
    assert got.sum() == want["n"].sum()


def test_a_load_of_touchpoints_refreshes_the_activity(wh):
    def touches(ids: list[str], day: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "touchpoint_id": ids,
                "contact_id": ["c1"] * len(ids),
                "ts": [pd.Timestamp(day)] * len(ids),
                "channel": ["email"] * len(ids),
                "kind": ["email"] * len(ids),
                "team": ["bdr"] * len(ids),
            }
        )

    wh.load("touchpoints", touches(["t1"], "2026-11-01"))
    first = contact_activity(wh, CONFIG, AS_OF).execute()
    wh.load("touchpoints", touches(["t2", "t3"], "2026-11-20"))
    again = contact_activity(wh, CONFIG, AS_OF).execute()
    assert first["last_touch_at"].iloc[0] == pd.Timestamp("2026-11-01")
    assert again["last_touch_at"].iloc[0] == pd.Timestamp("2026-11-20")
    assert again["last_bdr_at"].iloc[0] == pd.Timestamp("2026-11-20")


def test_the_stuck_set_is_built_once_and_fresh_after_a_load(wh, monkeypatch):
    from test_stuck import EXPECTED, load_stuck_case

    load_stuck_case(wh)
    built = []
    cache = type(wh).cache
    monkeypatch.setattr(type(wh), "cache", lambda self, expr: built.append(1) or cache(self, expr))
    d = diagnose(wh, as_of=AS_OF)
    after_diagnose = len(built)
    s = stuck(wh, as_of=AS_OF)
    assert len(built) == after_diagnose  # stuck reused what diagnose built
    assert set(s.contacts.contact_id) == set(d.stuck.contacts.contact_id) == EXPECTED
    # a bdr touch today: the breach is no longer stale
    touch = {"touchpoint_id": ["t-new"], "contact_id": ["breach"], "ts": [pd.Timestamp(AS_OF)]}
    touch |= {"channel": ["email"], "kind": ["email"], "team": ["bdr"]}
    wh.load("touchpoints", pd.DataFrame(touch))
    assert set(stuck(wh, as_of=AS_OF).contacts.contact_id) == EXPECTED - {"breach"}
    # the open deal grows, then is won and leaves the stuck list
    opp = {"opportunity_id": ["o1"], "contact_id": ["deal"], "status": ["open"]}
    opp |= {"created_at": [pd.Timestamp(AS_OF - timedelta(days=100))], "amount": [60_000.0]}
    wh.load("opportunities", pd.DataFrame(opp))
    listed = stuck(wh, as_of=AS_OF).contacts.set_index("contact_id")
    assert listed.loc["deal", "open_amount"] == 60_000.0
    # no stage here has the history for an age-aware chance: no value is claimed
    assert pd.isna(listed.loc["deal", "value"])
    opp |= {"status": ["won"], "close_date": [pd.Timestamp(AS_OF - timedelta(days=1))]}
    wh.load("opportunities", pd.DataFrame(opp))
    won = {"contact_id": ["deal"], "stage": ["customer"], "ts": [pd.Timestamp(AS_OF)]}
    wh.load("stage_events", pd.DataFrame(won))
    assert set(stuck(wh, as_of=AS_OF).contacts.contact_id) == EXPECTED - {"breach", "deal"}
