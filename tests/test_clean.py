"""clean_legacy on small legacy files and the production sample: each fix, its log, its report."""

import json
import sqlite3
from pathlib import Path

import pytest

from migration.clean.emails import TrainerAddress, explicit_addresses, plan_email_changes
from migration.clean.errors import CleanError
from migration.clean.report import AUDIT_RULE, TEXT_RULE, CleanReport
from migration.clean.run import clean_legacy
from migration.legacy import open_legacy
from migration.legacy.schema import (
    CHANGES_TABLE,
    CLEANINGS_TABLE,
    QUARANTINE_TABLE,
    newest_schema,
)
from migration.mapping.canonical import canonical_json, raw_row
from migration.mapping.fees import fee_breakdown
from migration.models import LedgerEntry
from migration.precheck.report import PrecheckReport
from migration.precheck.run import run_precheck
from samples.files import write_production_sample
from tests.conftest import run_command, sha256_of
from tests.legacy_files import BCRYPT_HASH, UTC_STAMP, LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")

NO_FEES = dict(
    gross_amount=None,
    vat_amount=None,
    card_fee_amount=None,
    net_amount=None,
    vat_rate=None,
    card_fee_rate=None,
)


# --- helpers --------------------------------------------------------------


def clean(source: Path, output: Path | None = None, **emails: str) -> tuple[CleanReport, Path]:
    """Clean `source` into `output` (cleaned.db beside it), checking the source is unchanged."""
    output = output or source.with_name("cleaned.db")
    before = sha256_of(source)
    with open_legacy(source) as legacy:
        report = clean_legacy(source=legacy, output=output, explicit_emails=emails)
    assert sha256_of(source) == before
    return report, output


def clean_file(legacy_file: LegacyFile, **emails: str) -> tuple[CleanReport, Path]:
    return clean(legacy_file.close(), **emails)


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def logged(path: Path, rule: str | None = None) -> list[tuple]:
    """The change log: (table, row id, column, old value, new value, rule) in order.

    Without a rule, all but the audit rows written for breakdowns the file records
    without one (nearly every test file's packages and payments): tested on their own."""
    where, params = ("WHERE rule = ?", (rule,)) if rule else ("WHERE rule != ?", (AUDIT_RULE,))
    return query(
        path,
        f"SELECT table_name, row_id, column_name, old_value, new_value, rule "
        f"FROM {CHANGES_TABLE} {where} ORDER BY id",
        params,
    )


def precheck(path: Path) -> PrecheckReport:
    with open_legacy(path) as source:
        return run_precheck(source)


def blocking(path: Path) -> list[str]:
    return [item.code for item in precheck(path).blocking]


def whole_row(path: Path, table: str, row_id: int) -> str:
    """The row as clean_legacy keeps it: canonical JSON of every column."""
    connection = sqlite3.connect(path)
    try:
        cursor = connection.execute(f'SELECT * FROM "{table}" WHERE id = ?', (row_id,))
        columns = [description[0] for description in cursor.description]
        return canonical_json(raw_row(columns, cursor.fetchone()))
    finally:
        connection.close()


def clean_command(source: Path, output: Path, *options: str) -> tuple[int, str]:
    return run_command("clean_legacy", "--source", str(source), "--output", str(output), *options)


def report_part(output: str) -> str:
    return output.split("\nCommandError: ")[0]


def legacy_tables(path: Path) -> dict[str, list[tuple]]:
    """Every row of every legacy table (not the tool's own), to compare two files."""
    tables = [
        name
        for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith(("_migration_", "sqlite_"))
    ]
    return {table: query(path, f'SELECT * FROM "{table}" ORDER BY id') for table in tables}


@pytest.fixture
def production(tmp_path: Path) -> Path:
    return write_production_sample(output=tmp_path / "production.db").path


# --- the copy -------------------------------------------------------------


def test_clean_file_is_copied_with_its_hash_recorded_and_source_untouched(legacy_file):
    legacy_file.audited_studio()
    report, output = clean_file(legacy_file)
    source = legacy_file.path
    assert (report.source, report.output) == (str(source), str(output))
    assert report.source_sha256 == sha256_of(source)
    assert report.output_sha256 == sha256_of(output)
    assert (report.total_changes, report.rules, report.quarantined) == (0, (), ())
    assert legacy_tables(output) == legacy_tables(source)
    assert query(
        output, f"SELECT source_path, source_sha256, changes, quarantined FROM {CLEANINGS_TABLE}"
    ) == [(str(source), sha256_of(source), 0, 0)]
    assert (
        query(source, "SELECT name FROM sqlite_master WHERE name LIKE '\\_migration%' ESCAPE '\\'")
        == []
    )


def test_output_beside_leaves_no_temporary_file(legacy_file):
    legacy_file.small_studio()
    _, output = clean_file(legacy_file)
    assert sorted(p.name for p in output.parent.iterdir()) == ["cleaned.db", "legacy.db"]


# --- 1. duplicate e-mails --------------------------------------------------


