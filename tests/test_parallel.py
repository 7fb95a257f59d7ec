"""Big tables converted by worker processes: the very rows the import itself would write.

Workers start only for tables of 20,000 rows and more; here they are made to
take every first-imported table of a small chain file, in chunks of a few
hundred rows, so that each of their guarantees shows on a file a test can hold.
"""

import json
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration import workers as forking
from migration.load import chunks as parallel
from migration.load import writers
from migration.models import ImportRun, LedgerEntry
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import UTC_STAMP, LegacyFile, write_importable_chain
from tests.test_import import FROZEN_PAYMENTS, THAWED_PAYMENTS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("legacy_db"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="workers feed COPY"),
]

# Children first, so that deleting them all never trips a foreign key.
TARGET_MODELS = (FeeAuditLog, Payment, Session, SessionPackage, Assessment, Client, User)


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """A studio chain of 2,000 sessions (2,902 rows), every session with its trainer."""
    return write_importable_chain(tmp_path_factory.mktemp("chain") / "chain.db", 2000)


def as_a_big_table(monkeypatch) -> None:
    """A chain's big tables, at the test's size: converted by workers, foreign keys held off."""
    monkeypatch.setattr(parallel, "FROM_ROWS", 0)
    monkeypatch.setattr(parallel, "ROWS_PER_CHUNK", 300)
    monkeypatch.setattr(writers, "HOLD_KEYS_OFF_FROM_ROWS", 0)


def recording_chunks_started(monkeypatch, events: list[tuple]) -> None:
    """Each chunk handed to a worker, as ("started", table, rowids), into `events`."""

    class RecordingPool(forking._WatchedPool):  # the pool every worker_pool is
        def submit(self, function, task, *args, **kwargs):
            events.append(("started", task.table, task.rowids))
            return super().submit(function, task, *args, **kwargs)

    monkeypatch.setattr(forking, "_WatchedPool", RecordingPool)


@pytest.fixture
def in_workers(monkeypatch):
    as_a_big_table(monkeypatch)


def snapshot() -> dict:
    """Every target row and every ledger entry, but what differs by nature (ids, runs)."""
    ledger = LedgerEntry.objects.order_by("legacy_table", "legacy_id").values_list(
        "legacy_table", "legacy_id", "target_model", "target_id", "action",
        "source_hash", "target_hash", "raw",
    )  # fmt: skip
    return {
        "ledger": list(ledger),
        **{m._meta.label: list(m.objects.order_by("pk").values()) for m in TARGET_MODELS},
    }


def forget_the_import() -> None:
    LedgerEntry.objects.all().delete()
    ImportRun.objects.all().delete()
    for model in TARGET_MODELS:
        model.objects.all().delete()


def test_workers_write_exactly_what_the_import_itself_writes(chain, monkeypatch):
    assert run_command("import_legacy", "--source", str(chain))[0] == 0
    in_process = snapshot()
    forget_the_import()

    as_a_big_table(monkeypatch)
    assert run_command("import_legacy", "--source", str(chain))[0] == 0

    assert snapshot() == in_process
    assert len(in_process["ledger"]) == 2902
    assert len(in_process["training.Session"]) == 2000
    # The ledger's key to its run, put back unchecked after each table, was checked at the end.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE NOT convalidated), count(*) FROM pg_constraint "
            "WHERE conrelid = 'migration_ledgerentry'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone() == (0, 1)


