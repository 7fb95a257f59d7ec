"""import_legacy end to end, against PostgreSQL: the sample, re-runs, dry runs, sequences, failures.

Every test reads real legacy files (the production sample, or a small file
built for the test) through the command or `import_legacy`, and checks the
target's rows, the ledger and the report. Tests that look at commits, dry-run
rollback or sequence positions run outside a test transaction
(`transaction=True`): the importer opens its own transactions, and PostgreSQL
sequences ignore rollbacks.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bcrypt
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.legacy import open_legacy
from migration.legacy.schema import QUARANTINE_TABLE, TOOL_TABLES_SQL
from migration.load import run as importer
from migration.load.report import ImportFailed
from migration.load.run import import_legacy
from migration.models import ImportRun, LedgerEntry
from migration.postgres import IMPORT_LOCK
from samples.files import SAMPLE_PASSWORDS, write_production_sample
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command, sha256_of
from tests.legacy_files import UTC_STAMP, legacy_sql, write_importable_sample

pytestmark = pytest.mark.usefixtures("legacy_db", "write_path")

# A real bcrypt hash (cost 4 keeps it fast), for files built with LegacyFile.
BCRYPT_SAMPLE = bcrypt.hashpw(b"studio-pass", bcrypt.gensalt(4)).decode()

# Transactions and sequences are only observable outside a test transaction.
COMMITS = pytest.mark.django_db(transaction=True)
# Sequences and triggers are PostgreSQL's; SQLite keeps its own counters.
POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL sequences and triggers"
)
ROWS = pytest.mark.django_db

LEGACY_TABLES = (
    "trainers",
    "clients",
    "assessments",
    "session_packages",
    "sessions",
    "training_sessions",
    "payments",
    "payment_records",
    "fee_audit_log",
)
LEGACY_ROWS = {
    "trainers": 7,
    "clients": 10,
    "assessments": 7,
    "session_packages": 5,
    "sessions": 4,
    "training_sessions": 3,
    "payments": 4,
    "payment_records": 2,
    "fee_audit_log": 0,
}
TARGET_ROWS = {
    User: 7,
    Client: 10,
    Assessment: 7,
    SessionPackage: 5,
    Session: 7,
    Payment: 6,
    FeeAuditLog: 0,
}
# Legacy id -> target id of the renumbered old tables, in legacy id order after
# the highest id of their new table (sessions 1-4, payments 1-4).
RENUMBERED = {
    "training_sessions": {1: 5, 2: 6, 3: 7},
    "payment_records": {1: 5, 2: 6},
}
# Listed here, not taken from the importer, so that a model it forgets shows.
TARGET_MODELS = list(TARGET_ROWS)
OUTCOMES = ("created", "updated", "unchanged", "merged", "quarantined")
COUNT_NAMES = ("read", *OUTCOMES)


# --- helpers --------------------------------------------------------------


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_importable_sample(tmp_path / "fitness_assessment.db")


def legacy_rows(path: Path, table: str) -> dict[int, dict[str, Any]]:
    """Every row of a legacy table, every column, as sqlite3 itself reads it."""
    with closing(sqlite3.connect(path)) as legacy:
        legacy.row_factory = sqlite3.Row
        return {row["id"]: dict(row) for row in legacy.execute(f'SELECT * FROM "{table}"')}


def run_import(path: Path, *options: str) -> tuple[int, str, str]:
    """import_legacy as an operator runs it: (exit code, stdout, stderr + CommandError)."""
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("import_legacy", "--source", str(path), *options, stdout=stdout, stderr=stderr)
    except CommandError as error:
        return error.returncode, stdout.getvalue(), stderr.getvalue() + f"CommandError: {error}"
    return 0, stdout.getvalue(), stderr.getvalue()


def imported(path: Path, *options: str) -> dict[str, Any]:
    """Import with a JSON report, expecting success; return the report."""
    code, out, err = run_import(path, "--format", "json", *options)
    assert code == 0, err
    return json.loads(out)


def by_table(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {table["table"]: table for table in report["tables"]}


def counts(report: dict[str, Any], table: str) -> dict[str, int]:
    row = by_table(report)[table]
    return {name: row[name] for name in (*COUNT_NAMES, "gone_from_legacy")} | {
        "conflicts": len(row["conflicts"])
    }


def accounted_for(outcomes: dict[str, int], conflicts: int) -> int:
    """Rows given an outcome: every row read must have exactly one."""
    return sum(outcomes[name] for name in OUTCOMES) + conflicts


def target_counts() -> dict[str, int]:
    models = [*TARGET_MODELS, ImportRun, LedgerEntry]
    return {model._meta.label: model.objects.count() for model in models}


def ledger(table: str, legacy_id: int) -> LedgerEntry:
    return LedgerEntry.objects.get(legacy_table=table, legacy_id=legacy_id)


def sequence_of(model) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column]
        )
        return cursor.fetchone()[0]


def sequence_position(model) -> tuple[int, bool]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value, is_called FROM {sequence_of(model)}")
        return cursor.fetchone()


def sequence_positions() -> dict[str, tuple[int, bool]]:
    """Every sequence of the database: the target's, the ledger's, Django's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid::regclass::text FROM pg_class "
            "WHERE relkind = 'S' AND pg_table_is_visible(oid) ORDER BY 1"
        )
        names = [name for (name,) in cursor.fetchall()]
        positions = {}
        for name in names:
            cursor.execute(f"SELECT last_value, is_called FROM {name}")
            positions[name] = cursor.fetchone()
    return positions


def set_sequence(model, value: int, is_called: bool = True) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(%s, %s, %s)", [sequence_of(model), value, is_called])


def new_client() -> Client:
    """A client added in Django after the import, its id drawn from the sequence."""
    return Client.objects.create(
        trainer_id=1, name="새 회원", age=30, gender="female", height=160.0, weight=55.0
    )


# --- the production sample ------------------------------------------------


@ROWS
def test_sample_imports_every_row_with_its_legacy_id(sample):
    before = sha256_of(sample)
    report = imported(sample)

    assert {model: model.objects.count() for model in TARGET_ROWS} == TARGET_ROWS
    assert sorted(Client.objects.values_list("pk", flat=True)) == list(range(3, 13))
    assert sorted(User.objects.values_list("pk", flat=True)) == list(range(1, 8))
    assert sorted(Session.objects.values_list("pk", flat=True)) == list(range(1, 8))
    assert sorted(Payment.objects.values_list("pk", flat=True)) == list(range(1, 7))
    assert {t: counts(report, t)["created"] for t in LEGACY_TABLES} == LEGACY_ROWS
    assert report["totals"]["read"] == report["totals"]["created"] == 42
    assert sha256_of(sample) == before


@ROWS
def test_old_tables_are_renumbered_after_the_new_tables_in_id_order(sample):
    imported(sample)
    for table, target_ids in RENUMBERED.items():
        entries = LedgerEntry.objects.filter(legacy_table=table).order_by("legacy_id")
        assert {e.legacy_id: e.target_id for e in entries} == target_ids
    # Each renumbered row is the right legacy row: its date (and amount) say which.
    sessions = legacy_rows(sample, "training_sessions")
    for legacy_id, target_id in RENUMBERED["training_sessions"].items():
        session = Session.objects.get(pk=target_id)
        assert session.session_date.isoformat() == sessions[legacy_id]["session_date"]
        assert session.package_id == sessions[legacy_id]["package_id"]
    records = legacy_rows(sample, "payment_records")
    for legacy_id, target_id in RENUMBERED["payment_records"].items():
        payment = Payment.objects.get(pk=target_id)
        assert payment.payment_date.isoformat() == records[legacy_id]["payment_date"]
        assert payment.amount == Decimal(records[legacy_id]["amount"])
    # The new tables keep their own ids.
    for legacy_id, row in legacy_rows(sample, "sessions").items():
        assert Session.objects.get(pk=legacy_id).session_date.isoformat() == row["session_date"]


@ROWS
def test_ledger_has_one_created_entry_per_legacy_row_with_the_row_verbatim(sample):
    imported(sample)
    assert LedgerEntry.objects.count() == 42
    run = ImportRun.objects.get()
    for table in LEGACY_TABLES:
        rows = legacy_rows(sample, table)
        entries = {e.legacy_id: e for e in LedgerEntry.objects.filter(legacy_table=table)}
        assert entries.keys() == rows.keys(), table
        for legacy_id, entry in entries.items():
            expected_target = RENUMBERED.get(table, {}).get(legacy_id, legacy_id)
            assert (entry.target_id, entry.action, entry.run_id) == (
                expected_target,
                "created",
                run.pk,
            ), (table, legacy_id)
            # Every column, of the same type: REAL money stays 60000.0, INTEGER 60000.
            # (A password hash is the one exception: the ledger keeps a digest of it.)
            as_typed = {c: (type(v), v) for c, v in entry.raw.items() if c != "password_hash"}
            expected = {c: (type(v), v) for c, v in rows[legacy_id].items() if c != "password_hash"}
            assert as_typed == expected
            assert entry.raw.keys() == rows[legacy_id].keys()


