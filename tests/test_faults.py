"""Faults in the middle of an import: a killed process loses nothing, and the next run finishes.

The import runs in a real subprocess against the test database. A trigger
holds it in the middle of the sessions table (rows written, not committed)
until the test has killed it with SIGKILL.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.models import ImportRun, LedgerEntry
from sessions.models import Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import write_importable_chain

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("legacy_db"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a real PostgreSQL session"),
]

HOLD = 4242  # the advisory lock the trigger waits on while the test holds it
# Blocks the import at its first ledger write once it has written sessions:
# the sessions table is then half done, in a transaction not yet committed.
HELD_MID_SESSIONS = f"""
CREATE FUNCTION test_faults_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM training_session) THEN PERFORM pg_advisory_xact_lock({HOLD}); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER test_faults_hold BEFORE INSERT ON migration_ledgerentry
FOR EACH STATEMENT EXECUTE FUNCTION test_faults_hold();
"""
RELEASED = """
DROP TRIGGER IF EXISTS test_faults_hold ON migration_ledgerentry;
DROP FUNCTION IF EXISTS test_faults_hold();
"""


@pytest.fixture
def chain(tmp_path) -> Path:
    return write_importable_chain(tmp_path / "chain.db", 2000)


def legacy_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as legacy:
        return legacy.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def other_session() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )


def import_process(path: Path) -> subprocess.Popen:
    """import_legacy in its own process, into the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_legacy", "--source", str(path)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until_held(monitor: psycopg.Connection, process: subprocess.Popen) -> None:
    for _ in range(600):
        waiting = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND wait_event = 'advisory' AND datname = current_database()"
        ).fetchone()[0]
        if waiting:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("the import never reached the middle of the sessions table")


@contextmanager
def held_mid_sessions(path: Path) -> Iterator[tuple[psycopg.Connection, subprocess.Popen]]:
    """An import of `path` in its own process, held in the middle of the sessions table,
    and a session of the test's own beside it; the hold taken away afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(HELD_MID_SESSIONS)
    monitor = other_session()
    try:
        monitor.execute("SELECT pg_advisory_lock(%s)", [HOLD])
        process = import_process(path)
        wait_until_held(monitor, process)
        yield monitor, process
    finally:
        monitor.close()
        with connection.cursor() as cursor:
            cursor.execute(RELEASED)


def test_an_import_killed_mid_table_loses_nothing_and_the_next_run_finishes(chain):
    with held_mid_sessions(chain) as (monitor, process):
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        # The server notices its client gone once the held statement goes on.
        monitor.execute("SELECT pg_advisory_unlock(%s)", [HOLD])
        for _ in range(100):
            if not monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            ).fetchone()[0]:
                break
            time.sleep(0.1)

    assert process.returncode == -signal.SIGKILL
    # The tables before it are committed, whole ...
    assert User.objects.count() == legacy_count(chain, "trainers")
    assert Client.objects.count() == legacy_count(chain, "clients")
    assert Assessment.objects.count() == legacy_count(chain, "assessments")
    assert SessionPackage.objects.count() == legacy_count(chain, "session_packages")
    # ... the one it was in is untouched, and the ledger says where it stopped.
    assert Session.objects.count() == 0
    assert not LedgerEntry.objects.filter(legacy_table__in=["sessions", "payments"]).exists()
    killed = ImportRun.objects.get()
    assert (killed.outcome, killed.stopped_at_table) == ("running", "sessions")

    code, output = run_command("import_legacy", "--source", str(chain))
    assert code == 0, output
    code, output = run_command("verify_import", "--source", str(chain))
    assert code == 0, output
    sessions = legacy_count(chain, "sessions") + legacy_count(chain, "training_sessions")
    assert Session.objects.count() == sessions  # no duplicates
    tables = ("trainers", "clients", "assessments", "session_packages", "sessions",
              "training_sessions", "payments", "payment_records", "fee_audit_log")  # fmt: skip
    assert LedgerEntry.objects.count() == sum(legacy_count(chain, t) for t in tables)


def test_the_database_going_away_mid_table_stops_the_import_by_name_and_the_next_run_finishes(
    chain,
):
    with held_mid_sessions(chain) as (monitor, process):
        # The import's own session ends under it, as when the server restarts.
        monitor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    message = stderr.decode().strip()
    assert "Traceback" not in message
    assert message.startswith("CommandError: import stopped: could not write sessions rows 1, ")
    assert "run import_legacy again to finish" in message
    assert Session.objects.count() == 0
    assert SessionPackage.objects.count() == legacy_count(chain, "session_packages")

    code, output = run_command("import_legacy", "--source", str(chain))
    assert code == 0, output
    assert run_command("verify_import", "--source", str(chain))[0] == 0
