"""The target's unique rules, and their twins in precheck.

A file precheck passes imports and verifies (the README's promise): each rule
the target enforces has a twin that precheck runs first on the legacy file.
A unique field or constraint's twin is a `UniqueRule` below, which precheck
runs: it groups the legacy rows, converted as the import converts them, by the
value as the target compares it. A primary key's is `value.duplicate-id`:
every legacy table keeps its ids.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from .transforms import mailbox_key


def as_it_is(value: Any) -> Hashable:
    return value


@dataclass(frozen=True)
class UniqueRule:
    """No two target rows share `field`'s value as the target compares it (`key`; a
    key of None is exempt from the rule, as the constraint's condition exempts it)."""

    code: str  # the blocking finding precheck gives (findings.CATALOGUE)
    model: str  # "app_label.ModelName"
    field: str
    key: Callable[[Any], Hashable | None] = as_it_is
    # The UniqueConstraint this is the twin of; None: the field's own unique=True.
    constraint: str | None = None


UNIQUE_RULES: tuple[UniqueRule, ...] = (
    UniqueRule("trainers.duplicate-username", "accounts.User", "username"),
    UniqueRule(
        "trainers.duplicate-email",
        "accounts.User",
        "email",
        key=mailbox_key,  # at least as strict as the constraint's lower(): see mailbox_key
        constraint="accounts_user_email_unique_ci",
    ),
)


def integer_range(field: models.Field) -> tuple[int, int]:
    """The values an integer column holds (a foreign key's are its target's)."""
    if isinstance(field, models.ForeignKey):
        return integer_range(field.target_field)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
