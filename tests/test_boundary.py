"""The command boundary, which every command goes through (migration/management/base.py).

Before any work: no file a command writes is the legacy file, one of its
journals, or another output, however it is spelled; every output can be
written; the target database is named, there and migrated. On any error: one
line and exit 2 (the file or the command line) or 1 (what the command met),
never a traceback, and under --redact no personal data in it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections

from migration.models import ImportRun
from migration.redaction import MASK
from tests.conftest import sha256_of
from tests.legacy_files import LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")
ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL database of the test's own"
)


@dataclass
class Run:
    code: int
    out: str
    err: str
    message: str  # the CommandError's, the one line an operator reads

    @property
    def everything(self) -> str:
        return "\n".join((self.out, self.err, self.message))


def run(name: str, *args: str) -> Run:
    """A command as an operator runs it. Only a CommandError is caught: any other
    exception (a traceback, for the operator) fails the test."""
    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as error:
        return Run(error.returncode, out.getvalue(), err.getvalue(), str(error))
    return Run(0, out.getvalue(), err.getvalue(), "")


def refused(result: Run, code: int, *words: str) -> None:
    assert result.code == code, result.everything
    assert "\n" not in result.message
    for word in words:
        assert word in result.message


@pytest.fixture
def studio(tmp_path: Path, monkeypatch) -> Path:
    """A clean legacy file in a folder of its own, which is the working directory."""
    folder = tmp_path / "studio"
    folder.mkdir()
    built = LegacyFile(folder / "legacy.db")
    built.small_studio()
    monkeypatch.chdir(folder)
    return built.close()


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` and its content's digest (a symlink as its target)."""
    return {
        str(path.relative_to(root)): (
            f"-> {os.readlink(path)}" if path.is_symlink() else sha256_of(path)
        )
        for path in sorted(root.rglob("*"))
        if path.is_symlink() or path.is_file()
    }


# --- what each command writes, and how an operator might spell the source ---


@dataclass(frozen=True)
class Write:
    command: str
    option: str

    def args(self, source: Path, output: str, tmp_path: Path) -> list[str]:
        args = ["--source", str(source), self.option, output]
        if self.command == "clean_legacy" and self.option == "--report":
            args += ["--output", str(tmp_path / "cleaned.db")]
        return args

    def __str__(self) -> str:
        return f"{self.command} {self.option}"


WRITES = [
    Write("precheck", "--output"),
    Write("import_legacy", "--output"),
    Write("verify_import", "--output"),
    Write("clean_legacy", "--output"),  # the cleaned copy
    Write("clean_legacy", "--report"),
]


def symlink(path: Path, to: Path) -> Path:
    path.symlink_to(to)
    return path


def hard_link(path: Path, to: Path) -> Path:
    path.hardlink_to(to)
    return path