@ROWS
def test_import_run_succeeds_and_keeps_its_report(sample):
    code, out, err = run_import(sample)
    assert code == 0, err
    run = ImportRun.objects.get()
    assert run.outcome == ImportRun.Outcome.SUCCEEDED
    assert run.stopped_at_table == "" and run.error == ""
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.source_sha256 == sha256_of(sample)
    assert run.report["totals"]["created"] == 42
    assert run.report["dry_run"] is False
    assert {t["table"]: t["created"] for t in run.report["tables"]} == LEGACY_ROWS
    assert str(run.pk) in out


@ROWS
def test_the_stored_report_holds_what_the_json_report_prints(sample):
    code, out, err = run_import(sample, "--format", "json")
    assert code == 0, err
    printed, stored = json.loads(out), ImportRun.objects.get().report
    for moment in ("started_at", "finished_at"):
        # Django's JSON encoder keeps a time to the millisecond: the same instant.
        apart = datetime.fromisoformat(stored.pop(moment)) - datetime.fromisoformat(
            printed.pop(moment)
        )
        assert abs(apart) < timedelta(milliseconds=1), moment
    assert stored == printed


@ROWS
def test_password_hashes_are_neither_in_the_ledger_nor_in_a_report(sample):
    hashes = [row["password_hash"] for row in legacy_rows(sample, "trainers").values()]
    code, text, _ = run_import(sample)
    assert code == 0
    _, as_json, _ = run_import(sample, "--format", "json")
    stored = json.dumps([run.report for run in ImportRun.objects.all()])
    for password_hash in hashes:
        assert password_hash not in text
        assert password_hash not in as_json
        assert password_hash[7:] not in stored  # not even without its "$2b$12$"
    ledger_rows = json.dumps([entry.raw for entry in LedgerEntry.objects.all()])
    for password_hash in hashes:
        assert password_hash[7:] not in ledger_rows
    trainers = LedgerEntry.objects.filter(legacy_table="trainers")
    assert all("$secret-digest" in entry.raw["password_hash"] for entry in trainers)
    # The digest still tells a changed hash from an unchanged one.
    assert len({entry.raw["password_hash"]["$secret-digest"] for entry in trainers}) == 7


# --- transforms, end to end -----------------------------------------------


SEOUL = ZoneInfo("Asia/Seoul")


@ROWS
def test_values_are_converted_as_the_specs_say(sample):
    imported(sample)

    session = Session.objects.get(pk=1)
    assert session.session_time == time(10, 0, 25, 813560)
    assert Session.objects.get(pk=2).session_time is None
    assert Session.objects.get(pk=RENUMBERED["training_sessions"][2]).session_time == time(
        10, 2, 11, 402917
    )
    assert session.session_cost == Decimal("60000") and type(session.session_cost) is Decimal

    package = SessionPackage.objects.get(pk=3)  # topped up: 1,980,000 + 300,000
    assert (
        package.gross_amount,
        package.vat_amount,
        package.card_fee_amount,
        package.net_amount,
    ) == (Decimal(2280000), Decimal(207273), Decimal(79800), Decimal(1992927))
    assert package.card_fee_rate == Decimal("0.035") and package.vat_rate == Decimal("0.1")
    assert package.remaining_credits == Decimal(1835590)
    payment = Payment.objects.get(pk=1)
    assert payment.amount == Decimal(1980000) and payment.net_amount == Decimal(1730700)
    assert Payment.objects.get(pk=RENUMBERED["payment_records"][2]).amount == Decimal(600000)

    assert all(client.email is None and client.phone is None for client in Client.objects.all())
    assert Client.objects.get(pk=3).gender == "male"
    assert Client.objects.get(pk=4).gender == "female"

    methods = {p.pk: (p.payment_method, p.payment_method_text) for p in Payment.objects.all()}
    assert methods == {
        1: ("card", "Package Purchase"),
        2: ("transfer", "계좌이체"),
        3: ("card", "카드"),
        4: ("card", "card"),
        5: ("cash", "현금"),
        6: ("card", "card"),
    }

    assert SessionPackage.objects.get(pk=5).is_active is False
    assert Session.objects.get(pk=4).notes is None  # '' is no note
    assert Assessment.objects.get(pk=1).toe_touch_distance == -6.5
    assert Assessment.objects.get(pk=1).shoulder_mobility_score is None


@ROWS
def test_sample_trainer_names_are_kept_and_all_first_name(sample):
    imported(sample)
    minji = User.objects.get(username="minji.park")
    # A Korean name has no space: all of it is the first name, as split_name says.
    assert (minji.name, minji.first_name, minji.last_name) == ("박민지", "박민지", "")
    assert minji.email == "minji.park@example.com"
    assert minji.username == "minji.park"


@ROWS
def test_a_trainer_name_with_spaces_is_split_at_the_first(legacy_file):
    legacy_file.trainer(name="Kim Min Jun", username="kim", email="kim@example.com")
    imported(legacy_file.close())
    kim = User.objects.get(username="kim")
    assert (kim.name, kim.first_name, kim.last_name) == ("Kim Min Jun", "Kim", "Min Jun")


@ROWS
def test_timestamps_are_aware_and_mean_the_right_instant(sample):
    imported(sample)
    minji = User.objects.get(username="minji.park")
    # created_at in SQLite's shape: UTC.
    assert minji.date_joined == datetime(2024, 1, 15, 2, 11, 32, tzinfo=UTC)
    # last_login with a fraction: written by Python, in Seoul.
    assert minji.last_login == datetime(2025, 3, 14, 9, 12, 44, 518230, tzinfo=SEOUL)
    assert minji.last_login == datetime(2025, 3, 14, 0, 12, 44, 518230, tzinfo=UTC)
    # last_login without a fraction: written by SQLite, UTC.
    criminal = User.objects.get(username="criminal")
    assert criminal.last_login == datetime(2024, 11, 2, 13, 40, 9, tzinfo=UTC)
    # locked_until, isoformat() with a T: local.
    dohyun = User.objects.get(username="dohyun88")
    assert dohyun.locked_until == datetime(2025, 3, 2, 5, 5, 11, 204311, tzinfo=UTC)
    assert dohyun.failed_login_attempts == 2
    assert User.objects.get(username="yuna.kang").last_login is None
    client = Client.objects.get(pk=3)
    assert client.created_at == datetime(2024, 1, 22, 5, 13, 9, tzinfo=UTC)
    assert client.updated_at == datetime(2024, 4, 24, 6, 40, 12, tzinfo=UTC)
    assert Session.objects.get(pk=1).completed_at == datetime(2024, 9, 17, 2, 4, 48, tzinfo=UTC)
    for moment in User.objects.values_list("date_joined", flat=True):
        assert moment.tzinfo is not None


@ROWS
def test_a_session_without_a_trainer_gets_its_packages_trainer(sample):
    assert legacy_rows(sample, "sessions")[2]["trainer_id"] is None
    imported(sample)
    assert Session.objects.get(pk=2).trainer_id == 5  # package 3's trainer
    assert ledger("sessions", 2).raw["trainer_id"] is None  # the raw row stays as it was
    assert Session.objects.get(pk=1).trainer_id == 5
    assert Session.objects.get(pk=3).trainer_id == 6


# --- passwords ------------------------------------------------------------


@ROWS
def test_every_sample_trainer_logs_in_and_the_hash_is_upgraded(sample):
    imported(sample)
    assert len(SAMPLE_PASSWORDS) == User.objects.count() == 7
    assert len(SAMPLE_PASSWORDS["seoyeon.choi"].encode()) > 72
    for username, password in SAMPLE_PASSWORDS.items():
        assert User.objects.get(username=username).password.startswith("legacy_bcrypt$$2b$12$")
        user = authenticate(username=username, password=password)
        assert user is not None and user.username == username, username
        user.refresh_from_db()
        assert user.password.startswith("pbkdf2_sha256$"), username
    # The upgraded hash still takes the long passphrase, now all of it.
    passphrase = SAMPLE_PASSWORDS["seoyeon.choi"]
    assert authenticate(username="seoyeon.choi", password=passphrase) is not None
    assert authenticate(username="minji.park", password="squat2024!") is not None
    assert authenticate(username="minji.park", password="squat2024?") is None


# --- re-runs --------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Every target row's values, and the ledger, to compare a re-run against."""
    rows = {
        model._meta.label: list(model.objects.order_by("pk").values()) for model in TARGET_MODELS
    }
    rows["ledger"] = list(
        LedgerEntry.objects.order_by("legacy_table", "legacy_id").values(
            "legacy_table", "legacy_id", "target_id", "action", "source_hash", "target_hash", "raw"
        )
    )
    return rows