def test_first_created_account_keeps_a_shared_address(legacy_file):
    later = legacy_file.trainer(
        username="late", email=" Kim@Mail.com ", created_at="2024-05-01 00:00:00"
    )
    earlier = legacy_file.trainer(
        username="early", email="kim@mail.com", created_at="2024-01-01 00:00:00"
    )
    report, output = clean_file(legacy_file)
    assert query(output, "SELECT id, email FROM trainers ORDER BY id") == [
        (later, "Kim+late@Mail.com"),
        (earlier, "kim@mail.com"),
    ]
    # Trimmed first, then given its plus-address: each change logged under its rule.
    assert logged(output) == [
        ("trainers", later, "email", " Kim@Mail.com ", "Kim@Mail.com", "value.untrimmed-email"),
        (
            "trainers",
            later,
            "email",
            "Kim@Mail.com",
            "Kim+late@Mail.com",
            "trainers.duplicate-email",
        ),
    ]
    assert [(c.username, c.new_address, c.how) for c in report.emails] == [
        ("late", "Kim+late@Mail.com", "plus-address")
    ]
    assert "trainers.duplicate-email" not in blocking(output)


def test_plus_address_uses_safe_characters_and_never_collides(legacy_file):
    first = legacy_file.trainer(username="first", email="kim@gmail.com")
    korean = legacy_file.trainer(username="김재선", email="kim@gmail.com")
    dotted = legacy_file.trainer(username="..j.kim!!", email="kim@gmail.com")
    legacy_file.trainer(username="other", email="kim+j.kim@gmail.com")
    _, output = clean_file(legacy_file)
    emails = dict(query(output, "SELECT id, email FROM trainers"))
    assert emails[first] == "kim@gmail.com"
    assert emails[korean] == f"kim+{korean}@gmail.com"  # nothing of the name is safe: its id
    assert emails[dotted] == f"kim+j.kim-{dotted}@gmail.com"  # kim+j.kim@ is taken
    assert len({email.casefold() for email in emails.values()}) == len(emails)


def test_explicit_email_replaces_the_plus_address(production, tmp_path):
    output = tmp_path / "cleaned.db"
    code, text = clean_command(production, output, "--email", "jaesun9090=jaesun.pt@example.com")
    assert code == 0, text
    emails = dict(query(output, "SELECT username, email FROM trainers"))
    assert emails["criminal"] == "jaesun.kim@gmail.com"
    assert emails["jaesun9090"] == "jaesun.pt@example.com"
    assert logged(output, "trainers.duplicate-email") == [
        (
            "trainers",
            5,
            "email",
            "jaesun.kim@gmail.com",
            "jaesun.pt@example.com",
            "trainers.duplicate-email",
        )
    ]
    assert "set with --email" in text


def test_explicit_email_for_the_first_account_leaves_the_address_to_the_other(production):
    _, output = clean(production, criminal="criminal.pt@example.com")
    emails = dict(query(output, "SELECT username, email FROM trainers"))
    assert (emails["criminal"], emails["jaesun9090"]) == (
        "criminal.pt@example.com",
        "jaesun.kim@gmail.com",
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("nobody=a@example.com", "no trainer has the username nobody"),
        ("jaesun9090=not-an-address", "not an e-mail address"),
        ("jaesun9090=JAESUN.KIM@gmail.com", "criminal has that address too"),
        ("jaesun9090=minji.park@example.com", "minji.park has that address too"),
        ("jaesun9090", "USERNAME=ADDRESS"),
    ],
)
def test_unusable_explicit_email_is_refused_and_nothing_written(
    production, tmp_path, option, message
):
    output = tmp_path / "cleaned.db"
    before = sha256_of(production)
    code, text = clean_command(production, output, "--email", option)
    assert code == 2
    assert message in text
    assert len(text.split("CommandError: ")[1].splitlines()) == 1
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["production.db"]
    assert sha256_of(production) == before


def test_plan_never_gives_an_explicit_address_someone_else_keeps():
    trainers = [
        TrainerAddress(1, "a", "x@example.com", "2024-01-01 00:00:00"),
        TrainerAddress(2, "b", "x@example.com", "2024-02-01 00:00:00"),
        TrainerAddress(3, "c", "c@example.com", "2024-03-01 00:00:00"),
    ]
    with pytest.raises(CleanError, match="c has that address too"):
        plan_email_changes(trainers, {"b": "C@example.com"})
    (change,) = plan_email_changes(trainers, {"b": "b@example.com"})
    assert (change.trainer_id, change.new_address, change.how) == (2, "b@example.com", "explicit")


# --- 2. rows on both sides of a pair ---------------------------------------


