"""Converters of dates, times of day and moments, read in the studio's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from migration.mapping import prefilters
from migration.mapping.converters.base import (
    LegacyValueError,
    ValueProblem,
    repeating,
    wrong_type,
)
from migration.mapping.domains import Domain, returns
from migration.mapping.prefilters import prefiltered_by
from migration.mapping.typed_dates import DATE, MOMENT, reads_typed

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
HAS_TIME_OF_DAY = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def _read_whole(raw: str) -> str:
    """The text for fromisoformat(), which stops reading at a NUL: it would take
    '10:00:00\\x00 and more' for 10:00:00."""
    if "\x00" in raw:
        raise ValueError("a NUL inside")
    return raw


@cache
def legacy_time_zone() -> tzinfo:
    return ZoneInfo(settings.LEGACY_TIME_ZONE)


@reads_typed(DATE)
@returns(Domain("date"))
@prefiltered_by(prefilters.iso_date)
@repeating
def plain_date(raw: Any) -> date:
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a date is required")
    if not isinstance(raw, str):
        raise wrong_type(raw, "a date")
    if not ISO_DATE.fullmatch(raw):
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a real date") from None


@returns(Domain("time", nullable=True))
@prefiltered_by(prefilters.or_nothing(prefilters.time_of_day))
def time_of_day(raw: Any) -> time | None:
    """A time of day such as '10:00:25.813560': microseconds kept."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise wrong_type(raw, "a time of day")
    try:
        return time.fromisoformat(_read_whole(raw))
    except ValueError:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a time of day") from None


@reads_typed(MOMENT)
@returns(Domain("moment", nullable=True))
@prefiltered_by(prefilters.or_nothing(prefilters.timestamp))
def legacy_timestamp(raw: Any, legacy_tz: tzinfo | None = None) -> datetime | None:
    """A moment, made time-zone aware by how it was written.

    SQLite's CURRENT_TIMESTAMP writes 'YYYY-MM-DD HH:MM:SS' in UTC; the app's
    Python wrote `datetime.now()` in the studio's local time, with a fraction
    of a second or a 'T' (isoformat). That is the rule the legacy README gives
    for last_login, and it holds for every timestamp column: a value in
    SQLite's exact shape is UTC, any other is local time.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise wrong_type(raw, "a date and time")
    # SQLite's shape first: most timestamps are in it, and it needs no other
    # look. A chain's file holds millions: its punctuation is checked here, its
    # digits by fromisoformat (ASCII ones only), which reads it as UTC itself.
    sqlite_shaped = len(raw) == 19 and raw[4::3] == "-- ::"  # YYYY-MM-DD HH:MM:SS
    if not sqlite_shaped and not HAS_TIME_OF_DAY.match(raw):
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a date and time")
    try:
        moment = datetime.fromisoformat(raw + "+00:00" if sqlite_shaped else _read_whole(raw))
    except ValueError:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a date and time") from None
    if moment.tzinfo is None:
        # combine(), not replace(tzinfo=): the same moment, built more cheaply
        # (this runs for every timestamp in the studio's local time).
        moment = datetime.combine(moment.date(), moment.time(), legacy_tz or legacy_time_zone())
    if not 1 < moment.year < 9999:  # no offset moves a moment further than a day
        _readable_in_utc(raw, moment)
    return moment


def _readable_in_utc(raw: str, moment: datetime) -> None:
    """The target keeps a moment as UTC, and PostgreSQL keeps years Python has no
    datetime for: a moment is stored only if its UTC time reads back (years 1 to 9999)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE,
            f"{raw!r} is outside years 1 to 9999 in UTC, where the target reads moments back",
        ) from None


@reads_typed(MOMENT)
@returns(Domain("moment"))
@prefiltered_by(prefilters.timestamp)
def required_timestamp(raw: Any) -> datetime:
    moment = legacy_timestamp(raw)
    if moment is None:
        raise LegacyValueError(ValueProblem.MISSING, "empty where a date and time is required")
    return moment


# --- the app's first generation ------------------------------------------
# Its clients have a registration_date, the plain local date they were entered
# (datetime.now().strftime("%Y-%m-%d") in db_utils.py), and its assessments a
# plain date and no created_at. Its step test always lasted 180 seconds
# (assessment_scoring.py's test_duration).

STEP_TEST_SECONDS = 180.0


def _a_day_after_year_one(x: str) -> str:
    # Midnight of 0001-01-01 in Seoul is a moment of year 0 in UTC.
    return f"({prefilters.iso_date(x)}) AND {x} >= '0002-01-01'"


@reads_typed(DATE)
@returns(Domain("moment"))
@prefiltered_by(_a_day_after_year_one)
def start_of_local_day(raw: Any) -> datetime:
    """A plain local date as the moment its day began, in LEGACY_TIME_ZONE."""
    day = plain_date(raw)
    moment = datetime.combine(day, time(0), legacy_time_zone())
    if day.year <= 1:
        _readable_in_utc(raw, moment)
    return moment


@returns(Domain("float", nullable=True, minimum=0, maximum=STEP_TEST_SECONDS))
@prefiltered_by(prefilters.anything)
def step_test_duration(first_heart_rate: Any) -> float | None:
    """180 seconds wherever the first generation's step test was taken (a heart rate
    recorded after it)."""
    return None if first_heart_rate is None or first_heart_rate == "" else STEP_TEST_SECONDS
