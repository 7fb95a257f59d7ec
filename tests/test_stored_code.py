"""Stored code in a legacy file (triggers, views, generated columns) and clean_legacy's log.

A file a studio owner edited by hand may hold code that runs when rows are
written. The import only reads; clean_legacy writes its copy, so it makes the
copy plain data first, and checks at its end that every cell which differs
from the source has its entry in the change log.
"""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from migration.clean import run as clean_module
from migration.clean.run import CleanError
from migration.legacy import open_legacy
from migration.legacy.schema import CHANGES_TABLE
from migration.legacy.stored_code import plain_table_sql
from migration.precheck.run import run_precheck
from tests.conftest import run_command, sha256_of
from tests.legacy_files import LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")


# --- helpers --------------------------------------------------------------


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, params).fetchall()


def clean_command(source: Path, output: Path, *options: str) -> tuple[int, str]:
    return run_command("clean_legacy", "--source", str(source), "--output", str(output), *options)


def cleaned(source: Path) -> Path:
    output = source.with_name("cleaned.db")
    before = sha256_of(source)
    code, text = clean_command(source, output)
    assert code == 0, text
    assert sha256_of(source) == before
    return output


def logged(path: Path, rule: str) -> list[tuple]:
    return query(
        path,
        f"SELECT table_name, row_id, column_name, old_value, new_value FROM {CHANGES_TABLE} "
        "WHERE rule = ? ORDER BY id",
        (rule,),
    )


def schema_of(path: Path, kind: str) -> list[tuple]:
    return query(path, "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = ?", (kind,))