def test_old_copy_of_a_duplicate_row_is_deleted_with_its_row_logged(legacy_file):
    ids = legacy_file.small_studio()
    client, package, trainer = ids["client"], ids["package"], ids["trainer"]
    twin = legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560"
    )
    paid_twice = legacy_file.payment_record(
        client, package, trainer, payment_date="2024-03-01", payment_method="카드"
    )
    source = legacy_file.close()
    session_row = whole_row(source, "training_sessions", twin)
    payment_row = whole_row(source, "payment_records", paid_twice)
    report, output = clean(source)
    assert query(output, "SELECT count(*) FROM training_sessions")[0][0] == 0
    assert query(output, "SELECT count(*) FROM payment_records")[0][0] == 0
    assert query(output, "SELECT count(*) FROM sessions")[0][0] == 1
    assert logged(output, "pairs.duplicate-row") == [
        ("training_sessions", twin, None, session_row, None, "pairs.duplicate-row"),
        ("payment_records", paid_twice, None, payment_row, None, "pairs.duplicate-row"),
    ]
    assert json.loads(session_row)["session_date"] == "2024-03-05"
    assert report.conflicts == ()
    assert not {"pairs.duplicate-row"} & {item.code for item in precheck(output).findings}


def test_conflicting_pair_rows_are_left_and_need_a_person(legacy_file, tmp_path):
    ids = legacy_file.small_studio()
    old = legacy_file.training_session(
        ids["client"],
        ids["package"],
        ids["trainer"],
        session_date="2024-03-05",
        session_time="10:00:25.813560",
        status="cancelled",
    )
    source = legacy_file.close()
    report, output = clean(source)
    (conflict,) = report.conflicts
    assert (conflict.old_table, conflict.old_id, conflict.new_table, conflict.new_id) == (
        "training_sessions",
        old,
        "sessions",
        ids["session"],
    )
    assert conflict.differing == ("status",)
    assert query(output, "SELECT id, status FROM training_sessions") == [(old, "cancelled")]
    assert logged(output) == []
    assert blocking(output) == ["pairs.conflicting-row"]

    code, text = clean_command(source, tmp_path / "by-command.db")
    assert code == 1
    assert "Left for a person (1)" in text
    assert f"training_sessions {old} and sessions {ids['session']}" in text
    assert "different status" in text
    assert "cannot be imported yet" in report_part(text)


# --- 3. missing trainer ids ------------------------------------------------


def test_missing_trainers_come_from_the_package_else_the_client(legacy_file):
    ids = legacy_file.small_studio()
    other = legacy_file.trainer()
    client = legacy_file.client(other)
    package = legacy_file.package(client, ids["trainer"])  # sold by another trainer
    by_package = legacy_file.session(client, package, None)
    by_client = legacy_file.payment(client, None, "")
    wrong = legacy_file.assessment(client, 99)
    report, output = clean_file(legacy_file)
    assert query(output, "SELECT trainer_id FROM sessions WHERE id = ?", (by_package,)) == [
        (ids["trainer"],)
    ]
    assert query(output, "SELECT trainer_id FROM payments WHERE id = ?", (by_client,)) == [(other,)]
    assert query(output, "SELECT trainer_id FROM assessments WHERE id = ?", (wrong,)) == [(other,)]
    assert logged(output) == [
        ("assessments", wrong, "trainer_id", 99, other, "reference.dangling"),
        ("sessions", by_package, "trainer_id", None, ids["trainer"], "reference.inferable-trainer"),
        ("payments", by_client, "trainer_id", "", other, "reference.inferable-trainer"),
    ]
    assert report.quarantined == ()
    codes = {item.code for item in precheck(output).findings}
    assert not codes & {"reference.inferable-trainer", "reference.dangling"}


def test_row_ids_in_the_text_report_are_capped_at_20(legacy_file, tmp_path):
    ids = legacy_file.audited_studio()
    for _ in range(25):
        legacy_file.session(ids["client"], ids["package"], None)
    code, text = clean_command(legacy_file.close(), tmp_path / "cleaned.db")
    assert code == 0
    (line,) = [line for line in text.splitlines() if "rows: " in line]
    assert line.strip() == "rows: " + ", ".join(str(n) for n in range(2, 22)) + " and 5 more"


# --- 4. fee breakdowns -----------------------------------------------------