@ROWS
def test_a_second_import_changes_nothing(sample):
    imported(sample)
    before = snapshot()
    report = imported(sample)
    for table in LEGACY_TABLES:
        assert counts(report, table) == {
            "read": LEGACY_ROWS[table],
            "created": 0,
            "updated": 0,
            "unchanged": LEGACY_ROWS[table],
            "merged": 0,
            "quarantined": 0,
            "gone_from_legacy": 0,
            "conflicts": 0,
        }, table
    assert report["totals"]["unchanged"] == 42
    assert snapshot() == before
    assert ImportRun.objects.filter(outcome="succeeded").count() == 2


@ROWS
def test_a_legacy_row_added_after_the_import_is_created_next_time(sample):
    imported(sample)
    legacy_sql(
        sample,
        "INSERT INTO clients (id, trainer_id, name, age, gender, height, weight, email, phone, "
        "created_at, updated_at) VALUES (13, 2, '김하늘', 27, '여성', 163.5, 51.2, '', "
        "'010-1234-5678', '2025-03-20 01:00:00', '2025-03-20 01:00:00')",
    )
    report = imported(sample)
    assert counts(report, "clients")["created"] == 1
    assert counts(report, "clients")["unchanged"] == 10
    assert report["totals"]["created"] == 1 and report["totals"]["unchanged"] == 42
    added = Client.objects.get(pk=13)
    assert (added.name, added.gender, added.phone, added.email) == (
        "김하늘",
        "female",
        "010-1234-5678",
        None,
    )
    entry = ledger("clients", 13)
    assert (entry.action, entry.target_id) == ("created", 13)
    assert entry.run == ImportRun.objects.order_by("-started_at").first()
    assert Client.objects.count() == 11


@ROWS
def test_a_legacy_row_changed_after_the_import_is_updated(sample):
    imported(sample)
    legacy_sql(
        sample,
        "UPDATE clients SET weight = 76.9, updated_at = ? WHERE id = 3",
        ("2025-03-21 04:00:00",),
    )
    # A renumbered row is updated at its target id.
    legacy_sql(sample, "UPDATE training_sessions SET notes = '하체 + 코어' WHERE id = 1")
    report = imported(sample)
    assert counts(report, "clients")["updated"] == 1
    assert counts(report, "training_sessions")["updated"] == 1
    assert report["totals"]["updated"] == 2 and report["totals"]["unchanged"] == 40
    client = Client.objects.get(pk=3)
    assert client.weight == 76.9
    assert client.updated_at == datetime(2025, 3, 21, 4, tzinfo=UTC)
    assert Session.objects.get(pk=5).notes == "하체 + 코어"
    entry = ledger("clients", 3)
    assert entry.action == "updated" and entry.raw["weight"] == 76.9
    assert ledger("training_sessions", 1).target_id == 5
    assert Client.objects.count() == 10 and Session.objects.count() == 7
    # Updated rows are unchanged on the next run.
    assert imported(sample)["totals"]["unchanged"] == 42


@ROWS
def test_a_row_edited_in_django_and_changed_in_legacy_is_a_conflict(sample):
    imported(sample)
    Client.objects.filter(pk=4).update(name="박지우 (회원 요청으로 변경)")
    legacy_sql(sample, "UPDATE clients SET weight = 55.5 WHERE id = 4")
    entry_before = ledger("clients", 4)

    code, out, err = run_import(sample)

    assert code == 1
    assert "1 conflict(s)" in err
    assert "Conflicts (1)" in out
    assert "  clients 4 -> clients.Client 4" in out.splitlines()
    client = Client.objects.get(pk=4)
    assert (client.name, client.weight) == ("박지우 (회원 요청으로 변경)", 54.7)
    entry = ledger("clients", 4)
    assert (entry.action, entry.source_hash, entry.raw) == (
        entry_before.action,
        entry_before.source_hash,
        entry_before.raw,
    )
    run = ImportRun.objects.order_by("-started_at").first()
    assert run.outcome == "succeeded"  # the run itself finished: the conflict is reported
    assert run.report["totals"]["conflicts"] == 1
    clients = next(t for t in run.report["tables"] if t["table"] == "clients")
    assert clients["conflicts"] == [
        {"table": "clients", "legacy_id": 4, "target_model": "clients.Client", "target_id": 4}
    ]
    # Still a conflict next time: nothing was settled behind the operator's back.
    assert run_import(sample)[0] == 1


def conflicting_client(sample: Path) -> None:
    imported(sample)
    Client.objects.filter(pk=4).update(name="박지우 (회원 요청으로 변경)")
    legacy_sql(sample, "UPDATE clients SET weight = 55.5 WHERE id = 4")


@ROWS
def test_a_conflict_settled_by_taking_the_legacy_row(sample):
    conflicting_client(sample)
    assert run_import(sample, "--on-conflict", "take-legacy", "--dry-run")[0] == 0
    assert Client.objects.get(pk=4).weight == 54.7  # a dry run settles nothing
    code, out, err = run_import(sample, "--on-conflict", "take-legacy")
    assert code == 0, err
    assert "Conflicts settled by --on-conflict take-legacy (1): the legacy row written" in out
    assert "  clients 4 -> clients.Client 4" in out.splitlines()
    client = Client.objects.get(pk=4)
    assert (client.name, client.weight) == ("박지우", 55.5)
    assert ledger("clients", 4).action == "updated"
    report = ImportRun.objects.order_by("-started_at").first().report
    assert (report["totals"]["conflicts"], report["totals"]["resolved"]) == (0, 1)
    assert imported(sample)["totals"]["unchanged"] == 42
    code, output = run_command("verify_import", "--source", str(sample), "--strict")
    assert code == 0, output


@ROWS
def test_a_conflict_settled_by_keeping_the_django_edit(sample):
    conflicting_client(sample)
    code, out, err = run_import(sample, "--on-conflict", "keep-target")
    assert code == 0, err
    assert "Conflicts settled by --on-conflict keep-target (1): the edit kept" in out
    client = Client.objects.get(pk=4)
    assert (client.name, client.weight) == ("박지우 (회원 요청으로 변경)", 54.7)
    # The legacy change is let go: the next run has nothing to do, and verify calls the
    # row drift (a warning), as any row edited in Django since.
    assert imported(sample)["totals"]["unchanged"] == 42
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output
    assert "[verify.drift]" in output
    assert run_command("verify_import", "--source", str(sample), "--strict")[0] == 1


def session_gone_and_back(sample: Path, *, meanwhile: Callable[[], Any] = lambda: None) -> None:
    """Session 4 deleted in the old app (an import records it gone), `meanwhile` done,
    then the row put back as it was."""
    imported(sample)
    row = legacy_rows(sample, "sessions")[4]
    legacy_sql(sample, "DELETE FROM sessions WHERE id = 4")
    imported(sample)
    meanwhile()
    values = ", ".join("?" for _ in row)
    legacy_sql(
        sample, f"INSERT INTO sessions ({', '.join(row)}) VALUES ({values})", tuple(row.values())
    )


def session_back_in_the_file_after_an_edit(sample: Path) -> None:
    """Session 4 deleted in the old app (recorded gone), edited in Django, then back."""
    session_gone_and_back(
        sample, meanwhile=lambda: Session.objects.filter(pk=4).update(notes="edited in django")
    )


@ROWS
def test_a_row_back_in_the_file_whose_edit_is_kept_is_settled_for_good(sample):
    session_back_in_the_file_after_an_edit(sample)
    assert run_import(sample, "--on-conflict", "keep-target")[0] == 0
    assert ledger("sessions", 4).action == "updated"
    assert run_import(sample)[0] == 0
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


@ROWS
def test_a_row_deleted_beside_a_conflict_of_a_row_back_is_recorded_gone(sample):
    # The row back stays gone (a conflict): it is read, yet not counted present.
    session_back_in_the_file_after_an_edit(sample)
    legacy_sql(sample, "DELETE FROM sessions WHERE id = 3")
    assert run_import(sample)[0] == 1
    assert (ledger("sessions", 3).action, ledger("sessions", 4).action) == ("gone", "gone")


@ROWS
def test_keeping_an_edit_of_a_trainer_still_renews_the_password_changed_in_the_old_app(sample):
    imported(sample)
    User.objects.filter(username="criminal").update(first_name="Edited")
    set_legacy_password(sample, "criminal", bcrypt_of("changed in the old app"))
    legacy_sql(sample, "UPDATE trainers SET name = 'Renamed' WHERE username = 'criminal'")
    assert run_import(sample, "--on-conflict", "keep-target")[0] == 0
    assert User.objects.get(username="criminal").first_name == "Edited"
    assert authenticate(username="criminal", password="changed in the old app")


