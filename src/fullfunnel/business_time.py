"""Business time: the working hours between two timestamps, per team, in the engine.

Each team keeps a calendar (``[calendar]``, overridden per team under
``[calendar.teams.<team>]``): its working days, its hours, its time zone and the
country whose public holidays it keeps (from the ``holidays`` library). A timestamp
(UTC, the warehouse convention) maps to ``W(t)``, the working seconds from the
calendar's first day to ``t``, by one join with a small table of UTC days; the
business time between two timestamps is ``W(end) − W(start)``, counted in working
days of that team's length (8 hours for 09:00–17:00).

With ``clock = "business"`` a stage's ``sla_days`` are working days: the handoff
and stuck clocks stop at night, at weekends and on holidays.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from fullfunnel._dates import SECONDS_PER_DAY, epoch_seconds
from fullfunnel.errors import ConfigError, did_you_mean

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCKS = ("calendar", "business")
KEYS = ("working_days", "hours", "time_zone", "holidays")
YEARS_BACK = 20  # timestamps older than this before the as-of date count from its start


@dataclasses.dataclass(frozen=True)
class TeamCalendar:
    """When one team works: weekdays (0 = Monday), daily hours, time zone, holidays."""

    team: str
    weekdays: tuple[int, ...]
    start: time
    end: time
    time_zone: str
    holidays: str  # a country code ("US", "DE"), with a subdivision ("US-CA"); "" for none

    @property
    def day_seconds(self) -> int:
        """The length of one working day, in seconds."""
        return _seconds(self.end) - _seconds(self.start)


def clock(config) -> str:
    """``calendar`` (every hour counts) or ``business`` (working hours only)."""
    return config["calendar"]["clock"]


def calendars(config) -> dict[str, TeamCalendar]:
    """Every team's calendar: ``[calendar]`` with the team's overrides."""
    section = config["calendar"]
    where = (config.path or "config") + ": [calendar]"
    if section["clock"] not in CLOCKS:
        raise ConfigError(f"{where} clock {section['clock']!r} must be 'calendar' or 'business'")
    teams = section["teams"]
    for team, overrides in teams.items():
        if team not in config.teams:
            raise ConfigError(
                f"{where} teams.{team} is not a team; the teams are {', '.join(config.teams)}."
                + did_you_mean(team, config.teams)
            )
        unknown = sorted(set(overrides) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"{where} teams.{team}: unknown key '{unknown[0]}'; a team may set "
                f"{', '.join(KEYS)}." + did_you_mean(unknown[0], KEYS)
            )
    return {
        team: _team_calendar(team, {**section, **teams.get(team, {})}, f"{where} ({team})")
        for team in config.teams
    }


def _team_calendar(team: str, settings: dict, where: str) -> TeamCalendar:
    days = settings["working_days"]
    wrong = [d for d in days if str(d).lower()[:3] not in WEEKDAYS]
    if wrong or not days:
        raise ConfigError(
            f"{where} working_days {days!r}: list weekdays as {', '.join(WEEKDAYS)}, "
            'e.g. ["mon", "tue", "wed", "thu", "fri"]'
        )
    start, end = _hours(settings["hours"], where)
    tz = settings["time_zone"]
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where} time_zone {tz!r} is not a time zone; write an IANA name such as "
            "'Europe/Berlin' or 'America/New_York'"
        ) from None
    country = settings["holidays"].strip().upper()
    if country:
        _holidays(country, 2000)  # checked now, not on first use
    weekdays = tuple(sorted({WEEKDAYS.index(str(d).lower()[:3]) for d in days}))
    return TeamCalendar(team, weekdays, start, end, tz, country)


def _hours(text: str, where: str) -> tuple[time, time]:
    try:
        a, b = (time.fromisoformat(p.strip()) for p in text.replace("24:00", "23:59:59").split("-"))
    except ValueError:
        a = b = None
    if a is None or b is None or _seconds(b) <= _seconds(a):
        raise ConfigError(f"{where} hours {text!r}: write the working day as 'HH:MM-HH:MM'")
    return a, b


@cache
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    code, _, subdiv = country.partition("-")
    try:
        days = holidays.country_holidays(code, subdiv=subdiv or None, years=year)
    except NotImplementedError:
        known = list(holidays.list_supported_countries())
        raise ConfigError(
            f"[calendar] holidays {country!r} is not a country the holidays library knows; "
            "write an ISO code such as 'US', 'GB' or 'DE', or 'US-CA' for a state."
            + did_you_mean(code, known)
        ) from None
    return frozenset(days)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def working_intervals(cal: TeamCalendar, first: date, last: date) -> np.ndarray:
    """The team's working hours from ``first`` to ``last`` (local days), as UTC epoch
    seconds ``[start, end)``, one row per working day, adjacent ones merged."""
    zone = ZoneInfo(cal.time_zone)
    rows = []
    day = first
    while day <= last:
        off = _holidays(cal.holidays, day.year) if cal.holidays else frozenset()
        if day.weekday() in cal.weekdays and day not in off:
            a = datetime.combine(day, cal.start, zone).astimezone(UTC)
            b = datetime.combine(day, cal.end, zone).astimezone(UTC)
            rows.append((int(a.timestamp()), int(b.timestamp())))
        day += timedelta(days=1)
    out: list[list[int]] = []
    for a, b in rows:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.array(out, dtype="int64").reshape(-1, 2)


def day_table(cals: dict[str, TeamCalendar], first: date, last: date) -> pd.DataFrame:
    """Per team and UTC day (days since 1970): the working seconds before its
    midnight (``cum``) and its working hours as up to two ``[s, e)`` spans in seconds
    after midnight: what :func:`working_days` needs to place any moment."""
    epoch = date(1970, 1, 1)
    days = np.arange((first - epoch).days, (last - epoch).days + 1)
    frames = []
    for team, cal in cals.items():
        spans = working_intervals(cal, first - timedelta(days=1), last + timedelta(days=1))
        a, b = spans[:, 0], spans[:, 1]
        frame = pd.DataFrame({"day": days, "cum": _worked(a, b, days * SECONDS_PER_DAY)})
        # a span is under a day long: it lies on its first UTC day, or on two
        da, db = a // SECONDS_PER_DAY, (b - 1) // SECONDS_PER_DAY
        split = db > da
        pieces = pd.DataFrame(
            {
                "day": np.concatenate([da, db[split]]),
                "s": np.concatenate([a - da * SECONDS_PER_DAY, np.zeros(split.sum(), "int64")]),
                "e": np.concatenate(
                    [
                        np.minimum(b, (da + 1) * SECONDS_PER_DAY) - da * SECONDS_PER_DAY,
                        b[split] - db[split] * SECONDS_PER_DAY,
                    ]
                ),
            }
        ).sort_values(["day", "s"])
        pieces["k"] = pieces.groupby("day").cumcount() + 1
        wide = pieces.pivot(index="day", columns="k", values=["s", "e"])
        wide.columns = [f"{name}{k}" for name, k in wide.columns]
        frame = frame.merge(wide, left_on="day", right_index=True, how="left")
        for col in ("s1", "e1", "s2", "e2"):
            frame[col] = frame[col].fillna(0).astype("int64") if col in frame else 0
        frame["team"] = team
        frame["day_seconds"] = cal.day_seconds
        frames.append(frame[["team", "day", "cum", "s1", "e1", "s2", "e2", "day_seconds"]])
    return pd.concat(frames, ignore_index=True)


def _worked(start: np.ndarray, end: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Working seconds from the first span's start to each moment of ``at``."""
    if not len(start):
        return np.zeros(len(at), dtype="int64")
    lengths = end - start
    before = np.concatenate([[0], np.cumsum(lengths)])
    i = np.searchsorted(start, at, side="right") - 1
    inside = np.where(
        i >= 0, np.minimum(at - start[np.maximum(i, 0)], lengths[np.maximum(i, 0)]), 0
    )
    return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0)