def test_missing_fee_breakdowns_computed_with_the_app_rule(legacy_file):
    ids = legacy_file.audited_studio()
    client, trainer = ids["client"], ids["trainer"]
    topped_up = legacy_file.package(
        client, trainer, total_amount=2_280_000, fee_calculation_method=None, **NO_FEES
    )
    legacy_file.payment(client, topped_up, trainer, amount=1_980_000.0, **NO_FEES)
    legacy_file.payment_record(client, topped_up, trainer, amount=300_000)
    unpaid = legacy_file.package(client, trainer, total_amount=600_000, **NO_FEES)
    report, output = clean_file(legacy_file)

    packages = query(
        output,
        "SELECT id, gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, "
        "card_fee_rate, fee_calculation_method FROM session_packages WHERE id IN (?, ?) "
        "ORDER BY id",
        (topped_up, unpaid),
    )
    assert packages == [
        (topped_up, 2_280_000, 207_273, 79_800, 1_992_927, 0.1, 0.035, "inclusive"),
        (unpaid, 600_000, 54_545, 21_000, 524_455, 0.1, 0.035, "inclusive"),
    ]
    payment = query(
        output,
        "SELECT gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, card_fee_rate, "
        "typeof(gross_amount) FROM payments WHERE amount = 1980000",
    )
    assert payment == [(1_980_000, 180_000, 69_300, 1_730_700, 0.1, 0.035, "integer")]
    assert query(output, "SELECT count(*) FROM payment_records")[0][0] == 1

    fee_changes = logged(output, "fees.missing")
    assert ("session_packages", topped_up, "gross_amount", None, 2_280_000, "fees.missing") in (
        fee_changes
    )
    assert (
        "session_packages",
        topped_up,
        "fee_calculation_method",
        None,
        "inclusive",
        "fees.missing",
    ) in fee_changes
    # unpaid's method was already 'inclusive' (the default): nothing to log for it.
    assert ("session_packages", unpaid, "fee_calculation_method") not in [
        c[:3] for c in fee_changes
    ]

    audit = query(
        output,
        "SELECT package_id, payment_id, calculation_type, gross_amount, vat_amount, "
        "card_fee_amount, net_amount, vat_rate, card_fee_rate, created_by, calculation_details, "
        "created_at FROM fee_audit_log WHERE calculation_type = 'migration' ORDER BY id",
    )
    assert [row[:10] for row in audit] == [
        (None, 2, "migration", 1_980_000, 180_000, 69_300, 1_730_700, 0.1, 0.035, None),
        # The old payment: its audit row names it in its details (payment_id is the
        # new payments table's).
        (None, None, "migration", 300_000, 27_273, 10_500, 262_227, 0.1, 0.035, None),
        (topped_up, None, "migration", 2_280_000, 207_273, 79_800, 1_992_927, 0.1, 0.035, None),
        (unpaid, None, "migration", 600_000, 54_545, 21_000, 524_455, 0.1, 0.035, None),
    ]
    sources = [json.loads(row[10])["gross_source"] for row in audit]
    assert sources[0] == "payments.amount"
    assert sources[1] == "payment_records.amount"
    assert json.loads(audit[1][10])["payment_record_id"] == 1
    assert "sum of its 2 payment(s)" in sources[2]
    assert "total_amount" in sources[3]
    assert all(json.loads(row[10])["rule"].startswith("the app's fee rule") for row in audit)
    assert all(len(row[11]) == 19 and row[11][10] == " " for row in audit)  # SQLite's UTC form
    assert query(
        output,
        "SELECT gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, card_fee_rate "
        "FROM payment_records",
    ) == [(300_000, 27_273, 10_500, 262_227, 0.1, 0.035)]
    assert {c[0] for c in fee_changes} == {
        "session_packages",
        "payments",
        "payment_records",
        "fee_audit_log",
    }
    assert {item.code for item in precheck(output).findings} & {"fees.missing"} == set()
    rule_tables = {(s.rule, s.table): s.rows for s in report.rules}
    assert rule_tables[("fees.missing", "session_packages")] == 2


def test_fee_rule_matches_the_readme():
    assert [
        (int(b.vat_amount), int(b.card_fee_amount), int(b.net_amount))
        for b in map(fee_breakdown, (1_980_000, 300_000, 2_280_000))
    ] == [(180_000, 69_300, 1_730_700), (27_273, 10_500, 262_227), (207_273, 79_800, 1_992_927)]


def test_file_before_the_fee_migration_gets_its_columns_table_and_breakdowns(legacy_file):
    ids = legacy_file.small_studio()
    legacy_file.payment_record(ids["client"], ids["package"], ids["trainer"], amount=300_000)
    for table, columns in {
        "session_packages": (*NO_FEES, "fee_calculation_method"),
        "payments": NO_FEES,
    }.items():
        for column in columns:
            legacy_file.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    legacy_file.execute("DROP TABLE fee_audit_log")
    source = legacy_file.close()
    assert "fees.missing" in {item.code for item in precheck(source).findings}
    report, output = clean(source)

    declared = {
        table: {c.name: c.declared_type for c in newest_schema()[table]}
        for table in ("session_packages", "payments", "fee_audit_log")
    }
    for table in ("session_packages", "payments", "fee_audit_log"):
        columns = query(output, "SELECT name, type FROM pragma_table_info(?)", (table,))
        assert dict(columns) == declared[table]
    added = [c for c in logged(output) if c[1] is None]
    assert (
        "payments",
        None,
        "gross_amount",
        None,
        'ADD COLUMN "gross_amount" INTEGER',
        "fees.missing",
    ) in added
    assert len([c for c in added if c[0] == "session_packages"]) == 7
    assert len([c for c in added if c[0] == "payments"]) == 6
    assert [c[0] for c in added if c[2] is None] == ["fee_audit_log"]
    # The package was paid 300,000 twice (payments and payment_records): gross 600,000.
    assert query(output, "SELECT gross_amount, net_amount FROM session_packages") == [
        (600_000, 524_455)
    ]
    assert query(output, "SELECT gross_amount, net_amount FROM payments") == [(300_000, 262_227)]
    assert query(
        output, "SELECT package_id, payment_id, gross_amount FROM fee_audit_log ORDER BY id"
    ) == [(None, ids["payment"], 300_000), (None, None, 300_000), (ids["package"], None, 600_000)]
    assert len([c for c in added if c[0] == "payment_records"]) == 6
    report_after = precheck(output)
    assert report_after.blocking == []
    assert report_after.is_newest_generation
    assert "fees.missing" not in {item.code for item in report_after.findings}