@ROWS
def test_a_conflict_over_a_row_deleted_in_django_stays_a_conflict(sample):
    imported(sample)
    Assessment.objects.filter(pk=7).delete()
    legacy_sql(
        sample, "UPDATE assessments SET push_up_notes = 'changed in the old app' WHERE id = 7"
    )
    code, out, err = run_import(sample, "--on-conflict", "take-legacy")
    assert code == 1
    assert "1 conflict(s)" in err and "--on-conflict take-legacy cannot settle these" in err


@ROWS
def test_a_row_edited_in_django_whose_legacy_row_did_not_change_stays_edited(sample):
    imported(sample)
    Client.objects.filter(pk=5).update(name="정하은 (VIP)", weight=60.0)
    report = imported(sample)
    assert counts(report, "clients")["unchanged"] == 10
    assert report["totals"]["conflicts"] == 0 and report["totals"]["updated"] == 0
    client = Client.objects.get(pk=5)
    assert (client.name, client.weight) == ("정하은 (VIP)", 60.0)
    assert ledger("clients", 5).action == "created"


@ROWS
def test_a_new_sessions_row_whose_id_a_renumbered_row_holds_gets_a_fresh_id(sample):
    imported(sample)
    renumbered = Session.objects.get(pk=5)  # training_sessions 1
    legacy_sql(
        sample,
        "INSERT INTO sessions (id, client_id, package_id, session_date, session_time, "
        "session_duration, session_cost, status, notes, created_at, completed_at, trainer_id) "
        "VALUES (5, 11, 4, '2025-03-25', '18:30:00.000001', 60, 60000.0, 'scheduled', "
        "'새 세션', '2025-03-20 09:00:00', NULL, 6)",
    )
    report = imported(sample)
    assert counts(report, "sessions")["created"] == 1
    entry = ledger("sessions", 5)
    assert entry.target_id == 8  # after the highest id in the target
    added = Session.objects.get(pk=8)
    assert (added.notes, added.session_time) == ("새 세션", time(18, 30, 0, 1))
    assert Session.objects.count() == 8
    kept = Session.objects.get(pk=5)
    assert [getattr(kept, f.attname) for f in Session._meta.fields] == [
        getattr(renumbered, f.attname) for f in Session._meta.fields
    ]
    assert ledger("training_sessions", 1).target_id == 5
    assert counts(report, "training_sessions")["unchanged"] == 3


@ROWS
def test_a_changed_row_in_every_table_is_updated_without_a_false_conflict(sample):
    """The fingerprint of a target row read back matches the one written, in every model."""
    imported(sample)
    changes = {
        "trainers": "UPDATE trainers SET name = name || ' Jr' WHERE id IN (1, 6)",
        "clients": "UPDATE clients SET age = 35 WHERE id = 3",
        "assessments": "UPDATE assessments SET push_up_reps = 19 WHERE id = 1",
        "session_packages": "UPDATE session_packages SET remaining_sessions = 34 WHERE id = 3",
        "sessions": "UPDATE sessions SET status = 'completed' WHERE id = 4",
        "training_sessions": "UPDATE training_sessions SET notes = '보강' WHERE id = 3",
        "payments": "UPDATE payments SET description = 'PT 30회 (정정)' WHERE id = 1",
        "payment_records": "UPDATE payment_records SET description = '정정' WHERE id = 2",
    }
    for sql in changes.values():
        legacy_sql(sample, sql)
    report = imported(sample)
    assert report["totals"]["conflicts"] == 0
    assert {t: counts(report, t)["updated"] for t in changes} == {
        **dict.fromkeys(changes, 1),
        "trainers": 2,
    }
    assert User.objects.get(pk=6).name.endswith(" Jr")
    assert SessionPackage.objects.get(pk=3).remaining_sessions == 34
    assert Session.objects.get(pk=4).status == "completed"
    assert Session.objects.get(pk=RENUMBERED["training_sessions"][3]).notes == "보강"
    assert Payment.objects.get(pk=1).description == "PT 30회 (정정)"
    assert Payment.objects.get(pk=RENUMBERED["payment_records"][2]).description == "정정"


FEE_AUDIT_ROW = (  # params: payment_id, calculation_details, created_by
    "INSERT INTO fee_audit_log (id, package_id, payment_id, calculation_type, gross_amount, "
    "vat_amount, card_fee_amount, net_amount, vat_rate, card_fee_rate, calculation_details, "
    "created_by, created_at) VALUES (1, 5, ?, 'payment', 300000, 27273, 10500, 262227, 0.1, "
    "0.035, ?, ?, '2025-03-22 02:00:01')"
)
FEE_DETAILS = {"rule": "inclusive", "note": "수동 입력"}
NEW_PAYMENT_5 = (
    "INSERT INTO payments (id, client_id, package_id, amount, payment_method, description, "
    "payment_date, created_at, trainer_id, gross_amount, vat_amount, card_fee_amount, "
    "net_amount, vat_rate, card_fee_rate) VALUES (5, 12, 5, 300000.0, '카드', '추가 결제', "
    "'2025-03-22', '2025-03-22 02:00:00', NULL, 300000, 27273, 10500, 262227, 0.1, 0.035)"
)


@ROWS
def test_a_reference_to_a_renumbered_row_follows_it(sample):
    """A new payments row whose id payment_records 1 holds gets a new id; references follow."""
    imported(sample)
    legacy_sql(sample, NEW_PAYMENT_5)
    legacy_sql(sample, FEE_AUDIT_ROW, (5, json.dumps(FEE_DETAILS, ensure_ascii=False), None))
    report = imported(sample)
    assert counts(report, "payments")["created"] == 1
    assert counts(report, "fee_audit_log")["created"] == 1
    payment = Payment.objects.get(pk=ledger("payments", 5).target_id)
    assert payment.pk == 7 and payment.description == "추가 결제"
    assert payment.trainer_id == 7  # NULL in the file: package 5's trainer
    audit = FeeAuditLog.objects.get(pk=1)
    assert audit.payment_id == 7  # not 5, which is payment_records 1
    assert Payment.objects.get(pk=5).payment_method_text == "현금"
    assert audit.calculation_details == FEE_DETAILS
    assert (audit.vat_rate, audit.card_fee_rate) == (Decimal("0.1"), Decimal("0.035"))


@ROWS
def test_a_fee_audit_row_keeps_the_trainer_who_made_it(sample):
    legacy_sql(sample, FEE_AUDIT_ROW, (1, json.dumps(FEE_DETAILS), 7))
    imported(sample)
    assert FeeAuditLog.objects.get(pk=1).created_by_id == 7


@ROWS
def test_a_row_deleted_from_the_legacy_file_is_counted_and_left_in_the_target(sample):
    imported(sample)
    legacy_sql(sample, "DELETE FROM assessments WHERE id = 7")
    code, out, _ = run_import(sample)
    assert code == 0
    assert "Gone from the legacy file since an earlier import (left in the target):" in out
    assert "  assessments: 1 row(s)" in out.splitlines()
    assert Assessment.objects.filter(pk=7).exists()
    report = ImportRun.objects.order_by("-started_at").first().report
    assert report["totals"]["gone_from_legacy"] == 1
    assert ledger("assessments", 7).action == "gone"
    # Recorded: verify passes, and lists it; the next run finds nothing new to record.
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output
    assert "[verify.legacy-gone] assessments: 1 row(s) gone from the legacy file" in output
    assert "assessments 6 = 6 created (and 1 gone from the file, kept in the target)" in output
    report = imported(sample)
    assert (counts(report, "assessments")["gone_from_legacy"], report["totals"]["updated"]) == (
        1,
        0,
    )


@ROWS
def test_a_row_quarantined_after_its_import_keeps_its_target_row(sample, tmp_path):
    imported(sample)
    client = legacy_rows(sample, "assessments")[7]["client_id"]
    legacy_sql(sample, "UPDATE assessments SET client_id = 99 WHERE id = 7")
    cleaned = tmp_path / "cleaned.db"
    code, output = run_command("clean_legacy", "--source", str(sample), "--output", str(cleaned))
    assert code == 0, output
    report = imported(cleaned)
    assert counts(report, "assessments")["quarantined"] == 1
    assert (ledger("assessments", 7).action, ledger("assessments", 7).target_id) == (
        "quarantined",
        7,
    )
    assert Assessment.objects.filter(pk=7).exists()
    code, output = run_command("verify_import", "--source", str(cleaned))
    assert code == 0, output
    # Put right in the old app, and cleaned again: the row is back, into its own target row.
    legacy_sql(sample, "UPDATE assessments SET client_id = ? WHERE id = 7", (client,))
    again = tmp_path / "again.db"
    code, output = run_command("clean_legacy", "--source", str(sample), "--output", str(again))
    assert code == 0, output
    report = imported(again)
    assert (counts(report, "assessments")["updated"], report["totals"]["conflicts"]) == (1, 0)
    assert ledger("assessments", 7).action == "updated"
    code, output = run_command("verify_import", "--source", str(again))
    assert code == 0, output


