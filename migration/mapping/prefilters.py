"""SQLite pre-filters: SQL conditions that let precheck skip values already clean.

Precheck runs every legacy value through the importer's own converter: on a
studio chain's file that is millions of Python calls. So a converter may carry
a pre-filter (`@prefiltered_by`), an SQL condition over a quoted column that
is true only for raw values the converter is certain to accept. Precheck lets
SQLite scan each table once for the rows where some value fails its
pre-filter, and runs the converters over those rows only: the converters stay
the judges of every value that does not pass.

A pre-filter stricter than its converter only costs time; one more lenient
would hide a bad value. So each one below keeps clear of what SQLite's loose
typing blurs:

- `typeof()`, unless the condition itself rules out all but text. SQLite
  compares 1, 1.0 and (under a column's affinity) '1' alike, and GLOB reads a
  number or a blob as text; the converters tell them apart.
- A literal compared with a column takes the column's affinity: against an
  INTEGER column '0001' is the number 1, and any text is greater than it. So
  text is compared through a function (substr, strftime), which has none.
- Text is compared COLLATE BINARY: a column declared NOCASE or RTRIM would
  otherwise take 'Completed' or 'completed ' for 'completed'.
- SQLite never checks that text is UTF-8, and its GLOB and length() read bytes
  that are not leniently (and stop at a NUL), while the reader hands such text
  to the converters as lone surrogates that `is_storable` rejects. So text
  passes only when it is exactly a known word, or is made of printable ASCII
  and Hangul syllables checked byte for byte (see storable_text). In a UTF-16
  file every text holds a NUL byte: Python judges it all.
- Numbers are bounded, which keeps Inf out, and the bounds are written so that
  SQLite reads exactly the double Python compares with.
- Pre-filters are conditions (AND, OR), never values inside a CASE: SQLite
  short-circuits AND and OR only where it tests them, as in a WHERE clause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from migration.legacy import quote_identifier

PreFilter = Callable[[str], str]  # a quoted column expression -> an SQL condition

F = TypeVar("F", bound=Callable[..., Any])

# Every integer up to 2**53 is exactly a double: a whole real within it casts
# to the very integer it equals.
EXACT_IN_A_REAL = 2**53
# Bounds a number must keep when its converter has none: they keep Inf out.
NUMBER_LIMIT = 10**15


def prefiltered_by(prefilter: PreFilter) -> Callable[[F], F]:
    """Attach `prefilter` to the converter it decorates: values passing it need no Python."""

    def attach(convert: F) -> F:
        convert.sqlite_prefilter = prefilter  # type: ignore[attr-defined]
        return convert

    return attach


def prefilter_of(convert: Callable[[Any], Any]) -> PreFilter | None:
    """The converter's pre-filter, or None when only Python can judge its values."""
    return getattr(convert, "sqlite_prefilter", None)


def _all(*conditions: str) -> str:
    return "(" + " AND ".join(conditions) + ")"


def _any(*conditions: str) -> str:
    return "(" + " OR ".join(conditions) + ")"


def _text(words: Sequence[str]) -> str:
    return ", ".join("'" + word.replace("'", "''") + "'" for word in words)


def _size(x: str) -> str:
    return f"length(CAST({x} AS BLOB))"  # in bytes, NULs and all


def _exactly(number: int | float) -> str:
    """The number as SQL that SQLite reads as exactly this int or double.

    A decimal literal such as 0.01 leaves the rounding to SQLite's own parser;
    a whole numerator over powers of two (SQLite's integers reach 2**62) leaves
    nothing to round.
    """
    if isinstance(number, int) or number.is_integer():
        if not -(2**63) <= number < 2**63:
            raise ValueError(f"{number!r} is beyond SQLite's integers")
        return str(int(number))
    numerator, denominator = number.as_integer_ratio()
    divisions = []
    while denominator > 1:
        power = min(denominator, 2**62)
        divisions.append(f" / {power}")
        denominator //= power
    return f"(CAST({numerator} AS REAL){''.join(divisions)})"


def _within(x: str, minimum: int | float | None, maximum: int | float | None) -> list[str]:
    bounds = []
    if minimum is not None:
        bounds.append(f"{x} >= {_exactly(minimum)}")
    if maximum is not None:
        bounds.append(f"{x} <= {_exactly(maximum)}")
    return bounds


