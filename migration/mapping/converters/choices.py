"""Converters of the legacy app's vocabularies: genders, payment methods, statuses."""

from __future__ import annotations

from typing import Any

from migration.mapping import prefilters
from migration.mapping.converters.base import (
    LegacyValueError,
    ValueProblem,
    repeating,
    wrong_type,
)
from migration.mapping.domains import one_of, returns
from migration.mapping.prefilters import prefiltered_by

GENDERS = {"남성": "male", "여성": "female", "male": "male", "female": "female"}


@returns(one_of("text", GENDERS.values()))
@prefiltered_by(prefilters.one_of_words(*GENDERS))
def gender(raw: Any) -> str:
    if raw is None or raw == "":
        raise LegacyValueError(ValueProblem.MISSING, "empty where a gender is required")
    if not isinstance(raw, str):
        raise wrong_type(raw, "a gender")
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
        raise wrong_type(raw, "a payment method")
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


@returns(one_of("text", ("inclusive",), nullable=True))
@prefiltered_by(prefilters.or_nothing(prefilters.one_of_words("inclusive")))
def fee_method(raw: Any) -> str | None:
    if raw is None or raw == "" or raw == "inclusive":
        return raw or None
    raise LegacyValueError(ValueProblem.UNKNOWN_CHOICE, f"{raw!r} is not 'inclusive'")
