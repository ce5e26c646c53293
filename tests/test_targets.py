"""Targets: amounts and periods as people write them, and booked-to-date."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from fullfunnel.analytics.bookings import bookings, period_target
from fullfunnel.analytics.targets import import_targets, list_targets, parse_amount, set_target
from fullfunnel.errors import InputError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2.5M", 2_500_000.0),
        ("250k", 250_000.0),
        ("2500000", 2_500_000.0),
        ("2,500,000", 2_500_000.0),
        ("$1.2m", 1_200_000.0),
        ("1B", 1e9),
        (750, 750.0),
    ],
)
def test_parse_amount(text, value):
    assert parse_amount(text) == value


@pytest.mark.parametrize("text", ["2.5x", "", "M", "-5"])
def test_parse_amount_rejects(text):
    with pytest.raises(InputError, match=r"2\.5M"):
        parse_amount(text)


def booked(wh, start, end, *, as_of):
    b = bookings(wh, start, end, as_of=as_of)
    return b.amount, b.deals


def target_for(wh, start, end):
    return period_target(wh, start, end).amount


def _opps(wh):
    wh.load(
        "opportunities",
        pd.DataFrame(
            {
                "opportunity_id": ["a", "b", "c", "d", "e"],
                "created_at": pd.to_datetime(["2026-09-01"] * 5),
                "status": ["won", "won", "won", "lost", "open"],
                "amount": [100.0, 200.0, 400.0, 800.0, 1600.0],
                "close_date": pd.to_datetime(
                    ["2026-10-05", "2026-11-20", "2026-09-30", "2026-10-10", None]
                ),
            }
        ),
    )


def test_booked_counts_only_wins_inside_the_period_known_by_as_of(wh):
    _opps(wh)
    start, end = datetime(2026, 10, 1), datetime(2027, 1, 1)
    assert booked(wh, start, end, as_of=datetime(2026, 12, 31)) == (300.0, 2)
    # the Nov 20 win is not known on Nov 1
    assert booked(wh, start, end, as_of=datetime(2026, 11, 1)) == (100.0, 1)


@pytest.mark.parametrize(
    ("period", "start", "last"),
    [
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-10-15..2026-11-14", date(2026, 10, 15), date(2026, 11, 14)),
    ],
)
def test_set_target_periods(wh, period, start, last):
    out = set_target(wh, period=period, amount="2.5M", as_of="2026-11-23").targets
    assert len(out) == 1
    row = out.iloc[0]
    assert (row.period_start.date(), row.period_end.date()) == (start, last)
    assert row.amount == 2_500_000


def test_set_replaces_and_list_shows_gap(wh):
    _opps(wh)
    set_target(wh, period="2026-Q4", amount="1k")
    res = set_target(wh, period="2026-Q4", amount="500", as_of="2026-12-31")
    t = res.targets
    assert len(t) == 1
    assert t.iloc[0].booked == 300 and t.iloc[0].gap == 200
    assert "gap 200" in res.headline()[0]
    assert target_for(wh, datetime(2026, 10, 1), datetime(2027, 1, 1)) == 500.0


def test_target_for_sums_months_inside_a_quarter(wh):
    for m in ("2026-10", "2026-11", "2026-12"):
        set_target(wh, period=m, amount="100k")
    assert target_for(wh, datetime(2026, 10, 1), datetime(2027, 1, 1)) == 300_000.0
    assert target_for(wh, datetime(2027, 1, 1), datetime(2027, 4, 1)) is None
    assert period_target(wh, datetime(2026, 10, 1), datetime(2027, 1, 1)).basis == (
        "sum of 3 targets inside the period"
    )


def test_a_longer_target_is_prorated_by_days(wh):
    set_target(wh, period="2026", amount="3.65M")
    q4 = period_target(wh, datetime(2026, 10, 1), datetime(2027, 1, 1))
    assert q4.amount == pytest.approx(3_650_000 * 92 / 365)
    assert q4.basis == "92 of 365 days of 2026-01-01..2026-12-31"
    # the exact period's own row wins over the prorated year
    set_target(wh, period="2026-Q4", amount="1M")
    assert target_for(wh, datetime(2026, 10, 1), datetime(2027, 1, 1)) == 1_000_000
    # a period only partly covered by targets has none
    assert target_for(wh, datetime(2026, 12, 1), datetime(2027, 2, 1)) is None


def test_import_targets_csv(wh, tmp_path):
    f = tmp_path / "targets.csv"
    f.write_text(
        "period,period_start,period_end,amount\n2026-Q4,,,2.5M\n,2027-01-01,2027-03-31,3000000\n",
        encoding="utf-8",
    )
    out = import_targets(wh, f).targets
    assert list(out["amount"]) == [2_500_000.0, 3_000_000.0]
    assert out.iloc[1].period_end.date() == date(2027, 3, 31)


def test_import_targets_names_the_bad_row(wh, tmp_path):
    f = tmp_path / "targets.csv"
    f.write_text("period,amount\n2026-Q4,2.5M\n2026-Q9,1M\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"targets.csv row 3: period '2026-Q9'"):
        import_targets(wh, f)
    assert list_targets(wh).targets.empty  # nothing loaded


def test_a_win_closed_at_as_of_itself_is_booked(wh):
    # CRMs store close dates as dates: a deal won on the as-of day counts that day
    _opps(wh)
    start, end = datetime(2026, 10, 1), datetime(2027, 1, 1)
    assert booked(wh, start, end, as_of=datetime(2026, 10, 5)) == (100.0, 1)
    assert booked(wh, start, end, as_of=datetime(2026, 10, 4, 23, 59)) == (0.0, 0)
