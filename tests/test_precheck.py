"""Precheck on small legacy files: each finding it can make, its report formats, its exit codes."""

import dataclasses
import importlib
import json
import pkgutil
import random
import sqlite3
from pathlib import Path

import bcrypt
import pytest

import migration.precheck as precheck_package
from migration.findings import CATALOGUE, Finding, Severity, finding
from migration.legacy import open_legacy
from migration.legacy.schema import QUARANTINE_TABLE, newest_schema
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import SPECS, TABLE_PAIRS, TablePair
from migration.models import LedgerEntry
from migration.precheck import run as precheck_module
from migration.precheck.report import PrecheckReport
from migration.precheck.run import CHECKS, EachTable, run_precheck
from migration.rules.pairs import match_pair_rows
from tests.conftest import run_command, sha256_of
from tests.legacy_files import (
    BEFORE_PACKAGES,
    FIRST_SALTED,
    FIRST_UNSALTED,
    UTC_STAMP,
    WITHOUT_PACKAGES,
    LegacyFile,
)
from tests.test_clean import clean

pytestmark = pytest.mark.usefixtures("legacy_db")

# A real bcrypt hash of a known password (cost 4 keeps the suite fast).
BCRYPT = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(4)).decode()
# The app once stored salted SHA-256: such a user cannot keep the password.
SHA256_HASH = "sha256$studio-salt$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"


@pytest.fixture
def studio(legacy_file: LegacyFile) -> dict[str, int]:
    """small_studio() with a real bcrypt hash: no finding but the informational ones."""
    ids = legacy_file.small_studio()
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    return ids


def precheck(legacy_file: LegacyFile) -> PrecheckReport:
    path = legacy_file.close()
    with open_legacy(path) as source:
        return run_precheck(source)


def problems(report: PrecheckReport) -> list[str]:
    """The codes of every blocking finding and warning, in report order."""
    return [item.code for item in report.findings if item.severity != Severity.INFO]


def the(report: PrecheckReport, code: str) -> Finding:
    matches = [item for item in report.findings if item.code == code]
    assert len(matches) == 1, f"expected one {code}, got {report.findings}"
    return matches[0]


def precheck_command(legacy_file: LegacyFile, *options: str) -> tuple[int, str]:
    return run_command("precheck", "--source", str(legacy_file.close()), *options)


def report_part(output: str) -> str:
    """The report itself, without the CommandError line run_command appends."""
    return output.split("\nCommandError: ")[0]


# --- a clean file ---------------------------------------------------------


def test_small_studio_has_nothing_blocking_and_exits_0(legacy_file):
    legacy_file.small_studio()
    report = precheck(legacy_file)
    assert report.blocking == []
    code, output = precheck_command(legacy_file)
    assert code == 0
    assert "Result: nothing blocks an import of this file." in output


def test_clean_studio_has_only_informational_findings(legacy_file, studio):
    report = precheck(legacy_file)
    assert report.integrity == ("ok",)
    assert report.is_newest_generation
    assert problems(report) == []
    assert sorted(item.code for item in report.findings) == [
        "fees.unaudited",  # the package's and the payment's, as the app recorded them
        "fees.unaudited",
        "normalise.gender",
        "normalise.payment-method",
        "pairs.merge",
        "pairs.merge",
    ]


def test_builder_default_trainer_has_a_usable_password(legacy_file):
    legacy_file.small_studio()
    assert "trainers.unusable-password" not in problems(precheck(legacy_file))


# --- file.integrity -------------------------------------------------------


def test_damaged_index_page_is_blocking_file_integrity(legacy_file, studio):
    for n in range(20):
        legacy_file.client(studio["trainer"], name=f"Client {n}", phone=f"010-{n:04d}")
    legacy_file.execute("CREATE INDEX idx_clients_contact ON clients (phone, email, name)")
    path = legacy_file.close()
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'idx_clients_contact'"
        ).fetchone()
    connection.close()
    assert root > 1  # page 1 holds the schema; this damage only shows when checked
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    at = data.find(b"010-0005", start, start + page_size)
    assert at != -1
    data[at : at + 8] = b"010-9995"  # the index entry no longer matches its row
    path.write_bytes(bytes(data))

    report = precheck(legacy_file)
    item = the(report, "file.integrity")
    assert item.severity == Severity.BLOCKING
    assert "idx_clients_contact" in item.summary
    assert item.row_count == len(report.integrity) >= 1
    code, output = precheck_command(legacy_file)
    assert code == 1
    assert "integrity: FAILED" in output


# --- schema ---------------------------------------------------------------


def test_missing_table_is_blocking(legacy_file, studio):
    legacy_file.execute("DROP TABLE assessments")
    report = precheck(legacy_file)
    item = the(report, "schema.missing-table")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "assessments", None)
    assert problems(report) == ["schema.missing-table"]


def test_missing_required_column_is_blocking(legacy_file, studio):
    legacy_file.execute("ALTER TABLE clients DROP COLUMN age")
    report = precheck(legacy_file)
    item = the(report, "schema.missing-column")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "clients", "age")
    assert problems(report) == ["schema.missing-column"]
    assert precheck_command(legacy_file)[0] == 1


def test_older_generations_are_info_not_blocking(legacy_file, studio):
    legacy_file.execute("ALTER TABLE trainers DROP COLUMN failed_login_attempts")
    legacy_file.execute("DROP TABLE fee_audit_log")
    legacy_file.execute("ALTER TABLE sessions DROP COLUMN trainer_id")
    report = precheck(legacy_file)
    older = [item for item in report.findings if item.code == "schema.older-generation"]
    assert {(item.table, item.column) for item in older} == {
        ("trainers", "failed_login_attempts"),
        ("fee_audit_log", None),
        ("sessions", "trainer_id"),
    }
    assert {item.severity for item in older} == {Severity.INFO}
    assert problems(report) == []
    assert {g.name: g.missing for g in report.generations if not g.present} == {
        "rate limiting": ("trainers.failed_login_attempts",),
        "trainer on new tables": ("sessions.trainer_id",),
        "fee migration": ("fee_audit_log",),
    }
    assert precheck_command(legacy_file)[0] == 0


def test_sessions_without_trainer_column_have_inferable_trainers(legacy_file, studio):
    second = legacy_file.session(studio["client"], studio["package"], studio["trainer"])
    legacy_file.execute("ALTER TABLE sessions DROP COLUMN trainer_id")
    item = the(precheck(legacy_file), "reference.inferable-trainer")
    assert (item.severity, item.table, item.column) == (Severity.INFO, "sessions", "trainer_id")
    assert item.row_ids == (studio["session"], second)


