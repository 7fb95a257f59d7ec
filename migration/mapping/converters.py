"""Pure conversions from legacy values to the values the target stores.

Each converter takes one raw value exactly as SQLite returned it and returns
the target value, or raises `LegacyValueError` saying what is wrong with it.
Precheck runs the very same converters over every value, so a file that
precheck passes is a file the importer can read. Each converter that can is
`@prefiltered_by` an SQLite pre-filter (see prefilters.py): only the values
that fail it reach the converter during precheck. Each declares what it
returns (`@returns`, see domains.py), so that the target's rules can be
checked against it (rules/twins.py): a converter refuses what the column it
fills cannot hold.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password

from migration.mapping import prefilters
from migration.mapping.domains import Domain, one_of, returns
from migration.mapping.prefilters import prefiltered_by

Converter = Callable[[Any], Any]

INT32_MAX = 2**31 - 1
INT16_MAX = 2**15 - 1
MAX_WON_DIGITS = 15  # the money fields' max_digits
MAX_WON = 10**MAX_WON_DIGITS - 1


class ValueProblem(StrEnum):
    WRONG_TYPE = "wrong-type"
    UNREADABLE = "unreadable-value"
    OUT_OF_RANGE = "out-of-range"
    UNSTORABLE_TEXT = "unstorable-text"
    MISSING = "missing-value"
    UNKNOWN_CHOICE = "unknown-choice"


class LegacyValueError(ValueError):
    def __init__(self, problem: ValueProblem, detail: str):
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


def repeating(convert: Converter) -> Converter:
    """The converter, each distinct raw value converted once (a bounded cache).

    For values a chain's file repeats across millions of rows (dates, amounts,
    counts, payment methods), and only for converters that give equal values
    of one type the same result (typed: 1, 1.0 and True are told apart). A
    whole number from a REAL qualifies (-0.0 and 0.0 both give 0); a REAL
    kept as a float would not (they are equal, and would share one result).
    """
    return lru_cache(maxsize=2048, typed=True)(convert)


def _type_name(raw: Any) -> str:
    return {str: "text", int: "integer", float: "real", bytes: "blob"}.get(
        type(raw), type(raw).__name__
    )


def _wrong_type(raw: Any, expected: str) -> LegacyValueError:
    return LegacyValueError(ValueProblem.WRONG_TYPE, f"{_type_name(raw)} where {expected} belongs")


# --- text -----------------------------------------------------------------


def is_storable(text: str) -> bool:
    """Whether PostgreSQL can store this text: no NUL, and nothing that is not UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(text: str) -> str:
    """The text itself, if the target can store it."""
    if is_storable(text):
        return text
    if "\x00" in text:
        raise LegacyValueError(ValueProblem.UNSTORABLE_TEXT, "contains a NUL character")
    raise LegacyValueError(ValueProblem.UNSTORABLE_TEXT, "contains bytes that are not UTF-8")


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return storable_text(raw)
    if isinstance(raw, int):
        return str(raw)  # a number in a text column reads back as the same digits
    raise _wrong_type(raw, "text")


def text(max_length: int | None = None) -> Converter:
    """Required text: NULL or empty is a missing value."""
    longest = max_length if max_length is not None else math.inf

    @returns(Domain("text", max_length=max_length))
    @prefiltered_by(prefilters.plain_text(max_length))
    def convert(raw: Any) -> str:
        # Text that fits, as nearly all is, in one test (a chain's file has
        # millions of notes); anything else is looked at the careful way.
        if type(raw) is str and raw and len(raw) <= longest and is_storable(raw):
            return raw
        if raw is None or raw == "":
            raise LegacyValueError(ValueProblem.MISSING, "empty where a value is required")
        value = _as_text(raw)
        if len(value) > longest:
            raise LegacyValueError(
                ValueProblem.OUT_OF_RANGE, f"{len(value)} characters, at most {max_length} fit"
            )
        return value

    return convert


def optional_text(max_length: int | None = None) -> Converter:
    """Optional text: the legacy app stored "no value" as '' as often as NULL; both become NULL."""
    required = text(max_length)
    longest = max_length if max_length is not None else math.inf

    @returns(Domain("text", nullable=True, max_length=max_length))
    @prefiltered_by(prefilters.or_nothing(prefilters.plain_text(max_length)))
    def convert(raw: Any) -> str | None:
        if raw is None or raw == "":
            return None
        if type(raw) is str and len(raw) <= longest and is_storable(raw):
            return raw  # as `required` would give it, in one call
        return required(raw)

    return convert