# --- the pre-filters -----------------------------------------------------


def anything(x: str) -> str:
    """For a converter that takes every value."""
    return "1"


def nothing(x: str) -> str:
    """NULL or '': what the legacy app stored for "no value"."""
    return _any(f"{x} IS NULL", _all(f"typeof({x}) = 'text'", f"{x} COLLATE BINARY = ''"))


def or_nothing(prefilter: PreFilter) -> PreFilter:
    def prefilter_or_nothing(x: str) -> str:
        return _any(prefilter(x), nothing(x))

    return prefilter_or_nothing


def whole_number(minimum: int | None, maximum: int | None) -> PreFilter:
    """An integer within the bounds, stored as an integer or as a whole real (300000.0)."""
    low = max(minimum, -EXACT_IN_A_REAL) if minimum is not None else -EXACT_IN_A_REAL
    high = min(maximum, EXACT_IN_A_REAL) if maximum is not None else EXACT_IN_A_REAL

    def prefilter(x: str) -> str:
        return _any(
            _all(f"typeof({x}) = 'integer'", *_within(x, minimum, maximum)),
            _all(f"typeof({x}) = 'real'", *_within(x, low, high), f"{x} = CAST({x} AS INTEGER)"),
        )

    return prefilter


def number(minimum: int | float | None, maximum: int | float | None) -> PreFilter:
    """A finite number within the bounds, integer or real."""
    low = minimum if minimum is not None else -NUMBER_LIMIT
    high = maximum if maximum is not None else NUMBER_LIMIT

    def prefilter(x: str) -> str:
        return _all(f"typeof({x}) IN ('integer', 'real')", *_within(x, low, high))

    return prefilter


def one_of_integers(*values: int) -> PreFilter:
    def prefilter(x: str) -> str:
        return _all(f"typeof({x}) = 'integer'", f"{x} IN ({', '.join(map(str, values))})")

    return prefilter


def one_of_reals(*values: float) -> PreFilter:
    """Exactly one of these doubles (a real 0.1 is the double Python reads as 0.1)."""

    def prefilter(x: str) -> str:
        exact = ", ".join(_exactly(value) for value in values)
        return _all(f"typeof({x}) = 'real'", f"{x} IN ({exact})")

    return prefilter


def one_of_words(*words: str) -> PreFilter:
    """Exactly one of these words, byte for byte (so it is valid UTF-8 too)."""

    def prefilter(x: str) -> str:
        return _all(f"typeof({x}) = 'text'", f"{x} COLLATE BINARY IN ({_text(words)})")

    return prefilter


def any_text(x: str) -> str:
    return f"typeof({x}) = 'text'"


# SQLite's GLOB reads text a character at a time, leniently: a lead byte takes
# every continuation byte after it, however many, into a 32-bit number, and
# overlong forms are not refused. So '[가-힣]' also matches bytes that are not
# UTF-8. Worked through, a character that reader takes for a Hangul syllable
# (U+AC00..U+D7A3) is a valid one (lead EA..ED, two continuation bytes) unless
# - its lead is CA..CD, a two-byte lead given two continuation bytes;
# - it has three continuation bytes and its lead is C0 E0 F0 F8 FC FE or FF;
# - it has four or more, ending 80, 8A..8D, and two more.
# Valid Hangul and printable ASCII hold none of these bytes, but for the pairs
# 80 8A..8D inside a few rare syllables (뀌, 쀍, 퀌 ...): such text is left to
# Python, which costs only time. tests/test_prefilters.py tries every lead byte.
TWO_BYTE_LEADS_READ_AS_THREE = (0xCA, 0xCB, 0xCC, 0xCD)
LEADS_OF_OVERLONG_FOURS = (0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE, 0xFF)
NOT_IN_HANGUL_TEXT = (
    *(bytes([lead]) for lead in (*TWO_BYTE_LEADS_READ_AS_THREE, *LEADS_OF_OVERLONG_FOURS)),
    *(bytes([0x80, third]) for third in (0x8A, 0x8B, 0x8C, 0x8D)),
)


def _has_no_bytes(x: str, *sequences: bytes) -> list[str]:
    # instr on a blob compares bytes, NULs and all.
    return [f"instr(CAST({x} AS BLOB), x'{sequence.hex()}') = 0" for sequence in sequences]