def test_assessments_without_trainer_column_take_the_clients_trainer(legacy_file, studio):
    # A foreign key names assessments.trainer_id, so SQLite cannot drop it: rebuild the table.
    columns = ", ".join(
        f'"{c.name}" {c.declared_type}{" PRIMARY KEY" if c.name == "id" else ""}'
        for c in newest_schema()["assessments"]
        if c.name != "trainer_id"
    )
    legacy_file.execute("DROP TABLE assessments")
    legacy_file.execute(f"CREATE TABLE assessments ({columns})")
    assessment = legacy_file.insert(
        "assessments", client_id=studio["client"], date="2024-03-02", created_at=UTC_STAMP
    )
    report = precheck(legacy_file)
    assert the(report, "schema.older-generation").column == "trainer_id"
    item = the(report, "reference.inferable-trainer")
    assert (item.table, item.row_ids) == ("assessments", (assessment,))
    assert problems(report) == []


def test_unknown_table_is_a_warning(legacy_file, studio):
    legacy_file.execute("CREATE TABLE body_scans (id INTEGER PRIMARY KEY, result TEXT)")
    legacy_file.insert("body_scans", result="ok")
    legacy_file.insert("body_scans", result="ok")
    report = precheck(legacy_file)
    item = the(report, "schema.unknown-table")
    assert (item.severity, item.table) == (Severity.WARNING, "body_scans")
    assert "2 rows are not imported" in item.summary
    assert problems(report) == ["schema.unknown-table"]
    inventory = {table.table: table for table in report.tables}
    assert (inventory["body_scans"].rows, inventory["body_scans"].status) == (
        2,
        "unknown: not imported",
    )


def test_a_legacy_table_that_is_a_view_is_reported_and_read_as_the_table(legacy_file, studio):
    for day in ("2024-02-05", "2024-02-06"):
        legacy_file.training_session(
            studio["client"], studio["package"], studio["trainer"], session_date=day
        )
    kept = legacy_file.as_view("training_sessions")
    report = precheck(legacy_file)
    item = the(report, "schema.view")
    assert (item.severity, item.table) == (Severity.WARNING, "training_sessions")
    assert "its 2 rows are read through it" in item.summary
    inventory = {table.table: table for table in report.tables}
    assert (inventory["training_sessions"].rows, inventory["training_sessions"].status) == (
        2,
        "merged with sessions (a view)",
    )
    # The table the view reads is one the app never had: reported, not imported.
    assert the(report, "schema.unknown-table").table == kept
    assert "training_sessions" not in report.to_dict()["generations"][0]["missing"]
    assert problems(report) == ["schema.unknown-table", "schema.view"]


def test_a_view_the_app_never_had_is_an_unknown_table_said_to_be_a_view(legacy_file, studio):
    legacy_file.execute("CREATE VIEW active_clients AS SELECT id, name FROM clients")
    report = precheck(legacy_file)
    item = the(report, "schema.unknown-table")
    assert item.table == "active_clients"
    assert item.summary.startswith("view active_clients is not part of the legacy app's schema")
    assert "its 1 rows are not imported" in item.summary
    status = {table.table: table.status for table in report.tables}["active_clients"]
    assert status == "unknown: not imported (a view)"


def test_generated_columns_are_columns_reported_as_generated(legacy_file, studio):
    legacy_file.make_generated(
        "payments", "net_amount", "gross_amount - vat_amount - card_fee_amount"
    )
    legacy_file.execute(
        "ALTER TABLE clients ADD COLUMN name_key TEXT GENERATED ALWAYS AS (lower(name)) VIRTUAL"
    )
    report = precheck(legacy_file)
    # A known column that is generated: present, and its values checked like any other's.
    item = the(report, "schema.generated-column")
    assert (item.severity, item.table, item.column) == (Severity.INFO, "payments", "net_amount")
    assert "schema.older-generation" not in [f.code for f in report.findings]
    # An unknown one: kept, like any unknown column.
    unknown = the(report, "schema.unknown-column")
    assert (unknown.table, unknown.column) == ("clients", "name_key")
    assert unknown.summary.startswith("generated column clients.name_key")
    status = {table.table: table.status for table in report.tables}
    assert status["payments"] == "ok (generated: net_amount)"
    assert status["clients"] == "ok (generated: name_key)"
    assert problems(report) == ["schema.unknown-column"]
    assert report.is_newest_generation


def test_a_generated_value_the_importer_cannot_take_blocks(legacy_file, studio):
    legacy_file.make_generated("payments", "net_amount", "'not a number'")
    report = precheck(legacy_file)
    item = the(report, "value.wrong-type")
    assert (item.table, item.column, item.row_ids) == ("payments", "net_amount", (1,))


def test_unknown_column_is_a_warning(legacy_file, studio):
    legacy_file.execute("ALTER TABLE clients ADD COLUMN instagram TEXT")
    report = precheck(legacy_file)
    item = the(report, "schema.unknown-column")
    assert (item.severity, item.table, item.column) == (Severity.WARNING, "clients", "instagram")
    assert problems(report) == ["schema.unknown-column"]


def test_each_trigger_is_a_warning_naming_it_and_its_table(legacy_file, studio):
    # The legacy app made no trigger: someone added these by hand. The import only
    # reads the file, so they never fire there; they block nothing.
    triggers = {
        "keep_phone": "CREATE TRIGGER keep_phone AFTER UPDATE OF email ON trainers "
        "BEGIN UPDATE clients SET phone = new.email WHERE trainer_id = new.id; END",
        "stamp": "CREATE TRIGGER stamp AFTER INSERT ON sessions "
        "BEGIN UPDATE sessions SET notes = 'new' WHERE id = new.id; END",
    }
    for sql in triggers.values():
        legacy_file.execute(sql)
    report = precheck(legacy_file)
    found = [item for item in report.findings if item.code == "schema.trigger"]
    assert [(item.severity, item.table, item.details) for item in found] == [
        (Severity.WARNING, "trainers", {"trigger": "keep_phone", "sql": triggers["keep_phone"]}),
        (Severity.WARNING, "sessions", {"trigger": "stamp", "sql": triggers["stamp"]}),
    ]
    assert "trigger keep_phone on trainers" in found[0].summary
    assert "never fires it" in found[0].fix and "clean_legacy drops it" in found[0].fix
    assert problems(report) == ["schema.trigger", "schema.trigger"]
    code, output = precheck_command(legacy_file)
    assert code == 0
    assert "[schema.trigger] trigger stamp on sessions" in output


def test_known_table_with_none_of_its_columns_reports_missing_columns(legacy_file, studio):
    legacy_file.execute("DROP TABLE fee_audit_log")
    legacy_file.execute("CREATE TABLE fee_audit_log (note TEXT)")
    code, output = precheck_command(legacy_file, "--format", "json")
    assert code == 1
    findings = json.loads(report_part(output))["findings"]
    assert {"schema.missing-column", "schema.unknown-column"} <= {f["code"] for f in findings}


# --- values ---------------------------------------------------------------


