"""Every imported row valid in the new app: a row the database takes but the app's
forms and admin would refuse (`full_clean()`) is blocked by precheck before any
import, and named by verify_import after one; e-mail addresses with spaces
around them are clean_legacy's to trim."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.core.validators import MinLengthValidator
from django.forms import modelform_factory

from accounts.models import User
from clients.models import Client
from migration.mapping.specs import target_models
from migration.models import LedgerEntry
from migration.rules.app_validation import checks_of, unknown_rules, value_problem
from sessions.models import SessionPackage
from tests.conftest import run_command
from tests.legacy_files import FIRST_SALTED, LegacyFile, write_importable_sample
from tests.test_clean import blocking, clean, logged, query

pytestmark = pytest.mark.usefixtures("legacy_db")


def command_json(name: str, path: Path) -> tuple[int, dict]:
    code, output = run_command(name, "--source", str(path), "--format", "json")
    return code, json.loads(output.split("\nCommandError: ")[0])


def findings(report: dict, code: str) -> list[dict]:
    found = report.get("findings") or [
        item for check in report["checks"] for item in check["findings"]
    ]
    return [item for item in found if item["code"] == code]


def refused_by_full_clean(row) -> set[str]:
    """The fields the model's own validation refuses on the row (none: an empty set)."""
    try:
        row.full_clean()
    except ValidationError as error:
        return set(error.message_dict)
    return set()


# --- the rule itself -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "field", "value", "refused"),
    [
        (Client, "email", "not-an-address", True),
        (Client, "email", "kim@example.com", False),
        (Client, "email", None, False),  # may be blank
        (Client, "name", "", True),
        (User, "username", "kim minji", True),
        (User, "username", "김재선", False),  # letters of any script
        (SessionPackage, "fee_calculation_method", "exclusive", True),
        (SessionPackage, "fee_calculation_method", "inclusive", False),
    ],
)
def test_the_rule_refuses_what_full_clean_refuses(model, field, value, refused):
    target = model._meta.get_field(field)
    assert (value_problem(target, value, checks_of(target)) is not None) is refused


def test_a_name_of_spaces_alone_is_refused_as_the_admin_form_refuses_it():
    # full_clean() takes it; the admin's form strips it first, and asks for a name.
    form_class = modelform_factory(Client, fields=["name"])
    assert "name" in form_class(data={"name": "   "}).errors
    target = Client._meta.get_field("name")
    assert value_problem(target, "   ", checks_of(target)) is not None


def test_the_rule_leaves_what_the_database_holds_to_the_database():
    # max_length and an integer's range are the column type's; a reference is a
    # foreign key's: the rule judges none of them.
    for model, field in ((Client, "phone"), (Client, "age"), (Client, "trainer")):
        assert checks_of(model._meta.get_field(field)) == ()


# --- precheck blocks it ----------------------------------------------------


