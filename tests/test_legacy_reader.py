"""The legacy reader: bad files fail in one line, the file is never written, names are not SQL."""

import sqlite3
from contextlib import closing
from pathlib import Path

import bcrypt
import pytest
from django.db import connections

from migration.legacy import FileWatch, LegacyFileError, open_legacy
from migration.precheck.run import run_precheck
from tests.conftest import run_command, sha256_of
from tests.legacy_files import LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")

BCRYPT = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(4)).decode()
HOSTILE_TABLE = 'weird"; DROP TABLE trainers; --'
HOSTILE_COLUMN = 'a%sb"c'


@pytest.fixture
def real_file(tmp_path: Path) -> Path:
    """A small, sound legacy file to cut up."""
    built = LegacyFile(tmp_path / "real.db")
    built.small_studio()
    return built.close()


def bad_file(kind: str, tmp_path: Path, real: Path) -> Path:
    path = tmp_path / f"{kind}.db"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-sqlite":
        path.write_text("id,name\n1,Kim\n", encoding="utf-8")
    elif kind == "first-100-bytes":
        path.write_bytes(real.read_bytes()[:100])
    elif kind == "cut-in-half":
        data = real.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


BAD_FILES = [
    ("missing", "no such file"),
    ("directory", "not a file"),
    ("empty", "the file is empty"),
    ("not-sqlite", "not a SQLite database"),
    ("first-100-bytes", "the file is damaged"),
    ("cut-in-half", "the file is damaged"),
]


@pytest.mark.parametrize(("kind", "problem"), BAD_FILES)
def test_open_legacy_refuses_a_bad_file_in_one_line(kind, problem, tmp_path, real_file):
    path = bad_file(kind, tmp_path, real_file)
    with pytest.raises(LegacyFileError) as caught, open_legacy(path):
        pass
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message
    assert "legacy" not in connections.settings


@pytest.mark.parametrize(("kind", "problem"), BAD_FILES)
def test_precheck_of_a_bad_file_exits_2_without_a_traceback(kind, problem, tmp_path, real_file):
    path = bad_file(kind, tmp_path, real_file)
    # run_command catches CommandError only: any other exception fails the test here.
    code, output = run_command("precheck", "--source", str(path))
    assert code == 2
    report, _, message = output.partition("CommandError: ")
    assert report.strip() == ""
    assert message.startswith(str(path)) and problem in message
    assert "\n" not in message.strip()
    assert "Traceback" not in output


def test_damaged_table_page_exits_2_naming_the_file(tmp_path):
    built = LegacyFile(tmp_path / "damaged.db")
    trainer = built.trainer()
    for n in range(60):
        built.client(trainer, name=f"Client {n}", phone="010-0000-0000" * 5)
    path = built.close()
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'clients'"
        ).fetchone()
    connection.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    code, output = run_command("precheck", "--source", str(path))
    assert code == 2
    message = output.partition("CommandError: ")[2]
    assert message.startswith(str(path)) and "malformed" in message
    assert "the file is damaged" in message and "restore it from a backup" in message
    assert "\n" not in message.strip()


def test_path_with_uri_characters_opens_that_file(tmp_path):
    built = LegacyFile(tmp_path / "studio #1? 100%.db")
    built.trainer(username="only-here")
    path = built.close()
    with open_legacy(path) as source:
        assert source.query("SELECT username FROM trainers") == [("only-here",)]


# --- the alias ------------------------------------------------------------


def test_alias_exists_only_inside_the_block(real_file):
    with open_legacy(real_file) as source:
        assert source.alias in connections.settings
        assert source.count("trainers") == 1
    assert "legacy" not in connections.settings


def test_alias_is_removed_after_an_exception_in_the_block(real_file):
    with pytest.raises(ZeroDivisionError), open_legacy(real_file):
        1 / 0  # noqa: B018
    assert "legacy" not in connections.settings
    with open_legacy(real_file) as source:  # and the next file opens normally
        assert source.count("clients") == 1


def test_a_second_file_cannot_take_the_open_alias(real_file, tmp_path):
    other = LegacyFile(tmp_path / "other.db").close()
    with open_legacy(real_file) as source:
        with pytest.raises(LegacyFileError, match="already open"), open_legacy(other):
            pass
        assert source.count("trainers") == 1  # the first file is still the one open
    assert "legacy" not in connections.settings