def add_row(legacy_file: LegacyFile, ids: dict[str, int], table: str, values: dict) -> int:
    trainer, client, package = ids["trainer"], ids["client"], ids["package"]
    if table == "clients":
        return legacy_file.client(trainer, **values)
    if table == "sessions":
        return legacy_file.session(client, package, trainer, **values)
    return legacy_file.payment(client, package, trainer, **values)


@pytest.mark.parametrize(
    ("table", "column", "values", "code"),
    [
        pytest.param("clients", "age", {"age": "thirty"}, "value.wrong-type", id="text-age"),
        pytest.param(
            "sessions",
            "session_date",
            {"session_date": "05/03/2024"},
            "value.ambiguous-date",
            id="day-month-year-date",
        ),
        pytest.param(
            "sessions",
            "session_date",
            {"session_date": "2024/02/30"},
            "value.unreadable-value",
            id="typed-date-that-is-no-date",
        ),
        pytest.param(
            "sessions",
            "session_date",
            {"session_date": "2024/3/5"},
            "value.typed-date",
            id="typed-date-clean-repairs",
        ),
        pytest.param("clients", "age", {"age": 400}, "value.out-of-range", id="age-400"),
        pytest.param(
            "payments", "amount", {"amount": -5.0}, "value.out-of-range", id="negative-amount"
        ),
        pytest.param("clients", "name", {"name": ""}, "value.missing-value", id="empty-name"),
        pytest.param(
            "sessions", "status", {"status": "done"}, "value.unknown-choice", id="status-done"
        ),
        pytest.param(
            "clients", "name", {"name": "Kim\x00Min"}, "value.unstorable-text", id="nul-in-name"
        ),
        pytest.param(
            "clients",
            "created_at",
            {"created_at": "0001-01-01 00:00:00.5"},  # Seoul time, so year 0 in UTC
            "value.out-of-range",
            id="moment-before-year-1-in-utc",
        ),
        pytest.param(
            "sessions",
            "completed_at",
            {"completed_at": "9999-12-31T23:59:59-01:00"},
            "value.out-of-range",
            id="moment-after-year-9999-in-utc",
        ),
    ],
)
def test_bad_value_is_blocking(legacy_file, studio, table, column, values, code):
    bad = add_row(legacy_file, studio, table, values)
    report = precheck(legacy_file)
    item = the(report, code)
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, table, column)
    assert (item.row_ids, item.row_count) == ((bad,), 1)
    assert problems(report) == [code]


@pytest.mark.parametrize(
    ("details", "code", "said"),
    [
        pytest.param('{"fee": NaN}', "value.unreadable-value", "NaN", id="nan"),
        pytest.param("[-Infinity]", "value.unreadable-value", "Infinity", id="infinity"),
        pytest.param("[1e400]", "value.out-of-range", "1e400", id="a-float-past-doubles"),
        pytest.param("[1e+23]", "value.out-of-range", "1e+23", id="a-float-read-back-as-int"),
        pytest.param("[18446744073709551616]", "value.out-of-range", "64 bits", id="int-2**64"),
        pytest.param('{"k": "\\u0000"}', "value.out-of-range", "NUL", id="escaped-nul"),
        pytest.param('["\\udc80"]', "value.out-of-range", "surrogate", id="lone-surrogate"),
        pytest.param("[" * 201 + "]" * 201, "value.out-of-range", "200 levels", id="201-deep"),
        # Deeper than Python's own stack: one line, not a RecursionError.
        pytest.param("[" * 50_000 + "]" * 50_000, "value.out-of-range", "200", id="50000-deep"),
    ],
)
def test_json_the_target_cannot_take_is_blocking(legacy_file, studio, details, code, said):
    bad = legacy_file.fee_audit(studio["package"], calculation_details=details)
    report = precheck(legacy_file)
    item = the(report, code)
    assert (item.table, item.column, item.row_ids) == (
        "fee_audit_log",
        "calculation_details",
        (bad,),
    )
    assert said in item.summary
    assert problems(report) == [code]


def test_invalid_utf8_text_is_unstorable(legacy_file, studio):
    bad = legacy_file.client(studio["trainer"])
    legacy_file.execute(
        "UPDATE clients SET name = CAST(X'4B696DFF4D696E' AS TEXT) WHERE id = ?", (bad,)
    )
    report = precheck(legacy_file)
    item = the(report, "value.unstorable-text")
    assert (item.table, item.column, item.row_ids) == ("clients", "name", (bad,))
    assert "not UTF-8" in item.summary
    assert problems(report) == ["value.unstorable-text"]


def test_more_than_20_bad_rows_report_20_ids_and_the_full_count(legacy_file, studio):
    bad = [legacy_file.client(studio["trainer"], age=-1) for _ in range(25)]
    item = the(precheck(legacy_file), "value.out-of-range")
    assert item.row_ids == tuple(bad[:20])
    assert item.row_count == 25
    code, output = precheck_command(legacy_file, "--format", "json")
    (as_json,) = [f for f in json.loads(report_part(output))["findings"] if f["code"] == item.code]
    assert (len(as_json["row_ids"]), as_json["row_count"], as_json["row_ids_capped"]) == (
        20,
        25,
        True,
    )
    text = report_part(precheck_command(legacy_file)[1])
    assert f"rows: {', '.join(map(str, bad[:20]))} and 5 more" in text


# --- trainers -------------------------------------------------------------


def test_emails_differing_in_case_and_spaces_are_duplicates(legacy_file):
    first = legacy_file.trainer(username="criminal", email="Kim.Trainer@Gmail.com")
    legacy_file.trainer(username="someone", email="someone@gmail.com")
    second = legacy_file.trainer(username="jaesun9090", email="  kim.trainer@gmail.com ")
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    report = precheck(legacy_file)
    item = the(report, "trainers.duplicate-email")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "trainers", "email")
    assert item.row_ids == (first, second)
    assert item.details["usernames"] == ["criminal", "jaesun9090"]
    assert "criminal" in item.summary and "jaesun9090" in item.summary
    # The spaces are clean_legacy's to trim too: the app refuses the address with them.
    assert problems(report) == ["trainers.duplicate-email", "value.untrimmed-email"]
    assert the(report, "value.untrimmed-email").row_ids == (second,)


# The app's e-mail validation refuses a combining mark, or an address of spaces alone.
REFUSED = ["value.invalid-in-app"]


@pytest.mark.parametrize(
    ("first", "second", "also"),
    [
        pytest.param("İ@x.com", "i@x.com", [], id="dotted-capital-i-as-glibc-lowers-it"),
        pytest.param("İ@x.com", "i\u0307@x.com", REFUSED, id="dotted-capital-i-as-icu-lowers-it"),
        pytest.param("I@x.com", "ı@x.com", [], id="dotless-i-as-turkish-lowers-capital-i"),
        pytest.param(
            "Ì@x.com", "i\u0307\u0300@x.com", REFUSED, id="i-grave-as-lithuanian-lowers-it"
        ),
        pytest.param(" ", "  ", REFUSED, id="spaces-alone"),
    ],
)
def test_emails_the_targets_lower_may_make_one_are_duplicates(legacy_file, first, second, also):
    # The target's rule is lower(email) unique: precheck must be at least as strict.
    ids = [legacy_file.trainer(email=first), legacy_file.trainer(email=second)]
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    report = precheck(legacy_file)
    assert the(report, "trainers.duplicate-email").row_ids == tuple(ids)
    assert problems(report) == ["trainers.duplicate-email", *also]


