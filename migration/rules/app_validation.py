"""What the app's own validation holds each target field to, beyond the database.

The new app edits rows through its forms and the admin, which run the model's
`full_clean()`: a row the database takes may still be refused there (an
e-mail address that is not one, a username with a space in it, a choice the
field does not offer, an empty name), and then nobody can save it again. This
is the one rule of what `full_clean()` holds a field's value to that the
database does not: precheck runs it on the legacy values converted as the
import converts them (precheck/app_validation.py), verify_import on the
target's own (verify/app_validation.py). Both judge each distinct value once,
never each row: a chain's million sessions hold a few statuses.

What it leaves out is enforced, and reported, elsewhere:
- max_length, an integer's range, a decimal's digits: the column's type in
  the database, and the converters before it (rules/twins.py);
- unique fields, constraints and foreign keys: the database, and their twins
  in precheck (rules/twins.py);
- choices, in precheck: a converter gives only its field's choices
  (rules/twins.py proves it from its domain). verify judges them, since the
  admin or a script may write any text a check constraint does not forbid.

`unknown_rules()` names each validator and model-level `clean()` this rule
does not know, and the system check migration.E011 fails on any, so that the
rule cannot drift from the models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import validators as django_validators
from django.core.exceptions import ValidationError
from django.db import models

from migration.mapping.converters import made_storable
from migration.mapping.domains import Domain
from migration.mapping.specs import TableSpec

# The validators the rule runs, each with what a value it refuses is.
RUN_VALIDATORS: dict[type, str] = {
    django_validators.EmailValidator: "not an e-mail address the app takes",
    UnicodeUsernameValidator: (
        "not a username the app takes (letters, digits and @ . + - _ only, no spaces)"
    ),
}

# The model-level cleaning methods the rule knows, each with why it needs no check.
KNOWN_CLEANS: dict[Callable[..., Any], str] = {
    models.Model.clean: "does nothing",
    # It lowers an address's domain and NFKC-normalises the username: a change,
    # never a refusal. The username converter gives the normalised form already
    # (converters.username), so no two collide only once the app saves them.
    AbstractUser.clean: "normalises the e-mail address and the username, refuses nothing",
}
# Model methods full_clean() runs: a model that overrides one validates in a way
# the rule does not know.
CLEANING_METHODS = ("clean", "clean_fields", "full_clean")

HOW_TO_TEACH = (
    "teach migration/rules/app_validation.py what it refuses (RUN_VALIDATORS, KNOWN_CLEANS), "
    "so that precheck blocks and verify_import names the rows the app would refuse"
)


@dataclass(frozen=True)
class Check:
    """One thing full_clean() holds a field's values to."""

    name: str  # "blank", "choices", or the validator's class name
    said: str  # what a value that fails it is, for the finding
    test: Callable[[models.Field, Any], None]  # raises ValidationError


def _not_blank(field: models.Field, value: Any) -> None:
    # The app's forms strip text before they ask for a value: spaces alone are none.
    if value in field.empty_values or (isinstance(value, str) and not value.strip()):
        raise ValidationError(field.error_messages["blank"], code="blank")


def _a_choice(field: models.Field, value: Any) -> None:
    field.validate(value, None)  # Django's own test of a choice (and of NULL and blank)


BLANK = Check("blank", "empty, where the app requires a value", _not_blank)
CHOICES = Check("choices", "not one of the field's choices", _a_choice)


def _validator_check(validator: Callable[[Any], None]) -> Check:
    return Check(
        type(validator).__name__,
        RUN_VALIDATORS[type(validator)],
        lambda _field, value: validator(value),
    )


RANGE_VALIDATORS = (django_validators.MinValueValidator, django_validators.MaxValueValidator)


def held_by_the_database(field: models.Field, validator: Any) -> bool:
    """Whether the validator is one Django adds for the column's own type, which the
    database holds every value to (and the converters before it)."""
    if validator in field._validators:
        return False  # declared on the model: the database knows nothing of it
    if isinstance(validator, django_validators.MaxLengthValidator):
        return isinstance(field, models.CharField) and validator.limit_value == field.max_length
    if isinstance(validator, django_validators.DecimalValidator):
        return isinstance(field, models.DecimalField) and (
            validator.max_digits,
            validator.decimal_places,
        ) == (field.max_digits, field.decimal_places)
    if isinstance(validator, RANGE_VALIDATORS):
        return isinstance(field, models.IntegerField)  # the integer type's own range
    return False


