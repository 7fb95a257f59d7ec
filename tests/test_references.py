"""The reference rules, written once: what precheck reports is what clean_legacy fixes and
the import applies, row for row."""

from collections import defaultdict
from pathlib import Path

import pytest

from migration.clean.run import DANGLING_RULE, INFERRED_RULE, UNINFERABLE_RULE
from migration.legacy.schema import CHANGES_TABLE, QUARANTINE_TABLE
from sessions.models import Payment, Session
from tests.conftest import run_command
from tests.test_clean import clean, precheck, query

pytestmark = pytest.mark.usefixtures("legacy_db")

REFERENCE_CODES = (INFERRED_RULE, UNINFERABLE_RULE, DANGLING_RULE)


def reported(path: Path) -> dict[tuple[str, str], set]:
    """(code, table) -> the row ids precheck names, for the reference rules."""
    found: dict[tuple[str, str], set] = defaultdict(set)
    for item in precheck(path).findings:
        if item.code in REFERENCE_CODES:
            found[item.code, item.table].update(item.row_ids)
    return found


def fixed(output: Path) -> dict[tuple[str, str], set]:
    """(rule, table) -> the row ids clean_legacy changed or quarantined under each rule."""
    found: dict[tuple[str, str], set] = defaultdict(set)
    for rule, table, row_id in query(
        output, f"SELECT rule, table_name, row_id FROM {CHANGES_TABLE} WHERE row_id IS NOT NULL"
    ):
        if rule in REFERENCE_CODES:
            found[rule, table].add(row_id)
    return found


def rows_of(found: dict[tuple[str, str], set], code: str) -> set[tuple[str, int]]:
    return {(table, row_id) for (c, table), ids in found.items() if c == code for row_id in ids}


def test_precheck_reports_the_rows_clean_fixes(legacy_file):
    ids = legacy_file.small_studio()
    other = legacy_file.trainer()
    client = legacy_file.client(other)
    package = legacy_file.package(client, ids["trainer"])  # sold by another trainer
    unsold = legacy_file.package(client, ids["trainer"])
    legacy_file.execute("UPDATE session_packages SET trainer_id = '' WHERE id = ?", (unsold,))
    nameless = legacy_file.client(ids["trainer"])
    legacy_file.execute("UPDATE clients SET trainer_id = '' WHERE id = ?", (nameless,))
    inferred = {
        ("sessions", legacy_file.session(client, package, None)),  # the package's trainer
        ("sessions", legacy_file.session(client, unsold, "")),  # none there: the client's
        ("payments", legacy_file.payment(client, None, "")),
        ("payments", legacy_file.payment(client, package, None)),
        ("assessments", legacy_file.assessment(client, "")),
    }
    uninferable = {("payments", legacy_file.payment(nameless, None, None))}
    dangling = {("assessments", legacy_file.assessment(client, 99))}  # its client's instead
    source = legacy_file.close()

    report = reported(source)
    _, output = clean(source)
    changes = fixed(output)
    assert rows_of(report, INFERRED_RULE) == inferred
    assert rows_of(report, UNINFERABLE_RULE) == uninferable
    assert rows_of(report, DANGLING_RULE) == dangling
    assert changes == report
    quarantined = query(output, f"SELECT source_table, source_id FROM {QUARANTINE_TABLE}")
    assert set(quarantined) == uninferable
    assert not reported(output)  # nothing left for the rules to find


@pytest.mark.django_db
def test_the_import_infers_the_trainers_clean_writes(legacy_file, tmp_path):
    ids = legacy_file.small_studio()
    other = legacy_file.trainer()
    client = legacy_file.client(other)
    package = legacy_file.package(client, ids["trainer"])
    sessions = [
        legacy_file.session(client, package, None),
        legacy_file.session(ids["client"], ids["package"], ""),
    ]
    payments = [legacy_file.payment(client, None, ""), legacy_file.payment(client, package, None)]
    source = legacy_file.close()
    assert set(reported(source)) == {(INFERRED_RULE, "sessions"), (INFERRED_RULE, "payments")}
    _, output = clean(source, tmp_path / "cleaned.db")
    code, text = run_command("import_legacy", "--source", str(source))
    assert code == 0, text

    def cleaned(table: str, row_id: int) -> int:
        ((trainer,),) = query(output, f"SELECT trainer_id FROM {table} WHERE id = ?", (row_id,))
        return trainer

    for row_id in sessions:
        assert Session.objects.get(pk=row_id).trainer_id == cleaned("sessions", row_id)
    for row_id in payments:
        assert Payment.objects.get(pk=row_id).trainer_id == cleaned("payments", row_id)
    assert {cleaned("sessions", sessions[0]), cleaned("payments", payments[0])} == {
        ids["trainer"],
        other,
    }