def test_a_username_the_app_refuses_blocks(legacy_file):
    # The database would take it; the new app's forms and admin refuse a space.
    refused = legacy_file.trainer(username="kim minji", password_hash=BCRYPT)
    legacy_file.trainer(username="kim.minji", password_hash=BCRYPT)
    report = precheck(legacy_file)
    item = the(report, "value.invalid-in-app")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "trainers", "username")
    assert item.row_ids == (refused,)
    assert problems(report) == ["value.invalid-in-app"]


def test_usernames_in_a_table_that_lost_its_keys_may_repeat(legacy_file):
    legacy_file.without_keys("trainers")
    # No key: each id given. The target tells case apart, as the app did.
    first, _, second = (
        legacy_file.trainer(id=n, username=name)
        for n, name in enumerate(("minji", "Minji", "minji"), 1)
    )
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    report = precheck(legacy_file)
    item = the(report, "trainers.duplicate-username")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "trainers", "username")
    assert item.row_ids == (first, second)
    assert item.details["usernames"] == ["minji", "minji"]
    assert problems(report) == ["trainers.duplicate-username"]


def test_usernames_the_new_app_normalises_alike_are_duplicates(legacy_file, studio):
    # Django NFKC-normalises a username: a fullwidth 'ｋim' is 'kim' in the new app.
    fullwidth = legacy_file.trainer(username="\uff4bim")
    plain = legacy_file.trainer(username="kim")
    legacy_file.execute("UPDATE trainers SET password_hash = ?", (BCRYPT,))
    item = the(precheck(legacy_file), "trainers.duplicate-username")
    assert item.row_ids == (fullwidth, plain)


def test_ids_in_a_table_that_lost_its_keys_may_repeat(legacy_file, studio):
    legacy_file.without_keys("clients")
    legacy_file.client(studio["trainer"], id=studio["client"] + 0.0)  # 1.0 is id 1 too
    legacy_file.client(studio["trainer"], id=7)
    legacy_file.client(studio["trainer"], id=7)
    legacy_file.client(studio["trainer"], id=8)
    report = precheck(legacy_file)
    item = the(report, "value.duplicate-id")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "clients", "id")
    assert (item.row_ids, item.row_count) == ((studio["client"], 7), 4)
    assert problems(report) == ["value.duplicate-id"]


def test_ids_kept_unique_by_the_table_are_not_looked_at_again(legacy_file, studio):
    legacy_file.without_keys("clients")
    legacy_file.execute("CREATE UNIQUE INDEX one_client_an_id ON clients (id)")
    assert "value.duplicate-id" not in problems(precheck(legacy_file))


def test_non_bcrypt_password_is_a_warning(legacy_file, studio):
    legacy_file.trainer(username="kept", password_hash=BCRYPT)
    old = legacy_file.trainer(username="oldtimer", password_hash=SHA256_HASH)
    report = precheck(legacy_file)
    item = the(report, "trainers.unusable-password")
    assert (item.severity, item.table, item.column) == (
        Severity.WARNING,
        "trainers",
        "password_hash",
    )
    assert item.row_ids == (old,)
    assert "oldtimer" in item.summary
    assert problems(report) == ["trainers.unusable-password"]


def test_first_generation_digests_are_listed_as_wrapped_not_reset(tmp_path):
    legacy = LegacyFile(tmp_path / "first.db", FIRST_SALTED)
    salted = legacy.first_trainer("first-gen-2025!", username="minji")
    odd = legacy.first_trainer("x", username="oddone")
    legacy.execute("UPDATE trainers SET password = 'not a digest' WHERE id = ?", (odd,))
    report = precheck(legacy)
    item = the(report, "trainers.wrapped-digest")
    assert (item.severity, item.column, item.row_ids) == (Severity.INFO, "password", (salted,))
    assert "1 salted, 0 unsalted" in item.summary
    reset = the(report, "trainers.unusable-password")
    assert (reset.severity, reset.row_ids) == (Severity.WARNING, (odd,))
    assert "oddone" in reset.summary


# --- the app's earliest generations ---------------------------------------


def test_a_file_from_before_packages_is_an_older_generation(tmp_path):
    legacy = LegacyFile(tmp_path / "before.db", BEFORE_PACKAGES)
    legacy.studio_without_packages()
    report = precheck(legacy)
    older = [item for item in report.findings if item.code == "schema.older-generation"]
    assert {item.table for item in older} == newest_schema().keys() - WITHOUT_PACKAGES
    assert {"session packages"} == {item.summary.split("'")[1] for item in older}
    assert problems(report) == []


@pytest.mark.parametrize("generation", [FIRST_SALTED, FIRST_UNSALTED])
def test_a_first_generation_file_says_where_each_column_goes(tmp_path, generation):
    legacy = LegacyFile(tmp_path / "first.db", generation)
    legacy.first_studio()
    report = precheck(legacy)
    said = {item.table: item for item in report.findings if item.code == "schema.first-generation"}
    assert set(said) == WITHOUT_PACKAGES
    assert {item.severity for item in said.values()} == {Severity.INFO}
    assessments = said["assessments"].details["columns"]
    assert assessments["step_test_hr1"] == [
        "harvard_step_test_duration",
        "harvard_step_test_heart_rate_1",
    ]
    assert assessments["farmers_carry_time"] == ["farmer_carry_time"]
    assert said["clients"].details["columns"] == {"registration_date": ["created_at", "updated_at"]}
    password = "password + salt" if generation == FIRST_SALTED else "password"
    assert said["trainers"].details["columns"][password] == [
        "password (a legacy digest wrapped in PBKDF2 when the account is made)"
    ]
    assert "date_joined" in said["trainers"].details["filled"]
    assert problems(report) == []
    assert report.generations[0].name == "later column names"
    assert not report.generations[0].present