def storable_text(x: str) -> str:
    """Text of printable ASCII and Hangul syllables, valid UTF-8 without a NUL.

    The reader hands other text that is not UTF-8 to the converters as lone
    surrogates, which `is_storable` rejects: only Python may judge it.
    """
    return _all(
        f"typeof({x}) = 'text'",
        *_has_no_bytes(x, b"\x00"),  # GLOB stops at a NUL; what follows it is unread
        _any(
            f"{x} NOT GLOB '*[^ -~]*'",
            _all(f"{x} NOT GLOB '*[^ -~가-힣]*'", *_has_no_bytes(x, *NOT_IN_HANGUL_TEXT)),
        ),
    )


def plain_text(max_length: int | None = None) -> PreFilter:
    """Non-empty storable text, its bytes (so its characters) at most `max_length`."""

    def prefilter(x: str) -> str:
        size = _size(x)
        longest = [f"{size} <= {int(max_length)}"] if max_length is not None else []
        return _all(f"{size} >= 1", *longest, storable_text(x))

    return prefilter


def _written_back(x: str, writer: str) -> str:
    """`x` is a real moment, exactly as `writer` (SQL; {} is the moment) writes it.

    julianday() reads text into the moment it names, rolling over what is out
    of range (February 30th, 24:00:00); the writer writes that moment back.
    (Given the text itself, SQLite's date functions may echo the fields as they
    read them, 2023-02-30 and 24:00:00 included.) The writer writes text, which
    no number or blob equals: `x` is text too.
    """
    return f"{writer.format(f'julianday({x})')} = {x} COLLATE BINARY"


def iso_date(x: str) -> str:
    """'YYYY-MM-DD', a real date."""
    return _all(_written_back(x, "date({})"), f"substr({x}, 1, 4) >= '0001'")  # no year 0


TIME_GLOB = "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
MICROSECONDS_GLOB = "." + "[0-9]" * 6  # what Python's isoformat() writes after the second


def time_of_day(x: str) -> str:
    """'HH:MM:SS' before 24:00, with or without six digits of a second."""
    return _any(
        _all(
            f"typeof({x}) = 'text'",  # GLOB would read a blob as text
            f"{_size(x)} = 15",  # so no NUL hides behind the GLOB
            f"{x} GLOB '{TIME_GLOB}{MICROSECONDS_GLOB}'",
            f"substr({x}, 1, 2) < '24'",
        ),
        _written_back(x, "time({})"),
    )


def _whole_moment(x: str) -> str:
    return _any(
        _written_back(x, "datetime({})"),  # YYYY-MM-DD HH:MM:SS
        _written_back(x, "strftime('%Y-%m-%dT%H:%M:%S', {})"),
    )


def timestamp(x: str) -> str:
    """SQLite's 'YYYY-MM-DD HH:MM:SS', and the app's isoformat shapes (a 'T', a fraction),
    in years whose every moment is one in UTC too (see converters.legacy_timestamp)."""
    return _all(
        _any(
            _whole_moment(x),
            _all(
                f"typeof({x}) = 'text'",  # GLOB would read a blob as text
                f"{_size(x)} = 26",  # so no NUL hides behind the GLOB
                f"substr({x}, 20) GLOB '{MICROSECONDS_GLOB}'",
                _whole_moment(f"substr({x}, 1, 19)"),
            ),
        ),
        # Python has no year 0 nor 10000, and a local time early in year 1 or
        # late in 9999 may be one of them in UTC.
        f"substr({x}, 1, 4) BETWEEN '0002' AND '9998'",
    )


# --- one table's pre-filter ----------------------------------------------


def table_prefilter(checks: Sequence[tuple[str, PreFilter | None]]) -> tuple[list[str], str]:
    """Precheck's pre-filter for one table's checks (column, pre-filter).

    Returns per check an SQL expression, 1 where the check's value passes its
    pre-filter and 0 where it does not, and the condition selecting the rows
    where some value does not pass. A check without a pre-filter passes
    nothing: every row is selected.
    """
    passes = [
        f"({prefilter(quote_identifier(column))}) IS TRUE" if prefilter is not None else "0"
        for column, prefilter in checks
    ]
    every_value_passes = " AND ".join(dict.fromkeys(passes)) or "1"
    return passes, f"NOT ({every_value_passes})"