# --- read-only ------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM trainers",
        "UPDATE clients SET name = 'x'",
        "CREATE TABLE scratch (a)",
        "PRAGMA user_version = 7",
    ],
)
def test_writes_through_the_source_are_refused(real_file, sql):
    before = sha256_of(real_file)
    with open_legacy(real_file) as source:
        with pytest.raises(LegacyFileError, match="readonly"):
            source.query(sql)
        assert source.count("trainers") == 1
    assert sha256_of(real_file) == before


def test_turning_query_only_off_still_cannot_write(real_file):
    # mode=ro is the second lock: SQLite refuses writes whatever the pragmas say.
    before = sha256_of(real_file)
    with open_legacy(real_file) as source:
        source.query("PRAGMA query_only = OFF")
        with pytest.raises(LegacyFileError, match="readonly"):
            source.query("UPDATE trainers SET name = 'changed'")
    assert sha256_of(real_file) == before


# --- streaming ------------------------------------------------------------


@pytest.fixture
def five_trainers(legacy_file: LegacyFile) -> Path:
    ids = [legacy_file.trainer(username=f"t{n}") for n in range(6)]
    # Ids need not be contiguous (the production file's clients start at 3).
    legacy_file.execute("DELETE FROM trainers WHERE id = ?", (ids[2],))
    return legacy_file.close()


@pytest.mark.parametrize("batch_size", [1, 2, 5, 100])
def test_rows_come_back_in_id_order_whatever_the_batch(five_trainers, batch_size):
    with open_legacy(five_trainers) as source:
        rows = list(source.rows("trainers", ("id", "username"), batch_size=batch_size))
    assert rows == [(1, "t0"), (2, "t1"), (4, "t3"), (5, "t4"), (6, "t5")]


def test_rows_are_read_in_batches(five_trainers):
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with open_legacy(five_trainers) as source, source.connection.execute_wrapper(record):
        rows = source.rows("trainers", ("id",), batch_size=2)
        assert next(rows) == (1,)
        started = len(statements)
        rest = list(rows)
    assert rest == [(2,), (4,), (5,), (6,)]
    ranged = [sql for sql in statements if "LIMIT 2" in sql]
    assert len(ranged) == 3  # 2 + 2 + 1 rows, never all at once
    assert started < len(statements)  # later batches were read only when asked for


@pytest.mark.parametrize("per_chunk", [1, 2, 3, 5, 6])
def test_rowid_chunks_cover_every_row_once_in_full_chunks(five_trainers, per_chunk):
    # Rowids 1, 2, 4, 5, 6: a gap, and counts that are and are not multiples.
    with open_legacy(five_trainers) as source:
        chunks = source.rowid_chunks("trainers", per_chunk)
        read = [list(source.rows("trainers", ("id",), rowids=chunk)) for chunk in chunks]
        # A worker reads its chunk in one query: the same rows.
        assert read == [source.chunk("trainers", ("id",), chunk) for chunk in chunks]
        sizes = [len(rows) for rows in read]
    assert [first for first, _ in chunks] == sorted(first for first, _ in chunks)
    assert sum(sizes) == 5
    assert all(size == per_chunk for size in sizes[:-1]) and 0 < sizes[-1] <= per_chunk


def test_an_empty_table_has_no_chunks(legacy_file):
    path = legacy_file.close()
    with open_legacy(path) as source:
        assert source.rowid_chunks("trainers", 10) == []


def test_a_column_named_rowid_does_not_hide_rows(legacy_file):
    for n in range(4):
        legacy_file.trainer(username=f"t{n}")
    legacy_file.execute('ALTER TABLE trainers ADD COLUMN "rowid" TEXT')  # added by hand, NULL
    path = legacy_file.close()
    with open_legacy(path) as source:
        assert list(source.rows("trainers", ("id",), batch_size=2)) == [(1,), (2,), (3,), (4,)]


# --- names and text from the file -----------------------------------------


@pytest.fixture
def hostile_file(legacy_file: LegacyFile) -> Path:
    legacy_file.small_studio()
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    table, column = HOSTILE_TABLE.replace('"', '""'), HOSTILE_COLUMN.replace('"', '""')
    legacy_file.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, "{column}" TEXT)')
    for value in ("one", "100%s", "it's"):
        legacy_file.insert(table, **{column: value})
    return legacy_file.close()