@cache
def _day_table(cals: tuple[TeamCalendar, ...], first: date, last: date) -> ir.Table:
    """One memtable per calendar and range, reused: an expression that reads it is the
    same expression each time (derived tables built from it are shared)."""
    frame = pa.Table.from_pandas(day_table({c.team: c for c in cals}, first, last))
    return ibis.memtable(frame.combine_chunks())  # Spark takes single-chunk columns only


def calendar_table(config, as_of: datetime) -> tuple[ir.Table, int, int]:
    """The day table of every team for the ``YEARS_BACK`` years to ``as_of``, and its
    first and last second."""
    last = as_of.date() + timedelta(days=1)
    first = date(last.year - YEARS_BACK, 1, 1)
    cals = tuple(calendars(config).values())
    lo = (first - date(1970, 1, 1)).days * SECONDS_PER_DAY
    hi = ((last - date(1970, 1, 1)).days + 1) * SECONDS_PER_DAY - 1
    return _day_table(cals, first, last), lo, hi


def working_days(
    t: ir.Table,
    start: str,
    end: ir.TimestampValue | str,
    team: ir.StringValue | str,
    config,
    as_of: datetime,
    *,
    name: str,
) -> ir.Table:
    """``t`` with column ``name``: the working days of ``team`` (a column, or one
    team for every row) from column ``start`` to ``end`` (a column or a moment); null
    where either is null. Two small joins, no row leaves the engine."""
    days, lo, hi = calendar_table(config, as_of)
    end_value = t[end] if isinstance(end, str) else end
    team_value = ibis.literal(team) if isinstance(team, str) else team
    marked = t.mutate(_bt_start=t[start], _bt_end=end_value, _bt_team=team_value)
    marked = _at(marked, "_bt_start", days, lo, hi, "_bt_w0")
    marked = _at(marked, "_bt_end", days, lo, hi, "_bt_w1")
    value = ((marked._bt_w1 - marked._bt_w0) / marked._bt_len).round(4)
    return marked.mutate(**{name: value}).drop(
        "_bt_start", "_bt_end", "_bt_team", "_bt_w0", "_bt_w1", "_bt_len"
    )