@returns(Domain("text", nullable=True))
@prefiltered_by(prefilters.or_nothing(prefilters.plain_text()))
def verbatim_text(raw: Any) -> str | None:
    """Text kept exactly as typed, '' included (only NULL stays NULL)."""
    if raw is None:
        return None
    if type(raw) is str and is_storable(raw):
        return raw
    return _as_text(raw)


# --- numbers --------------------------------------------------------------


def _as_integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise _wrong_type(raw, "an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise _wrong_type(raw, "an integer")


def _check_range(value, minimum, maximum):
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE, f"{value} is outside {minimum}..{maximum}"
        )
    return value


def integer(
    minimum: int | None = 0, maximum: int | None = INT32_MAX, *, required: bool = True
) -> Converter:
    whole = prefilters.whole_number(minimum, maximum)

    @returns(Domain("integer", nullable=not required, minimum=minimum, maximum=maximum))
    @prefiltered_by(whole if required else prefilters.or_nothing(whole))
    @repeating
    def convert(raw: Any) -> int | None:
        if raw is None or raw == "":
            if required:
                raise LegacyValueError(ValueProblem.MISSING, "empty where a number is required")
            return None
        return _check_range(_as_integer(raw), minimum, maximum)

    return convert


def real(
    minimum: float | None = 0, maximum: float | None = None, *, required: bool = False
) -> Converter:
    finite = prefilters.number(minimum, maximum)
    # Bounds that keep out the infinities (and NaN, which no bound holds).
    low = minimum if minimum is not None else -sys.float_info.max
    high = maximum if maximum is not None else sys.float_info.max

    @returns(Domain("float", nullable=not required, minimum=minimum, maximum=maximum))
    @prefiltered_by(finite if required else prefilters.or_nothing(finite))
    def convert(raw: Any) -> float | None:
        if type(raw) is float and low <= raw <= high:
            return raw  # as the careful way below gives it, in one test (a chain has millions)
        if raw is None or raw == "":
            if required:
                raise LegacyValueError(ValueProblem.MISSING, "empty where a number is required")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _wrong_type(raw, "a number")
        value = float(raw)
        if not math.isfinite(value):
            raise LegacyValueError(ValueProblem.OUT_OF_RANGE, f"{raw} is not a finite number")
        return _check_range(value, minimum, maximum)

    return convert


# The target's ids are bigint (DEFAULT_AUTO_FIELD): twins.py holds the two together.
MAX_ID = 2**63 - 1
LEGACY_ID = Domain("integer", minimum=1, maximum=MAX_ID)


@returns(LEGACY_ID)
@prefiltered_by(prefilters.whole_number(1, None))
def legacy_id(raw: Any) -> int:
    """A row id, or a reference to one."""
    # Nearly every id is an int in range: a chain's file has millions (a session has four).
    if type(raw) is int and 1 <= raw <= MAX_ID:
        return raw
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a row id is required")
    return _check_range(_as_integer(raw), 1, MAX_ID)