@pytest.mark.django_db
def test_precheck_blocks_a_value_the_database_takes_but_the_app_refuses(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute(
        "UPDATE clients SET email = 'not-an-address' WHERE id = ?", (ids["client"],)
    )
    second = legacy_file.client(ids["trainer"], email="not-an-address")
    legacy_file.trainer(username="kim minji")
    path = legacy_file.close()

    code, report = command_json("precheck", path)
    assert code == 1
    refused = {item["column"]: item for item in findings(report, "value.invalid-in-app")}
    assert sorted((item["table"], column) for column, item in refused.items()) == [
        ("clients", "email"),
        ("trainers", "username"),
    ]
    email = refused["email"]
    assert email["severity"] == "blocking"
    assert email["row_ids"] == [ids["client"], second]  # one distinct value, both its rows
    assert "not an e-mail address" in email["summary"]
    assert "no spaces" in refused["username"]["summary"]
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 1 and "precheck finds" in output
    assert not Client.objects.exists()


def test_the_plan_leaves_its_checklist_item_open(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute(
        "UPDATE clients SET email = 'not-an-address' WHERE id = ?", (ids["client"],)
    )
    code, plan = run_command(
        "precheck", "--source", str(legacy_file.close()), "--format", "markdown"
    )
    assert code == 1
    (item,) = [line for line in plan.splitlines() if "forms and admin can save" in line]
    assert item.startswith("- [ ] ") and "`value.invalid-in-app`" in item


def test_a_value_the_converter_refuses_is_not_said_twice(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute("UPDATE clients SET name = '' WHERE id = ?", (ids["client"],))
    code, report = command_json("precheck", legacy_file.close())
    assert code == 1
    assert [item["column"] for item in findings(report, "value.missing-value")] == ["name"]
    assert findings(report, "value.invalid-in-app") == []


def test_a_sound_file_has_nothing_the_app_refuses(tmp_path):
    code, report = command_json("precheck", write_importable_sample(tmp_path / "legacy.db"))
    assert code == 0
    assert findings(report, "value.invalid-in-app") == []


# --- verify names it -------------------------------------------------------


@pytest.mark.django_db
def test_verify_names_each_imported_row_the_app_would_refuse(tmp_path):
    path = write_importable_sample(tmp_path / "legacy.db")
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output
    # Every imported row passes the model's own validation.
    for model in target_models():
        assert [refused_by_full_clean(row) for row in model.objects.all()] == [set()] * (
            model.objects.count()
        )
    client = Client.objects.order_by("pk").first()
    package = SessionPackage.objects.order_by("pk").last()
    # Values the database takes (no constraint forbids them) but full_clean refuses.
    Client.objects.filter(pk=client.pk).update(email="not-an-address")
    SessionPackage.objects.filter(pk=package.pk).update(fee_calculation_method="exclusive")
    assert refused_by_full_clean(Client.objects.get(pk=client.pk)) == {"email"}
    assert refused_by_full_clean(SessionPackage.objects.get(pk=package.pk)) == {
        "fee_calculation_method"
    }

    code, report = command_json("verify_import", path)
    assert code == 1
    named = {
        (item["table"], item["column"]): item["row_ids"]
        for item in findings(report, "verify.invalid-in-app")
    }
    assert named == {
        ("clients.Client", "email"): [client.pk],
        ("training.SessionPackage", "fee_calculation_method"): [package.pk],
    }
    check = next(c for c in report["checks"] if c["name"] == "valid in the app")
    assert check["passed"] is False


@pytest.mark.django_db
def test_verify_leaves_rows_made_in_the_app_to_the_app(tmp_path):
    path = write_importable_sample(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    trainer = User.objects.order_by("pk").first()
    Client.objects.create(
        trainer=trainer, name="", age=30, gender="male", height=170, weight=70, email="x"
    )
    code, report = command_json("verify_import", path)
    assert findings(report, "verify.invalid-in-app") == []
    assert LedgerEntry.objects.filter(target_model="clients.Client").count() == 10


# --- e-mail addresses with spaces around them ------------------------------


def test_spaces_around_an_address_are_clean_legacys_to_trim(legacy_file):
    early = legacy_file.trainer(
        username="early", email=" kim@studio.example ", created_at="2024-01-01 00:00:00"
    )
    late = legacy_file.trainer(
        username="late", email="kim@studio.example", created_at="2024-05-01 00:00:00"
    )
    client = legacy_file.client(early, email="\tlee@studio.example\u3000")
    source = legacy_file.close()
    code, report = command_json("precheck", source)
    assert code == 1
    untrimmed = findings(report, "value.untrimmed-email")
    assert [(item["table"], item["row_ids"]) for item in untrimmed] == [
        ("trainers", [early]),
        ("clients", [client]),
    ]
    assert all("clean_legacy" in item["fix"] for item in untrimmed)
    assert findings(report, "value.invalid-in-app") == []  # said once, as clean's to fix

    _, cleaned = clean(source)
    # The trimmed address takes part in making addresses unique: the first account keeps it.
    assert query(cleaned, "SELECT id, email FROM trainers ORDER BY id") == [
        (early, "kim@studio.example"),
        (late, "kim+late@studio.example"),
    ]
    assert query(cleaned, "SELECT email FROM clients WHERE id = ?", (client,)) == [
        ("lee@studio.example",)
    ]
    assert logged(cleaned, "value.untrimmed-email") == [
        (
            "trainers",
            early,
            "email",
            " kim@studio.example ",
            "kim@studio.example",
            "value.untrimmed-email",
        ),
        (
            "clients",
            client,
            "email",
            "\tlee@studio.example\u3000",
            "lee@studio.example",
            "value.untrimmed-email",
        ),
    ]
    assert blocking(cleaned) == []
    again, twice = clean(cleaned, cleaned.with_name("twice.db"))
    assert again.total_changes == 0


def test_an_untrimmed_address_another_has_trimmed_is_trimmed_once_unique(tmp_path):
    # The first generation keeps e-mails UNIQUE: " kim@x" cannot become "kim@x" while
    # another row has it, so it is trimmed once the duplicates are made unique.
    first = LegacyFile(tmp_path / "first.db", generation=FIRST_SALTED)
    first.first_trainer("one-pass-2024!", username="spaced", email=" kim@studio.example")
    first.first_trainer("two-pass-2024!", username="plain", email="kim@studio.example")
    source = first.close()
    _, cleaned = clean(source)
    emails = dict(query(cleaned, "SELECT username, email FROM trainers"))
    assert emails == {"spaced": "kim@studio.example", "plain": "kim+plain@studio.example"}
    assert blocking(cleaned) == []
    again, _ = clean(cleaned, cleaned.with_name("twice.db"))
    assert again.total_changes == 0


def test_an_address_of_spaces_alone_is_left_for_a_person(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute("UPDATE clients SET email = '   ' WHERE id = ?", (ids["client"],))
    source = legacy_file.close()
    _, cleaned = clean(source)
    assert query(cleaned, "SELECT email FROM clients") == [("   ",)]
    assert blocking(cleaned) == ["value.invalid-in-app"]


# --- the rule cannot drift from the models (migration.E011) ----------------


def check_errors() -> str:
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    return str(failed.value)


def test_the_rule_knows_every_validator_and_clean_of_the_target_models():
    assert unknown_rules() == []


def test_a_validator_the_rule_does_not_know_fails_the_check(monkeypatch):
    phone = Client._meta.get_field("phone")
    monkeypatch.setattr(phone, "_validators", [MinLengthValidator(9)])
    monkeypatch.setitem(phone.__dict__, "validators", [*phone.validators, *phone._validators])
    errors = check_errors()
    assert "migration.E011" in errors
    assert "clients.Client.phone: the validator MinLengthValidator" in errors


def test_a_model_clean_the_rule_does_not_know_fails_the_check(monkeypatch):
    def clean(self):
        raise ValidationError("no")

    monkeypatch.setattr(SessionPackage, "clean", clean, raising=False)
    errors = check_errors()
    assert "migration.E011" in errors
    assert "training.SessionPackage.clean()" in errors
