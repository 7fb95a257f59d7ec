"""Faults in the middle of a run: a stopped process loses nothing, lets go of everything
at once, and the next run finishes.

The commands run in real subprocesses against the test database. A trigger
holds an import in the middle of the sessions table (rows written, not
committed), and a lock on the ledger holds a verification in the middle of its
walk, until the test has stopped the process with a signal.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.load import chunks as parallel
from migration.models import ImportRun, LedgerEntry
from migration.postgres import IMPORT_LOCK
from migration.verify import parts as verify
from sessions.models import Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import write_importable_chain
from tests.test_import import sequence_positions

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

# The application_name of every PostgreSQL session a command started here opens
# (libpq takes it from PGAPPNAME): its main process's, and its workers'.
RUN_NAME = "test_faults_run"
# The word: this long after a stop, nothing of the run is left.
LETS_GO_WITHIN = 5.0  # seconds


@pytest.fixture
def chain(tmp_path) -> Path:
    return write_importable_chain(tmp_path / "chain.db", 2000)


@pytest.fixture(scope="module")
def big_chain(tmp_path_factory) -> Path:
    """A chain whose sessions table is big enough for workers, at their real thresholds:
    the import's (parallel.FROM_ROWS) and verify's (two ranges of verify.PART_ROWS,
    the table more than half of the file, whatever the number of workers)."""
    path = write_importable_chain(tmp_path_factory.mktemp("big") / "chain.db", 56_000)
    sessions = legacy_count(path, "sessions")
    assert sessions >= max(parallel.FROM_ROWS, 2 * verify.PART_ROWS)
    return path


def legacy_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as legacy:
        return legacy.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def other_session() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )


class CommandProcess(subprocess.Popen):
    """A command in its own process (and process group, as from a terminal), on the
    test database; and every process of it seen so far, by (pid, start time)."""

    def __init__(self, command: str, path: Path, *options: str):
        db = connection.settings_dict
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        super().__init__(
            [sys.executable, "manage.py", command, "--source", str(path), *options],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DATABASE_URL": url, "PGAPPNAME": RUN_NAME},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        self.seen = {(self.pid, start_time(self.pid))}

    def workers(self) -> set[tuple[int, int]]:
        """Its child processes now (once it is gone, they are no longer its children)."""
        workers = children_of(self.pid)
        self.seen |= workers
        return workers

    def stop(self, signum: int) -> set[tuple[int, int]]:
        """`signum` sent as an operator would (Ctrl-C to the terminal's process group,
        the others to the process); returns the run's processes, its main one's included."""
        self.workers()
        if signum == signal.SIGINT:
            os.killpg(self.pid, signum)
        else:
            self.send_signal(signum)
        return set(self.seen)

    def end(self) -> None:
        """Whatever the test found, no process of the run outlives it (a worker left
        behind would hold the test database's locks): each is killed by its pid."""
        self.workers()
        for pid, started in self.seen:
            if is_alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        self.wait()  # its output is left for the test to read


def import_process(path: Path, *options: str) -> CommandProcess:
    """import_legacy in its own process, into the test database."""
    return CommandProcess("import_legacy", path, *options)


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
def held_mid_sessions(
    path: Path, *options: str
) -> Iterator[tuple[psycopg.Connection, CommandProcess]]:
    """An import of `path` in its own process, held in the middle of the sessions table,
    and a session of the test's own beside it; the hold taken away afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(HELD_MID_SESSIONS)
    monitor = other_session()
    try:
        monitor.execute("SELECT pg_advisory_lock(%s)", [HOLD])
        process = import_process(path, *options)
        try:
            wait_until_held(monitor, process)
            yield monitor, process
        finally:
            process.end()
    finally:
        monitor.close()
        with connection.cursor() as cursor:
            cursor.execute(RELEASED)


@contextmanager
def held_mid_walk(
    path: Path,
) -> Iterator[tuple[psycopg.Connection, CommandProcess, psycopg.Connection]]:
    """A verify_import of `path` in its own process, its main process and each of its
    workers held at a query on the ledger, which a session of the test's own has
    locked (`holder.execute("ROLLBACK")` lets them go on), and another session beside
    them (a transaction would see pg_stat_activity as it was at its start)."""
    monitor, holder = other_session(), other_session()
    try:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE migration_ledgerentry IN ACCESS EXCLUSIVE MODE")
        process = CommandProcess("verify_import", path)

        def held() -> bool:
            workers = process.workers()
            return bool(workers) and len(waiting_on_a_lock(monitor)) == 1 + len(workers)

        try:
            wait_for(held, process, "the verification never reached its walk in workers")
            yield monitor, process, holder
        finally:
            process.end()
    finally:
        holder.close()
        monitor.close()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, failure: str) -> None:
    for _ in range(600):
        if condition():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError(failure)


def waiting_on_a_lock(monitor: psycopg.Connection) -> list[int]:
    return [
        pid
        for (pid,) in monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = current_database() AND wait_event_type = 'Lock'",
            [RUN_NAME],
        )
    ]


# --- processes, by /proc -------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), None once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()


def start_time(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[19]) if fields else -1  # starttime: with the pid, names the process


def children_of(pid: int) -> set[tuple[int, int]]:
    """The processes whose parent is `pid`, each as (pid, start time)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[1] == str(pid):
            children.add((int(entry.name), int(fields[19])))
    return children


def is_alive(pid: int, started: int) -> bool:
    """Whether the process is still there: a zombie has let go of everything it held."""
    fields = _stat(pid)
    return fields is not None and int(fields[19]) == started and fields[0] != "Z"


def assert_all_gone(processes: set[tuple[int, int]]) -> None:
    deadline = time.monotonic() + LETS_GO_WITHIN
    while (left := {p for p in processes if is_alive(*p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes of the run still alive {LETS_GO_WITHIN} s after the stop"


def assert_no_session_left(monitor: psycopg.Connection) -> None:
    """No PostgreSQL session of the run, and nothing it held still held."""
    deadline = time.monotonic() + LETS_GO_WITHIN
    # This test database's only: another test process runs its own commands by that name.
    sql = (
        "SELECT pid, state, wait_event FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()"
    )
    while (left := monitor.execute(sql, [RUN_NAME]).fetchall()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"sessions of the run left {LETS_GO_WITHIN} s after the stop: {left}"
    with monitor.transaction():
        monitor.execute(
            "LOCK TABLE training_session, migration_ledgerentry IN ACCESS EXCLUSIVE MODE NOWAIT"
        )
    assert monitor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK]).fetchone()[0]
    monitor.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK])


def said_in_one_line(process: subprocess.Popen) -> str:
    """What a process stopped by SIGINT or SIGTERM said: one line, exit 1, no traceback."""
    _, stderr = process.communicate(timeout=LETS_GO_WITHIN)
    said = stderr.decode().strip()
    assert process.returncode == 1, said
    assert len(said.splitlines()) == 1 and "Traceback" not in said, said
    return said


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

    code, output = run_command("import_legacy", "--source", str(chain), "--dry-run")
    assert code == 0, output
    killed.refresh_from_db()
    assert killed.outcome == "running"  # a dry run leaves the record as it was
    code, output = run_command("import_legacy", "--source", str(chain))
    assert code == 0, output
    killed.refresh_from_db()  # the next import holds the lock, so knows the first is dead
    assert (killed.outcome, killed.stopped_at_table) == ("killed", "sessions")
    assert "killed outright" in killed.error
    assert ImportRun.objects.exclude(pk=killed.pk).get().outcome == "succeeded"
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


# --- stopped by a signal, in workers ------------------------------------------

STOPS = [
    pytest.param(signum, id=signum.name)
    for signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
]
INTERRUPTED_IMPORT = (
    "CommandError: interrupted: sessions was rolled back, the tables before it are "
    "committed; run import_legacy again to finish"
)
INTERRUPTED_VERIFY = (
    "CommandError: interrupted: nothing was left half-written; run the command again"
)


@pytest.mark.parametrize("signum", STOPS)
def test_an_import_and_a_verify_stopped_in_workers_let_go_at_once_and_the_next_runs_finish(
    big_chain, signum
):
    with held_mid_sessions(big_chain) as (monitor, process):
        assert process.workers(), "the sessions table is converted in worker processes"
        assert_all_gone(process.stop(signum))
        # Killed outright, the import's session waits at the hold until the held
        # statement goes on and the server finds its client gone.
        monitor.execute("SELECT pg_advisory_unlock(%s)", [HOLD])
        assert_no_session_left(monitor)

    run = ImportRun.objects.get()
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        assert (run.outcome, run.stopped_at_table) == ("running", "sessions")
    else:
        assert said_in_one_line(process) == INTERRUPTED_IMPORT
        assert (run.outcome, run.stopped_at_table) == ("interrupted", "sessions")
    # The table it was in is rolled back, the ones before it committed.
    assert Session.objects.count() == 0
    assert not LedgerEntry.objects.filter(legacy_table="sessions").exists()
    assert SessionPackage.objects.count() == legacy_count(big_chain, "session_packages")
    code, output = run_command("import_legacy", "--source", str(big_chain))
    assert code == 0, output
    assert Session.objects.count() == legacy_count(big_chain, "sessions") + legacy_count(
        big_chain, "training_sessions"
    )

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("on one core, verify_import walks the tables in its own process")
    with held_mid_walk(big_chain) as (monitor, process, holder):
        assert_all_gone(process.stop(signum))
        # The workers' sessions, their processes killed at a lock, go once they have it.
        holder.execute("ROLLBACK")
        assert_no_session_left(monitor)

    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert said_in_one_line(process) == INTERRUPTED_VERIFY
    code, output = run_command("verify_import", "--source", str(big_chain))
    assert code == 0, output


def test_a_dry_run_killed_mid_table_leaves_every_sequence_as_it_was(chain):
    before = sequence_positions()
    with held_mid_sessions(chain, "--dry-run") as (monitor, process):
        assert_all_gone(process.stop(signal.SIGKILL))
        monitor.execute("SELECT pg_advisory_unlock(%s)", [HOLD])
        assert_no_session_left(monitor)

    assert sequence_positions() == before  # the ledger's included, which COPY drew on
    assert not ImportRun.objects.exists() and not LedgerEntry.objects.exists()


def test_a_dry_run_interrupted_says_nothing_was_written(chain):
    before = sequence_positions()
    with held_mid_sessions(chain, "--dry-run") as (monitor, process):
        assert_all_gone(process.stop(signal.SIGINT))
        assert_no_session_left(monitor)

    assert said_in_one_line(process) == "CommandError: interrupted: nothing was written (dry run)"
    assert sequence_positions() == before
    assert not ImportRun.objects.exists() and not User.objects.exists()


def test_ctrl_c_pressed_again_and_again_while_the_import_stops_changes_nothing_it_says(chain):
    with held_mid_sessions(chain) as (monitor, process):
        processes = process.stop(signal.SIGINT)
        for _ in range(6):  # an impatient operator, while the run is recorded and let go of
            time.sleep(0.05)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        assert_all_gone(processes)
        assert_no_session_left(monitor)

    assert said_in_one_line(process) == INTERRUPTED_IMPORT
    run = ImportRun.objects.get()
    assert (run.outcome, run.stopped_at_table) == ("interrupted", "sessions")


def test_a_worker_killed_by_its_pid_stops_the_import_in_one_line_and_the_next_run_finishes(
    big_chain,
):
    with held_mid_sessions(big_chain) as (monitor, process):
        workers = process.workers()
        assert workers, "the sessions table is converted in worker processes"
        pid, _ = sorted(workers)[0]
        os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
        monitor.execute("SELECT pg_advisory_unlock(%s)", [HOLD])
        _, stderr = process.communicate(timeout=60)
        assert_all_gone(process.seen)
        assert_no_session_left(monitor)

    said = stderr.decode().strip()
    assert process.returncode == 1, said
    assert len(said.splitlines()) == 1 and "Traceback" not in said, said
    assert said.startswith("CommandError: import stopped: a worker process died under the run")
    assert "run import_legacy again to finish" in said
    run = ImportRun.objects.get()
    assert (run.outcome, run.stopped_at_table) == ("failed", "sessions")
    assert Session.objects.count() == 0
    code, output = run_command("import_legacy", "--source", str(big_chain))
    assert code == 0, output


def temporaries(folder: Path) -> list[str]:
    return sorted(name.name for name in folder.iterdir() if name.name.startswith("."))


# clean_legacy held once its copy is written and cleaned, before it checks and renames
# it: the test kills it there, not wherever a race between the two left it.
HELD_CLEAN = """
import sys, time, django
django.setup()
from pathlib import Path
from django.core.management import call_command
import migration.clean.run as clean_run
def held(*args, **kwargs):
    Path(sys.argv[3]).touch()
    time.sleep(120)
clean_run._refuse_unlogged_changes = held
call_command("clean_legacy", "--source", sys.argv[1], "--output", sys.argv[2])
"""


def test_a_clean_killed_mid_copy_leaves_temporary_files_the_next_run_removes(chain, tmp_path):
    output = tmp_path / "out" / "cleaned.db"
    output.parent.mkdir()
    held = tmp_path / "held"
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_CLEAN, str(chain), str(output), str(held)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    try:
        deadline = time.monotonic() + 60
        while not held.exists():
            assert process.poll() is None, "clean_legacy ended before it was held"
            assert time.monotonic() < deadline, "clean_legacy was not held within a minute"
            time.sleep(0.05)
        assert temporaries(output.parent)
        process.kill()
    finally:
        process.kill()
        process.wait(timeout=30)
    left = temporaries(output.parent)
    assert left and all(name.startswith(f".cleaned.db.{process.pid}.") for name in left)
    assert not output.exists()

    code, said = run_command("clean_legacy", "--source", str(chain), "--output", str(output))
    assert code == 0, said
    assert temporaries(output.parent) == []
    assert output.exists()


def test_only_temporary_files_of_processes_no_longer_alive_are_removed(chain, tmp_path):
    report = tmp_path / "report.json"
    dead = subprocess.Popen(["true"])  # a pid no process has, once it has ended
    dead.wait()
    left_by = {
        "dead": tmp_path / f".report.json.{dead.pid}.abc123.tmp",
        "alive": tmp_path / f".report.json.{os.getppid()}.def456.tmp",
        "another file's": tmp_path / f".other.json.{dead.pid}.ghi789.tmp",
    }
    for file in left_by.values():
        file.write_text("{}")
    journal = Path(f"{left_by['dead']}-journal")
    journal.write_text("")

    code, said = run_command("precheck", "--source", str(chain), "--output", str(report))
    assert code in (0, 1), said
    assert report.exists()
    assert not left_by["dead"].exists() and not journal.exists()
    assert left_by["alive"].exists() and left_by["another file's"].exists()