def test_hostile_names_are_read_safely(hostile_file):
    with open_legacy(hostile_file) as source:
        assert HOSTILE_TABLE in source.table_names()
        assert [c.name for c in source.columns(HOSTILE_TABLE)] == ["id", HOSTILE_COLUMN]
        assert source.count(HOSTILE_TABLE) == 3
        rows = list(source.rows(HOSTILE_TABLE, (HOSTILE_COLUMN, "id"), batch_size=2))
        assert rows == [("one", 1), ("100%s", 2), ("it's", 3)]
        assert source.count("trainers") == 1  # nothing was dropped


def test_precheck_reports_a_hostile_table_as_unknown(hostile_file):
    before = sha256_of(hostile_file)
    with open_legacy(hostile_file) as source:
        report = run_precheck(source)
    (unknown,) = [f for f in report.findings if f.code == "schema.unknown-table"]
    assert unknown.table == HOSTILE_TABLE
    assert "3 rows" in unknown.summary
    assert run_command("precheck", "--source", str(hostile_file))[0] == 0  # a warning only
    assert sha256_of(hostile_file) == before


def test_precheck_reports_a_hostile_column_as_unknown(legacy_file):
    legacy_file.small_studio()
    column = HOSTILE_COLUMN.replace('"', '""')
    legacy_file.execute(f'ALTER TABLE clients ADD COLUMN "{column}"')
    path = legacy_file.close()
    with open_legacy(path) as source:
        report = run_precheck(source)
    (unknown,) = [f for f in report.findings if f.code == "schema.unknown-column"]
    assert (unknown.table, unknown.column) == ("clients", HOSTILE_COLUMN)


@pytest.fixture
def non_utf8_file(legacy_file: LegacyFile) -> tuple[Path, int]:
    ids = legacy_file.small_studio()
    legacy_file.execute(
        "UPDATE clients SET name = CAST(X'4B696DFF' AS TEXT) WHERE id = ?", (ids["client"],)
    )
    return legacy_file.close(), ids["client"]


def test_text_that_is_not_utf8_is_read(non_utf8_file):
    path, client = non_utf8_file
    with open_legacy(path) as source:
        rows = list(source.rows("clients", ("id", "name")))
    # The byte that is not UTF-8 is kept (reversibly), not dropped or replaced.
    assert rows == [(client, "Kim\udcff")]
    assert rows[0][1].encode("utf-8", "surrogateescape") == b"Kim\xff"


def test_precheck_reports_text_that_is_not_utf8(non_utf8_file):
    path, client = non_utf8_file
    code, output = run_command("precheck", "--source", str(path))
    assert code == 1
    assert "[value.unstorable-text] clients.name" in output
    assert "contains bytes that are not UTF-8" in output


def test_report_with_non_utf8_text_can_be_written_to_a_file(legacy_file, tmp_path):
    legacy_file.small_studio()
    legacy_file.execute("UPDATE payments SET payment_method = CAST(X'CAFF' AS TEXT)")
    path = legacy_file.close()
    target = tmp_path / "report.txt"
    code, _ = run_command("precheck", "--source", str(path), "--output", str(target))
    assert code == 1
    assert "value.unstorable-text" in target.read_text(encoding="utf-8")