# Each takes the legacy file (the working directory is its folder) and the
# test's folder, and spells the legacy file another way.
SPELLINGS: dict[str, Callable[[Path, Path], str]] = {
    "absolute": lambda source, tmp: str(source),
    "relative": lambda source, tmp: source.name,
    "dot": lambda source, tmp: f"./{source.name}",
    "dot-dot": lambda source, tmp: f"../{source.parent.name}/{source.name}",
    "symlink": lambda source, tmp: str(symlink(tmp / "link.db", source)),
    "symlinked folder": lambda source, tmp: str(
        symlink(tmp / "other", source.parent) / source.name
    ),
    "hard link": lambda source, tmp: str(hard_link(tmp / "hard.db", source)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_the_legacy_file_is_never_an_output_however_it_is_spelled(
    studio, tmp_path, write, spelling
):
    output = SPELLINGS[spelling](studio, tmp_path)
    before = tree(tmp_path)
    result = run(write.command, *write.args(studio, output, tmp_path))
    refused(result, 2, f"{write.option} ", "that is the legacy file (--source)", "never written")
    assert tree(tmp_path) == before  # the file as it was, and nothing written beside it
    assert not ImportRun.objects.exists()


@contextmanager
def rows_in_the_wal(source: Path) -> Iterator[None]:
    """The legacy app still running: its latest committed rows are in the -wal journal."""
    with closing(sqlite3.connect(source)) as app:
        app.execute("PRAGMA journal_mode = WAL")
        app.execute("PRAGMA wal_autocheckpoint = 0")
        app.execute(
            "INSERT INTO trainers (username, password_hash, name, email) "
            "VALUES ('latest', 'x', 'Latest', 'latest@example.com')"
        )
        app.commit()
        assert Path(f"{source}-wal").stat().st_size > 0
        yield


def trainers_in(source: Path) -> list[str]:
    with closing(sqlite3.connect(source)) as reader:
        return [name for (name,) in reader.execute("SELECT username FROM trainers ORDER BY id")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("journal", "link"),
    [("-wal", None), ("-shm", None), ("-journal", None), ("-wal", "hard"), ("-shm", "hard")],
)
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_no_journal_of_the_legacy_file_is_an_output(studio, tmp_path, write, journal, link):
    with rows_in_the_wal(studio):
        sidecar = Path(f"{studio}{journal}")
        output = str(hard_link(tmp_path / "linked", sidecar)) if link else str(sidecar)
        trainers = trainers_in(studio)  # a reader writes to -shm: read before the tree is taken
        before = tree(tmp_path)
        result = run(write.command, *write.args(studio, output, tmp_path))
        refused(result, 2, f"{write.option} ", "that is the legacy file's", "never written")
        assert tree(tmp_path) == before
        assert trainers_in(studio) == trainers and "latest" in trainers


@pytest.mark.django_db
@pytest.mark.parametrize("copies", [1, 2], ids=["a copy", "a copy of a copy"])
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_the_file_a_cleaned_copy_was_made_from_is_never_an_output(studio, tmp_path, write, copies):
    source = studio
    for number in range(copies):
        copy = tmp_path / f"copy-{number}" / "cleaned.db"
        copy.parent.mkdir()
        call_command(
            "clean_legacy", "--source", str(source), "--output", str(copy), stdout=StringIO()
        )
        source = copy
    before = tree(tmp_path)
    result = run(write.command, *write.args(source, str(studio), tmp_path))
    refused(
        result, 2, f"{write.option} ", f"the legacy file {studio} that --source was cleaned from"
    )
    assert "never written" in result.message
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "report",
    ["cleaned.db", "./cleaned.db", "../studio/cleaned.db", "cleaned.db-journal", "cleaned.db-wal"],
)
def test_two_outputs_are_never_one_file(studio, tmp_path, report):
    result = run(
        "clean_legacy", "--source", str(studio), "--output", "cleaned.db", "--report", report
    )
    refused(result, 2, f"--report {Path(report)}: that is the --output file", "of its own")
    assert sorted(path.name for path in studio.parent.iterdir()) == ["legacy.db"]


def test_a_hard_link_to_the_cleaned_copy_is_not_its_report(studio, tmp_path):
    copy = studio.parent / "cleaned.db"
    copy.write_bytes(b"an earlier copy")
    report = hard_link(tmp_path / "report.txt", copy)
    result = run(
        "clean_legacy", "--source", str(studio), "--output", str(copy), "--force",
        "--report", str(report),
    )  # fmt: skip
    refused(result, 2, "that is the --output file")
    assert copy.read_bytes() == b"an earlier copy"


@pytest.mark.parametrize("journal", ["", "-wal"])
def test_no_output_is_an_sqlite_database_of_the_project(studio, tmp_path, journal):
    target = tmp_path / "db.sqlite3"
    with closing(sqlite3.connect(target)) as database:
        database.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
    before = tree(tmp_path)
    alias = "boundary_sqlite"
    connections.settings[alias] = connections.configure_settings(
        {
            "default": connections.settings["default"],
            alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(target)},
        }
    )[alias]
    try:
        result = run("precheck", "--source", str(studio), "--output", f"{target}{journal}")
    finally:
        del connections.settings[alias]
    refused(result, 2, f"that is the {alias!r} database", "name another file")
    assert tree(tmp_path) == before


# --- outputs that cannot be written: refused before any work -------------------