# --- 5. text the target cannot store ---------------------------------------


def test_nul_and_invalid_utf8_made_storable_with_original_bytes_logged(legacy_file):
    ids = legacy_file.audited_studio()
    with_nul = "김\x00민지".encode()
    broken = "PT 10회".encode()[:-1] + b" \xff"
    legacy_file.execute(
        "UPDATE clients SET name = CAST(? AS TEXT) WHERE id = ?", (with_nul, ids["client"])
    )
    legacy_file.execute(
        "UPDATE payments SET description = CAST(? AS TEXT) WHERE id = ?", (broken, ids["payment"])
    )
    source = legacy_file.close()
    assert "value.unstorable-text" in blocking(source)
    report, output = clean(source)
    assert query(output, "SELECT name FROM clients") == [("김민지",)]
    (description,) = query(output, "SELECT description FROM payments")[0]
    assert description == broken.decode("utf-8", errors="replace")
    assert "\ufffd" in description
    text_changes = logged(output, "value.unstorable-text")
    assert text_changes == [
        ("clients", ids["client"], "name", with_nul, "김민지", "value.unstorable-text"),
        ("payments", ids["payment"], "description", broken, description, "value.unstorable-text"),
    ]
    assert query(output, f"SELECT DISTINCT typeof(old_value) FROM {CHANGES_TABLE}") == [("blob",)]
    assert blocking(output) == []


# --- 6. quarantine ---------------------------------------------------------


def test_client_whose_trainer_is_gone_is_quarantined_with_everything_it_owns(legacy_file):
    kept = legacy_file.small_studio()
    orphan = legacy_file.client(99, name="고아")
    package = legacy_file.package(orphan, 99)
    sessions = [legacy_file.session(orphan, package, None) for _ in range(2)]
    payment = legacy_file.payment(orphan, package, 99)
    assessment = legacy_file.assessment(orphan, kept["trainer"])
    source = legacy_file.close()
    rows = {
        ("clients", orphan): whole_row(source, "clients", orphan),
        ("session_packages", package): whole_row(source, "session_packages", package),
        ("sessions", sessions[0]): whole_row(source, "sessions", sessions[0]),
        ("sessions", sessions[1]): whole_row(source, "sessions", sessions[1]),
        ("payments", payment): whole_row(source, "payments", payment),
        ("assessments", assessment): whole_row(source, "assessments", assessment),
    }
    report, output = clean(source)

    quarantined = query(
        output,
        f"SELECT source_table, source_id, reason, row_json FROM {QUARANTINE_TABLE} ORDER BY id",
    )
    assert {(table, row_id): row_json for table, row_id, _, row_json in quarantined} == rows
    reasons = {(table, row_id): reason for table, row_id, reason, _ in quarantined}
    assert reasons[("clients", orphan)] == "trainer_id 99: no trainers row has that id"
    assert reasons[("session_packages", package)] == (
        f"client_id {orphan}: that clients row is quarantined too"
    )
    assert reasons[("sessions", sessions[0])] == (
        f"client_id {orphan}: that clients row is quarantined too"
    )
    for table, row_id in rows:
        assert query(output, f"SELECT count(*) FROM {table} WHERE id = ?", (row_id,)) == [(0,)]
    assert query(output, "SELECT id FROM clients") == [(kept["client"],)]
    assert query(output, "SELECT id FROM sessions") == [(kept["session"],)]
    deleted = [c for c in logged(output) if c[2] is None and c[4] is None]
    assert {(c[0], c[1]): c[3] for c in deleted} == rows
    assert {c[5] for c in deleted} == {"reference.dangling"}
    assert {s.table: s.rows for s in report.quarantined} == {
        "clients": 1,
        "assessments": 1,
        "session_packages": 1,
        "sessions": 2,
        "payments": 1,
    }
    assert report.total_quarantined == 6
    assert query(output, f"SELECT quarantined FROM {CLEANINGS_TABLE}") == [(6,)]
    assert blocking(output) == []


