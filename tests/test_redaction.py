"""--redact: reports and error lines fit for a CI log or a ticket, with no personal data."""

import sqlite3
from contextlib import closing
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.models import Client
from migration.findings import finding
from migration.mapping.canonical import target_fingerprint
from migration.mapping.specs import SPECS
from migration.models import LedgerEntry
from migration.redaction import MASK, redact_finding, redact_text
from samples.files import write_production_sample
from tests.legacy_files import write_importable_sample

PERSONAL_COLUMNS = {
    "trainers": ("username", "name", "email"),
    "clients": ("name", "email", "phone"),
}


def personal_values(path: Path) -> set[str]:
    """Every name, username, e-mail address and phone number in a legacy file."""
    with closing(sqlite3.connect(path)) as legacy:
        return {
            value
            for table, columns in PERSONAL_COLUMNS.items()
            for column in columns
            for (value,) in legacy.execute(f"SELECT {column} FROM {table}")
            if isinstance(value, str) and len(value) >= 3
        }


def run(name: str, *args: str) -> tuple[int, str]:
    """A command's exit code and everything it wrote, report and errors alike."""
    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code, error = 0, ""
    except CommandError as raised:
        code, error = raised.returncode, str(raised)
    return code, "\n".join((out.getvalue(), err.getvalue(), error))


def leaked(output: str, values: set[str]) -> set[str]:
    return {value for value in values if value in output}


# --- pure -------------------------------------------------------------------


def test_a_redacted_finding_keeps_what_it_is_acted_on_with_and_nothing_else():
    item = finding(
        "trainers.duplicate-email",
        "trainers criminal, jaesun9090 share one e-mail address; the target needs one each",
        table="trainers",
        column="email",
        row_ids=[2, 5],
        details={"usernames": ["criminal", "jaesun9090"]},
    )
    shown = redact_finding(item)
    assert (shown.code, shown.severity, shown.fix) == (item.code, item.severity, item.fix)
    assert (shown.table, shown.column, shown.row_ids, shown.row_count) == (
        "trainers",
        "email",
        (2, 5),
        2,
    )
    assert shown.summary == f"trainers.email: 2 row(s), {MASK}"
    assert shown.details == {}


def test_an_error_line_loses_the_values_a_database_quoted():
    line = (
        'duplicate key value violates unique constraint "accounts_user_email_key": '
        "Key (email)=(kim@example.com) already exists."
    )
    assert redact_text(line) == (
        'duplicate key value violates unique constraint "accounts_user_email_key": '
        f"Key (email)=({MASK}) already exists."
    )
    assert redact_text("trainer kim@example.com (row 3)") == f"trainer {MASK} (row 3)"
    assert redact_text("sessions: rows 4 to 9 point at nothing") == (
        "sessions: rows 4 to 9 point at nothing"
    )


# --- every command, on the production sample --------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_precheck_and_clean_legacy_redact_every_name_and_address(tmp_path, fmt):
    legacy = tmp_path / "legacy.db"
    write_production_sample(output=legacy)
    personal = personal_values(legacy)

    code, plain = run("precheck", "--source", str(legacy), "--format", fmt)
    assert code == 1
    assert leaked(plain, personal)  # the sample's shared address names its trainers
    code, redacted = run("precheck", "--source", str(legacy), "--format", fmt, "--redact")
    assert code == 1
    assert leaked(redacted, personal) == set()
    assert "trainers.duplicate-email" in redacted

    cleaned = tmp_path / "cleaned.db"
    args = ("--source", str(legacy), "--output", str(cleaned), "--format", fmt)
    code, plain = run("clean_legacy", *args)
    assert leaked(plain, personal)  # the e-mail it changed, old and new
    code, redacted = run("clean_legacy", *args, "--force", "--redact")
    assert code == 0, redacted
    assert leaked(redacted, personal | personal_values(cleaned)) == set()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
def test_a_refused_import_redacts_the_findings_it_names(tmp_path):
    legacy = tmp_path / "legacy.db"
    write_production_sample(output=legacy)
    personal = personal_values(legacy)

    code, plain = run("import_legacy", "--source", str(legacy))
    assert code == 1
    assert leaked(plain, personal)
    code, redacted = run("import_legacy", "--source", str(legacy), "--redact")
    assert code == 1
    assert leaked(redacted, personal) == set()
    assert "[trainers.duplicate-email]" in redacted


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_verify_redacts_the_values_of_a_field_mismatch(tmp_path, fmt):
    legacy = write_importable_sample(tmp_path / "legacy.db")
    personal = personal_values(legacy)
    assert run("import_legacy", "--source", str(legacy), "--redact")[0] == 0
    # An importer bug: a client's name written wrong, fingerprinted as if intended.
    Client.objects.filter(pk=3).update(name="Wrongname Kim")
    values = Client.objects.filter(pk=3).values(*SPECS["clients"].synced_fields)[0]
    LedgerEntry.objects.filter(legacy_table="clients", legacy_id=3).update(
        target_hash=target_fingerprint(values)
    )
    personal.add("Wrongname Kim")

    code, plain = run("verify_import", "--source", str(legacy), "--format", fmt)
    assert code == 1
    assert leaked(plain, personal)  # the mismatch shows the legacy name and the target's
    code, redacted = run("verify_import", "--source", str(legacy), "--format", fmt, "--redact")
    assert code == 1
    assert leaked(redacted, personal) == set()
    assert "verify.field-mismatch" in redacted
