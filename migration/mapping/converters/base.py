"""What every converter shares: its type, the error it raises, the cache for repeated values."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from typing import Any

Converter = Callable[[Any], Any]


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


def wrong_type(raw: Any, expected: str) -> LegacyValueError:
    return LegacyValueError(ValueProblem.WRONG_TYPE, f"{_type_name(raw)} where {expected} belongs")