def test_a_batch_with_text_that_is_not_utf8_is_read_whole_and_its_neighbours_too(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute(
        "UPDATE clients SET name = CAST(X'4B696DFF' AS TEXT) WHERE id = ?", (ids["client"],)
    )
    path = legacy_file.close()
    with open_legacy(path) as source:
        expected = source.query("SELECT id, name FROM clients ORDER BY rowid")
        for batch_size in (1, 2, 1000):
            assert list(source.rows("clients", ("id", "name"), batch_size=batch_size)) == expected
    assert (ids["client"], "Kim\udcff") in expected


def test_a_watch_sees_a_write_to_the_file_or_to_its_wal_journal(tmp_path):
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as app:
        app.execute("PRAGMA journal_mode = WAL")
        app.execute("PRAGMA wal_autocheckpoint = 0")  # the app's writes stay in the journal
        app.execute("CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT)")
        app.commit()
        watch = FileWatch(path)
        assert not watch.changed()
        app.execute("INSERT INTO clients (name) VALUES ('Kim')")
        app.commit()
        assert watch.changed()
        # ... and the reader sees the journal's rows.
        with open_legacy(path) as source:
            assert source.query("SELECT name FROM clients") == [("Kim",)]


def test_a_file_a_writer_holds_locked_is_refused_saying_so(legacy_file):
    legacy_file.small_studio()
    path = legacy_file.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as app:
        app.execute("BEGIN EXCLUSIVE")  # the old app, in the middle of writing
        code, output = run_command("precheck", "--source", str(path))
    assert code == 2
    message = output.split("CommandError: ")[-1].strip()
    assert message == (
        f"{path}: another program is writing to it (database is locked): stop the legacy app "
        "(or wait for it), then run this again"
    )


# --- views and generated columns --------------------------------------------


@pytest.fixture
def view_file(legacy_file: LegacyFile) -> Path:
    """trainers as a view that lists its rows backwards, and once more each."""
    for n in range(5):
        legacy_file.trainer(username=f"t{n}")
    legacy_file.execute("ALTER TABLE trainers RENAME TO trainer_rows")
    legacy_file.execute(
        "CREATE VIEW trainers AS SELECT * FROM (SELECT * FROM trainer_rows ORDER BY id DESC) "
        "UNION ALL SELECT * FROM trainer_rows WHERE id % 2 = 0"
    )
    return legacy_file.close()


def test_a_view_is_a_table_of_the_file(view_file):
    with open_legacy(view_file) as source:
        assert "trainers" in source.table_names()
        assert source.views() == ["trainers"]
        assert source.is_view("trainers") and not source.is_view("trainer_rows")
        assert [c.name for c in source.columns("trainers")][:3] == [
            "id",
            "username",
            "password_hash",
        ]


def test_a_view_is_read_whole_in_id_order_never_by_rowid(view_file):
    with open_legacy(view_file) as source:
        # A view's rowid reads as NULL on every row: ranges of it would read nothing.
        assert source.query("SELECT count(rowid) FROM trainers") == [(0,)]
        assert source.rowid_name("trainers") is None
        assert source.rowid_chunks("trainers", 2) is None
        for batch_size in (1, 3, 100):
            rows = list(source.rows("trainers", ("id", "username"), batch_size=batch_size))
            assert rows == [
                (1, "t0"), (2, "t1"), (2, "t1"), (3, "t2"), (4, "t3"), (4, "t3"), (5, "t4")
            ]  # fmt: skip
        assert source.count("trainers") == 7


def test_generated_columns_are_read_as_columns(legacy_file):
    legacy_file.trainer(username="Kim")
    legacy_file.execute(
        "ALTER TABLE trainers ADD COLUMN username_key TEXT "
        "GENERATED ALWAYS AS (lower(username)) VIRTUAL"
    )
    legacy_file.execute(
        "CREATE TABLE scores (id INTEGER PRIMARY KEY, raw REAL, "
        "doubled REAL GENERATED ALWAYS AS (raw * 2) STORED)"
    )
    legacy_file.insert("scores", raw=1.5)
    path = legacy_file.close()
    with open_legacy(path) as source:
        columns = {c.name: c for c in source.columns("trainers")}
        assert columns["username_key"].generated and not columns["username"].generated
        assert [(c.name, c.generated) for c in source.columns("scores")] == [
            ("id", False), ("raw", False), ("doubled", True)
        ]  # fmt: skip
        assert list(source.rows("trainers", ("username_key",))) == [("kim",)]
        assert list(source.rows("scores", ("id", "doubled"))) == [(1, 3.0)]


def test_a_view_that_cannot_be_read_exits_2_naming_it(legacy_file):
    legacy_file.small_studio()
    legacy_file.execute("CREATE TABLE old_notes (id INTEGER PRIMARY KEY, note TEXT)")
    legacy_file.execute("CREATE VIEW notes AS SELECT * FROM old_notes")
    legacy_file.execute("DROP TABLE old_notes")
    path = legacy_file.close()
    code, output = run_command("precheck", "--source", str(path))
    assert code == 2
    message = output.partition("CommandError: ")[2].strip()
    assert message.startswith(f"{path}: reading notes failed (")
    assert "old_notes" in message and "\n" not in message
