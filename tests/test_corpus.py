"""A corpus of bad legacy files: each gets a clear answer from every command, and nothing is lost.

For each file the test runs precheck, clean_legacy and import_legacy as an
operator would. None may raise past its command (a traceback); precheck says
what it should; an import either refuses and writes nothing, or accounts for
every legacy row in the ledger and passes verify_import; and whatever
clean_legacy writes imports the same way.
"""

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.legacy.schema import GENERATIONS, Generation
from migration.mapping.specs import SPECS
from migration.models import ImportRun, LedgerEntry
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import LegacyFile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("legacy_db")]

TARGET_MODELS = (FeeAuditLog, Payment, Session, SessionPackage, Assessment, Client, User)
READABLE, BLOCKED, UNREADABLE = 0, 1, 2  # precheck's exit codes


def studio(legacy_file: LegacyFile) -> LegacyFile:
    legacy_file.small_studio()
    return legacy_file


# Each builder takes a fresh legacy file (real schema, no rows) and returns the
# path to precheck and import, and the exit code precheck must give.
Builder = Callable[[LegacyFile, Path], tuple[Path, int]]


def not_sqlite(legacy_file, tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("id,name\n1,Kim\n", encoding="utf-8")
    return path, UNREADABLE


def empty(legacy_file, tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    return path, UNREADABLE


def truncated(legacy_file, tmp_path):
    data = studio(legacy_file).close().read_bytes()
    path = tmp_path / "truncated.db"
    path.write_bytes(data[: len(data) // 3])
    return path, UNREADABLE


def corrupt_page(legacy_file, tmp_path):
    path = studio(legacy_file).close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[-2 * page : -page] = b"\xff" * page  # a page of garbage where rows were
    path.write_bytes(bytes(data))
    return path, UNREADABLE


def corrupt_index_page(legacy_file, tmp_path):
    # Garbage in an index: no row is lost, but a query SQLite answers from the
    # index meets it, and the file is refused as damaged, saying what to do.
    path = studio(legacy_file).close()
    with sqlite3.connect(path) as legacy:
        page_size = legacy.execute("PRAGMA page_size").fetchone()[0]
        (root,) = legacy.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'idx_clients_trainer'"
        ).fetchone()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    return path, UNREADABLE


def very_long_text(legacy_file, tmp_path):
    studio(legacy_file).execute("UPDATE sessions SET notes = ?", ("스쿼트 " * 200_000,))
    return legacy_file.close(), READABLE


def emails_differing_in_case_and_spaces(legacy_file, tmp_path):
    studio(legacy_file)
    legacy_file.trainer(email=" TRAINER1@example.com ")
    return legacy_file.close(), BLOCKED


def usernames_differing_in_case(legacy_file, tmp_path):
    studio(legacy_file)
    legacy_file.trainer(username="TRAINER1")
    return legacy_file.close(), READABLE


def client_of_a_trainer_gone(legacy_file, tmp_path):
    studio(legacy_file).client(999)
    return legacy_file.close(), BLOCKED


def a_trainer_inferable_from_nothing(legacy_file, tmp_path):
    # A session names no trainer, and the trainers of its package and of its
    # client are gone: every way to infer one ends nowhere (inference never goes
    # round in a circle: a session looks at its package, then at its client).
    trainer = legacy_file.trainer()
    client = legacy_file.client(trainer)
    package = legacy_file.package(client, trainer)
    legacy_file.session(client, package, None)
    legacy_file.execute("UPDATE session_packages SET trainer_id = 998")
    legacy_file.execute("UPDATE clients SET trainer_id = 999")
    return legacy_file.close(), BLOCKED


def password_hashes_that_cannot_be_kept(legacy_file, tmp_path):
    studio(legacy_file)
    legacy_file.trainer(password_hash="")
    legacy_file.trainer(password_hash="$2b$12$tooShort")
    legacy_file.trainer(password_hash="5f4dcc3b5aa765d61d8327deb882cf99")
    legacy_file.trainer(password_hash=b"$2b$12$" + b"a" * 53)
    return legacy_file.close(), READABLE


def recent_rows_in_the_wal_journal(legacy_file, tmp_path):
    # The app still has the file open: its last rows are in the journal, not the file.
    studio(legacy_file).execute("PRAGMA journal_mode = WAL")
    legacy_file.execute("PRAGMA wal_autocheckpoint = 0")
    trainer = legacy_file.trainer()
    legacy_file.client(trainer, name="최근 고객")
    assert Path(f"{legacy_file.path}-wal").stat().st_size > 0
    return legacy_file.path, READABLE


def drop_column(legacy_file: LegacyFile, table: str, column: str) -> None:
    """The column gone, as from a file made before it was added.

    SQLite's DROP COLUMN refuses a column a foreign key or an index names: the
    table is made again without it, SQLite's own recipe for any change.
    """
    connection = legacy_file.connection
    for (index,) in connection.execute(
        "SELECT DISTINCT l.name FROM pragma_index_list(?) l, pragma_index_info(l.name) i "
        "WHERE i.name = ?",
        (table, column),
    ).fetchall():
        connection.execute(f'DROP INDEX "{index}"')
    (create,) = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    kept = [line for line in create.splitlines() if not re.search(rf"\b{column}\b", line)]
    create = re.sub(r",(\s*)\)\s*$", r"\1)", "\n".join(kept))  # no comma before the end
    columns = ", ".join(
        f'"{name}"'
        for (name,) in connection.execute("SELECT name FROM pragma_table_info(?)", (table,))
        if name != column
    )
    # The name as first written, or quoted by an earlier rebuild's RENAME.
    create = re.sub(r'^CREATE TABLE ("?)\w+\1', 'CREATE TABLE "rebuilt"', create)
    connection.execute(create)
    connection.execute(f'INSERT INTO "rebuilt" ({columns}) SELECT {columns} FROM "{table}"')
    connection.execute(f'DROP TABLE "{table}"')
    connection.execute(f'ALTER TABLE "rebuilt" RENAME TO "{table}"')
    connection.commit()


def made_before(*missing: Generation) -> Builder:
    """A file of an older schema generation: a studio with rows in the old tables too,
    without what `missing` added."""

    def build(legacy_file, tmp_path):
        ids = legacy_file.small_studio()
        # Ids apart from the new tables' rows: these are not their twins.
        legacy_file.training_session(ids["client"], ids["package"], ids["trainer"], id=100)
        legacy_file.payment_record(ids["client"], ids["package"], ids["trainer"], id=100)
        for generation in missing:
            for table in generation.tables:  # an older change's tables may be gone already
                legacy_file.execute(f'DROP TABLE IF EXISTS "{table}"')
            for table, column in generation.columns:
                if table not in generation.tables and not any(
                    table in earlier.tables for earlier in missing
                ):
                    drop_column(legacy_file, table, column)
        return legacy_file.close(), READABLE

    build.__name__ = "made_before_" + "_and_".join(g.name.replace(" ", "_") for g in missing)
    return build


def studio_after(name: str, expected: int, *statements: str) -> Builder:
    """The studio with `statements` run on it; precheck must answer `expected`."""

    def build(legacy_file, tmp_path):
        studio(legacy_file)
        for statement in statements:
            legacy_file.execute(statement)
        return legacy_file.close(), expected

    build.__name__ = name
    return build


CORPUS: list[Builder] = [
    not_sqlite,
    empty,
    truncated,
    corrupt_page,
    corrupt_index_page,
    studio_after("text_in_a_number_column", BLOCKED, "UPDATE clients SET age = 'thirty'"),
    studio_after("number_in_a_date_column", BLOCKED, "UPDATE sessions SET session_date = 20240105"),
    studio_after("unreadable_date", BLOCKED, "UPDATE payments SET payment_date = '05/01/2024'"),
    studio_after("empty_required_text", BLOCKED, "UPDATE clients SET name = ''"),
    studio_after(
        "absurd_age_and_negative_amount",
        BLOCKED,
        "UPDATE clients SET age = 500",
        "UPDATE payments SET amount = -50000",
    ),
    # SQLite keeps an integer it cannot hold in 64 bits as a REAL.
    studio_after(
        "integer_beyond_64_bits",
        BLOCKED,
        "UPDATE session_packages SET total_sessions = 99999999999999999999",
    ),
    very_long_text,
    studio_after("nul_in_text", BLOCKED, "UPDATE clients SET name = 'Kim' || char(0) || 'Minji'"),
    studio_after("invalid_utf8", BLOCKED, "UPDATE clients SET phone = CAST(X'3031302DFF' AS TEXT)"),
    emails_differing_in_case_and_spaces,
    usernames_differing_in_case,
    client_of_a_trainer_gone,
    studio_after("session_on_a_missing_package", BLOCKED, "UPDATE sessions SET package_id = 999"),
    a_trainer_inferable_from_nothing,
    password_hashes_that_cannot_be_kept,
    studio_after(
        "unknown_table_and_column",
        READABLE,
        "CREATE TABLE notes_backup (id INTEGER PRIMARY KEY, text TEXT)",
        "INSERT INTO notes_backup (text) VALUES ('kept')",
        "ALTER TABLE clients ADD COLUMN instagram TEXT",
        "UPDATE clients SET instagram = '@minji'",
    ),
    studio_after("missing_table", BLOCKED, "DROP TABLE assessments"),
    recent_rows_in_the_wal_journal,
    # Every schema generation missing on its own, then all of them (the oldest file).
    *(made_before(generation) for generation in GENERATIONS),
    made_before(*GENERATIONS),
]


def legacy_row_count(path: Path) -> int:
    """The rows of the tables the importer reads, as SQLite itself counts them."""
    with sqlite3.connect(path) as legacy:
        tables = {name for (name,) in legacy.execute("SELECT name FROM sqlite_master")}
        return sum(
            legacy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in SPECS
            if table in tables
        )


def forget_the_import() -> None:
    LedgerEntry.objects.all().delete()
    ImportRun.objects.all().delete()
    for model in TARGET_MODELS:
        model.objects.all().delete()


def check_import(path: Path) -> int:
    """Import `path`: refused with nothing written, or every row accounted for and verified."""
    code, output = run_command("import_legacy", "--source", str(path))
    if code != 0:
        assert code in (1, 2), output
        assert "\n" not in output.split("CommandError: ")[-1].strip()
        assert not any(model.objects.exists() for model in TARGET_MODELS), output
        assert not LedgerEntry.objects.exists()
        return code
    quarantined = LedgerEntry.objects.filter(action="quarantined").count()
    assert LedgerEntry.objects.count() == legacy_row_count(path) + quarantined
    code, output = run_command("verify_import", "--source", str(path))
    assert code == 0, output
    return 0


@pytest.mark.parametrize("build", CORPUS, ids=lambda build: build.__name__)
def test_every_bad_file_gets_a_clear_answer_and_loses_nothing(build, legacy_file, tmp_path):
    path, expected = build(legacy_file, tmp_path)

    code, output = run_command("precheck", "--source", str(path))
    assert code == expected, output
    if code == UNREADABLE:
        message = output.split("CommandError: ")[-1].strip()
        assert "\n" not in message
        if build in (truncated, corrupt_page, corrupt_index_page):
            assert "the file is damaged" in message and "restore it from a backup" in message

    imported = check_import(path)
    assert (imported == 0) == (expected == READABLE)
    forget_the_import()

    cleaned = tmp_path / "cleaned.db"
    code, output = run_command("clean_legacy", "--source", str(path), "--output", str(cleaned))
    assert code in (0, 1, 2), output
    assert "\n" not in output.split("CommandError: ")[-1].strip() or code != UNREADABLE
    if expected == UNREADABLE:  # (a file missing a whole table is refused the same way)
        assert code == UNREADABLE and not cleaned.exists()
    if cleaned.exists():
        check_import(cleaned)