@ROWS
def test_a_row_gone_from_the_file_and_back_is_imported_again(sample):
    session_gone_and_back(sample)
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 1 and "[verify.legacy-added] sessions: 1 row(s)" in output
    report = imported(sample)
    assert counts(report, "sessions")["updated"] == 1
    assert ledger("sessions", 4).action == "updated"
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


@ROWS
def test_a_twin_gone_from_the_file_leaves_no_entry_and_its_new_row_stays(sample):
    # A training_sessions row that is an exact twin of a sessions row is merged into it.
    legacy_sql(
        sample,
        "INSERT INTO training_sessions (client_id, trainer_id, package_id, session_date, "
        "session_time, session_duration, session_cost, status, notes, created_at, completed_at) "
        "SELECT client_id, trainer_id, package_id, session_date, session_time, "
        "session_duration, session_cost, status, notes, created_at, completed_at FROM sessions "
        "WHERE id = 1",
    )
    report = imported(sample)
    assert counts(report, "training_sessions")["merged"] == 1
    twin = LedgerEntry.objects.get(legacy_table="training_sessions", action="merged")
    legacy_sql(sample, "DELETE FROM training_sessions WHERE id = ?", (twin.legacy_id,))
    imported(sample)
    assert not LedgerEntry.objects.filter(pk=twin.pk).exists()
    assert Session.objects.filter(pk=twin.target_id).exists()
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


# --- dry run --------------------------------------------------------------


@COMMITS
@POSTGRESQL
def test_dry_run_reports_and_leaves_an_empty_database_as_it_was(sample):
    assert set(target_counts().values()) == {0}
    for model in TARGET_MODELS:
        set_sequence(model, 1, is_called=False)  # so that any move would show
    sequences = sequence_positions()

    code, out, err = run_import(sample, "--dry-run")

    assert code == 0, err
    assert out.splitlines()[0] == (
        f"Import of {sample}  [DRY RUN: rolled back, the database is unchanged]"
    )
    total = next(line for line in out.splitlines() if line.lstrip().startswith("total"))
    assert total.split()[1:3] == ["42", "42"]  # read, created: the real run, rolled back
    assert set(target_counts().values()) == {0}
    assert sequence_positions() == sequences
    assert "Id sequences" not in out


@COMMITS
@POSTGRESQL
def test_dry_run_after_an_import_changes_nothing(sample):
    imported(sample)
    legacy_sql(sample, "UPDATE clients SET weight = 99.9 WHERE id = 3")
    legacy_sql(
        sample,
        "INSERT INTO payments (id, client_id, package_id, amount, payment_method, "
        "payment_date, created_at, trainer_id) "
        "VALUES (5, 12, 5, 300000.0, '현금', '2025-03-22', '2025-03-22 02:00:00', 7)",
    )
    before, sequences, rows = target_counts(), sequence_positions(), snapshot()

    report = imported(sample, "--dry-run")

    assert report["dry_run"] is True
    assert counts(report, "clients")["updated"] == 1
    assert counts(report, "payments")["created"] == 1
    assert report["sequences"] == {}
    assert target_counts() == before
    assert sequence_positions() == sequences
    assert snapshot() == rows
    assert Client.objects.get(pk=3).weight == 78.2


# --- sequences ------------------------------------------------------------


@COMMITS
@POSTGRESQL
def test_an_import_moves_every_sequence_past_the_highest_id(sample):
    for model in TARGET_MODELS:
        set_sequence(model, 1, is_called=False)  # as on a new database
    report = imported(sample)
    for model in TARGET_MODELS:
        highest = max(model.objects.values_list("pk", flat=True), default=0)
        last_value, is_called = sequence_position(model)
        assert is_called and last_value >= highest, model._meta.label
        if highest:
            assert last_value == highest, model._meta.label  # the next id is highest + 1
        assert report["sequences"][model._meta.label] == last_value
    assert new_client().pk == 13
    assert Session.objects.create(
        client_id=3, trainer_id=1, package_id=1, session_date=date(2025, 4, 1),
        session_duration=60, session_cost=Decimal(60000),
    ).pk == 8  # fmt: skip


@COMMITS
@POSTGRESQL
def test_a_second_import_never_moves_a_sequence_back(sample):
    imported(sample)
    set_sequence(Client, 500)
    set_sequence(Payment, 40)
    report = imported(sample)
    assert sequence_position(Client) == (500, True)
    assert sequence_position(Payment) == (40, True)
    assert report["sequences"]["clients.Client"] == 500
    assert new_client().pk == 501
    # A sequence set but never used (is_called false) is not moved back either.
    set_sequence(Client, 900, is_called=False)
    imported(sample)
    assert new_client().pk == 900


# --- refusal --------------------------------------------------------------


@COMMITS
def test_a_file_with_a_blocking_finding_is_refused_and_nothing_written(tmp_path):
    unmodified = write_production_sample(output=tmp_path / "production.db").path
    before = sha256_of(unmodified)

    code, out, err = run_import(unmodified)

    assert code == 1
    assert out == ""
    assert "[trainers.duplicate-email]" in err
    assert "criminal, jaesun9090" in err
    assert "blocking issue(s)" in err and "clean_legacy" in err
    assert set(target_counts().values()) == {0}
    assert sha256_of(unmodified) == before


# --- one transaction per table --------------------------------------------

FROZEN_PAYMENTS = """
CREATE FUNCTION test_import_refuse_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'payments are frozen for the audit'; END $$;
CREATE TRIGGER test_import_refuse_payment BEFORE INSERT ON training_payment
FOR EACH ROW EXECUTE FUNCTION test_import_refuse_payment();
"""
THAWED_PAYMENTS = """
DROP TRIGGER IF EXISTS test_import_refuse_payment ON training_payment;
DROP FUNCTION IF EXISTS test_import_refuse_payment();
"""


@pytest.fixture
def frozen_payments():
    """The target refuses every new payment (a trigger), until thaw() is called."""

    def thaw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(THAWED_PAYMENTS)

    with connection.cursor() as cursor:
        cursor.execute(FROZEN_PAYMENTS)
    yield thaw
    thaw()


@COMMITS
@POSTGRESQL
def test_a_failing_table_rolls_back_alone_and_a_second_run_finishes(sample, frozen_payments):
    code, out, err = run_import(sample)

    assert code != 0
    assert out == ""
    message = err.removeprefix("CommandError: ")
    assert "\n" not in message.strip()
    assert message.startswith("import stopped: could not write payments rows 1, 2, 3, 4 ")
    assert "payments are frozen for the audit" in message
    assert "run import_legacy again" in message
    # The tables before it are committed ...
    assert User.objects.count() == 7
    assert Client.objects.count() == 10
    assert Assessment.objects.count() == 7
    assert SessionPackage.objects.count() == 5
    assert Session.objects.count() == 7
    # ... the failing one is empty, and nothing after it ran.
    assert Payment.objects.count() == 0
    done = set(LedgerEntry.objects.values_list("legacy_table", flat=True))
    assert done == {
        "trainers",
        "clients",
        "assessments",
        "session_packages",
        "sessions",
        "training_sessions",
    }
    assert LedgerEntry.objects.count() == 7 + 10 + 7 + 5 + 4 + 3
    run = ImportRun.objects.get()
    assert run.outcome == "failed"
    assert run.stopped_at_table == "payments"
    assert "payments are frozen for the audit" in run.error
    assert run.finished_at is None and run.report is None

    frozen_payments()
    report = imported(sample)

    assert {t: counts(report, t)["created"] for t in LEGACY_TABLES} == {
        **dict.fromkeys(LEGACY_TABLES, 0),
        "payments": 4,
        "payment_records": 2,
    }
    assert report["totals"]["unchanged"] == 36
    assert {model: model.objects.count() for model in TARGET_ROWS} == TARGET_ROWS
    assert LedgerEntry.objects.count() == 42
    assert {e.legacy_id: e.target_id for e in LedgerEntry.objects.filter(
        legacy_table="payment_records"
    )} == RENUMBERED["payment_records"]  # fmt: skip
    assert sorted(Payment.objects.values_list("pk", flat=True)) == [1, 2, 3, 4, 5, 6]
    runs = ImportRun.objects.order_by("started_at")
    assert [run.outcome for run in runs] == ["failed", "succeeded"]