def _at(t: ir.Table, column: str, days: ir.Table, lo: int, hi: int, out: str) -> ir.Table:
    """``t`` with ``out``: W(``column``) on the row's team calendar (and ``_bt_len``,
    the length of that team's working day)."""
    sec = epoch_seconds(t[column]).clip(lo, hi)
    keyed = t.mutate(_bt_day=(sec // SECONDS_PER_DAY).cast("int64"), _bt_sec=sec)
    keyed = keyed.mutate(_bt_sec=keyed._bt_sec - keyed._bt_day * SECONDS_PER_DAY)
    d = days.rename(
        _bt_team_r="team",
        _bt_day_r="day",
        _bt_cum="cum",
        _bt_s1="s1",
        _bt_e1="e1",
        _bt_s2="s2",
        _bt_e2="e2",
        _bt_len_r="day_seconds",
    )
    j = keyed.left_join(d, [keyed._bt_team == d._bt_team_r, keyed._bt_day == d._bt_day_r])
    within = _part(j._bt_sec, j._bt_s1, j._bt_e1) + _part(j._bt_sec, j._bt_s2, j._bt_e2)
    w = ibis.ifelse(j[column].isnull(), ibis.null("int64"), j._bt_cum + within)
    extra = {} if "_bt_len" in t.columns else {"_bt_len": j._bt_len_r}
    return j.mutate(**{out: w}, **extra).drop(
        "_bt_day",
        "_bt_sec",
        "_bt_team_r",
        "_bt_day_r",
        "_bt_cum",
        "_bt_s1",
        "_bt_e1",
        "_bt_s2",
        "_bt_e2",
        "_bt_len_r",
    )


def _part(sec: ir.IntegerValue, s: ir.IntegerValue, e: ir.IntegerValue) -> ir.IntegerValue:
    """The seconds of span ``[s, e)`` that have passed at ``sec`` after midnight."""
    return ibis.least(ibis.greatest(sec - s, 0), e - s)


def with_business_age(t: ir.Table, config, as_of: datetime) -> ir.Table:
    """``t`` (timeline rows) with ``business_days_in_stage``: the working days of the
    current stage's owner team from entering it to ``as_of``."""
    owner = t.current_stage.cases(*[(s.name, s.owner) for s in config.stages], else_=None)
    moment = ibis.timestamp(as_of.replace(microsecond=0))
    return working_days(
        t, "current_stage_at", moment, owner, config, as_of, name="business_days_in_stage"
    )


def sla_age(t: ir.Table, config) -> ir.FloatingValue:
    """Days in the current stage as the SLA counts them: working days on the business
    clock (``t`` from :func:`with_business_age`), else calendar days."""
    return t.business_days_in_stage if clock(config) == "business" else t.days_in_stage
