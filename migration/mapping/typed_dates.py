"""Dates and moments a person typed: which read one way only, and which need a person.

The converters (converters/temporal.py) take ISO text only. A person typing
into the legacy app wrote `2025/06/08`, `2025.6.8` or `20250608` as well; this
is the one rule, shared by clean_legacy (which repairs such values in its copy)
and precheck (which counts what clean_legacy will repair and what a person must
decide), for which of them can be read without doubt:

- year first, with `/`, `.` or `-` between year, month and day, months and days
  of one digit or two; or compact `YYYYMMDD` (which a DATE column, of numeric
  affinity, may hold as an integer). Year, month, day in that order is the
  only order a year-first date is written in, so such a value reads one way;
- with the year last (`03/04/2025`) it does not: the 3rd of April or the 4th
  of March. Those are never guessed: precheck reports them with each reading.

The shape is decided here, by pattern, before any parsing; dateutil then reads
the value with the order given (yearfirst, never dayfirst), and its reading
must agree with the pattern's fields, so that it never picks an order itself.
A moment keeps its time of day as typed; written back with a `T` it stays what
legacy_timestamp takes every non-SQLite shape for, local time (a person typed
it). A date alone where a moment belongs is not repaired: its time is unknown.
A repair counts only if every converter reading the column takes its result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from dateutil import parser as dateutil_parser

from migration.mapping.converters.base import Converter, LegacyValueError

F = TypeVar("F", bound=Callable[..., Any])

# What a converter reads a typed value as: a calendar date, or a date and time of day.
DATE = "date"
MOMENT = "moment"

# ASCII digits only (re.ASCII): `\d` would take any script's, and the converters do not.
_TIME = r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,6})?)?)?"
YEAR_FIRST = re.compile(
    r"(?P<year>\d{4})(?P<sep>[/.-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})" + _TIME, re.ASCII
)
COMPACT = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})" + _TIME, re.ASCII)
YEAR_LAST = re.compile(
    r"(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second_field>\d{1,2})(?P=sep)(?P<year>\d{4})" + _TIME,
    re.ASCII,
)


@dataclass(frozen=True)
class Repair:
    """A typed value that reads one way only, and the ISO text it reads as."""

    text: str


@dataclass(frozen=True)
class Ambiguous:
    """A typed value with more than one reading: the ISO text of each real one."""

    readings: tuple[str, ...]


def reads_typed(shape: str) -> Callable[[F], F]:
    """Attach to a converter the shape it reads (DATE or MOMENT): its columns are the
    ones whose typed values are read here."""

    def attach(convert: F) -> F:
        convert.typed_shape = shape  # type: ignore[attr-defined]
        return convert

    return attach


def typed_shape_of(convert: Converter) -> str | None:
    return getattr(convert, "typed_shape", None)


def typed_date_columns(columns: Sequence[Any]) -> dict[str, tuple[Converter, ...]]:
    """Column -> the converters that read it, for the column maps (a spec's, in effect
    for a file) whose converter reads a typed date or moment."""
    found: dict[str, tuple[Converter, ...]] = {}
    shapes: dict[str, str] = {}
    for column in columns:
        shape = typed_shape_of(column.convert)
        if shape is None:
            continue
        if shapes.setdefault(column.column, shape) != shape:
            raise ValueError(
                f"{column.column} is read both as a {shapes[column.column]} and a {shape}"
            )
        found[column.column] = (*found.get(column.column, ()), column.convert)
    return found


def typed_date_reading(raw: Any, converters: Sequence[Converter]) -> Repair | Ambiguous | None:
    """How a value its converters refuse reads as a typed date or moment: one way
    (Repair), several (Ambiguous), or not at all (None, a value for a person as before)."""
    shape = _shape(converters)
    if isinstance(raw, int) and not isinstance(raw, bool) and shape == DATE:
        raw = str(raw)  # 20250608 in a DATE column, numeric affinity
    if not isinstance(raw, str):
        return None
    for pattern in (YEAR_FIRST, COMPACT):
        if (match := pattern.fullmatch(raw)) is not None:
            fields = (match["year"], match["month"], match["day"])
            text = _iso(raw, match, shape, fields, yearfirst=True, dayfirst=False)
            return Repair(text) if text is not None and _taken(text, converters) else None
    if (match := YEAR_LAST.fullmatch(raw)) is not None:
        first, second, year = match["first"], match["second_field"], match["year"]
        readings = (
            _iso(raw, match, shape, (year, first, second), yearfirst=False, dayfirst=False),
            _iso(raw, match, shape, (year, second, first), yearfirst=False, dayfirst=True),
        )
        real = tuple(dict.fromkeys(r for r in readings if r and _taken(r, converters)))
        return Ambiguous(real) if real else None
    return None


def _shape(converters: Sequence[Converter]) -> str:
    shapes = {typed_shape_of(convert) for convert in converters}
    if len(shapes) != 1 or None in shapes:
        raise ValueError(f"converters of no one typed shape: {shapes}")
    return shapes.pop()  # type: ignore[return-value]


def _iso(
    raw: str,
    match: re.Match[str],
    shape: str,
    fields: tuple[str, str, str],
    *,
    yearfirst: bool,
    dayfirst: bool,
) -> str | None:
    """The value read by dateutil in the order given, as ISO text; None where it is no
    real date, where dateutil's reading differs from the fields (year, month, day), or
    where the shape and the time of day do not go together."""
    has_time = match["hour"] is not None
    if has_time != (shape == MOMENT):
        return None
    try:
        read = dateutil_parser.parse(raw, yearfirst=yearfirst, dayfirst=dayfirst)
    except (ValueError, OverflowError):
        return None
    if (read.year, read.month, read.day) != tuple(map(int, fields)) or read.tzinfo is not None:
        return None
    if not has_time:
        return read.date().isoformat()
    typed_time = (int(match["hour"]), int(match["minute"]), int(match["second"] or 0))
    if (read.hour, read.minute, read.second) != typed_time:
        return None
    return datetime.isoformat(read, timespec="microseconds" if read.microsecond else "seconds")


def _taken(text: str, converters: Sequence[Converter]) -> bool:
    try:
        for convert in converters:
            convert(text)
    except LegacyValueError:
        return False
    return True
