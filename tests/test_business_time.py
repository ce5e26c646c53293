"""Business time: working hours by team calendar, and the SLA clocks that count them."""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd
import pytest

from fullfunnel.analytics.handoffs import handoffs
from fullfunnel.analytics.stuck import stuck
from fullfunnel.business_time import calendars, working_days
from fullfunnel.config import config_from_dict
from fullfunnel.errors import ConfigError

AS_OF = datetime(2026, 12, 1)  # a Tuesday, midnight UTC


def business(**calendar) -> object:
    return config_from_dict({"calendar": {"clock": "business", **calendar}})


def spans(config, rows, team: str = "bdr") -> list[float | None]:
    """Working days of ``team`` for each (start, end) of ``rows``, in order."""
    frame = pd.DataFrame(
        {
            "i": range(len(rows)),
            "a": pd.to_datetime([a for a, _ in rows]),
            "b": pd.to_datetime([b for _, b in rows]),
        }
    )
    t = working_days(ibis.memtable(frame), "a", "b", team, config, AS_OF, name="wd")
    out = ibis.duckdb.connect().execute(t.order_by("i"))
    return [None if pd.isna(v) else v for v in out.wd]


def test_working_days_by_hand():
    utc = business(holidays="US")
    assert spans(
        utc,
        [
            ("2026-11-20 16:00", "2026-11-23 10:00"),  # Fri 1 h + Mon 1 h
            ("2026-11-25 16:00", "2026-11-30 10:00"),  # Wed 1 h, Thanksgiving, Fri 8 h, Mon 1 h
            ("2026-11-21 10:00", "2026-11-22 18:00"),  # a weekend: nothing
            ("2026-11-23 09:00", "2026-11-23 17:00"),  # one whole working day
            ("2026-11-23 20:00", "2026-11-23 08:00"),  # the end first: minus the hours between
            (None, "2026-11-23 10:00"),
        ],
    ) == [0.25, 1.25, 0.0, 1.0, -1.0, None]
    # without holidays Thursday counts
    assert spans(business(), [("2026-11-25 16:00", "2026-11-30 10:00")]) == [2.25]


def test_a_team_works_in_its_own_time_zone_and_hours():
    config = business(teams={"sales": {"time_zone": "America/Los_Angeles", "hours": "08:00-12:00"}})
    # Friday 16:00 UTC is 08:00 in Los Angeles: the whole 4-hour Friday, none of
    # Monday 10:00 UTC (02:00 there); Tuesday 02:00 UTC is Monday 18:00 there
    rows = [("2026-11-20 16:00", "2026-11-23 10:00"), ("2026-11-20 16:00", "2026-11-24 02:00")]
    assert spans(config, rows, team="sales") == [1.0, 2.0]
    assert spans(config, rows, team="bdr") == [0.25, 1.125]  # the default UTC 9–17
    assert calendars(config)["sales"].day_seconds == 4 * 3600


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ({"clock": "hours"}, "must be 'calendar' or 'business'"),
        ({"time_zone": "Mars/Olympus"}, "not a time zone"),
        ({"holidays": "XX"}, "not a country the holidays library knows"),
        ({"hours": "17:00-09:00"}, "HH:MM-HH:MM"),
        ({"working_days": ["monday", "funday"]}, "list weekdays"),
        ({"teams": {"sale": {"time_zone": "UTC"}}}, "Did you mean 'sales'"),
        ({"teams": {"sales": {"timezone": "UTC"}}}, "unknown key 'timezone'"),
    ],
)
def test_a_wrong_calendar_says_what_to_write(calendar, message):
    with pytest.raises(ConfigError, match=message):
        calendars(config_from_dict({"calendar": calendar}))


def load_weekend_case(wh):
    """MQLs handed to bdr (SLA 2 days), as of Tuesday 2026-12-01 00:00 UTC.

    weekend:  mql Fri 11-20 16:00, bdr touch Mon 11-23 12:00: 2.83 d, 0.5 working d
    holiday:  mql Wed 11-25 16:00, bdr touch Mon 11-30 10:00: 4.75 d, 1.25 working d
              with US holidays (Thanksgiving), 2.25 without
    waiting:  mql Fri 11-27 17:00, no touch: 3.3 d old, 1 working d (still due)
    """
    at = pd.Timestamp
    contacts = pd.DataFrame(
        {"contact_id": ["weekend", "holiday", "waiting"], "created_at": [at("2026-11-01")] * 3}
    )
    events = pd.DataFrame(
        [
            ("weekend", "mql", at("2026-11-20 16:00")),
            ("holiday", "mql", at("2026-11-25 16:00")),
            ("waiting", "mql", at("2026-11-27 17:00")),
        ],
        columns=["contact_id", "stage", "ts"],
    )
    tp = pd.DataFrame(
        [
            ("t1", "weekend", at("2026-11-23 12:00"), "email", "email", "bdr"),
            ("t2", "holiday", at("2026-11-30 10:00"), "email", "email", "bdr"),
        ],
        columns=["touchpoint_id", "contact_id", "ts", "channel", "kind", "team"],
    )
    wh.load_many({"contacts": contacts, "stage_events": events, "touchpoints": tp})
    return wh


def mql_row(result) -> pd.Series:
    return result.handoffs.set_index("stage").loc["mql"]


def test_the_business_clock_stops_at_night_at_weekends_and_on_holidays(wh):
    load_weekend_case(wh)
    calendar = mql_row(handoffs(wh, as_of=AS_OF))
    assert (calendar.sla_met, calendar.late, calendar.dropped, calendar.pending) == (0, 2, 1, 0)
    # both durations are reported on either clock
    assert calendar.median_days == pytest.approx((2 + 5 / 6 + 4.75) / 2, abs=0.01)
    assert calendar.median_business_days == pytest.approx((0.5 + 2.25) / 2, abs=0.01)

    result = handoffs(wh, as_of=AS_OF, config=business(holidays="US"))
    worked = mql_row(result)
    assert (worked.sla_met, worked.late, worked.dropped, worked.pending) == (2, 0, 0, 1)
    assert worked.sla_met_pct == 1.0
    assert "SLA (2 working d)" in "\n".join(result.headline())

    plain = mql_row(handoffs(wh, as_of=AS_OF, config=business()))
    assert (plain.sla_met, plain.late, plain.pending) == (1, 1, 1)  # Thanksgiving worked


def test_stuck_on_the_business_clock(demo_wh):
    """On the demo, a contact is stuck on the business clock only when its working
    days in stage pass the limit; both ages are listed, and fewer are stuck."""
    calendar = stuck(demo_wh, limit=500)
    worked = stuck(demo_wh, limit=500, config=business())
    assert worked.clock == "business" and calendar.clock == "calendar"
    assert 0 < worked.total < calendar.total
    listed = worked.contacts
    assert (listed.business_days_in_stage > listed.limit_days).all()
    assert (listed.business_days_in_stage <= listed.days_in_stage + 1).all()
    assert (calendar.contacts.days_in_stage > calendar.contacts.limit_days).all()
    assert "in working days" in worked.headline()[0]