@returns(LEGACY_ID.or_none())
@prefiltered_by(prefilters.or_nothing(prefilters.whole_number(1, None)))
def optional_legacy_id(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    return legacy_id(raw)


def won(minimum: int | None = 0, *, required: bool = True) -> Converter:
    """Whole Korean won, exact: INTEGER in some tables, REAL (300000.0) in others."""
    maximum = MAX_WON
    whole = prefilters.whole_number(minimum, maximum)

    @returns(
        Domain(
            "decimal",
            nullable=not required,
            minimum=minimum,
            maximum=maximum,
            decimal_places=0,
        )
    )
    @prefiltered_by(whole if required else prefilters.or_nothing(whole))
    @repeating
    def convert(raw: Any) -> Decimal | None:
        if raw is None or raw == "":
            if required:
                raise LegacyValueError(ValueProblem.MISSING, "empty where an amount is required")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _wrong_type(raw, "an amount in won")
        if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
            raise LegacyValueError(ValueProblem.OUT_OF_RANGE, f"{raw} is not a whole number of won")
        return Decimal(_check_range(int(raw), minimum, maximum))

    return convert


# The rates the app recorded: they pass the pre-filter as exactly the doubles Python reads.
KNOWN_RATES = (0.1, 0.035)
KNOWN_RATE = prefilters.one_of_reals(*KNOWN_RATES)
RATE_PLACES = 4
RATE = Domain(
    "decimal",
    minimum=Decimal(0),
    maximum=1 - Decimal(1).scaleb(-RATE_PLACES),
    decimal_places=RATE_PLACES,
)


@returns(RATE.or_none())
@prefiltered_by(prefilters.or_nothing(KNOWN_RATE))
def rate(raw: Any) -> Decimal | None:
    """A fee rate such as 0.035: read from its shortest decimal form, so 0.035 stays 0.035."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _wrong_type(raw, "a rate")
    return _rate_of(raw)


# A chain's payments hold a few distinct rates, two to a row: each is read once.
# Typed: 0 and 0.0 are equal, and read as different Decimals.
@lru_cache(maxsize=1024, typed=True)
def _rate_of(raw: int | float | str) -> Decimal:
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw))
    except InvalidOperation:
        raise _wrong_type(raw, "a rate") from None
    if not value.is_finite() or not 0 <= value < 1:
        raise LegacyValueError(ValueProblem.OUT_OF_RANGE, f"{raw} is not a rate between 0 and 1")
    if value != value.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE, f"{raw} has more than {RATE_PLACES} decimal places"
        )
    return value


@returns(one_of("boolean", (True, False)))
@prefiltered_by(prefilters.one_of_integers(0, 1))
def boolean(raw: Any) -> bool:
    if raw in (0, 1) and not isinstance(raw, float | str):
        return bool(raw)
    raise _wrong_type(raw, "1 or 0")


# --- dates and times ------------------------------------------------------

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


@returns(Domain("date"))
@prefiltered_by(prefilters.iso_date)
@repeating
def plain_date(raw: Any) -> date:
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a date is required")
    if not isinstance(raw, str):
        raise _wrong_type(raw, "a date")
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
        raise _wrong_type(raw, "a time of day")
    try:
        return time.fromisoformat(_read_whole(raw))
    except ValueError:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"{raw!r} is not a time of day") from None


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
        raise _wrong_type(raw, "a date and time")
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
        # combine(), not replace(tzinfo=): the same moment, in a quarter of the time.
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


@returns(Domain("moment"))
@prefiltered_by(prefilters.timestamp)
def required_timestamp(raw: Any) -> datetime:
    moment = legacy_timestamp(raw)
    if moment is None:
        raise LegacyValueError(ValueProblem.MISSING, "empty where a date and time is required")
    return moment


# --- vocabularies ---------------------------------------------------------

GENDERS = {"남성": "male", "여성": "female", "male": "male", "female": "female"}


@returns(one_of("text", GENDERS.values()))
@prefiltered_by(prefilters.one_of_words(*GENDERS))
def gender(raw: Any) -> str:
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a gender is required")
    if not isinstance(raw, str):
        raise _wrong_type(raw, "a gender")
    try:
        return GENDERS[raw.strip().lower()]
    except KeyError:
        raise LegacyValueError(
            ValueProblem.UNKNOWN_CHOICE, f"{raw!r} is not one of {', '.join(GENDERS)}"
        ) from None


# The legacy payment method is free text; "Package Purchase" was a package sale,
# and the app took cards for those.
PAYMENT_METHODS = {
    "card": "card",
    "카드": "card",
    "package purchase": "card",
    "cash": "cash",
    "현금": "cash",
    "transfer": "transfer",
    "bank transfer": "transfer",
    "계좌이체": "transfer",
}


@returns(one_of("text", (*PAYMENT_METHODS.values(), "other"), nullable=True))
@prefiltered_by(prefilters.or_nothing(prefilters.any_text))  # any other text is 'other'
@repeating
def payment_method(raw: Any) -> str | None:
    """The payment method as one of the target's choices; anything unrecognised is 'other'."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _wrong_type(raw, "a payment method")
    return PAYMENT_METHODS.get(raw.strip().lower(), "other")


SESSION_STATUSES = ("scheduled", "completed", "cancelled")


@returns(one_of("text", SESSION_STATUSES))
@prefiltered_by(prefilters.one_of_words(*SESSION_STATUSES))
def session_status(raw: Any) -> str:
    if raw in SESSION_STATUSES:
        return raw
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a session status is required")
    raise LegacyValueError(
        ValueProblem.UNKNOWN_CHOICE, f"{raw!r} is not one of {', '.join(SESSION_STATUSES)}"
    )


# A JSON value passes through PostgreSQL's JSON parser, which takes no NaN or
# Infinity and no string holding NUL or half a surrogate pair; through Python's
# json, both ways (the import writes it, verify_import reads it back); and
# through orjson, which fingerprints it and takes 64-bit integers only, and
# 254 levels of nesting with the row around it. And PostgreSQL keeps a JSON
# number as numeric, which gives a float written with an exponent back as an
# integer: 1e+23 comes back as 100000000000000000000000, not as the float.
# json_object takes only what comes through all of them unchanged.
MAX_JSON_DEPTH = 200
JSON_INTEGERS = (-(2**63), 2**64 - 1)
JSON_FLOAT_LIMIT = 1e16  # from here on, repr() writes a float with an exponent


def _json_constant(name: str) -> Any:
    raise LegacyValueError(ValueProblem.UNREADABLE, f"not valid JSON ({name} is not a number)")


def _json_integer(digits: str) -> int:
    low, high = JSON_INTEGERS
    # Told by its length first: int() refuses more than 4,300 digits itself.
    if len(digits) > len(str(low)) or not low <= (value := int(digits)) <= high:
        shown = digits if len(digits) <= 30 else f"an integer of {len(digits)} digits"
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE, f"JSON holds {shown}, beyond the 64 bits the import takes"
        )
    return value


