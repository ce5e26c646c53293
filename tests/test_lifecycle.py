import itertools
from datetime import datetime

import pandas as pd

import fullfunnel as ff
from conftest import SMALL_AS_OF, load_small_funnel
from fullfunnel.config import config_from_dict


def timeline_frame(wh, **kw):
    tl = ff.timeline(wh, as_of=kw.pop("as_of", SMALL_AS_OF), **kw).execute()
    return tl.set_index("contact_id").sort_index()


def test_hand_built_timeline(small_wh):
    tl = timeline_frame(small_wh)
    t = pd.Timestamp
    # implied stages are filled from the next reached stage and flagged
    assert tl.loc["a", "reached_sal_at"] == t("2024-01-20")
    assert tl.loc["a", "sal_implied"] and not tl.loc["a", "mql_implied"]
    assert tl.loc["c", "reached_mql_at"] == t("2024-02-10")
    assert tl.loc["c", "mql_implied"] and tl.loc["c", "sal_implied"]
    # every contact reached lead at creation
    assert tl["reached_lead_at"].notna().all()
    # current stage, exits and recycling
    assert tl.loc["a", "current_stage"] == "customer"
    assert tl.loc["b", "exit"] == "disqualified"
    assert tl.loc["b", "current_stage"] == "mql"
    assert tl.loc["b", "exited_at"] == t("2024-01-15")
    assert tl.loc["b", "days_in_stage"] == 3
    assert tl.loc["d", "current_stage"] == "mql"
    assert pd.isna(tl.loc["d", "exit"])
    assert tl.loc["d", "recycled_count"] == 1
    assert tl.loc["d", "entries_mql"] == 2
    # first reach counts, re-entry does not move it
    assert tl.loc["d", "reached_mql_at"] == t("2024-02-06")
    assert tl.loc["d", "days_in_stage"] == 61
    assert tl.loc["e", "current_stage"] == "lead"
    assert tl.loc["e", "days_in_stage"] == 92


def test_recycled_contact_sits_in_nurture_until_it_returns(wh):
    load_small_funnel(wh)
    tl = timeline_frame(wh, as_of=datetime(2024, 3, 1))
    assert tl.loc["d", "current_stage"] == "lead"
    assert tl.loc["d", "current_stage_at"] == pd.Timestamp("2024-02-20")
    assert tl.loc["d", "entries_mql"] == 1


def test_as_of_ignores_later_events(wh):
    load_small_funnel(wh)
    tl = timeline_frame(wh, as_of=datetime(2024, 1, 25))
    assert set(tl.index) == {"a", "b"}
    assert tl.loc["a", "current_stage"] == "sql"
    assert pd.isna(tl.loc["a", "reached_opportunity_at"])


def test_implied_stages_can_be_switched_off(wh):
    load_small_funnel(wh)
    cfg = config_from_dict({"funnel": {"implied_stages": False}})
    tl = timeline_frame(wh, config=cfg)
    assert pd.isna(tl.loc["c", "reached_mql_at"])
    assert not tl["mql_implied"].any()


def test_reached_times_never_decrease_along_the_stages(demo_wh):
    from conftest import AS_OF

    cfg = ff.default_config()
    tl = ff.timeline(demo_wh, as_of=AS_OF).execute()
    cols = [f"reached_{s}_at" for s in cfg.stage_names]
    for a, b in itertools.pairwise(cols):
        both = tl[a].notna() & tl[b].notna()
        assert (tl.loc[both, a] <= tl.loc[both, b]).all(), (a, b)
        # reaching a later stage implies reaching the earlier one
        assert not (tl[b].notna() & tl[a].isna()).any()


def test_timeline_is_materialised_once_per_date_and_refreshed_by_a_load(wh):
    load_small_funnel(wh)
    first = ff.timeline(wh, as_of=SMALL_AS_OF)
    # the same date and stage model share one materialised table
    assert ff.timeline(wh, as_of=SMALL_AS_OF).op() == first.op()
    assert ff.timeline(wh, as_of=datetime(2024, 3, 1)).op() != first.op()
    contacts = first.count().execute()
    # a load makes what was derived from the old rows stale
    wh.load("contacts", pd.DataFrame({"contact_id": ["z"], "created_at": [datetime(2024, 1, 2)]}))
    assert ff.timeline(wh, as_of=SMALL_AS_OF).count().execute() == contacts + 1
    # another stage model gets its own timeline
    config = config_from_dict({"funnel": {"implied_stages": False}})
    assert ff.timeline(wh, config, as_of=SMALL_AS_OF).op() != first.op()


def test_timelines_at_several_dates_in_one_query_equal_each_date_alone(engine_wh):
    """One query for many dates (a training sample at many cut-offs) gives, per date,
    the timeline as of that date; contacts without anything by a date are absent."""
    from fullfunnel.lifecycle import timeline_expr

    load_small_funnel(engine_wh)
    cfg = ff.default_config()
    dates = [datetime(2024, 1, 5), datetime(2024, 1, 25), SMALL_AS_OF]
    many = timeline_expr(engine_wh, cfg, as_of=dates).execute()
    for d in dates:
        one = timeline_expr(engine_wh, cfg, as_of=d).execute()
        got = many[many["as_of"] == d].drop(columns="as_of")
        got = got.sort_values("contact_id").reset_index(drop=True)
        want = one.sort_values("contact_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert many["as_of"].nunique() == 3
