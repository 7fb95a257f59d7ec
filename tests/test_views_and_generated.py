"""A legacy table that is a view, and a generated column, are data: imported, kept, balanced.

precheck reports them (tested in test_precheck.py); here import_legacy brings
their rows and values over, and verify_import accounts for every one of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from migration.load import chunks as parallel
from migration.load import writers
from migration.models import LedgerEntry
from migration.verify import parts as verify
from sessions.models import Payment, Session
from tests.conftest import run_command, sha256_of
from tests.legacy_files import UTC_STAMP, LegacyFile, legacy_sql

pytestmark = pytest.mark.usefixtures("legacy_db", "write_path")


def studio_with_views_and_generated_columns(path: Path, *, old_sessions: int = 2) -> Path:
    """A small studio whose training_sessions is a view (its rows kept in another table),
    whose payments' net_amount is generated, and whose clients have an unknown
    generated column."""
    built = LegacyFile(path)
    ids = built.small_studio()
    for n in range(old_sessions):
        built.training_session(
            ids["client"], ids["package"], ids["trainer"], session_date=f"2024-02-{n % 28 + 1:02}"
        )
    built.as_view("training_sessions")
    built.make_generated("payments", "net_amount", "gross_amount - vat_amount - card_fee_amount")
    built.execute(
        "ALTER TABLE clients ADD COLUMN name_key TEXT GENERATED ALWAYS AS (lower(name)) VIRTUAL"
    )
    return built.close()


def verified(path: Path) -> dict:
    code, output = run_command("verify_import", "--source", str(path), "--format", "json")
    report = json.loads(output.split("\nCommandError: ")[0])
    assert code == 0, [c for c in report["checks"] if not c["passed"]]
    return report


def row_balance(report: dict) -> str:
    return next(c for c in report["checks"] if c["name"] == "row balance")["summary"]


@pytest.mark.django_db
def test_a_view_and_generated_columns_are_imported_and_verified(tmp_path):
    path = studio_with_views_and_generated_columns(tmp_path / "legacy.db")
    before = sha256_of(path)
    assert run_command("precheck", "--source", str(path))[0] == 0
    code, output = run_command("import_legacy", "--source", str(path), "--format", "json")
    assert code == 0, output
    imported = {t["table"]: t for t in json.loads(output)["tables"]}
    # The view's rows, read as training_sessions: merged into sessions after its one row.
    assert imported["training_sessions"]["created"] == 2
    assert Session.objects.count() == 3
    assert LedgerEntry.objects.filter(legacy_table="training_sessions").count() == 2
    # A known generated column fills its field; an unknown one is kept in the ledger.
    assert list(Payment.objects.values_list("net_amount", flat=True)) == [262227]
    (client,) = LedgerEntry.objects.filter(legacy_table="clients")
    assert client.raw["name_key"] == "client"
    report = verified(path)
    assert "training_sessions 2 = 2 created" in row_balance(report)
    assert sha256_of(path) == before


@pytest.mark.django_db
def test_a_view_row_added_since_the_import_is_the_delta(tmp_path):
    path = studio_with_views_and_generated_columns(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    # The app, still in use, adds a row to the table its view reads.
    legacy_sql(
        path,
        "INSERT INTO training_sessions_data (client_id, package_id, trainer_id, session_date, "
        "session_duration, session_cost, status, created_at) "
        "VALUES (1, 1, 1, '2024-02-20', 60, 60000, 'completed', ?)",
        (UTC_STAMP,),
    )
    code, output = run_command("verify_import", "--source", str(path), "--format", "json")
    assert code == 1
    report = json.loads(output.split("\nCommandError: ")[0])
    added = [
        item
        for check in report["checks"]
        for item in check["findings"]
        if item["code"] == "verify.legacy-added"
    ]
    assert [(item["table"], item["row_ids"]) for item in added] == [("training_sessions", [3])]


@pytest.mark.django_db(transaction=True)  # worker processes see only what is committed
@pytest.mark.skipif(connection.vendor != "postgresql", reason="workers feed COPY")
def test_a_big_view_is_read_whole_without_rowid_chunks(tmp_path, monkeypatch, write_path):
    if write_path != "copy":
        pytest.skip("workers feed COPY")
    # Workers would take every table, in chunks of rowids; a view has none.
    monkeypatch.setattr(parallel, "FROM_ROWS", 0)
    monkeypatch.setattr(parallel, "ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(writers, "HOLD_KEYS_OFF_FROM_ROWS", 0)
    monkeypatch.setattr(verify, "PART_ROWS", 2)
    path = studio_with_views_and_generated_columns(tmp_path / "legacy.db", old_sessions=60)
    code, output = run_command("import_legacy", "--source", str(path), "--format", "json")
    assert code == 0, output
    assert Session.objects.count() == 61
    assert LedgerEntry.objects.filter(legacy_table="training_sessions").count() == 60
    assert "training_sessions 60 = 60 created" in row_balance(verified(path))
