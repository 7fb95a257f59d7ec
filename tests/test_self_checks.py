"""The self-check that every rule the target enforces has its twin in precheck.

`manage.py check` (and so every command) fails, saying what to add, when a
target model gains a rule precheck does not enforce first: a constraint, a
unique field, a field its converter does not fit. Each test adds one to a
model, or takes one from a spec, and sees the check fail; a check constraint
the converters keep already needs nothing.
"""

import dataclasses
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models

from accounts.models import User
from clients.models import Client
from migration.mapping import specs
from migration.rules import twins
from migration.rules.twins import untwinned_rules
from sessions.models import Session


def check_errors() -> str:
    """What `manage.py check` says, failing."""
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    return str(failed.value)


def test_every_target_rule_has_its_twin():
    assert untwinned_rules() == []
    call_command("check", stdout=StringIO(), stderr=StringIO())


def with_constraint(monkeypatch, model, constraint) -> None:
    monkeypatch.setattr(model._meta, "constraints", [*model._meta.constraints, constraint])


def test_a_check_constraint_no_converter_keeps_fails_the_check(monkeypatch):
    limit = models.CheckConstraint(condition=models.Q(age__lte=100), name="clients_age_under_100")
    with_constraint(monkeypatch, Client, limit)
    errors = check_errors()
    assert "migration.E010" in errors
    assert "'clients_age_under_100'" in errors and "clients.age" in errors
    assert "NAMED_TWINS" in errors  # what to add


@pytest.mark.parametrize(
    "condition",
    [
        models.Q(age__gte=0),
        models.Q(height__gt=0) & models.Q(weight__lte=500),
        ~models.Q(gender="other"),
        models.Q(email__isnull=True) | ~models.Q(email__in=[""]) | models.Q(age__lt=151),
    ],
    ids=["a-bound-kept", "two-bounds-kept", "a-choice-never-made", "nulls-and-choices"],
)
def test_a_check_constraint_the_converters_keep_needs_no_twin_of_its_own(monkeypatch, condition):
    with_constraint(monkeypatch, Client, models.CheckConstraint(condition=condition, name="kept"))
    assert untwinned_rules() == []


def test_a_unique_constraint_without_a_unique_rule_fails_the_check(monkeypatch):
    one_name = models.UniqueConstraint(fields=["name"], name="clients_one_name_each")
    with_constraint(monkeypatch, Client, one_name)
    errors = check_errors()
    assert "'clients_one_name_each'" in errors and "UniqueRule" in errors


def test_a_unique_constraint_named_by_a_rule_over_another_field_fails_the_check(monkeypatch):
    (email_rule,) = [rule for rule in twins.UNIQUE_RULES if rule.constraint]
    moved = dataclasses.replace(email_rule, field="name")
    monkeypatch.setattr(twins, "UNIQUE_RULES", (moved,))
    assert "is over ['email'], but its UniqueRule" in " ".join(untwinned_rules())


def test_a_field_made_unique_fails_the_check(monkeypatch):
    monkeypatch.setitem(Client._meta.get_field("phone").__dict__, "unique", True)
    assert "clients.Client.phone is unique" in check_errors()


@pytest.mark.parametrize(
    ("field", "attribute", "value", "said"),
    [
        ("phone", "max_length", 20, "holds at most 20 characters, but its converter takes 40"),
        ("email", "null", False, "is NOT NULL, but its converter may give None"),
        (
            "age",
            "choices",
            [(30, "thirty")],
            "takes only [30], but its converter may give any value",
        ),
    ],
)
def test_a_field_rule_its_converter_does_not_keep_fails_the_check(
    monkeypatch, field, attribute, value, said
):
    monkeypatch.setattr(Client._meta.get_field(field), attribute, value)
    errors = check_errors()
    assert f"clients.Client.{field} {said} (clients.{field})" in errors


def test_an_integer_column_narrower_than_its_converter_fails_the_check(monkeypatch):
    monkeypatch.setattr(
        Session._meta.get_field("session_duration"),
        "get_internal_type",
        lambda: "SmallIntegerField",
    )
    assert "holds integers -32768..32767, but its converter takes 1..2147483647" in check_errors()


def with_column(monkeypatch, table: str, column: str, **changes) -> None:
    spec = specs.SPECS[table]
    columns = tuple(
        dataclasses.replace(c, **changes) if c.column == column else c for c in spec.columns
    )
    changed = dataclasses.replace(spec, columns=columns)
    order = tuple(changed if s is spec else s for s in specs.IMPORT_ORDER)
    monkeypatch.setattr(twins, "IMPORT_ORDER", order)
    monkeypatch.setattr(twins, "SPECS", {s.table: s for s in order})


def test_a_foreign_key_not_declared_a_reference_fails_the_check(monkeypatch):
    with_column(monkeypatch, "clients", "trainer_id", references=None)
    errors = check_errors()
    assert "clients.Client.trainer is a foreign key to accounts.User" in errors
    assert "reference.dangling" in errors


def test_a_converter_that_declares_nothing_fails_the_check(monkeypatch):
    with_column(monkeypatch, "clients", "phone", convert=lambda raw: raw)
    assert "the converter of clients.phone declares no domain" in check_errors()


def test_a_unique_rule_twinning_a_constraint_the_model_no_longer_has_fails_the_check(
    monkeypatch,
):
    monkeypatch.setattr(User._meta, "constraints", [])
    assert "twins 'accounts_user_email_unique_ci', which the model no longer has" in check_errors()


def test_a_legacy_time_zone_the_machine_does_not_know_fails_every_command(settings, tmp_path):
    # precheck reads timestamps in SQLite and would pass; the import would fail at the first.
    settings.LEGACY_TIME_ZONE = "Mars/Base"
    with pytest.raises(SystemCheckError, match="migration.E013.*'Mars/Base' is no time zone"):
        call_command(  # as from the command line, which runs the project's checks first
            "precheck", "--source", str(tmp_path / "legacy.db"), stdout=StringIO(),
            skip_checks=False,
        )  # fmt: skip
    settings.LEGACY_TIME_ZONE = "Asia/Seoul"
    call_command("check", stdout=StringIO())