def _may_be_empty(field: models.Field) -> bool:
    """Whether the database may hold an empty value (full_clean's blank) in the field."""
    text = isinstance(field, models.CharField | models.TextField | models.JSONField)
    return text or field.null


def checks_of(field: models.Field, domain: Domain | None = None) -> tuple[Check, ...]:
    """What full_clean() holds the field's values to that the database does not.

    Given the domain of the converter that fills it (precheck's case), less what
    that domain already proves: the field's choices, and a value when the
    converter gives only non-empty ones.
    """
    if isinstance(field, models.ForeignKey) or field.primary_key or not field.editable:
        return ()  # a reference's existence, an id: the database's (and twins.py's)
    checks: list[Check] = []
    if not field.blank and _may_be_empty(field) and not _proves_filled(domain, field):
        checks.append(BLANK)
    if field.choices and domain is None:
        checks.append(CHOICES)
    checks += [
        _validator_check(validator)
        for validator in field.validators
        if type(validator) in RUN_VALIDATORS
    ]
    return tuple(checks)


def _proves_filled(domain: Domain | None, field: models.Field) -> bool:
    if domain is None or domain.nullable or domain.choices is None:
        return False
    return not any(value in field.empty_values for value in domain.choices)


def value_problem(field: models.Field, value: Any, checks: tuple[Check, ...]) -> str | None:
    """What the app's validation says of the value (the first check it fails), or None."""
    if field.blank and value in field.empty_values:
        return None  # full_clean() lets an empty value by in a field that may be blank
    for check in checks:
        try:
            check.test(field, value)
        except ValidationError:
            return check.said
    return None


# --- the values as clean_legacy leaves them -------------------------------


@cache  # asked of every value as_clean_leaves_it judges
def address_columns(spec: TableSpec) -> tuple[str, ...]:
    """The table's columns that fill an e-mail address (an EmailField)."""
    from django.apps import apps

    model = apps.get_model(spec.model)
    return tuple(
        dict.fromkeys(
            column.column
            for column in spec.columns
            if isinstance(model._meta.get_field(column.field), models.EmailField)
        )
    )


def trimmed_address(address: str) -> str:
    """An e-mail address without the spaces around it, which the app refuses, and which
    make no other mailbox (see mailbox_key); one of spaces alone is left for a person."""
    return address.strip() or address


def as_clean_leaves_it(spec: TableSpec, column: str, raw: Any) -> Any:
    """A legacy value as clean_legacy leaves it: text made storable (clean/text.py), an
    e-mail address trimmed (clean/emails.py). Precheck judges what the import will
    read, so that a value clean fixes is said once, as clean's to fix."""
    if not isinstance(raw, str):
        return raw
    text = made_storable(raw)
    if column in address_columns(spec):
        text = trimmed_address(text)
    return text


# --- the rule's check on itself (migration.E011) --------------------------


def unknown_rules() -> list[str]:
    """Each validator and model-level cleaning of a target model the rule does not know."""
    from migration.mapping.specs import target_models

    problems: list[str] = []
    for model in target_models():
        problems += _unknown_cleans(model)
        for field in model._meta.concrete_fields:
            problems += _unknown_validators(model, field)
    return problems


def _unknown_cleans(model: type[models.Model]) -> Iterator[str]:
    label = model._meta.label
    for name in CLEANING_METHODS:
        method = getattr(model, name)
        if name == "clean" and method in KNOWN_CLEANS:
            continue
        if name != "clean" and method is getattr(models.Model, name):
            continue
        yield f"{label}.{name}() is one the app's validation rule does not know: {HOW_TO_TEACH}"


def _unknown_validators(model: type[models.Model], field: models.Field) -> Iterator[str]:
    for validator in field.validators:
        if type(validator) in RUN_VALIDATORS or held_by_the_database(field, validator):
            continue
        yield (
            f"{model._meta.label}.{field.name}: the validator {type(validator).__name__} is "
            f"one the app's validation rule does not know: {HOW_TO_TEACH}"
        )