def pipe(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe")
    return str(tmp / "pipe")


def unwritable_folder(tmp: Path) -> str:
    # The tests run as root, whom no permission bit stops from writing: /sys refuses even root.
    try:
        fd, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        return "/sys/report.txt"
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no folder here refuses a new file")


BAD_OUTPUTS: dict[str, tuple[Callable[[Path], str], str]] = {
    "missing folder": (lambda tmp: str(tmp / "missing" / "report.txt"), "there is no folder"),
    "folder is a file": (lambda tmp: str(tmp / "studio" / "legacy.db" / "r.txt"), "no folder"),
    "unwritable folder": (unwritable_folder, "cannot write in /sys"),
    "a folder": (lambda tmp: str(tmp), "is a folder"),
    "an empty name": (lambda tmp: "", "is a folder"),  # the working directory's
    "a pipe": (pipe, "not a regular file"),
}


@pytest.mark.django_db(transaction=True)  # an import that ran would have committed
@pytest.mark.parametrize("bad", BAD_OUTPUTS)
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(studio, tmp_path, write, bad):
    spell, problem = BAD_OUTPUTS[bad]
    output = spell(tmp_path)
    before = tree(tmp_path)
    result = run(write.command, *write.args(studio, output, tmp_path))
    refused(result, 2, f"{write.option} ", problem)
    assert result.out == ""  # no report: nothing was read at length
    assert tree(tmp_path) == before  # no cleaned copy, no temporary file
    assert not ImportRun.objects.exists()


# --- the source and the target -----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["precheck", "clean_legacy", "import_legacy", "verify_import"])
def test_a_line_break_in_a_path_does_not_cut_what_to_do_off_the_line(tmp_path, command):
    folder = tmp_path / "studio\nfiles"
    folder.mkdir()
    source = folder / "legacy.db"
    args = ["--source", str(source)]
    if command == "clean_legacy":
        args += ["--output", str(tmp_path / "cleaned.db")]
    result = run(command, *args)
    refused(result, 2, "studio\\nfiles", "no such file; check the --source path")


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["precheck", "clean_legacy", "import_legacy", "verify_import"])
def test_a_source_that_is_a_loop_of_symbolic_links_is_one_line(tmp_path, command):
    symlink(tmp_path / "a.db", tmp_path / "b.db")
    symlink(tmp_path / "b.db", tmp_path / "a.db")
    args = ["--source", str(tmp_path / "a.db")]
    if command == "clean_legacy":
        args += ["--output", str(tmp_path / "cleaned.db")]
    refused(run(command, *args), 2, "a loop of symbolic links", "check the --source path")


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["import_legacy", "verify_import"])
@pytest.mark.parametrize(
    ("alias", "problem"),
    [("nowhere", "no such database in the settings"), ("legacy", "the legacy file's")],
)
def test_a_database_alias_that_names_no_target_is_one_line(studio, command, alias, problem):
    result = run(command, "--source", str(studio), "--database", alias)
    refused(result, 2, f"--database {alias}: ", problem, "default")


@contextmanager
def target_alias(name: str) -> Iterator[str]:
    """A DATABASES alias for the PostgreSQL database `name`, beside the test database."""
    alias = f"boundary_{name}"
    connections.settings[alias] = {**connections.settings["default"], "NAME": name}
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


def maintenance_session() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )


@contextmanager
def empty_database() -> Iterator[str]:
    """A PostgreSQL database of its own that `migrate` never ran on."""
    name = f"{connection.settings_dict['NAME']}_unmigrated"
    with closing(maintenance_session()) as session:
        session.execute(f'DROP DATABASE IF EXISTS "{name}"')
        session.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            session.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@ON_POSTGRESQL
@pytest.mark.django_db
@pytest.mark.parametrize("command", ["import_legacy", "verify_import"])
def test_a_target_database_that_does_not_exist_is_one_line(studio, command):
    with target_alias(f"{connection.settings_dict['NAME']}_absent") as alias:
        result = run(command, "--source", str(studio), "--database", alias)
    refused(result, 1, f"--database {alias}: cannot connect", "does not exist", "check that it")


@ON_POSTGRESQL
@pytest.mark.django_db
@pytest.mark.parametrize("command", ["import_legacy", "verify_import"])
def test_a_target_database_that_is_not_migrated_is_one_line(studio, command):
    with empty_database() as name, target_alias(name) as alias:
        result = run(command, "--source", str(studio), "--database", alias)
    refused(result, 1, "not migrated", f"run manage.py migrate --database {alias} first")


# --- every error is one line, whatever raised it --------------------------------


def raising(error: Exception) -> Callable[..., None]:
    def stand_in(*args, **kwargs) -> None:
        raise error

    return stand_in


# The engine function each command calls, replaced by one that fails.
ENGINE = {
    "precheck": "migration.management.commands.precheck.run_precheck",
    "import_legacy": "migration.management.commands.import_legacy.import_legacy",
}


@pytest.mark.django_db
@pytest.mark.parametrize("command", ENGINE)
def test_a_database_error_is_its_first_line_with_quoted_values_masked(studio, monkeypatch, command):
    refusal = DatabaseError(
        'duplicate key value violates unique constraint "accounts_user_email_key"\n'
        "DETAIL:  Key (email)=(kim@example.com) already exists."
    )
    monkeypatch.setattr(ENGINE[command], raising(refusal))
    result = run(command, "--source", str(studio))
    refused(result, 1, 'violates unique constraint "accounts_user_email_key"', "again")
    assert "kim@example.com" not in result.everything  # the DETAIL line is never shown

    quoting = DatabaseError('invalid input syntax for type bigint: "Kim Minji"')
    monkeypatch.setattr(ENGINE[command], raising(quoting))
    assert "Kim Minji" in run(command, "--source", str(studio)).message
    result = run(command, "--source", str(studio), "--redact")
    refused(result, 1, f'invalid input syntax for type bigint: "{MASK}"')
    if command == "import_legacy":
        assert result.message.startswith("import stopped: ")