def test_a_first_generation_table_without_one_of_its_columns_is_blocking(tmp_path):
    legacy = LegacyFile(tmp_path / "first.db", FIRST_SALTED)
    legacy.first_studio()
    legacy.execute("ALTER TABLE assessments DROP COLUMN farmers_carry_time")
    item = the(precheck(legacy), "schema.missing-column")
    assert (item.severity, item.table, item.column) == (
        Severity.BLOCKING,
        "assessments",
        "farmers_carry_time",
    )


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_password_hashes_never_appear_in_a_report(legacy_file, studio, fmt, tmp_path):
    legacy_file.trainer(username="oldtimer", password_hash=SHA256_HASH)
    legacy_file.trainer(username="same", email="trainer1@example.com", password_hash=SHA256_HASH)
    code, output = precheck_command(legacy_file, "--format", fmt)
    assert code == 1  # the duplicate e-mail: blocking findings name trainers too
    assert "oldtimer" in output
    written = tmp_path / f"report.{fmt}"
    precheck_command(legacy_file, "--format", fmt, "--output", str(written))
    for rendered in (output, written.read_text(encoding="utf-8")):
        assert SHA256_HASH not in rendered
        assert "5e884898da28" not in rendered
        assert BCRYPT not in rendered
        assert BCRYPT[7:29] not in rendered  # not even the salt


# --- the duplicate tables -------------------------------------------------


def test_row_on_both_sides_is_a_duplicate(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    old = legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560"
    )
    report = precheck(legacy_file)
    item = the(report, "pairs.duplicate-row")
    # Not blocking: the importer merges the two into one target row.
    assert (item.severity, item.table, item.row_ids) == (
        Severity.WARNING,
        "training_sessions",
        (old,),
    )
    assert item.details["pairs"] == [[old, studio["session"]]]
    assert problems(report) == ["pairs.duplicate-row"]