def test_row_naming_no_trainer_nobody_can_infer_is_quarantined(legacy_file, tmp_path):
    ids = legacy_file.small_studio()
    nameless = legacy_file.client(ids["trainer"])
    legacy_file.execute("UPDATE clients SET trainer_id = '' WHERE id = ?", (nameless,))
    lost = legacy_file.payment(nameless, None, None)
    source = legacy_file.close()
    report, output = clean(source)
    assert query(output, f"SELECT source_table, source_id, reason FROM {QUARANTINE_TABLE}") == [
        (
            "payments",
            lost,
            "trainer_id is empty, and neither its package nor its client leads to a trainer",
        )
    ]
    assert [c[5] for c in logged(output) if c[0] == "payments"] == ["reference.uninferable-trainer"]
    # The client itself names no trainer: that is for a person (precheck's missing value).
    assert query(output, "SELECT count(*) FROM clients WHERE id = ?", (nameless,)) == [(1,)]
    assert blocking(output) == ["value.missing-value"]

    code, text = clean_command(source, tmp_path / "by-command.db")
    assert code == 1
    assert "[value.missing-value] clients.trainer_id" in text
    assert "1 conflict" not in text and "0 conflict(s) and 1 other blocking" in text


# --- the production sample -------------------------------------------------


def test_production_sample_cleaned(production):
    report, output = clean(production)
    emails = dict(query(output, "SELECT username, email FROM trainers"))
    assert emails["criminal"] == "jaesun.kim@gmail.com"  # created first, keeps it
    assert emails["jaesun9090"] == "jaesun.kim+jaesun9090@gmail.com"
    assert query(output, "SELECT trainer_id FROM sessions WHERE id = 2") == [(5,)]
    assert query(output, "SELECT count(*) FROM payment_records") == [(2,)]
    # The two old payments get the fee columns the table never had, their breakdown
    # by the fee rule, and an audit row each.
    assert query(
        output,
        "SELECT amount, gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, "
        "card_fee_rate FROM payment_records ORDER BY id",
    ) == [
        (300000, 300000, 27273, 10500, 262227, 0.1, 0.035),
        (600000, 600000, 54545, 21000, 524455, 0.1, 0.035),
    ]
    # Their audit rows, and one for each breakdown the app recorded without one: the
    # five packages' and the four payments'.
    assert query(output, "SELECT count(*) FROM fee_audit_log") == [(11,)]
    audits = query(
        output,
        "SELECT package_id, payment_id FROM fee_audit_log WHERE id IN "
        f"(SELECT row_id FROM {CHANGES_TABLE} WHERE rule = ?) ORDER BY id",
        (AUDIT_RULE,),
    )
    assert audits == [(n, None) for n in range(1, 6)] + [(None, n) for n in range(1, 5)]
    assert [c for c in logged(output) if c[-1] != "fees.missing"] == [
        (
            "trainers",
            5,
            "email",
            "jaesun.kim@gmail.com",
            "jaesun.kim+jaesun9090@gmail.com",
            "trainers.duplicate-email",
        ),
        ("sessions", 2, "trainer_id", None, 5, "reference.inferable-trainer"),
    ]
    fee_changes = [c[:3] for c in logged(output, "fees.missing")]
    assert len(fee_changes) == 6 + 2 * 6 + 2  # columns added, values, audit rows
    assert {table for table, *_ in fee_changes} == {"payment_records", "fee_audit_log"}
    assert report.total_changes == 22 + 9
    assert precheck(output).blocking == []
    assert "fees.unaudited" not in {item.code for item in precheck(output).findings}


def test_cleaning_the_cleaned_production_sample_changes_nothing(production, tmp_path):
    _, once = clean(production)
    report, twice = clean(once, tmp_path / "twice.db")
    assert (report.total_changes, report.rules, report.quarantined) == (0, (), ())
    assert legacy_tables(twice) == legacy_tables(once)
    assert len(logged(twice)) == 22  # the first run's log, carried along
    assert len(logged(twice, AUDIT_RULE)) == 9
    assert query(twice, f"SELECT changes FROM {CLEANINGS_TABLE} ORDER BY id") == [(31,), (0,)]


def messy_file(legacy_file: LegacyFile) -> None:
    """One of everything clean_legacy fixes."""
    ids = legacy_file.small_studio()
    client, package, trainer = ids["client"], ids["package"], ids["trainer"]
    legacy_file.trainer(username="copycat", email="TRAINER1@example.com ")
    legacy_file.training_session(
        client, package, trainer, session_date="2024-03-05", session_time="10:00:25.813560"
    )
    legacy_file.session(client, package, None, session_date="2024-03-06")
    legacy_file.payment(client, None, 77, **NO_FEES)
    legacy_file.package(client, trainer, **NO_FEES)
    legacy_file.execute(
        "UPDATE clients SET phone = CAST(? AS TEXT) WHERE id = ?", (b"010\x00\xfe", client)
    )
    orphan = legacy_file.client(42)
    legacy_file.session(orphan, package, trainer, session_date="2024-04-01")
    legacy_file.insert(
        "fee_audit_log",
        package_id=999,
        calculation_type="manual",
        gross_amount=1,
        vat_amount=0,
        card_fee_amount=0,
        net_amount=1,
        vat_rate=0.1,
        card_fee_rate=0.035,
    )