@COMMITS
@POSTGRESQL
def test_an_old_table_goes_in_with_its_new_one_in_one_transaction(sample):
    # The target refuses payment_records' rows (numbered after the payments: 5 and 6) only.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_import_refuse_old() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.id > 4 THEN RAISE EXCEPTION 'no old payments'; END IF; "
            "RETURN NEW; END $$; "
            "CREATE TRIGGER test_import_refuse_old BEFORE INSERT ON training_payment "
            "FOR EACH ROW EXECUTE FUNCTION test_import_refuse_old()"
        )
    try:
        code, _, err = run_import(sample)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER test_import_refuse_old ON training_payment; "
                "DROP FUNCTION test_import_refuse_old()"
            )

    assert code != 0
    assert "could not write payment_records rows 1, 2 " in err
    # One target table, one transaction: the payments went back out with them.
    assert not Payment.objects.exists()
    assert not LedgerEntry.objects.filter(legacy_table__in=["payments", "payment_records"]).exists()
    assert Session.objects.count() == 7  # the target tables before it are committed
    assert ImportRun.objects.get().stopped_at_table == "payments"
    imported(sample)
    assert Payment.objects.count() == 6


def obstacle(model, pk: int):
    """A target row with a legacy id that no legacy file put there (its own trainer and client)."""
    trainer, _ = User.objects.get_or_create(
        id=900, defaults={"username": "frontdesk", "email": "desk@example.com"}
    )
    client, _ = Client.objects.get_or_create(
        id=900,
        defaults={"trainer": trainer, "name": "Walk-in", "age": 40, "gender": "male",
                  "height": 170, "weight": 70},
    )  # fmt: skip
    if model is SessionPackage:
        return SessionPackage.objects.create(
            id=pk, client=client, trainer=trainer, total_amount=Decimal(100000),
            session_price=Decimal(50000), total_sessions=2, remaining_credits=Decimal(0),
            remaining_sessions=2,
        )  # fmt: skip
    return Payment.objects.create(
        id=pk, client=client, trainer=trainer, amount=Decimal(50000), payment_date=date(2025, 1, 2)
    )


@COMMITS
def test_target_rows_holding_legacy_ids_are_found_before_anything_is_written(sample):
    package = obstacle(SessionPackage, 1)
    payment = obstacle(Payment, 2)

    code, out, err = run_import(sample)

    assert code == 1
    assert out == ""
    assert (
        "[import.id-taken] training.SessionPackage already has 1 row(s) of its own with ids "
        "that session_packages rows keep: 1" in err
    )
    assert "[import.id-taken] training.Payment already has 1 row(s) of its own" in err
    message = err.split("CommandError: ")[1]
    assert "\n" not in message.strip()
    assert message.startswith("the target already has rows of its own where legacy rows go; ")
    assert "import into a database without them" in message
    # Nothing written, not even a run: only the obstacles are there.
    assert not ImportRun.objects.exists() and not LedgerEntry.objects.exists()
    assert list(SessionPackage.objects.values_list("pk", flat=True)) == [package.pk]
    assert User.objects.count() == 1  # the obstacles' own trainer

    package.delete()
    payment.delete()
    report = imported(sample)
    assert counts(report, "session_packages")["created"] == 5
    assert {model: model.objects.count() for model in TARGET_ROWS} == {
        **TARGET_ROWS,
        User: 8,
        Client: 11,
    }


@COMMITS
def test_a_row_made_in_the_target_during_the_import_still_stops_its_table(sample, monkeypatch):
    # As if the app made it after the check before the import, while tables went in.
    monkeypatch.setattr(importer, "taken_ids", lambda *args: [])
    obstacle(SessionPackage, 2)

    with open_legacy(sample) as source, pytest.raises(ImportFailed) as stopped:
        import_legacy(source=source, using="default")

    assert (
        "training.SessionPackage already holds id(s) 2 that did not come from this legacy "
        "file: importing session_packages would overwrite them" in str(stopped.value)
    )
    run = ImportRun.objects.get()
    assert (run.outcome, run.stopped_at_table) == ("failed", "session_packages")
    assert Assessment.objects.count() == 7  # committed before it
    assert Session.objects.count() == 0


@COMMITS
@POSTGRESQL
def test_tables_a_failed_run_committed_have_their_sequences_advanced(sample, frozen_payments):
    for model in TARGET_MODELS:
        set_sequence(model, 1, is_called=False)  # as on a new database
    code, _, _ = run_import(sample)
    assert code != 0 and User.objects.count() == 7
    for model in (User, Client, Assessment, SessionPackage, Session):
        highest = max(model.objects.values_list("pk", flat=True))
        last_value, is_called = sequence_position(model)
        assert is_called and last_value >= highest, model._meta.label


# --- merged duplicates and quarantined rows -------------------------------


@ROWS
def test_an_old_row_twin_of_a_new_row_is_merged_into_it(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.training_session(
        ids["client"],
        ids["package"],
        ids["trainer"],
        session_date="2024-03-05",
        session_time="10:00:25.813560",
        session_cost=60000,
        status="completed",
        created_at=UTC_STAMP,
        completed_at=UTC_STAMP,
    )
    path = legacy_file.close()

    report = imported(path)

    assert Session.objects.count() == 1
    session = Session.objects.get()
    assert session.pk == ids["session"]
    merged = ledger("training_sessions", 1)
    assert (merged.action, merged.target_id, merged.target_model) == (
        "merged",
        session.pk,
        "training.Session",
    )
    assert merged.raw["session_cost"] == 60000 and merged.raw["id"] == 1
    assert counts(report, "training_sessions")["merged"] == 1
    assert counts(report, "training_sessions")["created"] == 0
    assert report["totals"]["merged"] == 1
    # Still one session, and still merged, on the next run.
    again = imported(path)
    assert Session.objects.count() == 1
    assert counts(again, "training_sessions")["unchanged"] == 1
    assert ledger("training_sessions", 1).action == "merged"


# A session both tables hold: in the new table as the app wrote it, in the old one
# as it was copied there (session_time and natural key the same, content too).
TWIN_SESSION = {
    "session_date": "2024-03-12",
    "session_time": "10:00:25.813560",
    "session_cost": 60000,
}


def sessions_in_target() -> tuple[int, Decimal]:
    """How many sessions the target holds, and what they cost together."""
    costs = list(Session.objects.values_list("session_cost", flat=True))
    return len(costs), sum(costs, Decimal(0))


@ROWS
@pytest.mark.parametrize("old_table_imported_before", [False, True])
def test_an_old_row_twin_of_an_imported_row_that_appears_between_imports_is_merged(
    legacy_file, old_table_imported_before
):
    ids = legacy_file.small_studio()
    legacy_file.session(ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION)
    if old_table_imported_before:  # the re-run then reconciles training_sessions
        legacy_file.training_session(ids["client"], ids["package"], ids["trainer"])
    imported(legacy_file.close())
    before = sessions_in_target()

    twin = legacy_file.reopen().training_session(
        ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION
    )
    again = imported(legacy_file.close())

    assert counts(again, "training_sessions")["merged"] == 1
    assert sessions_in_target() == before  # the session is counted once
    assert ledger("training_sessions", twin).target_id == ledger("sessions", 2).target_id
    assert run_command("verify_import", "--source", str(legacy_file.path))[0] == 0


@ROWS
def test_an_old_row_whose_twin_appears_in_the_new_table_is_merged_on_the_re_run(legacy_file):
    # Imported first as a row of its own; then the app's table gains the same
    # session. A first load of the file would merge them: so must the re-run.
    ids = legacy_file.small_studio()
    old = legacy_file.training_session(
        ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION
    )
    imported(legacy_file.close())
    own_row = ledger("training_sessions", old).target_id
    assert Session.objects.filter(pk=own_row).exists()

    new = legacy_file.reopen().session(
        ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION
    )
    again = imported(legacy_file.close())

    assert counts(again, "sessions")["created"] == 1
    assert counts(again, "training_sessions")["merged"] == 1
    merged = ledger("training_sessions", old)
    assert (merged.action, merged.target_id) == ("merged", ledger("sessions", new).target_id)
    assert not Session.objects.filter(pk=own_row).exists()
    assert sessions_in_target() == (2, Decimal(120000))  # sessions 1 and the twin, once
    assert run_command("verify_import", "--source", str(legacy_file.path))[0] == 0
    assert counts(imported(legacy_file.path), "training_sessions")["unchanged"] == 1


@ROWS
def test_a_merged_row_whose_twin_stops_being_one_gets_a_row_of_its_own_on_the_re_run(
    legacy_file,
):
    ids = legacy_file.small_studio()
    new = legacy_file.session(ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION)
    old = legacy_file.training_session(
        ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION
    )
    imported(legacy_file.close())
    assert ledger("training_sessions", old).action == "merged"

    # The app moves its session to another day: the old row is a session of its own.
    legacy_sql(
        legacy_file.path, "UPDATE sessions SET session_date = '2024-03-19' WHERE id = ?", (new,)
    )
    again = imported(legacy_file.path)

    assert counts(again, "training_sessions")["created"] == 1
    entry = ledger("training_sessions", old)
    assert entry.action == "created" and entry.target_id != ledger("sessions", new).target_id
    assert sessions_in_target() == (3, Decimal(180000))
    assert run_command("verify_import", "--source", str(legacy_file.path))[0] == 0


@ROWS
def test_a_row_of_its_own_edited_in_django_is_a_conflict_when_its_twin_appears(legacy_file):
    ids = legacy_file.small_studio()
    old = legacy_file.training_session(
        ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION
    )
    imported(legacy_file.close())
    own_row = ledger("training_sessions", old).target_id
    Session.objects.filter(pk=own_row).update(notes="moved to Friday")  # in the app
    legacy_file.reopen().session(ids["client"], ids["package"], ids["trainer"], **TWIN_SESSION)

    code, out, err = run_import(legacy_file.close(), "--format", "json")

    assert code == 1, err
    conflicts = by_table(json.loads(out))["training_sessions"]["conflicts"]
    assert [(c["legacy_id"], c["target_id"]) for c in conflicts] == [(old, own_row)]
    assert Session.objects.get(pk=own_row).notes == "moved to Friday"  # left as the app has it
    assert ledger("training_sessions", old).action == "created"
    # Keeping the edit would count the session twice: only the legacy side settles it.
    assert run_import(legacy_file.path, "--on-conflict", "keep-target")[0] == 1
    code, out, err = run_import(legacy_file.path, "--on-conflict", "take-legacy")
    assert code == 0, err
    assert not Session.objects.filter(pk=own_row).exists()
    twin = ledger(
        "sessions", max(e.legacy_id for e in LedgerEntry.objects.filter(legacy_table="sessions"))
    )
    assert (
        ledger("training_sessions", old).action,
        ledger("training_sessions", old).target_id,
    ) == (
        "merged",
        twin.target_id,
    )
    code, output = run_command("verify_import", "--source", str(legacy_file.path))
    assert code == 0, output


@ROWS
def test_a_quarantined_row_is_in_the_ledger_without_a_target(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.connection.executescript(TOOL_TABLES_SQL)
    quarantined = {
        "id": 99,
        "client_id": ids["client"],
        "package_id": 404,
        "session_date": "2024-03-12",
        "session_time": None,
        "session_duration": 60,
        "session_cost": 60000.0,
        "status": "completed",
        "notes": "패키지 없음",
        "created_at": "2024-03-01 09:00:00",
        "completed_at": None,
        "trainer_id": None,
    }
    legacy_file.insert(
        QUARANTINE_TABLE,
        source_table="sessions",
        source_id=99,
        reason="reference.dangling: package_id 404 does not exist",
        row_json=json.dumps(quarantined, ensure_ascii=False),
        quarantined_at="2025-03-20 01:00:00",
    )
    path = legacy_file.close()

    code, out, err = run_import(path)

    assert code == 0, err
    entry = ledger("sessions", 99)
    assert (entry.action, entry.target_id) == ("quarantined", None)
    assert entry.raw == quarantined
    assert not Session.objects.filter(pk=99).exists()
    assert Session.objects.count() == 1
    line = next(line.split() for line in out.splitlines() if line.lstrip().startswith("sessions"))
    # table, model, read, created, updated, unchanged, merged, quarantined, conflicts, ...
    assert line[2:9] == ["2", "1", "0", "0", "0", "1", "0"]
    assert ImportRun.objects.get().report["totals"]["quarantined"] == 1
    # A re-run keeps the one entry.
    assert counts(imported(path), "sessions")["quarantined"] == 1
    assert LedgerEntry.objects.filter(action="quarantined").count() == 1


# --- the report -----------------------------------------------------------


@ROWS
def test_text_report_lists_every_table_and_a_total(sample):
    code, out, _ = run_import(sample)
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("table"))
    assert header.split() == [
        "table",
        "target",
        "model",
        *COUNT_NAMES,
        "conflicts",
        "seconds",
        "rows/s",
    ]
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("  ")}
    for table in LEGACY_TABLES:
        read, created = rows[table][2:4]
        assert (int(read), int(created)) == (LEGACY_ROWS[table], LEGACY_ROWS[table]), table
        assert float(rows[table][9]) >= 0  # seconds
    assert rows["total"][1:8] == ["42", "42", "0", "0", "0", "0", "0"]


