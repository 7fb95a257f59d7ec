"""verify_import proves the import, and notices every way the two sides can part."""

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F, Max
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.findings import CATALOGUE
from migration.legacy import LegacyFileError, open_legacy
from migration.load.reconcile import Reconcile
from migration.mapping.canonical import target_fingerprint
from migration.mapping.layout import LegacyLayout
from migration.mapping.passwords import imports_unusable_password
from migration.mapping.specs import SPECS, target_models
from migration.models import LedgerEntry
from migration.postgres import advance_sequences
from migration.verify import parts as verify_parts
from migration.verify.parts import Part, TableParts, pays_to_fork
from migration.verify.target_rows import TargetTable, _timestamps_read_in_c
from migration.verify.walk import EVERY_ID, IdRange, TableWalker
from samples.files import write_production_sample
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import legacy_sql, write_importable_chain, write_importable_sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("legacy_db", "write_path")]


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """The production sample, its shared e-mail fixed by hand, imported."""
    path = write_importable_sample(tmp_path / "legacy.db")
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output
    return path


def verify(path: Path, *options: str) -> tuple[int, dict]:
    code, output = run_command("verify_import", "--source", str(path), "--format", "json", *options)
    return code, json.loads(output.split("\nCommandError: ")[0])


def codes(report: dict) -> list[str]:
    return [item["code"] for check in report["checks"] for item in check["findings"]]


def failing_checks(report: dict) -> list[str]:
    return [check["name"] for check in report["checks"] if not check["passed"]]


def findings_with(report: dict, code: str) -> list[dict]:
    return [
        item for check in report["checks"] for item in check["findings"] if item["code"] == code
    ]


def test_a_fresh_import_verifies(imported):
    code, report = verify(imported)
    assert code == 0
    assert report["passed"] is True
    assert failing_checks(report) == []
    assert codes(report) == []
    every_field = next(c for c in report["checks"] if c["name"] == "every field")
    assert every_field["summary"].startswith("42 imported row(s) compared")


def test_the_text_report_reads_check_by_check(imported):
    code, output = run_command("verify_import", "--source", str(imported))
    assert code == 0
    assert "ok   row balance: trainers 7 = 7 created" in output
    assert "Result: the target matches the legacy file." in output


def test_nothing_imported_fails(tmp_path):
    path = tmp_path / "legacy.db"
    write_production_sample(output=path)
    code, report = verify(path)
    assert code == 1
    assert codes(report) == ["verify.not-imported"]


def test_a_changed_amount_in_the_target_fails_the_money_total(imported):
    Payment.objects.filter(pk=3).update(amount=310000)
    code, report = verify(imported)
    assert code == 1
    assert failing_checks(report) == ["money totals"]
    assert "verify.money-total" in codes(report)
    assert "verify.drift" in codes(report)


def test_old_payments_of_a_file_not_cleaned_get_the_fee_rule_s_breakdown(imported):
    # payment_records never had fee columns: the import computes each breakdown.
    old = LedgerEntry.objects.filter(legacy_table="payment_records").values("target_id")
    breakdowns = Payment.objects.filter(pk__in=old).values_list(
        "amount", "vat_amount", "card_fee_amount", "net_amount", "card_fee_rate"
    )
    assert sorted(breakdowns) == [
        (300000, 27273, 10500, 262227, Decimal("0.035")),
        (600000, 54545, 21000, 524455, Decimal("0.035")),
    ]
    code, report = verify(imported)
    assert code == 0
    fees = next(c for c in report["checks"] if c["name"] == "fee breakdowns")
    assert fees["summary"] == "training.SessionPackage 5; training.Payment 6 checked"


def test_a_breakdown_edited_to_disagree_with_the_fee_rule_fails(imported):
    # Edited through the ORM, as the admin would: one no longer adds up, one adds up
    # but is not the rule's.
    payment = Payment.objects.get(pk=1)
    payment.net_amount += 1
    payment.save()
    package = SessionPackage.objects.get(pk=2)
    package.vat_amount += 1
    package.net_amount -= 1
    package.save()
    code, report = verify(imported)
    assert code == 1
    assert "fee breakdowns" in failing_checks(report)
    found = {
        item["table"]: (item["row_ids"], item["summary"])
        for item in findings_with(report, "verify.fee-breakdown")
    }
    assert found == {
        "training.Payment": ([1], "training.Payment: 1 fee breakdown(s) not the fee rule's "
                                  "(gross ≠ VAT + card fee + net)"),
        "training.SessionPackage": ([2], "training.SessionPackage: 1 fee breakdown(s) not the "
                                         "fee rule's (not the fee rule's breakdown of its gross)"),
    }  # fmt: skip


