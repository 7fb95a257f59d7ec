"""Converters of text: required, optional, or kept exactly as typed."""

from __future__ import annotations

import math
from typing import Any

from migration.mapping import prefilters
from migration.mapping.converters.base import (
    Converter,
    LegacyValueError,
    ValueProblem,
    wrong_type,
)
from migration.mapping.domains import Domain, returns
from migration.mapping.prefilters import prefiltered_by


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


def made_storable(text: str) -> str:
    """The text as clean_legacy makes it storable: NUL removed, bytes that are not UTF-8
    (read as lone surrogates) replaced by U+FFFD."""
    raw = text.encode("utf-8", "surrogateescape")
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return storable_text(raw)
    if isinstance(raw, int):
        return str(raw)  # a number in a text column reads back as the same digits
    raise wrong_type(raw, "text")


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