@ROWS
def test_json_report_totals_add_up(sample, tmp_path):
    imported(sample)
    # A re-run with every kind of outcome: created, updated, unchanged and a conflict.
    legacy_sql(
        sample,
        "INSERT INTO clients (id, trainer_id, name, age, gender, height, weight, "
        "created_at, updated_at) VALUES (13, 1, '새 회원', 30, '남성', 170.0, 70.0, "
        "'2025-03-20 01:00:00', '2025-03-20 01:00:00')",
    )
    legacy_sql(sample, "UPDATE clients SET age = 35 WHERE id = 3")
    legacy_sql(sample, "UPDATE clients SET age = 29 WHERE id = 4")
    Client.objects.filter(pk=4).update(phone="010-0000-0000")
    output = tmp_path / "report.json"

    code, out, err = run_import(sample, "--format", "json", "--output", str(output))

    assert code == 1, err  # the conflict
    assert out == ""
    report = json.loads(output.read_text(encoding="utf-8"))
    totals = report["totals"]
    assert (totals["created"], totals["updated"], totals["conflicts"]) == (1, 1, 1)
    assert totals["read"] == 43
    assert totals["read"] == accounted_for(totals, totals["conflicts"])
    for table in report["tables"]:
        assert table["read"] == accounted_for(table, len(table["conflicts"])), table["table"]
    for name in COUNT_NAMES:
        assert totals[name] == sum(table[name] for table in report["tables"])
    assert [t["table"] for t in report["tables"]] == list(LEGACY_TABLES)
    assert report["sha256"] == sha256_of(sample)


@ROWS
def test_output_writes_the_text_report_to_a_file(sample, tmp_path):
    output = tmp_path / "import.txt"
    code, out, _ = run_import(sample, "--output", str(output))
    assert code == 0
    assert out == ""
    written = output.read_text(encoding="utf-8")
    assert written.startswith(f"Import of {sample}\n")
    assert "  total" in written


@pytest.mark.django_db
def test_a_trainer_who_cannot_keep_the_password_is_reported(sample):
    legacy_sql(
        sample,
        "UPDATE trainers SET password_hash = 'sha256$salt$5e884898da28047151d0e56f8dc6' "
        "WHERE username = 'yuna.kang'",
    )
    code, out, _ = run_import(sample)
    assert code == 0
    assert "[trainers.unusable-password] 1 trainer(s)" in out
    assert "yuna.kang" in out
    assert "5e884898" not in out
    assert not User.objects.get(username="yuna.kang").has_usable_password()
    stored = ImportRun.objects.get().report
    assert [w["code"] for w in stored["warnings"]] == ["trainers.unusable-password"]


@ROWS
def test_login_state_is_imported_once_then_kept_by_the_new_app(sample):
    """A trainer who logs in to the new app is not a conflict when the legacy row moves on."""
    imported(sample)
    assert authenticate(username="criminal", password=SAMPLE_PASSWORDS["criminal"])
    upgraded = User.objects.get(username="criminal").password
    assert upgraded.startswith("pbkdf2_sha256$")
    legacy_sql(
        sample,
        "UPDATE trainers SET last_login = '2026-11-20 10:00:00.000001', "
        "failed_login_attempts = 3, name = 'Renamed Trainer' WHERE username = 'criminal'",
    )
    report = imported(sample)
    assert report["totals"]["conflicts"] == 0
    assert counts(report, "trainers")["updated"] == 1
    trainer = User.objects.get(username="criminal")
    assert trainer.name == "Renamed Trainer"  # synced
    assert trainer.password == upgraded  # the new app's, not the legacy hash again
    assert trainer.failed_login_attempts == 0


@ROWS
def test_a_username_is_imported_as_the_new_app_keeps_it_and_logs_in_as_typed(sample):
    legacy_sql(
        sample, "UPDATE trainers SET username = ? WHERE username = 'criminal'", ("\uff43riminal",)
    )
    imported(sample)
    trainer = User.objects.get(username="criminal")  # NFKC: the fullwidth c is a c
    form = AuthenticationForm(
        data={"username": "\uff43riminal", "password": SAMPLE_PASSWORDS["criminal"]}
    )
    assert form.is_valid(), form.errors
    assert form.get_user() == trainer
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


def set_legacy_password(path: Path, username: str, password_hash: str) -> None:
    legacy_sql(
        path, "UPDATE trainers SET password_hash = ? WHERE username = ?", (password_hash, username)
    )


@ROWS
def test_a_password_changed_in_the_old_app_reaches_a_trainer_who_never_logged_in(sample):
    imported(sample)
    set_legacy_password(sample, "criminal", bcrypt_of("changed in the old app"))
    report = imported(sample)
    assert (counts(report, "trainers")["updated"], report["totals"]["conflicts"]) == (1, 0)
    assert authenticate(username="criminal", password="changed in the old app")
    assert not authenticate(username="criminal", password=SAMPLE_PASSWORDS["criminal"])
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