def test_messy_file_is_fixed_and_a_second_clean_changes_nothing(legacy_file, tmp_path):
    messy_file(legacy_file)
    source = legacy_file.close()
    assert set(blocking(source)) == {
        "trainers.duplicate-email",
        "reference.dangling",
        "value.unstorable-text",
        "value.untrimmed-email",
    }
    report, once = clean(source)
    assert {s.rule for s in report.rules} == {
        "trainers.duplicate-email",
        "pairs.duplicate-row",
        "reference.inferable-trainer",
        "reference.dangling",
        "fees.missing",
        "fees.unaudited",
        "value.unstorable-text",
        "value.untrimmed-email",
    }
    assert blocking(once) == []
    again, twice = clean(once, tmp_path / "twice.db")
    assert (again.total_changes, again.rules, again.quarantined) == (0, (), ())
    assert legacy_tables(twice) == legacy_tables(once)


# --- the command -----------------------------------------------------------


def test_output_that_is_the_source_is_refused(production):
    before = sha256_of(production)
    for spelling in (production, production.parent / "." / production.name):
        code, text = clean_command(production, spelling)
        assert code == 2
        assert "that is the legacy file" in text
    assert sha256_of(production) == before


def test_hard_link_to_the_source_is_refused(production, tmp_path):
    link = tmp_path / "link.db"
    link.hardlink_to(production)
    code, text = clean_command(production, link, "--force")
    assert code == 2
    assert "that is the legacy file" in text


def test_report_file_that_is_the_source_is_refused(production, tmp_path):
    before = sha256_of(production)
    code, _ = clean_command(production, tmp_path / "cleaned.db", "--report", str(production))
    assert code == 2
    assert sha256_of(production) == before
    assert not (tmp_path / "cleaned.db").exists()


def test_existing_output_needs_force(production, tmp_path):
    output = tmp_path / "cleaned.db"
    output.write_bytes(b"keep me")
    code, text = clean_command(production, output)
    assert code == 2
    assert "already exists" in text and "--force" in text
    assert output.read_bytes() == b"keep me"
    code, _ = clean_command(production, output, "--force")
    assert code == 0
    assert query(output, "SELECT count(*) FROM trainers") == [(7,)]


def test_unreadable_source_exits_2(tmp_path):
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("not a database")
    code, text = clean_command(not_sqlite, tmp_path / "cleaned.db")
    assert code == 2
    assert "not a SQLite database" in text
    assert not (tmp_path / "cleaned.db").exists()


def test_file_without_a_core_table_is_refused(legacy_file, tmp_path):
    legacy_file.small_studio()
    legacy_file.execute("DROP TABLE trainers")
    code, text = clean_command(legacy_file.close(), tmp_path / "cleaned.db")
    assert code == 2
    assert "no table trainers" in text
    assert not (tmp_path / "cleaned.db").exists()


def test_json_report(production, tmp_path):
    code, text = clean_command(production, tmp_path / "cleaned.db", "--format", "json")
    assert code == 0
    report = json.loads(text)
    assert report["total_changes"] == 31
    assert report["needs_person"] is False
    assert report["precheck_blocking"] == []
    assert report["change_log"] == {"file": str(tmp_path / "cleaned.db"), "table": CHANGES_TABLE}
    assert report["source_sha256"] == sha256_of(production)
    assert [(r["rule"], r["table"], r["row_ids"]) for r in report["rules"]] == [
        ("trainers.duplicate-email", "trainers", [5]),
        ("reference.inferable-trainer", "sessions", [2]),
        ("fees.missing", "payment_records", [1, 2]),
        ("fees.missing", "fee_audit_log", [1, 2]),
        ("fees.unaudited", "fee_audit_log", list(range(3, 12))),
    ]
    assert report["emails"][0]["new_address"] == "jaesun.kim+jaesun9090@gmail.com"


def test_text_and_markdown_reports(production, tmp_path):
    code, text = clean_command(production, tmp_path / "a.db")
    assert code == 0
    assert f"change log: table {CHANGES_TABLE} in the cleaned copy (31 change(s)" in text
    assert "[trainers.duplicate-email] trainers: 1 change(s) to 1 row(s)" in text
    assert "jaesun9090 (id 5): jaesun.kim@gmail.com -> jaesun.kim+jaesun9090@gmail.com" in text
    assert "Result: precheck finds nothing blocking" in text
    code, markdown = clean_command(production, tmp_path / "b.db", "--format", "markdown")
    assert code == 0
    lines = markdown.splitlines()
    assert "| rule | table | changes | rows | row ids | what |" in lines
    assert any(
        line.startswith("| `reference.inferable-trainer` | sessions | 1 | 1 | 2 |")
        for line in lines
    )


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_report_shows_no_password_hash_and_no_unchanged_address(production, tmp_path, fmt):
    report_file = tmp_path / f"report.{fmt}"
    code, printed = clean_command(
        production, tmp_path / "cleaned.db", "--format", fmt, "--report", str(report_file)
    )
    assert (code, printed) == (0, "")
    written = report_file.read_text(encoding="utf-8")
    assert "jaesun.kim+jaesun9090@gmail.com" in written
    for password_hash, email in query(production, "SELECT password_hash, email FROM trainers"):
        assert password_hash not in written
        assert password_hash[7:29] not in written  # not even the salt
        if email != "jaesun.kim@gmail.com":
            assert email not in written
    assert BCRYPT_HASH not in written