def _json_float(digits: str) -> float:
    value = float(digits)
    if not abs(value) < JSON_FLOAT_LIMIT:
        shown = digits if len(digits) <= 30 else f"a number of {len(digits)} characters"
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE,
            f"JSON holds {shown}, which the target would not give back as the same number",
        )
    return value


def _check_json_value(value: Any) -> None:
    """Every string in `value` storable, and no container nested past MAX_JSON_DEPTH
    (walked without recursion: a value may be deeper than Python's stack)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not is_storable(item):
                raise LegacyValueError(
                    ValueProblem.OUT_OF_RANGE,
                    "JSON holds a string with NUL or half a surrogate pair, which "
                    "PostgreSQL's JSON cannot hold",
                )
        elif isinstance(item, dict | list):
            if depth == MAX_JSON_DEPTH:
                raise _too_deep()
            items = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((inner, depth + 1) for inner in items)


def _too_deep() -> LegacyValueError:
    return LegacyValueError(
        ValueProblem.OUT_OF_RANGE, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    )


@returns(Domain("json", nullable=True))
@prefiltered_by(prefilters.nothing)  # SQLite's JSON is not Python's: only Python judges JSON text
def json_object(raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _wrong_type(raw, "JSON text")
    try:
        value = json.loads(
            storable_text(raw),
            parse_constant=_json_constant,
            parse_int=_json_integer,
            parse_float=_json_float,
        )
    except json.JSONDecodeError as error:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"not valid JSON ({error.msg})") from None
    except RecursionError:
        raise _too_deep() from None  # deeper than Python's stack, so deeper than the limit
    _check_json_value(value)
    return value


# --- trainers -------------------------------------------------------------


# The dot above an i (or j), when a combining mark of its own: see mailbox_key.
_DOT_ABOVE_AN_I = re.compile("([ij][\u0300-\u036f]*?)\u0307")


def mailbox_key(address: Any) -> str | None:
    """An e-mail address as a mailbox: case and surrounding spaces make no other one.

    The twin of the target's rule (accounts_user_email_unique_ci: lower(email)
    unique, but for ''), and so at least as strict: two addresses lower() makes
    equal must have one key. lower() is the database's, in its locale, so the
    key is coarser than each: Unicode's caseless match (casefold, between
    canonical decompositions), with the Turkish and Lithuanian i's made one
    (glibc lowers 'İ' to 'i', ICU to 'i' and a combining dot; Turkish lowers
    'I' to 'ı'). Spaces around it make no other mailbox either, so an address
    of spaces alone has a key of its own: '' (only '' itself has none).
    """
    if not isinstance(address, str) or address == "":
        return None
    decomposed = unicodedata.normalize("NFD", address.strip())
    folded = unicodedata.normalize("NFD", decomposed.casefold()).replace("ı", "i")
    return _DOT_ABOVE_AN_I.sub(r"\1", folded)


LEGACY_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
LEGACY_BCRYPT_ALGORITHM = "legacy_bcrypt"


def is_legacy_bcrypt(raw: Any) -> bool:
    return isinstance(raw, str) and LEGACY_BCRYPT.fullmatch(raw) is not None


# 'legacy_bcrypt$' and a 60-character hash; make_password(None) is shorter.
DJANGO_PASSWORD_LENGTH = len(LEGACY_BCRYPT_ALGORITHM) + 1 + 60


@returns(Domain("text", max_length=DJANGO_PASSWORD_LENGTH))
@prefiltered_by(prefilters.anything)
def django_password(raw: Any) -> str:
    """The legacy hash in a form Django's hashers check; any other hash cannot be
    checked, so its trainer gets an unusable password and must reset it."""
    if is_legacy_bcrypt(raw):
        return f"{LEGACY_BCRYPT_ALGORITHM}${raw}"
    return make_password(None)


def split_name(name: str) -> tuple[str, str]:
    """First word, and the rest; a name with no space is all first name."""
    first, _, rest = name.strip().partition(" ")
    return first, rest.strip()