@pytest.fixture
def cleaned(tmp_path: Path) -> Path:
    """The production sample cleaned, and imported: every breakdown with its audit row."""
    path = tmp_path / "cleaned.db"
    source = write_production_sample(output=tmp_path / "legacy.db").path
    code, output = run_command("clean_legacy", "--source", str(source), "--output", str(path))
    assert code == 0, output
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output
    return path


def test_every_breakdown_of_a_cleaned_file_is_its_latest_audit_row(cleaned):
    code, report = verify(cleaned, "--strict")
    assert code == 0, report  # nor are the audit rows' details drift, as jsonb orders them
    audits = next(c for c in report["checks"] if c["name"] == "fee audit rows")
    assert audits["summary"] == (
        "training.SessionPackage 5 audited, 0 without an audit row; "
        "training.Payment 6 audited, 0 without an audit row"
    )


def test_a_breakdown_unlike_its_latest_audit_row_fails(cleaned):
    # The latest audit row of a new payment, of an old one (named in its details)
    # and of a package, each edited to record another breakdown.
    old_payment = LedgerEntry.objects.get(legacy_table="payment_records", legacy_id=2).target_id
    latest = [
        FeeAuditLog.objects.filter(payment_id=3).latest("pk"),
        FeeAuditLog.objects.filter(calculation_details__payment_record_id=2).latest("pk"),
        FeeAuditLog.objects.filter(package_id=4).latest("pk"),
    ]
    for audit in latest:
        FeeAuditLog.objects.create(
            **{f.attname: getattr(audit, f.attname) for f in FeeAuditLog._meta.concrete_fields}
            | {"id": None, "vat_amount": audit.vat_amount + 1, "net_amount": audit.net_amount - 1}
        )
    code, report = verify(cleaned)
    assert code == 0  # added rows are not drift: the file may hold them so
    found = {
        item["table"]: item["row_ids"]
        for item in findings_with(report, "verify.fee-audit-disagrees")
    }
    assert found == {"training.Payment": sorted([3, old_payment]), "training.SessionPackage": [4]}
    assert verify(cleaned, "--strict")[0] == 1


def test_a_row_an_import_found_gone_from_the_file_is_listed_not_failed(imported):
    legacy_sql(imported, "DELETE FROM sessions WHERE id = 4")
    assert verify(imported)[0] == 1  # deleted since the import: the delta to import
    assert run_command("import_legacy", "--source", str(imported))[0] == 0
    code, report = verify(imported)
    assert code == 0, report
    assert [
        (item["table"], item["row_ids"]) for item in findings_with(report, "verify.legacy-gone")
    ] == [("sessions", [4])]
    assert Session.objects.filter(pk=4).exists()


def test_a_row_kept_after_its_legacy_row_left_the_file_is_held_to_the_app_and_counted(imported):
    legacy_sql(imported, "DELETE FROM clients WHERE id = 7")  # a client with no rows of its own
    assert run_command("import_legacy", "--source", str(imported))[0] == 0  # recorded gone
    Client.objects.filter(pk=7).update(email="not an address")
    code, report = verify(imported)
    assert code == 1
    (item,) = findings_with(report, "verify.invalid-in-app")
    assert (item["table"], item["column"], item["row_ids"]) == ("clients.Client", "email", [7])
    assert "verify.target-extra" not in codes(report)  # it came from the file


def test_a_deleted_target_row_is_missing(imported):
    Session.objects.filter(pk=2).delete()
    code, report = verify(imported)
    assert code == 1
    missing = findings_with(report, "verify.target-missing")
    assert [(item["table"], item["row_ids"]) for item in missing] == [("sessions", [2])]