def every_row(path: Path) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every legacy table and view (not the tool's own): {table: {id: {column: value}}}.

    SELECT * shows generated columns too, and a view's rows, as a reader sees them.
    """
    with closing(sqlite3.connect(path)) as connection:
        connection.text_factory = bytes
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        ]
        tables = {}
        for name in map(bytes.decode, names):
            if name.startswith(("_migration_", "sqlite_")):
                continue
            cursor = connection.execute(f'SELECT * FROM "{name}"')
            columns = [description[0] for description in cursor.description]
            tables[name] = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor}
        return tables


def unlogged_differences(source: Path, output: Path) -> list[tuple]:
    """Each (table, row id, column) where the copy differs from the source and the
    change log has no entry for it: the test's own account, in Python, of what
    clean_legacy promises (a row deleted or inserted needs its row's entry, column None)."""
    entries = set(query(output, f"SELECT table_name, row_id, column_name FROM {CHANGES_TABLE}"))
    before, after = every_row(source), every_row(output)
    found = []
    for table in before.keys() | after.keys():
        old_rows, new_rows = before.get(table, {}), after.get(table, {})
        for row_id in old_rows.keys() | new_rows.keys():
            old, new = old_rows.get(row_id), new_rows.get(row_id)
            if old is None or new is None:
                if (table, row_id, None) not in entries:
                    found.append((table, row_id, None))
                continue
            for column in old.keys() | new.keys():
                a, b = old.get(column), new.get(column)
                if (type(a), a) != (type(b), b) and (table, row_id, column) not in entries:
                    found.append((table, row_id, column))
    return sorted(found, key=repr)


def precheck(path: Path):
    with open_legacy(path) as source:
        return run_precheck(source)


def duplicate_email_studio(legacy_file: LegacyFile) -> dict[str, int]:
    """A studio whose second trainer shares the first's address: clean updates trainers."""
    ids = legacy_file.small_studio()
    ids["copycat"] = legacy_file.trainer(username="copycat", email="TRAINER1@example.com")
    ids["copycat_client"] = legacy_file.client(ids["copycat"], phone="010-1234-5678")
    return ids


# Each changes rows nobody asked it to when one of clean_legacy's fixes writes.
TRIGGERS = {
    "another row and column": (
        "CREATE TRIGGER keep_phone AFTER UPDATE OF email ON trainers BEGIN "
        "UPDATE clients SET phone = new.email WHERE trainer_id = new.id; "
        "UPDATE trainers SET name = 'touched' WHERE id != new.id; END"
    ),
    "a row deleted": (
        "CREATE TRIGGER tidy AFTER UPDATE ON trainers BEGIN "
        "DELETE FROM assessments WHERE trainer_id = old.id; END"
    ),
    "a row inserted": (
        "CREATE TRIGGER audit BEFORE UPDATE ON trainers BEGIN "
        "INSERT INTO payment_records (client_id, trainer_id, amount, payment_date) "
        "VALUES (1, old.id, 1, '2024-01-01'); END"
    ),
}


# --- triggers -------------------------------------------------------------


@pytest.mark.parametrize("trigger", TRIGGERS.values(), ids=TRIGGERS.keys())
def test_no_trigger_in_the_copy_fires_and_its_sql_is_in_the_change_log(legacy_file, trigger):
    duplicate_email_studio(legacy_file)
    legacy_file.execute(trigger)
    source = legacy_file.close()
    output = cleaned(source)
    assert unlogged_differences(source, output) == []
    assert schema_of(output, "trigger") == []
    ((sql,),) = query(source, "SELECT sql FROM sqlite_master WHERE type = 'trigger'")
    assert logged(output, "schema.trigger") == [("trainers", None, None, sql, None)]
    report = precheck(output)
    assert report.blocking == []
    assert "schema.trigger" not in {item.code for item in report.findings}


def test_every_trigger_is_dropped_whatever_it_is_on(legacy_file):
    duplicate_email_studio(legacy_file)
    legacy_file.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    legacy_file.execute("CREATE VIEW trainer_names AS SELECT id, name FROM trainers")
    for sql in (
        "CREATE TRIGGER on_notes AFTER INSERT ON notes BEGIN SELECT 1; END",
        "CREATE TRIGGER on_view INSTEAD OF UPDATE ON trainer_names BEGIN SELECT 1; END",
        "CREATE TRIGGER on_log AFTER INSERT ON clients BEGIN SELECT 1; END",
    ):
        legacy_file.execute(sql)
    source = legacy_file.close()
    output = cleaned(source)
    assert schema_of(output, "trigger") == []
    assert sorted(entry[0] for entry in logged(output, "schema.trigger")) == [
        "clients",
        "notes",
        "trainer_names",
    ]
    assert unlogged_differences(source, output) == []


@pytest.mark.django_db
def test_copy_of_a_file_with_a_trigger_imports_and_verifies(legacy_file):
    duplicate_email_studio(legacy_file)
    legacy_file.execute(TRIGGERS["another row and column"])
    output = cleaned(legacy_file.close())
    assert run_command("precheck", "--source", str(output))[0] == 0
    code, text = run_command("import_legacy", "--source", str(output))
    assert code == 0, text
    code, text = run_command("verify_import", "--source", str(output))
    assert code == 0, text


# --- views ----------------------------------------------------------------


def test_a_view_where_a_table_should_be_becomes_a_table_of_its_rows(legacy_file):
    ids = legacy_file.small_studio()
    nameless = legacy_file.session(ids["client"], ids["package"], None, session_date="2024-03-09")
    legacy_file.execute("ALTER TABLE sessions RENAME TO sessions_kept")
    legacy_file.execute("CREATE VIEW sessions AS SELECT * FROM sessions_kept")
    source = legacy_file.close()
    (view_sql,) = [sql for name, _, sql in schema_of(source, "view") if name == "sessions"]
    output = cleaned(source)
    assert schema_of(output, "view") == []
    ((table_sql,),) = query(output, "SELECT sql FROM sqlite_master WHERE name = 'sessions'")
    assert logged(output, "schema.view") == [("sessions", None, None, view_sql, table_sql)]
    # The fixes ran on the table: the session's trainer is inferred, and logged.
    assert query(output, "SELECT trainer_id FROM sessions WHERE id = ?", (nameless,)) == [
        (ids["trainer"],)
    ]
    assert ("sessions", nameless, "trainer_id", None, ids["trainer"]) in logged(
        output, "reference.inferable-trainer"
    )
    assert query(output, "SELECT rowid, id FROM sessions ORDER BY id") == [
        (ids["session"], ids["session"]),
        (nameless, nameless),
    ]
    assert unlogged_differences(source, output) == []
    assert precheck(output).blocking == []


def test_a_view_without_ids_keeps_the_rows_it_showed_in_the_source(legacy_file):
    kept = legacy_file.small_studio()
    legacy_file.client(99, name="고아")  # quarantined: the view would lose its row
    legacy_file.execute(
        "CREATE VIEW clients_per_trainer AS "
        "SELECT trainer_id, count(*) AS clients FROM clients GROUP BY trainer_id"
    )
    source = legacy_file.close()
    shown = query(source, "SELECT * FROM clients_per_trainer ORDER BY trainer_id")
    output = cleaned(source)
    assert query(output, "SELECT count(*) FROM clients") == [(1,)]
    assert query(output, "SELECT * FROM clients_per_trainer ORDER BY trainer_id") == shown
    assert shown == [(kept["trainer"], 1), (99, 1)]
    assert [entry[0] for entry in logged(output, "schema.view")] == ["clients_per_trainer"]
    assert schema_of(output, "view") == []


def test_a_core_table_that_is_a_view_is_cleaned_not_refused(legacy_file):
    ids = duplicate_email_studio(legacy_file)
    legacy_file.execute("ALTER TABLE clients RENAME TO clients_kept")
    legacy_file.execute("CREATE VIEW clients AS SELECT * FROM clients_kept")
    source = legacy_file.close()
    output = cleaned(source)
    assert [entry[0] for entry in logged(output, "schema.view")] == ["clients"]
    assert query(output, "SELECT id FROM clients ORDER BY id") == [
        (ids["client"],),
        (ids["copycat_client"],),
    ]
    assert unlogged_differences(source, output) == []


def test_a_view_that_cannot_be_read_is_refused_naming_it(legacy_file):
    legacy_file.small_studio()
    legacy_file.execute("CREATE TABLE old_notes (id INTEGER PRIMARY KEY, note TEXT)")
    legacy_file.execute("CREATE VIEW notes AS SELECT * FROM old_notes")
    legacy_file.execute("DROP TABLE old_notes")
    source = legacy_file.close()
    code, text = clean_command(source, source.with_name("cleaned.db"))
    assert code == 2
    (line,) = text.split("CommandError: ")[1].splitlines()
    assert line.startswith("view notes: it cannot be read as a table (") and "old_notes" in line
    assert sorted(p.name for p in source.parent.iterdir()) == ["legacy.db"]


@pytest.mark.django_db
def test_copy_of_a_file_with_a_view_for_a_table_imports_and_verifies(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.session(ids["client"], ids["package"], None, session_date="2024-03-09")
    legacy_file.execute("ALTER TABLE sessions RENAME TO sessions_kept")
    legacy_file.execute("CREATE VIEW sessions AS SELECT * FROM sessions_kept")
    output = cleaned(legacy_file.close())
    code, text = run_command("import_legacy", "--source", str(output))
    assert code == 0, text
    code, text = run_command("verify_import", "--source", str(output))
    assert code == 0, text


# --- generated columns ----------------------------------------------------


def indexes(path: Path, table: str) -> list[tuple]:
    return query(
        path,
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name",
        (table,),
    )


def test_generated_columns_hold_the_values_they_showed_as_plain_data(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.execute("ALTER TABLE clients ADD COLUMN name_length INTEGER AS (length(name))")
    legacy_file.execute(
        "UPDATE clients SET name = CAST(? AS TEXT) WHERE id = ?",
        (b"kim\x00minji", ids["client"]),
    )
    source = legacy_file.close()
    ((table_sql,),) = query(source, "SELECT sql FROM sqlite_master WHERE name = 'clients'")
    assert query(source, "SELECT name_length FROM clients") == [(3,)]  # up to the NUL
    output = cleaned(source)
    # The text fix changed the name; the column that read it keeps what it showed.
    assert query(output, "SELECT name, name_length FROM clients") == [("kimminji", 3)]
    hidden = query(output, "SELECT name, hidden FROM pragma_table_xinfo('clients')")
    assert ("name_length", 0) in hidden and all(flag == 0 for _, flag in hidden)
    ((plain_sql,),) = query(output, "SELECT sql FROM sqlite_master WHERE name = 'clients'")
    assert "GENERATED" not in plain_sql.upper() and " AS " not in plain_sql.upper()
    assert logged(output, "schema.generated-column") == [
        ("clients", None, None, table_sql, plain_sql)
    ]
    assert indexes(output, "clients") == indexes(source, "clients")
    assert unlogged_differences(source, output) == []


def test_a_generated_legacy_column_is_written_by_the_fixes_like_any_other(legacy_file):
    ids = legacy_file.small_studio()
    ((payments_sql,),) = query(
        legacy_file.path, "SELECT sql FROM sqlite_master WHERE name = 'payments'"
    )
    generated = payments_sql.replace(
        "net_amount INTEGER,",
        "net_amount INTEGER GENERATED ALWAYS AS (gross_amount - vat_amount - card_fee_amount) "
        "STORED,",
    )
    assert generated != payments_sql
    legacy_file.execute("DROP TABLE payments")
    legacy_file.execute(generated)
    legacy_file.execute("CREATE INDEX payments_by_client ON payments (client_id)")
    legacy_file.execute(
        "INSERT INTO payments (id, client_id, package_id, trainer_id, amount, payment_method, "
        "payment_date, created_at) VALUES (7, ?, ?, ?, 300000.0, '카드', '2024-03-01', "
        "'2024-03-01 09:00:00')",
        (ids["client"], ids["package"], ids["trainer"]),
    )
    source = legacy_file.close()
    output = cleaned(source)
    assert query(
        output, "SELECT id, gross_amount, vat_amount, card_fee_amount, net_amount FROM payments"
    ) == [(7, 300_000, 27_273, 10_500, 262_227)]
    assert ("payments", 7, "net_amount", None, 262_227) in logged(output, "fees.missing")
    assert ("net_amount", 0) in query(
        output, "SELECT name, hidden FROM pragma_table_xinfo('payments')"
    )
    assert indexes(output, "payments") == indexes(source, "payments")
    sequence = "SELECT seq FROM sqlite_sequence WHERE name = 'payments'"
    assert query(output, sequence) == query(source, sequence) == [(7,)]
    assert unlogged_differences(source, output) == []
    assert precheck(output).blocking == []


@pytest.mark.parametrize(
    ("ddl", "plain"),
    [
        (
            "CREATE TABLE t (a TEXT, b TEXT GENERATED ALWAYS AS (upper(a)) VIRTUAL, c INT)",
            "CREATE TABLE t (a TEXT, b TEXT, c INT)",
        ),
        (
            'CREATE TABLE "t" ("a" TEXT, [b] AS (a || \'AS (x)\' || ")" ), c)',
            'CREATE TABLE "t" ("a" TEXT, [b], c)',
        ),
        (
            "CREATE TABLE t (a, b INT NOT NULL CONSTRAINT g GENERATED ALWAYS AS "
            "(coalesce((a), 0)) STORED /* stored, */ -- as (a)\n, c CHECK (CAST(c AS INT) > 0))",
            "CREATE TABLE t (a, b INT NOT NULL /* stored, */ -- as (a)\n, "
            "c CHECK (CAST(c AS INT) > 0))",
        ),
    ],
)
def test_plain_table_sql_leaves_each_generated_column_its_type_and_constraints(ddl, plain):
    assert plain_table_sql(ddl) == plain


def test_generated_columns_clean_cannot_make_plain_are_refused(legacy_file, monkeypatch):
    legacy_file.small_studio()
    legacy_file.execute("ALTER TABLE clients ADD COLUMN shout TEXT AS (upper(name))")
    source = legacy_file.close()
    monkeypatch.setattr(clean_module, "plain_table_sql", lambda sql: sql)  # not plain at all
    output = source.with_name("cleaned.db")
    code, text = clean_command(source, output)
    assert code == 2
    (line,) = text.split("CommandError: ")[1].splitlines()
    assert "clients" in line and "shout" in line and "nothing was written" in line
    assert sorted(p.name for p in source.parent.iterdir()) == ["legacy.db"]


# --- every change logged --------------------------------------------------


def _unlogged(sql: str, params: tuple = ()):
    """A text fix that also runs `sql` on the copy and does not log it (a fault)."""
    original = clean_module.make_text_storable

    def fix(copy) -> None:
        original(copy)
        copy.connection.execute(sql, params)

    return fix


UNLOGGED = {
    "a cell": (
        "UPDATE clients SET phone = 'x' WHERE id = 1",
        "clients row 1, column phone",
    ),
    "a row deleted": ("DELETE FROM assessments WHERE id = 1", "assessments row 1"),
    "a row inserted": (
        "INSERT INTO payments (id, client_id, trainer_id, amount, payment_date) "
        "VALUES (50, 1, 1, 1, '2024-03-01')",
        "payments row 50",
    ),
    "a column added": ("ALTER TABLE clients ADD COLUMN extra TEXT", "clients column extra"),
    "a table added": ("CREATE TABLE extra (id INTEGER PRIMARY KEY)", "table extra"),
}


@pytest.mark.parametrize(("sql", "named"), UNLOGGED.values(), ids=UNLOGGED.keys())
def test_a_change_no_entry_records_fails_the_clean_and_writes_nothing(
    legacy_file, monkeypatch, sql, named
):
    ids = legacy_file.small_studio()
    legacy_file.payment_record(ids["client"], ids["package"], ids["trainer"])
    legacy_file.execute("UPDATE clients SET phone = 'kept' WHERE id = 1")
    source = legacy_file.close()
    monkeypatch.setattr(clean_module, "make_text_storable", _unlogged(sql))
    output = source.with_name("cleaned.db")
    code, text = clean_command(source, output)
    assert code == 1
    (line,) = text.split("CommandError: ")[1].splitlines()
    assert named in line and "nothing was written" in line
    assert sorted(p.name for p in source.parent.iterdir()) == ["legacy.db"]


def without_rowid_trainers(legacy_file: LegacyFile) -> None:
    ((sql,),) = query(legacy_file.path, "SELECT sql FROM sqlite_master WHERE name = 'trainers'")
    legacy_file.execute("DROP TABLE trainers")
    legacy_file.execute(
        sql.replace("AUTOINCREMENT", "").replace("TIMESTAMP\n)", "TIMESTAMP\n) WITHOUT ROWID")
    )
    assert query(
        legacy_file.path,
        "SELECT sql LIKE '%WITHOUT ROWID' FROM sqlite_master WHERE name = 'trainers'",
    ) == [(1,)]


def test_rows_of_a_table_without_rowid_are_paired_by_primary_key(legacy_file, monkeypatch):
    without_rowid_trainers(legacy_file)
    legacy_file.trainer(id=1)
    legacy_file.trainer(id=2, username="copycat", email="TRAINER1@example.com")
    legacy_file.client(2)
    source = legacy_file.close()
    output = cleaned(source)  # the e-mail fix's change to trainers is logged: it passes
    assert unlogged_differences(source, output) == []
    monkeypatch.setattr(
        clean_module, "make_text_storable", _unlogged("UPDATE trainers SET name = 'x' WHERE id = 2")
    )
    code, text = clean_command(source, source.with_name("again.db"))
    assert code == 1
    assert "trainers row 2, column name changed" in text


def test_a_source_in_wal_mode_is_compared_with_its_journal(legacy_file):
    duplicate_email_studio(legacy_file)
    legacy_file.execute("PRAGMA journal_mode = WAL")
    legacy_file.connection.execute("PRAGMA wal_autocheckpoint = 0")
    legacy_file.execute("UPDATE clients SET phone = 'in the journal'")
    source = legacy_file.path
    assert source.with_name("legacy.db-wal").stat().st_size > 0
    output = cleaned(source)  # the file stays open: its rows are still in the WAL
    assert query(output, "SELECT DISTINCT phone FROM clients") == [("in the journal",)]


def test_a_logged_change_passes_the_check(legacy_file, monkeypatch):
    legacy_file.small_studio()
    source = legacy_file.close()
    original = clean_module.make_text_storable

    def fix(copy) -> None:
        original(copy)
        copy.connection.execute("UPDATE clients SET phone = 'x' WHERE id = 1")
        copy.log([("clients", 1, "phone", "", "x", "value.unstorable-text")])

    monkeypatch.setattr(clean_module, "make_text_storable", fix)
    output = cleaned(source)
    assert query(output, "SELECT phone FROM clients") == [("x",)]


def test_only_this_runs_entries_account_for_its_changes(legacy_file, monkeypatch):
    # A cleaned copy cleaned again carries the first run's log: an entry there for
    # a cell is no record of a change this run made to it.
    ids = duplicate_email_studio(legacy_file)
    once = cleaned(legacy_file.close())
    assert ("trainers", ids["copycat"], "email") in {
        entry[:3] for entry in logged(once, "trainers.duplicate-email")
    }
    monkeypatch.setattr(
        clean_module,
        "make_text_storable",
        _unlogged("UPDATE trainers SET email = 'x@example.com' WHERE id = ?", (ids["copycat"],)),
    )
    code, text = clean_command(once, once.with_name("twice.db"))
    assert code == 1
    assert f"trainers row {ids['copycat']}, column email changed" in text


def test_a_source_written_while_it_is_cleaned_is_refused(legacy_file, monkeypatch):
    legacy_file.small_studio()
    source = legacy_file.close()
    original = clean_module.make_text_storable

    def fix(copy) -> None:
        original(copy)
        with closing(sqlite3.connect(source)) as app:  # the old app, still running
            app.execute("UPDATE clients SET phone = 'new' WHERE id = 1")
            app.commit()

    monkeypatch.setattr(clean_module, "make_text_storable", fix)
    output = source.with_name("cleaned.db")
    code, text = clean_command(source, output)
    assert code == 2
    assert "written to while it was cleaned" in text
    assert not output.exists()


def test_the_check_is_a_clean_error_with_one_line(legacy_file, monkeypatch):
    legacy_file.small_studio()
    source = legacy_file.close()
    monkeypatch.setattr(
        clean_module, "make_text_storable", _unlogged("UPDATE trainers SET name = 'x'")
    )
    with open_legacy(source) as legacy, pytest.raises(CleanError) as raised:
        clean_module.clean_legacy(
            source=legacy, output=source.with_name("out.db"), explicit_emails={}
        )
    assert "trainers row 1, column name" in str(raised.value)
    assert "\n" not in str(raised.value)
