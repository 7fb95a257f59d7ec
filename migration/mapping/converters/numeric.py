"""Converters of numbers: integers, reals, row ids, amounts in won, fee rates, booleans."""

from __future__ import annotations

import math
import sys
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from migration.mapping import prefilters
from migration.mapping.converters.base import (
    Converter,
    LegacyValueError,
    ValueProblem,
    repeating,
    wrong_type,
)
from migration.mapping.domains import Domain, one_of, returns
from migration.mapping.prefilters import prefiltered_by

INT32_MAX = 2**31 - 1
INT16_MAX = 2**15 - 1
MAX_WON_DIGITS = 15  # the money fields' max_digits
MAX_WON = 10**MAX_WON_DIGITS - 1


def _as_integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise wrong_type(raw, "an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise wrong_type(raw, "an integer")


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
            raise wrong_type(raw, "a number")
        value = float(raw)
        if not math.isfinite(value):
            raise LegacyValueError(ValueProblem.OUT_OF_RANGE, f"{raw} is not a finite number")
        return _check_range(value, minimum, maximum)

    return convert


# The target's ids are bigint (DEFAULT_AUTO_FIELD): twins.py holds the two together.
# bigint's last id is left to the id sequence: a row holding it would leave the
# app no id for its next row (verify.sequence-full).
MAX_ID = 2**63 - 2
LEGACY_ID = Domain("integer", minimum=1, maximum=MAX_ID)


@returns(LEGACY_ID)
@prefiltered_by(prefilters.whole_number(1, MAX_ID))
def legacy_id(raw: Any) -> int:
    """A row id, or a reference to one."""
    # Nearly every id is an int in range: a chain's file has millions (a session has four).
    if type(raw) is int and 1 <= raw <= MAX_ID:
        return raw
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a row id is required")
    return _check_range(_as_integer(raw), 1, MAX_ID)


@returns(LEGACY_ID.or_none())
@prefiltered_by(prefilters.or_nothing(prefilters.whole_number(1, MAX_ID)))
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
            raise wrong_type(raw, "an amount in won")
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
        raise wrong_type(raw, "a rate")
    return _rate_of(raw)


@returns(RATE)
@prefiltered_by(KNOWN_RATE)
def required_rate(raw: Any):
    value = rate(raw)
    if value is None:
        raise LegacyValueError(ValueProblem.MISSING, "empty where a rate is required")
    return value


# A chain's payments hold a few distinct rates, two to a row: each is read once.
# Typed: 0 and 0.0 are equal, and read as different Decimals.
@lru_cache(maxsize=1024, typed=True)
def _rate_of(raw: int | float | str) -> Decimal:
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw))
    except InvalidOperation:
        raise wrong_type(raw, "a rate") from None
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
    raise wrong_type(raw, "1 or 0")