def test_an_old_tables_rows_are_numbered_and_merged_by_workers_as_here(
    legacy_file: LegacyFile, monkeypatch
):
    # An old table whose twins of new rows fall at chunk edges, and fill a whole chunk.
    ids = legacy_file.small_studio()
    whose = (ids["client"], ids["package"], ids["trainer"])
    same = {"session_time": "10:00:25.813560", "session_cost": 60000, "completed_at": UTC_STAMP}
    days = [f"2024-04-{day:02}" for day in range(1, 9)]
    for day in days[:4]:
        legacy_file.session(*whose, session_date=day, **same)
    for day in (days[0], days[4], days[1], days[2], days[5], days[6], days[3]):
        legacy_file.training_session(*whose, session_date=day, **same)
    path = legacy_file.close()
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    in_process = snapshot()
    forget_the_import()

    as_a_big_table(monkeypatch)
    monkeypatch.setattr(parallel, "ROWS_PER_CHUNK", 2)
    sent: list[tuple] = []
    convert = parallel.ChunkConverters.convert

    def recording(self, tasks, *, then=()):
        def recorded():
            for task in tasks:
                sent.append((task.table, task.first_id, sorted(task.twin_targets)))
                yield task

        return convert(self, recorded(), then=then)

    monkeypatch.setattr(parallel.ChunkConverters, "convert", recording)
    started: list[tuple] = []
    recording_chunks_started(monkeypatch, started)
    code, output = run_command("import_legacy", "--source", str(path), "--format", "json")
    assert code == 0, output
    # Numbered ahead while the new table was written, and as it then was: none twice.
    assert len(started) == len(set(started))
    # Four chunks of the old table, two of them all twins; the new rows numbered after
    # the highest session id (5), in the file's order.
    assert [task for task in sent if task[0] == "training_sessions"] == [
        ("training_sessions", 6, [1]),
        ("training_sessions", 7, [3, 4]),
        ("training_sessions", 7, []),
        ("training_sessions", 9, [7]),
    ]

    assert snapshot() == in_process
    merged = [e for e in in_process["ledger"] if e[0] == "training_sessions" and e[4] == "merged"]
    assert len(merged) == 4
    tables = {t["table"]: t for t in json.loads(output)["tables"]}
    assert (tables["training_sessions"]["created"], tables["training_sessions"]["merged"]) == (3, 4)


def test_the_next_tables_first_chunks_are_converted_while_one_finishes(chain, monkeypatch):
    as_a_big_table(monkeypatch)
    events: list[tuple] = []
    recording_chunks_started(monkeypatch, events)
    convert = parallel.ChunkConverters.convert

    def marking_the_end(self, tasks, *, then=()):
        tasks = list(tasks)
        yield from convert(self, tasks, then=then)
        events.append(("written", tasks[0].table))

    monkeypatch.setattr(parallel.ChunkConverters, "convert", marking_the_end)
    assert run_command("import_legacy", "--source", str(chain))[0] == 0

    started = [event[1:] for event in events if event[0] == "started"]
    assert len(started) == len(set(started))  # no chunk converted twice
    order = [event[:2] for event in events]
    # The workers were on the next table's first chunks before this one's were all
    # written: an old table's too, numbered ahead after its new table's highest id.
    for table, next_table in (
        ("clients", "assessments"),
        ("sessions", "training_sessions"),
        ("training_sessions", "payments"),
    ):
        assert order.index(("started", next_table)) < order.index(("written", table))
    assert Session.objects.count() == 2000


def test_after_workers_verify_passes_and_a_second_import_finds_nothing_changed(chain, in_workers):
    assert run_command("import_legacy", "--source", str(chain))[0] == 0
    code, output = run_command("verify_import", "--source", str(chain))
    assert code == 0, output
    code, output = run_command("import_legacy", "--source", str(chain), "--format", "json")
    assert code == 0
    totals = json.loads(output)["totals"]
    assert (totals["unchanged"], totals["created"], totals["conflicts"]) == (2902, 0, 0)


def test_a_chunk_the_database_refuses_stops_its_table_by_name_and_rows(chain, in_workers):
    with connection.cursor() as cursor:
        cursor.execute(FROZEN_PAYMENTS)
    try:
        code, output = run_command("import_legacy", "--source", str(chain))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(THAWED_PAYMENTS)

    assert code == 1
    assert "import stopped: could not write payments rows 1 to " in output
    assert "payments are frozen for the audit" in output
    assert Payment.objects.count() == 0
    assert not LedgerEntry.objects.filter(legacy_table="payments").exists()
    assert Session.objects.count() == 2000  # the tables before it are committed
    assert ImportRun.objects.get().stopped_at_table == "payments"


def test_a_dry_run_in_workers_leaves_the_target_empty(chain, in_workers):
    code, output = run_command("import_legacy", "--source", str(chain), "--dry-run")
    assert code == 0, output
    assert not any(model.objects.exists() for model in TARGET_MODELS)
    assert not LedgerEntry.objects.exists() and not ImportRun.objects.exists()