def test_a_value_the_importer_got_wrong_is_a_field_mismatch(imported):
    # Simulate an importer bug: a wrong value written, and fingerprinted as if intended.
    client = Client.objects.get(pk=3)
    client.age += 1
    client.save()
    values = Client.objects.filter(pk=3).values(
        "trainer_id",
        "name",
        "age",
        "gender",
        "height",
        "weight",
        "email",
        "phone",
        "created_at",
        "updated_at",
    )[0]
    LedgerEntry.objects.filter(legacy_table="clients", legacy_id=3).update(
        target_hash=target_fingerprint(values)
    )
    code, report = verify(imported)
    assert code == 1
    mismatch = findings_with(report, "verify.field-mismatch")[0]
    assert mismatch["row_ids"] == [3]
    assert mismatch["details"]["differences"][0]["field"] == "age"


def test_legacy_rows_added_changed_and_deleted_since_the_import(imported):
    legacy_sql(imported, "UPDATE payments SET amount = 350000.0 WHERE id = 4")
    legacy_sql(imported, "DELETE FROM sessions WHERE id = 4")
    legacy_sql(
        imported,
        "INSERT INTO training_sessions (client_id, trainer_id, package_id, session_date, "
        "session_duration, session_cost, status, created_at) "
        "SELECT client_id, trainer_id, package_id, '2024-01-09', 60, 60000, 'completed', "
        "'2024-01-09 01:00:00' FROM training_sessions WHERE id = 1",
    )
    code, report = verify(imported)
    assert code == 1
    found = {
        item["code"]: (item["table"], item["row_ids"])
        for check in report["checks"]
        for item in check["findings"]
        if item["code"].startswith("verify.legacy-")
    }
    assert found == {
        "verify.legacy-changed": ("payments", [4]),
        "verify.legacy-deleted": ("sessions", [4]),
        "verify.legacy-added": ("training_sessions", [4]),
    }
    assert "verify.row-balance" in codes(report)


def test_the_delta_is_gone_after_importing_again(imported):
    legacy_sql(imported, "UPDATE payments SET description = '추가 결제' WHERE id = 4")
    assert verify(imported)[0] == 1
    assert run_command("import_legacy", "--source", str(imported))[0] == 0
    code, report = verify(imported)
    assert (code, codes(report)) == (0, [])


def test_edits_in_django_are_drift_a_failure_only_when_strict(imported):
    Client.objects.filter(pk=4).update(name="새 이름")
    code, report = verify(imported)
    assert code == 0
    assert codes(report) == ["verify.drift"]
    code, report = verify(imported, "--strict")
    assert code == 1
    assert failing_checks(report) == ["edits since the import"]


def test_rows_created_in_django_are_reported_not_failed(imported):
    Client.objects.create(
        trainer_id=1, name="New", age=30, gender="male", height=170.0, weight=70.0
    )
    code, report = verify(imported)
    assert code == 0
    assert codes(report) == ["verify.target-extra"]


