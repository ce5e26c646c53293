"""Ad-hoc step funnels: hand-computed journeys, the rules one by one, and the demo
agreeing with 'funnel' on stage steps."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.steps import step_funnel
from fullfunnel.errors import InputError

AS_OF = datetime(2026, 6, 30)
STEPS = "touch:webinar,stage:mql,touch:demo"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text if len(text) > 5 else f"2026-{text}")


def load_case(wh):
    """Nine contacts, all created 2026-01-01 (webinar = a Webinar-channel touch, demo a
    demo-kind touch; dates are 2026 unless written in full):

    a: webinar 01-10, mql 01-15, demo 01-20                  → all three, 10 d
    b: webinar 01-10, demo 01-12, mql 01-15                  → demo before mql: strict no
    c: webinar 01-10, mql 01-15, demo 03-01                  → demo 50 d after entry
    d: webinar 01-10, mql 01-12, disqualified 01-13, demo 01-14
    e: mql 01-05, webinar 01-10, demo 01-20                  → mql before entry: never
    f: webinar 2025-12-01, webinar 02-01, mql 02-03, demo 02-04
    g: webinar 07-05                                         → after as_of
    h: webinar 01-10, mql 01-15, demo 07-02                  → demo after as_of
    i: webinar 04-15                                         → after until 03-31
    """
    ids = list("abcdefghi")
    owners = ["ann", "ann", "ann", "bob", "bob", None, None, None, None]
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "created_at": [ts("01-01")] * len(ids),
            "owner_id": owners,
            "source_channel": ["paid", "seo", "paid", None, "seo", "seo", "paid", None, "paid"],
        }
    )
    events = [
        ("a", "mql", "01-15"),
        ("b", "mql", "01-15"),
        ("c", "mql", "01-15"),
        ("d", "mql", "01-12"),
        ("d", "disqualified", "01-13"),
        ("e", "mql", "01-05"),
        ("f", "mql", "02-03"),
        ("h", "mql", "01-15"),
    ]
    stage_events = pd.DataFrame(
        [(c, s, ts(d)) for c, s, d in events], columns=["contact_id", "stage", "ts"]
    )
    web, demo = ("Webinar", "event"), ("sales", "demo")
    touches = [
        ("a", "01-10", web),
        ("a", "01-20", demo),
        ("a", "07-10", demo),
        ("b", "01-10", web),
        ("b", "01-12", demo),
        ("c", "01-10", web),
        ("c", "03-01", demo),
        ("d", "01-10", web),
        ("d", "01-14", demo),
        ("e", "01-10", web),
        ("e", "01-20", demo),
        ("f", "2025-12-01", web),
        ("f", "02-01", web),
        ("f", "02-04", demo),
        ("g", "07-05", web),
        ("h", "01-10", web),
        ("h", "07-02", demo),
        ("i", "04-15", web),
    ]
    tp = pd.DataFrame(
        [(f"t{n}", c, ts(d), ch, k) for n, (c, d, (ch, k)) in enumerate(touches)],
        columns=["touchpoint_id", "contact_id", "ts", "channel", "kind"],
    )
    wh.load_many({"contacts": contacts, "stage_events": stage_events, "touchpoints": tp})
    return wh


@pytest.fixture
def case(wh):
    return load_case(wh)


def reached(result) -> list[int]:
    return [int(n) for n in result.steps.reached]


def test_strict_order_by_hand(case):
    r = step_funnel(case, steps=STEPS, as_of=AS_OF)
    # entered: all but g (after as_of); mql at/after entry: not e; demo after mql: a c d f
    assert reached(r) == [8, 6, 4]
    assert r.n == 8
    s = r.steps.set_index("step")
    assert list(s.label) == ["touch:webinar", "stage:mql", "touch:demo"]
    assert s.loc[2, "conversion"] == pytest.approx(6 / 8)
    assert s.loc[3, "conversion"] == pytest.approx(4 / 6)
    assert s.loc[3, "share_of_first"] == pytest.approx(4 / 8)
    assert list(s.dropped) == [0, 2, 2]
    # days mql after entry: a b c h 5, d 2, f 64 (from 2025-12-01); demo after mql: 5 45 2 1
    assert s.loc[2, "median_days"] == pytest.approx(5.0)
    assert s.loc[3, "median_days"] == pytest.approx(3.5)
    lo, hi = s.loc[3, "conversion_low"], s.loc[3, "conversion_high"]
    assert lo < 4 / 6 < hi
    assert pd.isna(s.loc[1, "conversion"]) and pd.isna(s.loc[1, "median_days"])
    lines = r.headline()
    assert lines[0].startswith("touch:webinar → stage:mql → touch:demo, 8 entered 2025-12-01")
    assert "50% reached touch:demo" in lines[0]
    assert "biggest drop at step 2" in lines[1] or "biggest drop at step 3" in lines[1]


def test_any_order(case):
    r = step_funnel(case, steps=STEPS, order="any", as_of=AS_OF)
    # b's demo came before its mql: counted in any order (h's demo is after as_of)
    assert reached(r) == [8, 6, 5]
    # step 3's time is the later of mql and demo: for b that is its mql, 0 days on
    assert r.steps.set_index("step").loc[3, "median_days"] == pytest.approx(2.0)


def test_window(case):
    r = step_funnel(case, steps=STEPS, within_days=30, as_of=AS_OF)
    # f's mql is 64 d after its entry, c's demo 50 d
    assert reached(r) == [8, 5, 2]
    assert "within 30 d" in r.headline()[0]


def test_exclusion_stops_progress(case):
    r = step_funnel(case, steps=STEPS, exclude="stage:disqualified", as_of=AS_OF)
    # d was disqualified on 01-13: its mql (01-12) counts, its demo (01-14) does not
    assert reached(r) == [8, 6, 3]
    assert r.exclude == "stage:disqualified"
    assert any("stops at the first stage:disqualified" in line for line in r.headline())
    # a stage step after an excluded touch: b's demo (01-12) came before its mql (01-15)
    cut = step_funnel(case, steps="touch:webinar,stage:mql", exclude="touch:demo", as_of=AS_OF)
    assert reached(cut) == [8, 5]


def test_since_until_move_the_entry(case):
    r = step_funnel(case, steps=STEPS, since="2026-01-01", until="2026-03-31", as_of=AS_OF)
    # i enters after until; f now enters on 02-01, so its mql is 2 d on
    assert reached(r) == [7, 6, 4]
    windowed = step_funnel(case, steps=STEPS, since="2026-01-01", within_days=30, as_of=AS_OF)
    assert reached(windowed) == [8, 6, 3]  # f in its window now; c's demo still too late


def test_as_of_ignores_later_events(case):
    later = step_funnel(case, steps=STEPS, as_of=datetime(2026, 7, 31))
    # g's webinar (07-05) and h's demo (07-02) now count
    assert reached(later) == [9, 6, 5]
    early = step_funnel(case, steps=STEPS, as_of=datetime(2026, 1, 13, 12))
    # by then: entries on 01-10 and f's 2025 one; only d's mql (01-12); no demo after it yet
    assert reached(early) == [7, 1, 0]


def test_by_groups_add_up(case):
    for by in ("owner", "source_channel"):
        r = step_funnel(case, steps=STEPS, by=by, as_of=AS_OF)
        sums = r.by_group.groupby("step")["reached"].sum()
        assert list(sums) == reached(r)
        assert list(r.by_group.columns[:3]) == [by, "step", "label"]
    r = step_funnel(case, steps=STEPS, by="owner", as_of=AS_OF)
    ann = r.by_group[r.by_group.owner == "ann"].set_index("step")
    assert list(ann.reached) == [3, 3, 2]  # a b c; b's demo is before its mql
    assert ann.loc[3, "conversion"] == pytest.approx(2 / 3)


def test_touch_matching(case):
    # touch: is case-blind over channel, tactic, campaign and kind; channel: only that column
    assert step_funnel(case, steps="channel:WEBINAR,kind:demo", as_of=AS_OF).n == 8
    r = step_funnel(case, steps="kind:webinar,touch:demo", as_of=AS_OF)
    assert reached(r) == [0, 0]
    assert r.headline() == [
        "kind:webinar → touch:demo: nobody entered — no kind:webinar event up to 2026-06-30"
    ]
    # a stage is reached once: a repeated stage step is never reached again
    assert reached(step_funnel(case, steps="stage:lead,stage:lead", as_of=AS_OF)) == [9, 0]


def load_repeats(wh):
    """Emails and calls, to repeat a step:

    r1: email 03-01 10:00, another email 03-01 10:00 (the same second)
    r2: email 03-01, email 03-05
    r3: email 03-01, call 03-01 (the same second), no other email
    r4: email 03-01, call 03-02, email 03-02
    """
    rows = [
        ("r1", "2026-03-01 10:00", "email"),
        ("r1", "2026-03-01 10:00", "email"),
        ("r2", "2026-03-01", "email"),
        ("r2", "2026-03-05", "email"),
        ("r3", "2026-03-01", "email"),
        ("r3", "2026-03-01", "call"),
        ("r4", "2026-03-01", "email"),
        ("r4", "2026-03-02", "call"),
        ("r4", "2026-03-02", "email"),
    ]
    tp = pd.DataFrame(
        [(f"t{i}", c, pd.Timestamp(t), "outbound", k) for i, (c, t, k) in enumerate(rows)],
        columns=["touchpoint_id", "contact_id", "ts", "channel", "kind"],
    )
    wh.load("touchpoints", tp)
    return wh


def test_repeated_step(wh):
    load_repeats(wh)
    twice = step_funnel(wh, steps="touch:email,touch:email", as_of=AS_OF)
    # r1's two emails are in the same second: one; r3 has one; r2 and r4 have two
    assert reached(twice) == [4, 2]
    assert twice.steps.set_index("step").loc[2, "median_days"] == pytest.approx(2.5)
    around = step_funnel(wh, steps="touch:email,touch:call,touch:email", as_of=AS_OF)
    # r3's call is at its email's second (counts: a different step), but no later email
    assert reached(around) == [4, 2, 1]


@pytest.mark.parametrize(
    ("steps", "exclude", "message"),
    [
        ("touch webinar,stage:mql", None, "steps 'touch webinar': each step is kind:value"),
        ("tuch:webinar,stage:mql", None, "Did you mean 'touch'?"),
        ("touch:webinar,stage:mqll", None, "no stage 'mqll'"),
        ("touch:webinar,stage:mqll", None, "Did you mean 'mql'?"),
        ("touch:webinar,stage:", None, "e.g. touch:webinar or stage:mql"),
        ("touch:webinar", None, "two steps or more"),
        ("touch:webinar,stage:mql", "stage:disqualifed", "Did you mean 'disqualified'?"),
    ],
)
def test_bad_steps(wh, steps, exclude, message):
    with pytest.raises(InputError, match=message) as info:
        step_funnel(wh, steps=steps, exclude=exclude, as_of=AS_OF)
    assert info.value.option == ("exclude" if exclude else "steps")


def test_bad_options(case):
    with pytest.raises(InputError, match="order 'sometimes'"):
        step_funnel(case, steps=STEPS, order="sometimes", as_of=AS_OF)
    with pytest.raises(InputError, match="within_days"):
        step_funnel(case, steps=STEPS, within_days=0, as_of=AS_OF)
    with pytest.raises(InputError, match="Did you mean 'source_channel'"):
        step_funnel(case, steps=STEPS, by="source_chanel", as_of=AS_OF)
    with pytest.raises(InputError, match="since is after until"):
        step_funnel(case, steps=STEPS, since="2026-05-01", until="2026-04-01", as_of=AS_OF)


def test_empty_warehouse_says_so():
    r = step_funnel(ff.connect("duckdb://:memory:"), steps=STEPS, as_of=AS_OF)
    assert r.n == 0 and reached(r) == [0, 0, 0]
    assert "nobody entered" in r.headline()[0]
    assert r.summary() == ["Step funnel: nobody entered"]
    assert r.to_dict()["kind"] == "step funnel"


STAGES = ["lead", "mql", "sal", "sql", "opportunity", "customer", "advocate"]
DEMO_AS_OF = datetime(2026, 11, 23)


def test_stage_steps_reproduce_the_funnel(demo_wh):
    """Over all time, step k of lead → … → advocate is the funnel's reached of stage k
    (reaching a stage implies the earlier ones, no later than it), and the days from
    step k-1 are the funnel's velocity from stage k-1."""
    steps = ",".join(f"stage:{s}" for s in STAGES)
    r = step_funnel(demo_wh, steps=steps, as_of=DEMO_AS_OF)
    f = ff.funnel(demo_wh, as_of=DEMO_AS_OF).stages.set_index("stage").loc[STAGES]
    assert reached(r) == [int(n) for n in f.reached]
    assert reached(r)[-1] > 0
    ours = r.steps.median_days.to_numpy()[1:]
    theirs = f.median_days.to_numpy(dtype=float)[:-1]
    assert ours == pytest.approx(theirs, abs=0.01)


def test_stage_steps_in_a_period_follow_the_entry_cohort(demo_wh):
    """With since/until, step 1 is the funnel's leads of the period; a later step counts
    those leads that went on to the stage by as_of (whenever they reached it), which is
    the funnel's cumulative share, not its reached of the stage in the period."""
    steps = ",".join(f"stage:{s}" for s in STAGES)
    window = {"since": "2026-01-01", "until": "2026-06-30", "as_of": DEMO_AS_OF}
    r = step_funnel(demo_wh, steps=steps, **window)
    f = ff.funnel(demo_wh, **window).stages.set_index("stage").loc[STAGES]
    assert r.n == int(f.loc["lead", "reached"])
    assert int(r.steps.reached.iloc[1]) == int(f.loc["lead", "converted"])
    assert r.steps.share_of_first.to_numpy() == pytest.approx(f.cumulative.to_numpy(dtype=float))