@pytest.mark.django_db
@pytest.mark.parametrize("command", ENGINE)
@pytest.mark.parametrize("redact", [False, True])
def test_an_unexpected_error_is_one_line_that_points_at_traceback(
    studio, monkeypatch, command, redact
):
    bug = ValueError("invalid literal for int() with base 10: 'Kim Minji'\nand a second line")
    monkeypatch.setattr(ENGINE[command], raising(bug))
    result = run(command, "--source", str(studio), *(["--redact"] if redact else []))
    refused(result, 1, f"{command} failed unexpectedly (ValueError", "--traceback for the details")
    assert ("Kim Minji" in result.message) is not redact


# --- --redact covers error lines ---------------------------------------------


@pytest.fixture
def shared_address(tmp_path) -> Path:
    """Two trainers sharing one address, which clean_legacy gives a plus-address."""
    built = LegacyFile(tmp_path / "legacy.db")
    built.trainer(username="minji.park", email="minji@example.com")
    built.trainer(username="jaesun9090", email="MINJI@example.com")
    built.trainer(username="dohyun", email="dohyun@example.com")
    return built.close()


PERSONAL = {"minji.park", "minji@example.com", "jaesun9090", "dohyun", "dohyun@example.com"}


@pytest.mark.parametrize(
    ("emails", "hint"),
    [
        (["nobody.kim=nobody@example.com"], "no trainer has the username"),
        (["jaesun9090=not-an-address"], "not an e-mail address"),
        (["jaesun9090=dohyun@example.com"], "has that address too"),
        (["jaesun9090"], "USERNAME=ADDRESS"),
        (["dohyun=a@example.com", "dohyun=b@example.com"], "is given twice"),
    ],
)
def test_redact_masks_the_usernames_and_addresses_of_an_email_error(
    shared_address, tmp_path, emails, hint
):
    args = ["--source", str(shared_address), "--output", str(tmp_path / "cleaned.db")]
    args += [f"--email={value}" for value in emails]
    plain = run("clean_legacy", *args)
    refused(plain, 2, hint)
    personal = PERSONAL | {part for value in emails for part in value.split("=")}
    assert {value for value in personal if value in plain.message}  # they are there to mask
    masked = run("clean_legacy", *args, "--redact")
    refused(masked, 2, hint, MASK)
    assert {value for value in personal if value in masked.everything} == set()


def test_redact_masks_a_username_an_engine_error_names(tmp_path):
    built = LegacyFile(tmp_path / "legacy.db")
    built.trainer(username="minji.park", email="front desk")
    built.trainer(username="jaesun9090", email="front desk")
    args = ["--source", str(built.close()), "--output", str(tmp_path / "cleaned.db")]
    refused(run("clean_legacy", *args), 2, "trainer jaesun9090 shares an address")
    masked = run("clean_legacy", *args, "--redact")
    refused(masked, 2, f"trainer {MASK} shares an address", f"--email {MASK}=ADDRESS")
    assert "jaesun9090" not in masked.everything and "front desk" not in masked.everything


# --- as an operator sees it: manage.py in its own process ------------------------


def manage(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    url = database_url or f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@ON_POSTGRESQL
def test_manage_py_refuses_in_one_line_and_traceback_still_shows_the_cause(studio, tmp_path):
    symlink(tmp_path / "a.db", tmp_path / "b.db")
    symlink(tmp_path / "b.db", tmp_path / "a.db")
    checks = [
        (["precheck", "--source", str(tmp_path / "a.db")], None, 2),
        (["precheck", "--source", str(studio), "--output", f"{studio}-wal"], None, 2),
        (["import_legacy", "--source", str(studio), "--database", "nowhere"], None, 2),
    ]
    db = connection.settings_dict
    absent = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}_absent"
    checks.append((["verify_import", "--source", str(studio)], absent, 1))
    for args, url, code in checks:
        process = manage(*args, database_url=url)
        assert process.returncode == code, process.stderr
        assert "Traceback" not in process.stderr
        assert process.stderr.startswith("CommandError: ")
        assert process.stderr.count("\n") == 1, process.stderr
    assert not Path(f"{studio}-wal").exists()

    process = manage("precheck", "--source", str(tmp_path / "a.db"), "--traceback")
    assert "Traceback" in process.stderr and "a loop of symbolic links" in process.stderr
    assert process.returncode != 0