def test_a_lost_password_fails(imported):
    # As if the import had found no hash it knows (an admin's unusable one is the app's).
    criminal = User.objects.get(username="criminal")
    User.objects.filter(pk=criminal.pk).update(password=imports_unusable_password(criminal.pk))
    code, report = verify(imported)
    assert code == 1
    assert "verify.password-not-carried" in codes(report)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_sequence_behind_the_highest_id_fails(imported):
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('clients_client', 'id'), 1)")
    code, report = verify(imported)
    assert code == 1
    assert "verify.sequence-behind" in codes(report)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_sequence_with_no_id_left_fails(imported):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('clients_client', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT last_value FROM " + sequence)
        (before,) = cursor.fetchone()
        cursor.execute("SELECT setval(%s, 9223372036854775807)", [sequence])
        try:
            code, report = verify(imported)
        finally:  # a sequence outlives the test's rows: the next import would find it full
            cursor.execute("SELECT setval(%s, %s)", [sequence, before])
    assert code == 1
    assert "verify.sequence-full" in codes(report)


def test_a_dangling_reference_fails(imported):
    # Only a database without enforced foreign keys lets this happen; simulate it.
    # Only a database without enforced foreign keys lets this happen; PostgreSQL's
    # are deferred to commit, which lets the test look before putting it back.
    package_id = Session.objects.get(pk=1).package_id
    with connection.constraint_checks_disabled():
        Session.objects.filter(pk=1).update(package_id=999)
    code, report = verify(imported)
    Session.objects.filter(pk=1).update(package_id=package_id)
    assert code == 1
    assert "verify.dangling-reference" in codes(report)


def test_the_report_can_go_to_a_file(imported, tmp_path):
    report_path = tmp_path / "verify.json"
    code, output = run_command(
        "verify_import", "--source", str(imported), "--format", "json", "--output", str(report_path)
    )
    assert (code, output) == (0, "")
    assert json.loads(report_path.read_text(encoding="utf-8"))["passed"] is True


def test_an_address_shared_but_for_spaces_fails(imported):
    # The target's constraint ignores case only; verify ignores spaces too, as precheck does.
    User.objects.filter(username="jaesun9090").update(email=" jaesun.kim@gmail.com ")
    code, report = verify(imported)
    assert code == 1
    assert "verify.duplicate-email" in codes(report)


def test_a_row_the_app_would_refuse_to_save_fails(imported):
    # The database takes a username with a space; the app's forms and admin do not.
    User.objects.filter(username="criminal").update(username="kim minji")
    code, report = verify(imported)
    assert code == 1
    (item,) = findings_with(report, "verify.invalid-in-app")
    assert (item["table"], item["column"]) == ("accounts.User", "username")
    assert item["row_ids"] == list(
        User.objects.filter(username="kim minji").values_list("pk", flat=True)
    )
    assert "valid in the app" in failing_checks(report)


def test_every_verify_code_is_tested_here():
    source = Path(__file__).read_text(encoding="utf-8")
    codes_ = [code for code in CATALOGUE if code.startswith("verify.")]
    assert [code for code in codes_ if f'"{code}"' not in source] == []


def test_a_legacy_row_changed_into_an_unreadable_value_is_changed_not_a_crash(imported):
    legacy_sql(imported, "UPDATE sessions SET status = 'done' WHERE id = 3")
    code, report = verify(imported)
    assert code == 1
    changed = findings_with(report, "verify.legacy-changed")
    assert [(item["table"], item["row_ids"]) for item in changed] == [("sessions", [3])]


def test_a_merge_the_legacy_file_does_not_bear_out_fails(imported):
    # The ledger says training_sessions 1 was merged into session 1; the file says
    # it is no twin of anything. The row would be missing from the target.
    LedgerEntry.objects.filter(legacy_table="training_sessions", legacy_id=1).update(
        action=LedgerEntry.Action.MERGED, target_id=1
    )
    Session.objects.filter(pk=5).delete()
    code, report = verify(imported)
    assert code == 1
    merge = findings_with(report, "verify.merge-unfounded")
    assert [(item["table"], item["row_ids"]) for item in merge] == [("training_sessions", [1])]


def test_a_twin_imported_as_a_row_of_its_own_fails(legacy_file, monkeypatch):
    # A re-run that leaves an old row where the first run put it, as re-runs once
    # did: a row of its own, though its twin has since appeared in the new table.
    ids = legacy_file.small_studio()
    twin = {"session_date": "2024-03-12", "session_time": "10:00:25.813560"}
    old = legacy_file.training_session(ids["client"], ids["package"], ids["trainer"], **twin)
    assert run_command("import_legacy", "--source", str(legacy_file.close()))[0] == 0
    legacy_file.reopen().session(ids["client"], ids["package"], ids["trainer"], **twin)
    monkeypatch.setattr(Reconcile, "_misplaced", lambda self, rows, ledger: (set(), set()))
    assert run_command("import_legacy", "--source", str(legacy_file.close()))[0] == 0

    code, report = verify(legacy_file.path)

    assert code == 1
    assert codes(report) == ["verify.twin-not-merged"]
    (found,) = findings_with(report, "verify.twin-not-merged")
    assert (found["table"], found["row_ids"]) == ("training_sessions", [old])


# --- how verify reads a chain's million rows: each way must find what the plain way finds ---


def test_a_required_column_gone_from_the_file_makes_its_rows_changed_not_a_crash(imported):
    # The importer's reader refuses such a table outright (MissingColumn): every
    # row of it is then known by its hash alone, which differs from the import's.
    legacy_sql(imported, "ALTER TABLE clients DROP COLUMN age")
    code, report = verify(imported)
    assert code == 1
    changed = findings_with(report, "verify.legacy-changed")
    assert [(item["table"], item["row_count"]) for item in changed] == [
        ("clients", Client.objects.count())
    ]


def test_every_differing_field_of_a_row_is_named_in_the_specs_order(imported):
    client = Client.objects.get(pk=3)
    client.name += " 2"
    client.age += 1
    client.save()
    LedgerEntry.objects.filter(legacy_table="clients", legacy_id=3).update(
        target_hash=target_fingerprint(
            Client.objects.filter(pk=3).values(*SPECS["clients"].synced_fields)[0]
        )
    )
    code, report = verify(imported)
    mismatch = findings_with(report, "verify.field-mismatch")[0]
    assert [d["field"] for d in mismatch["details"]["differences"]] == ["name", "age"]


def test_a_reference_to_a_renumbered_row_is_compared_by_its_target_id(tmp_path):
    path = write_importable_sample(tmp_path / "legacy.db")
    legacy_sql(
        path,
        "INSERT INTO fee_audit_log (id, package_id, payment_id, calculation_type, "
        "gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, card_fee_rate, "
        "calculation_details, created_by, created_at) SELECT 1, package_id, id, 'payment', "
        "amount, 0, 0, amount, 0, 0, '{}', NULL, '2024-01-09 01:00:00' FROM payments WHERE id = 2",
    )
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    # As an import would leave a payment whose legacy id was taken: under another id,
    # the ledger saying which, and the fee log's fingerprint over the new id.
    new_id = Payment.objects.aggregate(top=Max("pk"))["top"] + 1
    Payment.objects.filter(pk=2).update(id=new_id)
    FeeAuditLog.objects.filter(pk=1).update(payment_id=new_id)
    advance_sequences("default", target_models())
    LedgerEntry.objects.filter(legacy_table="payments", legacy_id=2).update(target_id=new_id)
    fields = SPECS["fee_audit_log"].synced_fields
    LedgerEntry.objects.filter(legacy_table="fee_audit_log", legacy_id=1).update(
        target_hash=target_fingerprint(FeeAuditLog.objects.filter(pk=1).values(*fields)[0])
    )
    code, report = verify(path)
    # The file's own audit row records no VAT: a warning, of the payment's new id.
    assert (code, codes(report)) == (0, ["verify.fee-audit-disagrees"] * 2)
    assert findings_with(report, "verify.fee-audit-disagrees")[1]["row_ids"] == [new_id]
    every_field = next(c for c in report["checks"] if c["name"] == "every field")
    assert every_field["summary"].startswith("43 imported row(s) compared")


def test_the_ledgers_copy_of_each_row_is_never_read(imported):
    # The copy is most of the ledger's bytes: the walk reads what it joins on, no more.
    with CaptureQueriesContext(connection) as queries:
        assert verify(imported)[0] == 0
    raw_column = f'"{LedgerEntry._meta.db_table}"."raw"'
    assert [q["sql"] for q in queries.captured_queries if raw_column in q["sql"]] == []


@pytest.mark.parametrize("ids", [[1, 2, 4], [1, 4, 10**9], [5, 3, 1]])
def test_target_rows_are_found_whether_their_ids_run_close_or_far_apart(imported, ids):
    rows = TargetTable(SPECS["sessions"], "default").rows([*ids, None])
    wanted = set(Session.objects.filter(pk__in=ids).values_list("pk", flat=True))
    assert wanted <= set(rows)
    assert None not in rows and 10**9 not in rows
    fields = SPECS["sessions"].synced_fields
    for pk in wanted:
        assert rows[pk] == Session.objects.filter(pk=pk).values_list(*fields)[0]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_timestamps_read_in_c_are_the_values_django_reads(imported):
    import psycopg

    fields = ("created_at", "completed_at")
    by_django = list(Session.objects.order_by("pk").values_list(*fields))
    oid = psycopg.postgres.types["timestamptz"].oid
    with _timestamps_read_in_c("default"), connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        loader = cursor.cursor.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
        in_c = list(Session.objects.order_by("pk").values_list(*fields))
    assert loader is psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
    assert in_c == by_django
    assert [str(value) for row in in_c for value in row] == [
        str(value) for row in by_django for value in row
    ]


@pytest.mark.django_db(transaction=True)  # worker processes see only what is committed
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_walking_ranges_of_ids_in_worker_processes_finds_what_one_walk_finds(tmp_path, monkeypatch):
    path = write_importable_sample(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    # Something of every kind the walk finds, on both sides of a split.
    legacy_sql(path, "UPDATE clients SET phone = '010-0000-0000' WHERE id = 10")
    legacy_sql(path, "DELETE FROM assessments WHERE id = 2")
    Assessment.objects.filter(pk=6).delete()
    Client.objects.filter(pk=4).update(name="새 이름")
    for pk in (3, 9):
        Client.objects.filter(pk=pk).update(age=F("age") + 1)
        LedgerEntry.objects.filter(legacy_table="clients", legacy_id=pk).update(
            target_hash=target_fingerprint(
                Client.objects.filter(pk=pk).values(*SPECS["clients"].synced_fields)[0]
            )
        )
    monkeypatch.setattr("migration.verify.parts.PART_ROWS", 2)
    monkeypatch.setattr("migration.verify.parts._worker_count", lambda using: 1)
    in_one_process = verify(path)
    pools = []
    # Eight workers: a share of the sample's 42 rows small enough to split its larger tables.
    monkeypatch.setattr("migration.verify.parts._worker_count", lambda using: 8)
    monkeypatch.setattr(
        "migration.verify.parts._walks_in_workers",
        lambda *args, walk=verify_parts._walks_in_workers: pools.append(args) or walk(*args),
    )
    in_workers = verify(path)
    assert in_workers == in_one_process
    found = {
        item["code"]: (item["table"], item["row_ids"])
        for check in in_one_process[1]["checks"]
        for item in check["findings"]
    }
    assert found == {
        "verify.legacy-changed": ("clients", [10]),
        "verify.legacy-deleted": ("assessments", [2]),
        "verify.row-balance": ("assessments", []),
        "verify.target-missing": ("assessments", [6]),
        "verify.field-mismatch": ("clients", [3, 9]),
        "verify.drift": ("clients", [4]),
    }
    ((_, parts, _),) = pools
    assert [part.ids for part in parts if part.spec.table == "clients"] == [
        IdRange(None, 8, (3, 7)),  # ids 3 to 12; the ledger's below 8 too
        IdRange(8, None, (8, 12)),
    ]
    assert {part.spec.table for part in parts if part.ids != EVERY_ID} == {
        "trainers",
        "clients",
        "assessments",
    }


@pytest.mark.django_db(transaction=True)  # worker processes see only what is committed
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_queries_beside_the_walks_workers_run_without_parallel_workers(tmp_path, monkeypatch):
    # The workers keep every core busy: PostgreSQL's own parallel workers would
    # only add their cost to the checks this process runs meanwhile.
    path = write_importable_sample(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    monkeypatch.setattr("migration.verify.parts.PART_ROWS", 2)

    def parallel_workers() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            return cursor.fetchone()[0]

    before = parallel_workers()
    assert before != "0"
    seen = {}
    with open_legacy(path) as source:
        layout = LegacyLayout.read(source)
        for workers in (2, 1):
            monkeypatch.setattr("migration.verify.parts._worker_count", lambda using, n=workers: n)
            with verify_parts.walking_tables(source, layout, "default", list(SPECS.values())):
                seen[workers] = parallel_workers()
            assert parallel_workers() == before
    assert seen == {2: "0", 1: before}  # in one process, the walk is this connection's own


def test_only_a_table_whose_ids_are_its_rowids_is_split(tmp_path, monkeypatch):
    path = write_importable_sample(tmp_path / "legacy.db")
    legacy_sql(path, "DELETE FROM assessments WHERE id = 1")
    legacy_sql(path, "CREATE TABLE copied AS SELECT * FROM assessments")
    legacy_sql(path, "DROP TABLE assessments")
    legacy_sql(path, "ALTER TABLE copied RENAME TO assessments")  # ids 2 to 7, rowids 1 to 6
    monkeypatch.setattr("migration.verify.parts.PART_ROWS", 2)
    with open_legacy(path) as source:
        tables = TableParts(source, LegacyLayout.read(source))
        assert tables.id_ranges(SPECS["clients"], 10, 2) == [
            IdRange(None, 8, (3, 7)),
            IdRange(8, None, (8, 12)),
        ]
        assert tables.id_ranges(SPECS["assessments"], 6, 2) == [EVERY_ID]


def test_tables_of_about_one_size_are_walked_side_by_side_though_none_is_split():
    # An old table as large as its new one: each under a worker's share, so
    # neither is split, and the walk must still use both cores.
    old_half = [
        Part(SPECS["sessions"], EVERY_ID, 500_000),
        Part(SPECS["training_sessions"], EVERY_ID, 500_000),
        Part(SPECS["payments"], EVERY_ID, 40_000),
    ]
    assert pays_to_fork(old_half, workers=2)
    assert not pays_to_fork(old_half, workers=1)
    assert not pays_to_fork(old_half[:1], workers=2)  # one part: nothing to share
    studio = [Part(SPECS["sessions"], EVERY_ID, 30), Part(SPECS["clients"], EVERY_ID, 12)]
    assert not pays_to_fork(studio, workers=2)  # forking costs more than it saves


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_file_that_fails_in_a_worker_process_stops_verify_as_unreadable(tmp_path, monkeypatch):
    path = write_importable_sample(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    walk = TableWalker.walk  # the worker processes are forked: patched too

    def damaged_clients(walker, spec, ids=EVERY_ID):
        if spec.table == "clients" and ids.low is not None:
            raise LegacyFileError(
                f"{path}: reading clients failed (database disk image is malformed)"
            )
        return walk(walker, spec, ids)

    monkeypatch.setattr("migration.verify.walk.TableWalker.walk", damaged_clients)
    monkeypatch.setattr("migration.verify.parts.PART_ROWS", 2)
    monkeypatch.setattr("migration.verify.parts._worker_count", lambda using: 8)
    code, output = run_command("verify_import", "--source", str(path))
    assert code == 2
    assert "reading clients failed" in output


def test_verify_inside_a_transaction_walks_in_its_own_process():
    # Worker processes would see none of the transaction's rows.
    assert verify_parts._worker_count("default") == 1


# --- the checksums: a batch PostgreSQL proves is not fetched; one it does not is compared ---


@pytest.fixture
def fetched(monkeypatch) -> list[list]:
    """The target ids of each batch whose target rows the walk fetched."""
    batches: list[list] = []
    rows = TargetTable.rows
    monkeypatch.setattr(
        TargetTable, "rows", lambda self, ids: batches.append(ids) or rows(self, ids)
    )
    return batches


def test_a_fresh_import_is_proven_without_fetching_a_target_row(imported, fetched):
    code, report = verify(imported)
    assert (code, codes(report)) == (0, [])
    every_field = next(c for c in report["checks"] if c["name"] == "every field")
    assert every_field["summary"].startswith("42 imported row(s) compared")
    assert fetched == []


# What verify finds does not hang on how the rows were written: the faster way, once.
@pytest.mark.parametrize("write_path", ["copy"], indirect=True)
def test_a_changed_value_in_a_table_of_100_000_rows_is_named_by_row_and_field(tmp_path, fetched):
    path = write_importable_chain(tmp_path / "chain.db", 111_112)
    with sqlite3.connect(path) as legacy:
        assert legacy.execute("SELECT count(*) FROM sessions").fetchone()[0] >= 100_000
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    changed = LedgerEntry.objects.get(legacy_table="sessions", legacy_id=54_321).target_id
    fields = SPECS["sessions"].synced_fields
    with connection.cursor() as cursor:
        cursor.execute("UPDATE training_session SET session_duration = 7 WHERE id = %s", [changed])
    # As an importer bug would leave it: the wrong value fingerprinted as intended.
    LedgerEntry.objects.filter(legacy_table="sessions", legacy_id=54_321).update(
        target_hash=target_fingerprint(Session.objects.filter(pk=changed).values(*fields)[0])
    )

    code, report = verify(path)

    assert code == 1
    assert codes(report) == ["verify.field-mismatch"]
    (mismatch,) = findings_with(report, "verify.field-mismatch")
    assert (mismatch["table"], mismatch["row_ids"]) == ("sessions", [54_321])
    (difference,) = mismatch["details"]["differences"]
    assert (difference["field"], difference["found"]) == ("session_duration", "7")
    # Only the batch the checksum did not prove was fetched, row by row.
    assert [changed in ids for ids in fetched] == [True]