def test_cleaning_the_same_source_twice_writes_the_same_audit_rows(legacy_file, tmp_path):
    # A re-import of a fresh copy must find the audit rows unchanged.
    ids = legacy_file.small_studio()
    legacy_file.package(ids["client"], ids["trainer"], total_amount=600_000, **NO_FEES)
    source = legacy_file.close()
    _, first = clean(source, tmp_path / "first.db")
    _, second = clean(source, tmp_path / "second.db")
    audit = "SELECT * FROM fee_audit_log ORDER BY id"
    assert query(first, audit) == query(second, audit)
    assert set(query(first, "SELECT created_at FROM fee_audit_log")) == {(UTC_STAMP,)}


@pytest.mark.parametrize(
    ("usernames", "option", "expected"),
    [
        (["kim", "a=b"], "a=b=new@example.com", {"a=b": "new@example.com"}),
        (["kim"], "kim=new=1@example.com", {"kim": "new=1@example.com"}),
        (["kim"], " kim = new@example.com ", {"kim": "new@example.com"}),
        ([], "kim=new@example.com", {"kim": "new@example.com"}),  # refused later, by name
    ],
)
def test_an_email_option_is_split_after_the_username_it_names(usernames, option, expected):
    assert explicit_addresses([option], usernames) == expected


@pytest.mark.parametrize(
    ("usernames", "option", "message"),
    [
        (["a", "a=b"], "a=b=c@example.com", "it could name trainer a or a=b"),
        (["kim"], "kim", "write it as USERNAME=ADDRESS"),
        (["kim"], "=x@example.com", "write it as USERNAME=ADDRESS"),
        (["kim"], "kim=nobody", "that is not an e-mail address"),
    ],
)
def test_an_email_option_that_names_no_one_trainer_is_refused(usernames, option, message):
    with pytest.raises(CleanError, match=message):
        explicit_addresses([option], usernames)


def test_a_trainer_whose_username_holds_an_equals_sign_can_be_given_an_address(tmp_path):
    legacy = LegacyFile(tmp_path / "legacy.db")
    legacy.small_studio()
    legacy.trainer(username="kim=pt", email="shared@example.com")
    legacy.trainer(username="lee", email="shared@example.com")
    output = tmp_path / "cleaned.db"
    code, text = clean_command(legacy.close(), output, "--email", "kim=pt=kim@example.com")
    # The address is set; the username, which the new app refuses, is left for a person.
    assert code == 1, text
    assert "[value.invalid-in-app] trainers.username" in text
    emails = dict(query(output, "SELECT username, email FROM trainers"))
    assert (emails["kim=pt"], emails["lee"]) == ("kim@example.com", "shared@example.com")


@pytest.mark.django_db
def test_a_sound_quarantine_is_in_the_ledger_and_the_balance(legacy_file):
    legacy_file.small_studio()
    orphan = legacy_file.client(99, name="고아")
    _, output = clean(legacy_file.close())
    for command in ("precheck", "import_legacy", "verify_import"):
        code, said = run_command(command, "--source", str(output))
        assert code == 0, said
    entry = LedgerEntry.objects.get(legacy_table="clients", legacy_id=orphan)
    assert (entry.action, entry.target_id, entry.raw["name"]) == ("quarantined", None, "고아")


def test_usernames_and_addresses_that_differ_only_by_a_nul_are_twins(tmp_path):
    legacy = LegacyFile(tmp_path / "legacy.db")
    legacy.small_studio()
    legacy.trainer(username="kim", email="kim@example.com")
    legacy.trainer(username="kim\x00", email="lee@example.com")
    lee = legacy.trainer(username="lee", email="lee@example.com\x00")
    path = legacy.close()
    with open_legacy(path) as source:
        found = run_precheck(source).findings
    duplicates = {item.code: item.details for item in found if "duplicate" in item.code}
    assert duplicates["trainers.duplicate-username"] == {"usernames": ["kim", "kim\x00"]}
    assert duplicates["trainers.duplicate-email"]["usernames"] == ["kim\x00", "lee"]

    report, output = clean(path)
    emails = dict(query(output, "SELECT username, email FROM trainers"))
    # The NUL removed first, the addresses are one, and made unique like any other two.
    assert (emails["kim"], emails["lee"]) == ("kim@example.com", "lee+lee@example.com")
    # kim\x00 cannot become kim, whom the file holds already: left for a person.
    assert "kim\x00" in emails
    (text_fixed,) = [summary for summary in report.rules if summary.rule == TEXT_RULE]
    assert text_fixed.row_ids == (lee,)
    with open_legacy(output) as cleaned:
        left = run_precheck(cleaned).blocking
    assert sorted(item.code for item in left) == [
        "trainers.duplicate-username",
        "value.unstorable-text",
    ]