@ROWS
def test_a_password_set_in_the_new_app_is_kept_when_the_old_one_changes(sample):
    imported(sample)
    assert authenticate(username="criminal", password=SAMPLE_PASSWORDS["criminal"])  # re-hashes
    reset = User.objects.get(username="jaesun9090")
    reset.set_password("reset in the new app")
    reset.save()
    disabled = User.objects.get(username="yuna.kang")
    disabled.set_unusable_password()
    disabled.save()
    kept = {user.pk: user.password for user in User.objects.all()}
    for username in ("criminal", "jaesun9090", "yuna.kang"):
        set_legacy_password(sample, username, bcrypt_of(f"{username} changed it"))
    report = imported(sample)
    assert counts(report, "trainers")["updated"] == 3
    assert {user.pk: user.password for user in User.objects.all()} == kept
    assert authenticate(username="criminal", password=SAMPLE_PASSWORDS["criminal"])
    assert not User.objects.get(username="yuna.kang").has_usable_password()
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output
    assert "4 of 7 trainers' passwords proved (4 bcrypt, 3 set in the app since)" in output


@ROWS
def test_an_unusable_password_the_import_made_is_renewed_by_a_usable_one(sample):
    set_legacy_password(sample, "yuna.kang", "sha256$salt$5e884898da28047151d0e56f8dc6")
    imported(sample)
    assert not User.objects.get(username="yuna.kang").has_usable_password()
    set_legacy_password(sample, "yuna.kang", bcrypt_of("fixed in the old app"))
    imported(sample)
    assert authenticate(username="yuna.kang", password="fixed in the old app")
    code, output = run_command("verify_import", "--source", str(sample))
    assert code == 0, output


def bcrypt_of(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@ROWS
def test_renumbered_new_rows_keep_their_ids_through_later_runs(sample):
    """A sessions row renumbered on one run holds its id; the next run steps around it."""
    imported(sample)  # sessions 1-4, training_sessions 1-3 -> 5-7
    add_session = (
        "INSERT INTO sessions (id, client_id, package_id, session_date, session_duration, "
        "session_cost, status, created_at, trainer_id) SELECT ?, client_id, package_id, "
        "'2025-06-0' || ?, 60, 60000.0, 'scheduled', '2025-06-01 01:00:00', trainer_id "
        "FROM sessions WHERE id = 1"
    )
    legacy_sql(sample, add_session, (5, 1))
    imported(sample)  # sessions 5 -> 8 (5 is a training_sessions row's)
    legacy_sql(sample, add_session, (8, 2))
    report = imported(sample)  # sessions 8 -> 9 (8 is sessions 5's)
    assert counts(report, "sessions")["created"] == 1
    assert ledger("sessions", 5).target_id == 8
    assert ledger("sessions", 8).target_id == 9
    assert Session.objects.count() == 9


@ROWS
def test_two_identical_old_rows_are_not_both_merged_into_one_twin(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT_SAMPLE,))
    twin = {"session_date": "2024-03-05", "session_time": None, "completed_at": None}
    legacy_file.execute("UPDATE sessions SET session_time = NULL, completed_at = NULL")
    for _ in range(2):
        legacy_file.training_session(ids["client"], ids["package"], ids["trainer"], **twin)
    path = legacy_file.close()
    report = imported(path)
    assert (counts(report, "training_sessions")["merged"], Session.objects.count()) == (1, 2)
    assert run_command("verify_import", "--source", str(path))[0] == 0


@ROWS
def test_a_nul_in_a_column_no_converter_reads_is_kept_in_the_ledger(legacy_file):
    legacy_file.small_studio()
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT_SAMPLE,))
    legacy_file.execute("ALTER TABLE clients ADD COLUMN instagram TEXT")
    legacy_file.execute("UPDATE clients SET instagram = 'kim' || char(0) || 'fit'")
    path = legacy_file.close()
    imported(path)
    raw = LedgerEntry.objects.get(legacy_table="clients").raw
    assert base64.b64decode(raw["instagram"]["$text-bytes"]) == b"kim\x00fit"


@ROWS
def test_a_reference_to_a_row_never_imported_stops_the_table_by_name(legacy_file, monkeypatch):
    # Precheck blocks such a file; the importer still refuses to guess if it gets one.
    ids = legacy_file.small_studio()
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT_SAMPLE,))
    legacy_file.insert(
        "fee_audit_log", package_id=ids["package"], payment_id=99, calculation_type="migration",
        gross_amount=300000, vat_amount=27273, card_fee_amount=10500, net_amount=262227,
        vat_rate=0.1, card_fee_rate=0.035, created_at=UTC_STAMP,
    )  # fmt: skip
    path = legacy_file.close()
    real_precheck = importer.run_precheck

    def no_blocking(source, **options):
        return dataclasses.replace(real_precheck(source, **options), findings=())

    monkeypatch.setattr(importer, "run_precheck", no_blocking)
    with open_legacy(path) as source, pytest.raises(ImportFailed, match="fee_audit_log rows 1"):
        import_legacy(source=source, using="default")
    assert FeeAuditLog.objects.count() == 0


# --- one import at a time -------------------------------------------------


@pytest.fixture
def import_running_elsewhere():
    """Another session holds the import lock, as a running import_legacy would."""
    import psycopg

    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    )  # fmt: skip
    other.execute("SELECT pg_advisory_lock(%s)", [IMPORT_LOCK])
    yield other
    other.close()


@ROWS
@POSTGRESQL
def test_a_second_import_refuses_at_once_naming_the_running_one(sample, import_running_elsewhere):
    running = ImportRun.objects.create(
        source_path="/srv/studio/legacy.db", source_sha256="0" * 64, started_at=datetime.now(UTC)
    )
    code, out, err = run_import(sample)

    assert code == 1
    assert out == ""
    message = err.removeprefix("CommandError: ").strip()
    assert message.startswith("another import_legacy is running into this database (run ")
    assert str(running.pk) in message and "/srv/studio/legacy.db" in message
    assert "wait for it to finish" in message
    assert ImportRun.objects.count() == 1  # no run of its own: it never started
    assert not LedgerEntry.objects.exists() and not User.objects.exists()

    # The first import ends. (Its connection's closing would free the lock too,
    # but the server may take a moment to notice.)
    import_running_elsewhere.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK])
    assert run_import(sample)[0] == 0
    assert User.objects.count() == 7


def lock_is_free() -> bool:
    """Whether another session could take the import lock now."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    ) as other:  # fmt: skip
        return other.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK]).fetchone()[0]


@COMMITS
@POSTGRESQL
def test_an_import_lets_go_of_the_lock_when_it_ends_even_when_it_fails(sample, frozen_payments):
    assert run_import(sample)[0] != 0  # payments refused: the import failed
    assert lock_is_free()
    frozen_payments()
    assert run_import(sample)[0] == 0
    assert lock_is_free()


# --- a legacy file written to while it is read -----------------------------


@COMMITS
def test_a_file_written_to_during_the_import_stops_the_table_it_was_in(sample):
    def the_old_app_writes(table: str, done: int, total: int) -> None:
        if table == "sessions" and done == 0:
            with closing(sqlite3.connect(sample)) as app:
                app.execute("UPDATE clients SET phone = '010-0000-0000' WHERE id = 3")
                app.commit()

    with open_legacy(sample) as source, pytest.raises(ImportFailed) as stopped:
        import_legacy(source=source, using="default", progress=the_old_app_writes)

    assert str(stopped.value).startswith(
        "sessions: the legacy file was written to while it was read (is the old app still running?)"
    )
    assert SessionPackage.objects.count() == 5  # the tables before it are committed
    assert not Session.objects.exists()
    assert not LedgerEntry.objects.filter(legacy_table="sessions").exists()
    assert ImportRun.objects.get().outcome == "failed"
    # Once the app has stopped, the next run reads the file as it now is.
    assert run_import(sample)[0] == 0
    assert Client.objects.get(pk=3).phone == "010-0000-0000"


@COMMITS
@POSTGRESQL
def test_an_import_leaves_the_planner_statistics_of_what_it_loaded(sample):
    imported(sample)
    with connection.cursor() as cursor:
        # Every table: the target's analyzed beside the ledger's check, then the ledger.
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN "
            "('accounts_user', 'clients_client', 'assessments_assessment', "
            "'training_sessionpackage', 'training_session', 'training_payment', "
            "'migration_ledgerentry')"
        )
        assert dict(cursor.fetchall()) == {
            "accounts_user": 7,
            "clients_client": 10,
            "assessments_assessment": 7,
            "training_sessionpackage": 5,
            "training_session": 7,
            "training_payment": 6,
            "migration_ledgerentry": 42,
        }
