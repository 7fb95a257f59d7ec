"""What a converter can return, declared beside it: its domain.

A converter refuses (with a `LegacyValueError`) every raw value it cannot make
into a value the target holds; its domain says what the values it does make
are: their kind, whether None is one of them, their bounds, their length,
the few values it can return. rules/twins.py checks each target rule against
the domain of every converter that fills the rule's field, so that a field
whose rule the converter does not enforce first (a shorter max_length, a
narrower integer, a new check constraint) fails `manage.py check`;
tests/test_twins.py checks that every converter keeps to the domain it
declares.

The kinds carry rules of their own, which each converter of that kind keeps:

- text: storable by PostgreSQL (no NUL, nothing that is not UTF-8);
- moment: an aware datetime whose UTC time Python can hold (years 1 to 9999),
  so that the target reads back what it stored;
- json: a value PostgreSQL's JSON parser takes and the import and
  verify_import read, write and fingerprint unchanged (see
  converters/json_values.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

KINDS = ("text", "integer", "decimal", "float", "boolean", "date", "time", "moment", "json")


@dataclass(frozen=True)
class Domain:
    kind: str
    nullable: bool = False  # None is one of the values
    minimum: Any = None  # inclusive; None: no bound of the converter's own
    maximum: Any = None
    max_length: int | None = None  # of text, in characters
    decimal_places: int | None = None  # of a decimal, at most
    choices: frozenset[Any] | None = None  # every value but None it can return, when few

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no such kind of value: {self.kind!r}")

    def or_none(self) -> Domain:
        return replace(self, nullable=True)

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this domain allows (for the tests that hold a
        converter to its domain)."""
        if value is None:
            return self.nullable
        if self.choices is not None and value not in self.choices:
            return False
        if not _is_of_kind(self.kind, value):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        if self.maximum is not None and value > self.maximum:
            return False
        if self.max_length is not None and len(value) > self.max_length:
            return False
        if self.decimal_places is not None:
            exponent = value.as_tuple().exponent
            if not isinstance(exponent, int) or -exponent > self.decimal_places:
                return False
        return True


def _is_of_kind(kind: str, value: Any) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, Decimal) and value.is_finite()
    if kind == "float":
        return isinstance(value, float) and value - value == 0  # finite
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, date) and not isinstance(value, datetime)
    if kind == "time":
        return isinstance(value, time)
    if kind == "moment":
        if not isinstance(value, datetime) or value.utcoffset() is None:
            return False
        try:
            value.astimezone(UTC)
        except OverflowError:
            return False
        return True
    return True  # json: what json_object returns is checked by json_object


def returns(domain: Domain) -> Callable[[F], F]:
    """Attach `domain` to the converter it decorates: what every value it returns is."""

    def attach(convert: F) -> F:
        convert.domain = domain  # type: ignore[attr-defined]
        return convert

    return attach


def domain_of(convert: Callable[[Any], Any]) -> Domain | None:
    """The converter's declared domain, or None when it declares none."""
    return getattr(convert, "domain", None)


def one_of(kind: str, values: Iterable[Any], *, nullable: bool = False) -> Domain:
    """The domain of a converter that returns one of a few values."""
    chosen = frozenset(values)
    longest = max((len(v) for v in chosen if isinstance(v, str)), default=None)
    return Domain(kind, nullable=nullable, choices=chosen, max_length=longest)