def test_same_natural_key_with_other_content_is_a_conflict(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    old = legacy_file.training_session(
        client,
        package,
        trainer,
        session_date="2024-03-05",
        session_time="10:00:25.813560",
        status="cancelled",
    )
    report = precheck(legacy_file)
    item = the(report, "pairs.conflicting-row")
    assert (item.severity, item.table, item.row_ids) == (
        Severity.BLOCKING,
        "training_sessions",
        (old,),
    )
    assert "status" in item.summary
    assert problems(report) == ["pairs.conflicting-row"]


def test_payment_on_both_sides_is_a_duplicate(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    # 300000 (INTEGER, old table) is the same amount as 300000.0 (REAL, new table).
    old = legacy_file.payment_record(
        client, package, trainer, payment_date="2024-03-01", payment_method="카드"
    )
    report = precheck(legacy_file)
    item = the(report, "pairs.duplicate-row")
    assert (item.table, item.row_ids) == ("payment_records", (old,))
    assert "pairs.conflicting-row" not in problems(report)


def test_rows_only_on_one_side_merge_with_colliding_ids_counted(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    legacy_file.training_session(client, package, trainer, session_date="2024-01-02")
    legacy_file.training_session(client, package, trainer, session_date="2024-01-03")
    report = precheck(legacy_file)
    merges = {item.table: item for item in report.findings if item.code == "pairs.merge"}
    assert merges["training_sessions"].severity == Severity.INFO
    assert merges["training_sessions"].row_count == 1  # old ids 1, 2 against new id 1
    assert merges["payment_records"].row_count == 0
    assert problems(report) == []


def test_old_row_matching_two_new_rows_is_one_duplicate(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    legacy_file.session(client, package, trainer)  # the same session entered twice
    old = legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560"
    )
    item = the(precheck(legacy_file), "pairs.duplicate-row")
    assert (item.row_ids, item.row_count) == ((old,), 1)


# Values a key or content column may hold in a file: '' is NULL to the app,
# 1 and 1.0 are one number, and text, blob and number are never equal.
PAIR_VALUES = [None, "", " ", 1, 1.0, "1", b"1", 2.5, "a", "A", b"", 2**53, float(2**53), 2**53 + 1]
PAIR_COLUMN_TYPES = ["", "INTEGER", "TEXT", "TEXT COLLATE NOCASE", "REAL", "NUMERIC"]


def expected_pair_matches(old_rows: list[dict], new_rows: list[dict], pair: TablePair):
    """The matching rule, row by row: what match_pair_rows' SQL must agree with."""

    def same(old: dict, new: dict, columns) -> bool:
        def normal(value):
            return None if value == "" else value

        return all(normal(old[c]) == normal(new[c]) for c in columns)

    duplicates, conflicts, twinned, identical_to_a_twin = {}, {}, set(), set()
    for old in sorted(old_rows, key=lambda row: row["id"]):
        for new in sorted(new_rows, key=lambda row: row["id"]):
            if old["id"] in duplicates or not same(old, new, pair.natural_key):
                continue
            if same(old, new, pair.content) and new["id"] not in twinned:
                duplicates[old["id"]] = new["id"]
                twinned.add(new["id"])
            elif same(old, new, pair.content):
                identical_to_a_twin.add(old["id"])
            else:
                conflicts.setdefault(old["id"], new["id"])
    for old_id in [*duplicates, *identical_to_a_twin]:
        conflicts.pop(old_id, None)
    return duplicates, conflicts


@pytest.mark.parametrize("seed", range(40))
def test_pair_matching_agrees_with_the_row_by_row_rule(tmp_path, seed):
    # Either side may be the larger (SQLite indexes the smaller); columns of any
    # declared type; a few values, so that keys meet often.
    rng = random.Random(seed)
    connection = sqlite3.connect(tmp_path / "pairs.db")
    values = rng.sample(PAIR_VALUES, rng.randint(1, 3))
    rows: dict[str, list[dict]] = {}
    for pair in TABLE_PAIRS:
        columns = (*pair.natural_key, *pair.content)
        for table in (pair.old, pair.new):
            declared = ", ".join(f"{c} {rng.choice(PAIR_COLUMN_TYPES)}" for c in columns)
            connection.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {declared})")
            for _ in range(rng.randint(0, 30)):
                connection.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    [rng.choice(values) for _ in columns],
                )
            cursor = connection.execute(f"SELECT id, {', '.join(columns)} FROM {table}")
            rows[table] = [dict(zip(("id", *columns), row, strict=True)) for row in cursor]
    layout = LegacyLayout(
        {
            table: tuple(
                name for (_, name, *_) in connection.execute(f"PRAGMA table_info({table})")
            )
            for table in rows
        }
    )

    def query(sql: str) -> list[tuple]:
        return connection.execute(sql).fetchall()

    for pair in TABLE_PAIRS:
        matches = match_pair_rows(query, layout, pair)
        assert (matches.duplicates, matches.conflicts) == expected_pair_matches(
            rows[pair.old], rows[pair.new], pair
        )
    connection.close()


def test_old_rows_numbered_past_the_targets_largest_id_have_no_room(legacy_file, studio):
    # training_sessions' rows get ids after sessions' highest: 2**63 - 2 leaves none
    # (bigint's last, 2**63 - 1, is left to the id sequence).
    top = 2**63 - 2
    legacy_file.execute("UPDATE sessions SET id = ?", (top,))
    legacy_file.training_session(studio["client"], studio["package"], studio["trainer"])
    report = precheck(legacy_file)
    item = the(report, "pairs.no-room-for-ids")
    assert (item.severity, item.table, item.row_ids) == (Severity.BLOCKING, "sessions", (top,))
    assert item.details == {"highest_id": top, "renumbered_rows": 1, "largest_id": top}
    assert problems(report) == ["pairs.no-room-for-ids"]


def test_old_rows_that_just_fit_below_the_largest_id_have_room(legacy_file, studio):
    legacy_file.execute("UPDATE sessions SET id = ?", (2**63 - 4,))
    for day in ("2024-01-01", "2024-01-02"):
        legacy_file.training_session(
            studio["client"], studio["package"], studio["trainer"], session_date=day
        )
    assert problems(precheck(legacy_file)) == []


def test_the_report_hands_its_pair_matches_to_the_importer(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    old = legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560"
    )
    report = precheck(legacy_file)
    sessions, payments = (
        report.pair_matches["training_sessions"],
        report.pair_matches["payment_records"],
    )
    assert (sessions.duplicates, sessions.conflicts) == ({old: studio["session"]}, {})
    assert (payments.duplicates, payments.conflicts) == ({}, {})
    # Not part of the report: neither rendered nor compared.
    assert "pair_matches" not in report.to_dict()
    assert report == dataclasses.replace(report, pair_matches={})


def test_no_pair_matches_without_both_tables(legacy_file, studio):
    legacy_file.execute("DROP TABLE payment_records")
    assert list(precheck(legacy_file).pair_matches) == ["training_sessions"]


# --- references -----------------------------------------------------------


def test_client_whose_trainer_is_gone_is_dangling(legacy_file, studio):
    orphan = legacy_file.client(99)
    report = precheck(legacy_file)
    item = the(report, "reference.dangling")
    assert (item.severity, item.table, item.column) == (Severity.BLOCKING, "clients", "trainer_id")
    assert item.row_ids == (orphan,)
    assert problems(report) == ["reference.dangling"]


def test_session_on_a_missing_package_is_dangling(legacy_file, studio):
    orphan = legacy_file.session(studio["client"], 77, studio["trainer"])
    report = precheck(legacy_file)
    item = the(report, "reference.dangling")
    assert (item.table, item.column, item.row_ids) == ("sessions", "package_id", (orphan,))
    assert problems(report) == ["reference.dangling"]


def test_session_whose_package_and_client_lead_to_no_trainer(legacy_file, studio):
    inferable = legacy_file.session(studio["client"], studio["package"], None)
    lost_client = legacy_file.client(98)
    lost_package = legacy_file.package(lost_client, 98)
    lost = legacy_file.session(lost_client, lost_package, None)
    report = precheck(legacy_file)
    item = the(report, "reference.uninferable-trainer")
    assert (item.severity, item.table, item.column) == (
        Severity.BLOCKING,
        "sessions",
        "trainer_id",
    )
    assert item.row_ids == (lost,)
    assert the(report, "reference.inferable-trainer").row_ids == (inferable,)


def test_payment_without_trainer_or_package_takes_the_clients_trainer(legacy_file, studio):
    payment = legacy_file.payment(studio["client"], None, None)
    report = precheck(legacy_file)
    item = the(report, "reference.inferable-trainer")
    assert (item.table, item.row_ids) == ("payments", (payment,))
    assert problems(report) == []


# --- fees -----------------------------------------------------------------


def test_package_without_gross_amount_misses_its_fee_breakdown(legacy_file, studio):
    bare = legacy_file.package(
        studio["client"],
        studio["trainer"],
        gross_amount=None,
        vat_amount=None,
        card_fee_amount=None,
        net_amount=None,
    )
    report = precheck(legacy_file)
    item = the(report, "fees.missing")
    assert (item.severity, item.table, item.row_ids) == (
        Severity.WARNING,
        "session_packages",
        (bare,),
    )
    assert problems(report) == ["fees.missing"]


def test_gross_that_is_not_the_sum_of_its_parts_is_inconsistent(legacy_file, studio):
    odd = legacy_file.package(studio["client"], studio["trainer"], net_amount=262000)
    report = precheck(legacy_file)
    item = the(report, "fees.inconsistent")
    assert (item.severity, item.table, item.row_ids) == (
        Severity.BLOCKING,  # verify_import would fail it: precheck's word is kept
        "session_packages",
        (odd,),
    )
    assert problems(report) == ["fees.inconsistent"]


def test_a_breakdown_that_adds_up_but_is_not_the_fee_rules_blocks(legacy_file, studio):
    # 300,000: the rule gives 27,273 / 10,500 / 262,227; these add up, but are not it.
    odd = legacy_file.package(
        studio["client"], studio["trainer"], vat_amount=27000, net_amount=262500
    )
    report = precheck(legacy_file)
    item = the(report, "fees.inconsistent")
    assert (item.severity, item.row_ids) == (Severity.BLOCKING, (odd,))
    assert "not the fee rule's breakdown of its gross" in item.summary


def test_payment_records_never_had_a_fee_breakdown(legacy_file, studio):
    client, trainer = studio["client"], studio["trainer"]
    first = legacy_file.payment_record(client, None, trainer, payment_date="2024-01-01")
    second = legacy_file.payment_record(client, None, trainer, payment_date="2024-01-02")
    report = precheck(legacy_file)
    item = the(report, "fees.not-recorded")
    assert (item.severity, item.table, item.row_ids) == (
        Severity.INFO,
        "payment_records",
        (first, second),
    )
    assert "the app's fee rule computes each" in item.summary
    assert "clean_legacy computes each breakdown" in item.fix
    assert problems(report) == []


def test_old_payments_given_fee_columns_are_checked_as_payments_are(legacy_file, studio):
    # As in a copy clean_legacy wrote: the old payments table has the fee columns.
    client, trainer = studio["client"], studio["trainer"]
    for column in ("gross_amount", "vat_amount", "card_fee_amount", "net_amount"):
        legacy_file.execute(f"ALTER TABLE payment_records ADD COLUMN {column} INTEGER")
    for column in ("vat_rate", "card_fee_rate"):
        legacy_file.execute(f"ALTER TABLE payment_records ADD COLUMN {column} DECIMAL(5,2)")
    odd = legacy_file.payment_record(
        client, None, trainer, gross_amount=300000, vat_amount=1, card_fee_amount=1, net_amount=1
    )
    report = precheck(legacy_file)
    assert "fees.not-recorded" not in {item.code for item in report.findings}
    assert "schema.unknown-column" not in {item.code for item in report.findings}
    item = the(report, "fees.inconsistent")
    assert (item.table, item.row_ids) == ("payment_records", (odd,))


def unaudited(report: PrecheckReport) -> dict[str, tuple]:
    return {item.table: item.row_ids for item in report.findings if item.code == "fees.unaudited"}


def test_breakdowns_recorded_without_their_audit_row(legacy_file, studio):
    # As the app's fee migration left them: a breakdown, and no fee_audit_log row.
    client, trainer, package = studio["client"], studio["trainer"], studio["package"]
    audited = legacy_file.payment(client, package, trainer)
    legacy_file.fee_audit(None, payment_id=audited)
    legacy_file.payment(client, package, trainer, gross_amount=None)  # no breakdown: fees.missing
    report = precheck(legacy_file)
    assert unaudited(report) == {
        "session_packages": (package,),
        "payments": (studio["payment"],),
    }
    item = [item for item in report.findings if item.code == "fees.unaudited"][0]
    assert item.severity == Severity.INFO
    assert "clean_legacy writes each breakdown's fee_audit_log row" in item.fix
    assert problems(report) == ["fees.missing"]


def test_an_old_payments_audit_row_names_it_by_an_integer_in_its_details(legacy_file, studio):
    # As in a copy clean_legacy wrote: old payments with fee columns, audited by details.
    for column in ("gross_amount", "vat_amount", "card_fee_amount", "net_amount"):
        legacy_file.execute(f"ALTER TABLE payment_records ADD COLUMN {column} INTEGER")
    for column in ("vat_rate", "card_fee_rate"):
        legacy_file.execute(f"ALTER TABLE payment_records ADD COLUMN {column} DECIMAL(5,2)")
    fees = {"gross_amount": 300000, "vat_amount": 27273, "card_fee_amount": 10500}
    fees |= {"net_amount": 262227, "vat_rate": 0.1, "card_fee_rate": 0.035}
    old = [
        legacy_file.payment_record(studio["client"], None, studio["trainer"], **fees)
        for _ in range(4)
    ]
    legacy_file.fee_audit(studio["package"])
    legacy_file.fee_audit(None, payment_id=studio["payment"])
    legacy_file.fee_audit(None, calculation_details=f'{{"payment_record_id": {old[0]}}}')
    legacy_file.fee_audit(None, calculation_details=f'{{"payment_record_id": "{old[1]}"}}')
    legacy_file.fee_audit(None, calculation_details="not json")
    # A new payment's audit row does not name the old payment of the same id.
    legacy_file.fee_audit(
        None, payment_id=studio["payment"], calculation_details=f'{{"payment_record_id": {old[2]}}}'
    )
    assert unaudited(precheck(legacy_file)) == {"payment_records": (old[1], old[2], old[3])}


def test_an_older_file_without_fee_columns_misses_every_breakdown(legacy_file, studio):
    for column in ("gross_amount", "vat_amount", "card_fee_amount", "net_amount"):
        legacy_file.execute(f"ALTER TABLE payments DROP COLUMN {column}")
    report = precheck(legacy_file)
    item = the(report, "fees.missing")
    assert (item.table, item.row_ids) == ("payments", (studio["payment"],))
    assert "predates the app's fee migration" in item.summary


# --- normalisation --------------------------------------------------------


def test_gender_mapping_is_shown_with_counts(legacy_file, studio):
    legacy_file.client(studio["trainer"], gender="남성")
    legacy_file.client(studio["trainer"], gender="남성")
    item = the(precheck(legacy_file), "normalise.gender")
    assert (item.severity, item.table, item.column) == (Severity.INFO, "clients", "gender")
    assert item.details == {
        "여성": {"to": "female", "rows": 1},
        "남성": {"to": "male", "rows": 2},
    }
    assert item.row_count == 3


def test_payment_method_mapping_is_shown_with_counts(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    for method in ("현금", "계좌이체", "Package Purchase", "paid by venmo"):
        legacy_file.payment(client, package, trainer, payment_method=method)
    legacy_file.payment_record(client, None, trainer, payment_method="현금")
    item = the(precheck(legacy_file), "normalise.payment-method")
    assert item.severity == Severity.INFO
    assert item.details == {
        "현금": {"to": "cash", "rows": 2},
        "카드": {"to": "card", "rows": 1},
        "계좌이체": {"to": "transfer", "rows": 1},
        "Package Purchase": {"to": "card", "rows": 1},
        "paid by venmo": {"to": "other", "rows": 1},
    }
    assert item.row_count == 6
    assert "1 unrecognised text(s) become 'other'" in item.summary


# --- the checks declared are the checks run --------------------------------


def test_precheck_runs_the_checks_declared_and_nothing_else(legacy_file, studio, monkeypatch):
    def whole_file(source, layout):
        yield finding("schema.older-generation", "the whole file")

    def one_table(source, layout, spec, shared):
        yield finding("schema.older-generation", f"{spec.table}, with {shared}", table=spec.table)

    declared = (whole_file, EachTable(one_table, shared=lambda source, layout: "what is shared"))
    monkeypatch.setattr(precheck_module, "CHECKS", declared)
    legacy_file.execute("DROP TABLE payment_records")
    report = precheck(legacy_file)

    tables = [spec.table for spec in SPECS.values() if spec.table != "payment_records"]
    assert [item.summary for item in report.findings] == [
        "the whole file",
        *(f"{table}, with what is shared" for table in tables),
    ]


def test_every_check_precheck_defines_is_one_it_declares():
    # A check function left out of CHECKS would look live and never run, in
    # whichever of precheck's modules it is defined.
    modules = [
        importlib.import_module(f"migration.precheck.{info.name}")
        for info in pkgutil.iter_modules(precheck_package.__path__)
    ]
    defined = {
        value
        for module in modules
        for name, value in vars(module).items()
        if name.startswith("check_") and callable(value)
    }
    declared = {check.check if isinstance(check, EachTable) else check for check in CHECKS}
    assert defined == declared


# --- a cleaned copy's quarantine --------------------------------------------


# A copy is a file like any other: its quarantine, edited, is held to what the ledger takes.
TAMPERED_QUARANTINE = {
    "row_json not JSON": ("UPDATE {q} SET row_json = 'not json'", "is not JSON"),
    "row_json a list": ("UPDATE {q} SET row_json = '[1, 2]'", "is not a JSON object"),
    "NaN in row_json": ("""UPDATE {q} SET row_json = '{{"id": NaN}}'""", "is not JSON"),
    "a lone surrogate": (
        """UPDATE {q} SET row_json = '{{"name": "\\ud800"}}'""",
        "text the ledger cannot keep",
    ),
    "source_id not an id": ("UPDATE {q} SET source_id = 'seven'", "is not a row id"),
    "source_id twice": (
        "INSERT INTO {q} (source_table, source_id, reason, row_json, quarantined_at) "
        "SELECT source_table, source_id, reason, row_json, quarantined_at FROM {q}",
        "is quarantined 2 times",
    ),
    "source_id still a row": (
        "UPDATE {q} SET source_id = (SELECT min(id) FROM clients)",
        "is still a row of the table",
    ),
}


@pytest.mark.parametrize("how", TAMPERED_QUARANTINE)
@pytest.mark.django_db
def test_a_tampered_quarantine_is_refused_by_precheck_and_the_import(legacy_file, how):
    kept = legacy_file.small_studio()
    legacy_file.client(99, name="고아")
    assert kept
    _, output = clean(legacy_file.close())
    sql, problem = TAMPERED_QUARANTINE[how]
    with sqlite3.connect(output) as copy:
        copy.execute(sql.format(q=QUARANTINE_TABLE))

    with open_legacy(output) as copy:
        (refused,) = run_precheck(copy).blocking
    assert (refused.code, refused.table) == ("quarantine.unreadable", QUARANTINE_TABLE)
    assert problem in refused.summary
    code, said = run_command("import_legacy", "--source", str(output))
    assert code == 1 and "precheck finds" in said, said
    assert not LedgerEntry.objects.exists()


# --- every code, and the report -------------------------------------------


def test_every_precheck_code_is_tested_here():
    # A new precheck code in the catalogue needs a test in this module that produces it
    # (import_legacy's and verify_import's codes are tested with those commands).
    source = Path(__file__).read_text(encoding="utf-8")
    codes = [code for code in CATALOGUE if not code.startswith(("import.", "verify."))]
    assert [code for code in codes if f'"{code}"' not in source] == []


def file_with_one_of_each_severity(legacy_file: LegacyFile) -> None:
    legacy_file.trainer(username="criminal", email="a@gmail.com", password_hash=BCRYPT)
    legacy_file.trainer(username="jaesun9090", email="A@gmail.com", password_hash=BCRYPT)
    legacy_file.execute("ALTER TABLE clients ADD COLUMN instagram TEXT")
    legacy_file.client(1)


def test_blocking_file_exits_1_and_text_lists_blocking_first(legacy_file):
    file_with_one_of_each_severity(legacy_file)
    code, output = precheck_command(legacy_file)
    assert code == 1
    assert "1 blocking finding(s)" in output.split("\nCommandError: ")[1]
    lines = report_part(output).splitlines()

    def where(start: str) -> int:
        return next(n for n, line in enumerate(lines) if line.startswith(start))

    inventory, blocking = where("  table "), where("Blocking (1)")
    warnings, info, verdict = where("Warnings (1)"), where("Info ("), where("Result: ")
    assert inventory < blocking < where("  [trainers.duplicate-email]") < warnings
    assert warnings < where("  [schema.unknown-column]") < info < where("  [pairs.merge]")
    assert info < verdict
    assert where("  trainers ") < blocking and where("  total ") < blocking


def test_json_report(legacy_file, studio):
    code, output = precheck_command(legacy_file, "--format", "json")
    assert code == 0
    report = json.loads(output)
    assert {"tables", "total_rows", "findings", "importable"} <= report.keys()
    assert report["importable"] is True
    assert report["total_rows"] == 6
    assert {t["table"]: t["rows"] for t in report["tables"]}["clients"] == 1


def test_json_report_of_a_blocked_file(legacy_file):
    file_with_one_of_each_severity(legacy_file)
    code, output = precheck_command(legacy_file, "--format", "json")
    assert code == 1
    report = json.loads(report_part(output))
    assert report["importable"] is False
    (duplicate,) = [f for f in report["findings"] if f["code"] == "trainers.duplicate-email"]
    assert (duplicate["severity"], duplicate["row_ids"]) == ("blocking", [1, 2])


def test_markdown_report_has_tables(legacy_file):
    file_with_one_of_each_severity(legacy_file)
    output = report_part(precheck_command(legacy_file, "--format", "markdown")[1])
    lines = output.splitlines()
    assert "| table | target model | rows | status |" in lines
    assert lines[lines.index("| table | target model | rows | status |") + 1].startswith("|---")
    assert "## Blocking (1)" in lines
    assert "| code | finding | rows | fix |" in lines
    assert any(line.startswith("| `trainers.duplicate-email` |") for line in lines)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_output_file_gets_the_report_and_stdout_nothing(legacy_file, studio, fmt, tmp_path):
    target = tmp_path / "report.out"
    code, output = precheck_command(legacy_file, "--format", fmt, "--output", str(target))
    assert (code, output) == (0, "")
    written = target.read_text(encoding="utf-8")
    _, printed = precheck_command(legacy_file, "--format", fmt)
    assert written == printed


def test_output_file_of_a_blocked_file_still_written(legacy_file, tmp_path):
    file_with_one_of_each_severity(legacy_file)
    target = tmp_path / "report.json"
    code, output = precheck_command(legacy_file, "--format", "json", "--output", str(target))
    assert code == 1
    assert report_part(output) == ""
    assert json.loads(target.read_text(encoding="utf-8"))["importable"] is False


# --- read-only ------------------------------------------------------------


def test_precheck_leaves_a_clean_file_unchanged(legacy_file, studio):
    path = legacy_file.close()
    before = sha256_of(path)
    assert precheck_command(legacy_file)[0] == 0
    assert sha256_of(path) == before
    assert precheck(legacy_file).sha256 == before


def test_precheck_leaves_a_file_with_problems_unchanged(legacy_file, studio):
    legacy_file.client(99, age="thirty", name="")
    legacy_file.session(studio["client"], 77, None, status="done")
    legacy_file.trainer(username="oldtimer", email="trainer1@example.com", password_hash="x")
    legacy_file.execute("ALTER TABLE clients ADD COLUMN instagram TEXT")
    path = legacy_file.close()
    before = sha256_of(path)
    for fmt in ("text", "json", "markdown"):
        assert precheck_command(legacy_file, "--format", fmt)[0] == 1
    assert sha256_of(path) == before


def test_precheck_leaves_the_connection_as_it_found_it(legacy_file, studio):
    # Precheck reads with a larger page cache, then gives the connection back.
    with open_legacy(legacy_file.close()) as source:
        before = source.query("PRAGMA cache_size")
        run_precheck(source)
        assert source.query("PRAGMA cache_size") == before


def test_a_value_read_by_several_converters_is_one_bad_row(legacy_file, studio):
    # A trainer's name fills name, first_name and last_name: one empty name is one row.
    legacy_file.execute("UPDATE trainers SET name = '' WHERE id = ?", (studio["trainer"],))
    item = the(precheck(legacy_file), "value.missing-value")
    assert (item.row_ids, item.row_count) == ((studio["trainer"],), 1)


def test_empty_text_and_null_are_the_same_in_a_pair(legacy_file, studio):
    client, package, trainer = studio["client"], studio["package"], studio["trainer"]
    legacy_file.execute("UPDATE sessions SET notes = NULL")
    old = legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560",
        notes="",
    )  # fmt: skip
    report = precheck(legacy_file)
    assert the(report, "pairs.duplicate-row").row_ids == (old,)
    assert "pairs.conflicting-row" not in [item.code for item in report.findings]


def test_verbosity_0_prints_no_report_but_still_exits_by_it(legacy_file):
    file_with_one_of_each_severity(legacy_file)
    code, output = precheck_command(legacy_file, "--verbosity", "0")
    assert code == 1
    assert report_part(output) == ""
