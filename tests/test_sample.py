"""The sample legacy files: the production file's shape, and the chain's proportions.

Plain sqlite3 checks on the written files; the fee rule is restated here from
the legacy README so that the sample is checked against the rule, not against
itself.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from pathlib import Path

import bcrypt
import pytest
from django.core.management import CommandError, call_command

from migration.legacy.schema import schema_sql
from samples.files import (
    SAMPLE_PASSWORDS,
    write_atomically,
    write_chain_sample,
    write_production_sample,
)

PRODUCTION_COUNTS = {
    "trainers": 7,
    "clients": 10,
    "assessments": 7,
    "session_packages": 5,
    "sessions": 4,
    "training_sessions": 3,
    "payments": 4,
    "payment_records": 2,
    "fee_audit_log": 0,
}
CHAIN_SESSIONS = 2_000

# (table, column, referenced table): every reference a legacy row makes.
REFERENCES = (
    ("clients", "trainer_id", "trainers"),
    ("assessments", "client_id", "clients"),
    ("assessments", "trainer_id", "trainers"),
    ("session_packages", "client_id", "clients"),
    ("session_packages", "trainer_id", "trainers"),
    ("sessions", "client_id", "clients"),
    ("sessions", "package_id", "session_packages"),
    ("sessions", "trainer_id", "trainers"),
    ("training_sessions", "client_id", "clients"),
    ("training_sessions", "package_id", "session_packages"),
    ("training_sessions", "trainer_id", "trainers"),
    ("payments", "client_id", "clients"),
    ("payments", "package_id", "session_packages"),
    ("payments", "trainer_id", "trainers"),
    ("payment_records", "client_id", "clients"),
    ("payment_records", "package_id", "session_packages"),
    ("payment_records", "trainer_id", "trainers"),
)


def fee_rule(gross: int) -> tuple[int, int, int]:
    """VAT, card fee and net of a VAT-inclusive gross, as the legacy README states it."""
    amount = Decimal(gross)
    vat = (amount * Decimal("0.10") / Decimal("1.10")).quantize(Decimal(1), ROUND_HALF_UP)
    card_fee = (amount * Decimal("0.035")).quantize(Decimal(1), ROUND_HALF_UP)
    return int(vat), int(card_fee), int(amount - vat - card_fee)


@pytest.fixture(scope="module")
def production_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("production") / "fitness_assessment.db"
    write_production_sample(output=output)
    return output


@pytest.fixture(scope="module")
def chain_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("chain") / "chain.db"
    write_chain_sample(output=output, sessions=CHAIN_SESSIONS)
    return output


@pytest.fixture(scope="module")
def old_half_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("old-half") / "chain.db"
    write_chain_sample(output=output, sessions=CHAIN_SESSIONS, shape="old-half")
    return output


@pytest.fixture
def old_half(old_half_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(old_half_path)) as connection:
        yield connection


@pytest.fixture
def production(production_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(production_path)) as connection:
        yield connection


@pytest.fixture
def chain(chain_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(chain_path)) as connection:
        yield connection


def table_names(connection: sqlite3.Connection) -> list[str]:
    return [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {
        table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in table_names(connection)
    }


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in table_names(connection)
        }


def ids(connection: sqlite3.Connection, table: str) -> set[int]:
    return {id_ for (id_,) in connection.execute(f"SELECT id FROM {table}")}


def dangling_references(connection: sqlite3.Connection) -> dict[str, int]:
    dangling = {}
    for table, column, target in REFERENCES:
        (count,) = connection.execute(
            f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
            f"AND {column} NOT IN (SELECT id FROM {target})"
        ).fetchone()
        if count:
            dangling[f"{table}.{column}"] = count
    return dangling


def rows_on_both_sides(connection: sqlite3.Connection) -> tuple[int, int]:
    """Sessions and payments that appear in both the old and the new table."""
    (sessions,) = connection.execute(
        "SELECT count(*) FROM sessions s JOIN training_sessions t "
        "ON s.client_id = t.client_id AND s.package_id = t.package_id "
        "AND s.session_date = t.session_date "
        "AND s.session_time IS t.session_time"
    ).fetchone()
    (payments,) = connection.execute(
        "SELECT count(*) FROM payments p JOIN payment_records r "
        "ON p.client_id = r.client_id AND p.package_id IS r.package_id "
        "AND p.payment_date = r.payment_date AND p.amount = r.amount"
    ).fetchone()
    return sessions, payments


# --- The production sample ------------------------------------------------------------


def test_production_sample_has_the_production_counts(tmp_path: Path) -> None:
    summary = write_production_sample(output=tmp_path / "legacy.db")

    with closing(sqlite3.connect(summary.path)) as connection:
        assert row_counts(connection) == PRODUCTION_COUNTS
    assert summary.row_counts == PRODUCTION_COUNTS
    assert summary.total_rows == 42


def test_production_schema_is_the_shipped_ddl(production: sqlite3.Connection) -> None:
    with closing(sqlite3.connect(":memory:")) as reference:
        reference.executescript(schema_sql())
        query = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        expected = set(reference.execute(query))

    assert set(production.execute(query)) == expected
    assert len(table_names(production)) == 9


def test_only_criminal_and_jaesun9090_share_an_email(production: sqlite3.Connection) -> None:
    shared = production.execute(
        "SELECT email, group_concat(username) FROM trainers GROUP BY email HAVING count(*) > 1"
    ).fetchall()
    created = dict(production.execute("SELECT username, created_at FROM trainers"))

    assert len(shared) == 1
    email, usernames = shared[0]
    assert sorted(usernames.split(",")) == ["criminal", "jaesun9090"]
    assert email.endswith("@gmail.com")
    assert created["criminal"] < created["jaesun9090"]


def test_client_ids_start_at_3(production: sqlite3.Connection) -> None:
    assert ids(production, "clients") == set(range(3, 13))


def test_trainer_ids_run_from_1_to_7(production: sqlite3.Connection) -> None:
    assert ids(production, "trainers") == set(range(1, 8))


def test_every_sample_password_verifies(production: sqlite3.Connection) -> None:
    hashes = dict(production.execute("SELECT username, password_hash FROM trainers"))

    assert hashes.keys() == SAMPLE_PASSWORDS.keys()
    for username, password in SAMPLE_PASSWORDS.items():
        password_hash = hashes[username].encode("ascii")
        assert password_hash.startswith(b"$2b$12$") and len(password_hash) == 60
        assert len(password) >= 8
        # The legacy bcrypt used only the first 72 bytes of a password.
        assert bcrypt.checkpw(password.encode("utf-8")[:72], password_hash), username


def test_exactly_one_password_is_longer_than_72_bytes() -> None:
    long_ones = [name for name, pw in SAMPLE_PASSWORDS.items() if len(pw.encode("utf-8")) > 72]

    assert len(long_ones) == 1


def test_no_trainer_is_locked_out(production: sqlite3.Connection) -> None:
    locks = production.execute(
        "SELECT failed_login_attempts, locked_until FROM trainers WHERE locked_until IS NOT NULL"
    ).fetchall()

    assert locks == [(2, "2025-03-02T14:05:11.204311")]
    assert datetime.fromisoformat(locks[0][1]) < datetime.now()


def test_last_login_mixes_python_and_sqlite_timestamps(production: sqlite3.Connection) -> None:
    last_logins = [value for (value,) in production.execute("SELECT last_login FROM trainers")]
    python_written = [v for v in last_logins if v and re.fullmatch(r"[\d-]{10} [\d:]{8}\.\d{6}", v)]
    sqlite_written = [v for v in last_logins if v and re.fullmatch(r"[\d-]{10} [\d:]{8}", v)]

    assert python_written and sqlite_written and None in last_logins
    assert len(python_written) + len(sqlite_written) + last_logins.count(None) == 7


def test_old_and_new_tables_collide_on_ids_but_share_no_row(
    production: sqlite3.Connection,
) -> None:
    assert ids(production, "sessions") == {1, 2, 3, 4}
    assert ids(production, "training_sessions") == {1, 2, 3}
    assert ids(production, "payments") == {1, 2, 3, 4}
    assert ids(production, "payment_records") == {1, 2}
    assert rows_on_both_sides(production) == (0, 0)


def test_old_tables_use_packages_1_2_and_new_tables_3_to_5(
    production: sqlite3.Connection,
) -> None:
    def packages(table: str) -> set[int]:
        return {package for (package,) in production.execute(f"SELECT package_id FROM {table}")}

    assert packages("training_sessions") | packages("payment_records") == {1, 2}
    assert packages("sessions") | packages("payments") == {3, 4, 5}


def test_production_money_has_the_legacy_types(production: sqlite3.Connection) -> None:
    def types(table: str, column: str) -> set[str]:
        return {kind for (kind,) in production.execute(f"SELECT typeof({column}) FROM {table}")}

    assert types("payments", "amount") == {"real"}
    assert types("payment_records", "amount") == {"integer"}
    assert types("sessions", "session_cost") == {"real"}
    assert types("training_sessions", "session_cost") == {"integer"}


def test_production_references_are_whole(production: sqlite3.Connection) -> None:
    (null_trainers,) = production.execute(
        "SELECT count(*) FROM sessions WHERE trainer_id IS NULL"
    ).fetchone()

    assert dangling_references(production) == {}
    assert null_trainers == 1


def test_package_fees_follow_the_fee_rule(production: sqlite3.Connection) -> None:
    packages = production.execute(
        "SELECT id, gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, "
        "card_fee_rate, fee_calculation_method FROM session_packages"
    ).fetchall()
    paid = dict(
        production.execute(
            "SELECT package_id, sum(amount) FROM "
            "(SELECT package_id, amount FROM payments "
            "UNION ALL SELECT package_id, amount FROM payment_records) GROUP BY package_id"
        )
    )

    for package_id, gross, vat, card_fee, net, vat_rate, card_fee_rate, method in packages:
        assert gross == paid[package_id], package_id
        assert (vat, card_fee, net) == fee_rule(gross), package_id
        assert (vat_rate, card_fee_rate, method) == (0.10, 0.035, "inclusive")
    # The README's own check values, including the topped-up package.
    breakdowns = {row[1]: row[2:5] for row in packages}
    assert breakdowns[2_280_000] == (207_273, 79_800, 1_992_927)
    assert breakdowns[300_000] == (27_273, 10_500, 262_227)


def test_payment_fees_follow_the_fee_rule(production: sqlite3.Connection) -> None:
    payments = production.execute(
        "SELECT amount, gross_amount, vat_amount, card_fee_amount, net_amount, vat_rate, "
        "card_fee_rate FROM payments"
    ).fetchall()

    for amount, gross, vat, card_fee, net, vat_rate, card_fee_rate in payments:
        assert gross == amount
        assert (vat, card_fee, net) == fee_rule(gross)
        assert (vat_rate, card_fee_rate) == (0.10, 0.035)
    assert (1_980_000, 180_000, 69_300, 1_730_700) in [row[1:5] for row in payments]


def test_payment_records_carry_no_fee_breakdown(production: sqlite3.Connection) -> None:
    columns = {
        name
        for (name,) in production.execute("SELECT name FROM pragma_table_info('payment_records')")
    }

    assert not columns & {"gross_amount", "vat_amount", "card_fee_amount", "net_amount"}


def test_payment_methods_cover_the_legacy_texts(production: sqlite3.Connection) -> None:
    methods = {
        method
        for (method,) in production.execute(
            "SELECT payment_method FROM payments UNION SELECT payment_method FROM payment_records"
        )
    }

    assert {"card", "카드", "현금", "계좌이체", "Package Purchase"} <= methods


def test_production_sample_is_deterministic(production_path: Path, tmp_path: Path) -> None:
    again = write_production_sample(output=tmp_path / "again.db")

    assert table_contents(again.path) == table_contents(production_path)


# --- Writing safely -------------------------------------------------------------------


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    output = tmp_path / "legacy.db"
    output.write_bytes(b"not a sample")

    with pytest.raises(FileExistsError):
        write_production_sample(output=output)
    assert output.read_bytes() == b"not a sample"

    write_production_sample(output=output, overwrite=True)
    assert output.read_bytes().startswith(b"SQLite format 3\x00")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["legacy.db"]


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    output = tmp_path / "legacy.db"

    def crash(connection: sqlite3.Connection) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_atomically(output=output, overwrite=False, fill=crash)
    assert list(tmp_path.iterdir()) == []


# --- The chain sample -----------------------------------------------------------------


def test_chain_sample_scales_every_table_with_its_sessions(chain: sqlite3.Connection) -> None:
    counts = row_counts(chain)

    assert counts == {
        "trainers": 2,
        "clients": 100,
        "assessments": 200,
        "session_packages": 100,
        "sessions": 1_800,
        "training_sessions": 200,
        "payments": 450,
        "payment_records": 50,
        "fee_audit_log": 0,
    }


def test_a_one_session_chain_still_has_a_trainer_client_and_package(tmp_path: Path) -> None:
    summary = write_chain_sample(output=tmp_path / "tiny.db", sessions=1)

    counts = summary.row_counts
    assert counts["trainers"] == counts["clients"] == counts["session_packages"] == 1
    assert counts["sessions"] + counts["training_sessions"] == 1


def test_chain_references_are_whole(chain: sqlite3.Connection) -> None:
    (foreign_sessions,) = chain.execute(
        "SELECT count(*) FROM (SELECT client_id, package_id FROM sessions "
        "UNION ALL SELECT client_id, package_id FROM training_sessions) s "
        "JOIN session_packages p ON p.id = s.package_id WHERE p.client_id != s.client_id"
    ).fetchone()

    assert dangling_references(chain) == {}
    assert foreign_sessions == 0


def test_chain_is_clean_and_like_production(chain: sqlite3.Connection) -> None:
    (emails, trainers) = chain.execute(
        "SELECT count(DISTINCT email), count(*) FROM trainers"
    ).fetchone()

    assert emails == trainers
    assert min(ids(chain, "clients")) == 3
    assert ids(chain, "sessions") & ids(chain, "training_sessions")
    assert rows_on_both_sides(chain) == (0, 0)


def test_chain_fees_follow_the_fee_rule(chain: sqlite3.Connection) -> None:
    packages = chain.execute(
        "SELECT p.gross_amount, p.vat_amount, p.card_fee_amount, p.net_amount, "
        "(SELECT coalesce(sum(amount), 0) FROM payments WHERE package_id = p.id) + "
        "(SELECT coalesce(sum(amount), 0) FROM payment_records WHERE package_id = p.id) "
        "FROM session_packages p"
    ).fetchall()

    for gross, vat, card_fee, net, paid in packages:
        assert gross == paid
        assert (vat, card_fee, net) == fee_rule(gross)


def test_chain_sample_is_deterministic(chain_path: Path, tmp_path: Path) -> None:
    again = write_chain_sample(output=tmp_path / "again.db", sessions=CHAIN_SESSIONS)

    assert table_contents(again.path) == table_contents(chain_path)


# --- The old-half chain: the old tables half full, little text --------------------------


def test_old_half_puts_half_the_sessions_and_a_fifth_of_the_payments_in_the_old_tables(
    old_half: sqlite3.Connection,
) -> None:
    counts = row_counts(old_half)

    assert counts == {
        "trainers": 2,
        "clients": 100,
        "assessments": 200,
        "session_packages": 100,
        "sessions": 1_000,
        "training_sessions": 1_000,
        "payments": 400,
        "payment_records": 100,
        "fee_audit_log": 0,
    }


def test_old_half_rows_carry_no_notes_or_descriptions(old_half: sqlite3.Connection) -> None:
    texts = old_half.execute(
        "SELECT notes FROM sessions UNION SELECT notes FROM training_sessions "
        "UNION SELECT description FROM payments UNION SELECT description FROM payment_records "
        "UNION SELECT overhead_squat_notes || push_up_notes || single_leg_balance_notes "
        "|| toe_touch_notes || overhead_squat_compensations || push_up_compensations "
        "|| farmer_carry_compensations FROM assessments"
    ).fetchall()

    assert {text for (text,) in texts} <= {None, ""}


def test_old_half_is_whole_clean_and_follows_the_fee_rule(old_half: sqlite3.Connection) -> None:
    packages = old_half.execute(
        "SELECT p.gross_amount, p.vat_amount, p.card_fee_amount, p.net_amount, "
        "(SELECT coalesce(sum(amount), 0) FROM payments WHERE package_id = p.id) + "
        "(SELECT coalesce(sum(amount), 0) FROM payment_records WHERE package_id = p.id) "
        "FROM session_packages p"
    ).fetchall()

    assert dangling_references(old_half) == {}
    assert rows_on_both_sides(old_half) == (0, 0)
    for gross, vat, card_fee, net, paid in packages:
        assert gross == paid
        assert (vat, card_fee, net) == fee_rule(gross)


def test_the_standard_shape_is_the_chain_written_without_one(
    chain_path: Path, tmp_path: Path
) -> None:
    standard = write_chain_sample(
        output=tmp_path / "standard.db", sessions=CHAIN_SESSIONS, shape="standard"
    )

    assert table_contents(standard.path) == table_contents(chain_path)


# --- The command ----------------------------------------------------------------------


def test_command_writes_a_chain_and_prints_a_summary(tmp_path: Path) -> None:
    output = tmp_path / "chain.db"
    stdout = StringIO()

    call_command("make_legacy_sample", "--output", str(output), "--sessions", "100", stdout=stdout)

    with closing(sqlite3.connect(output)) as connection:
        counts = row_counts(connection)
    assert counts["sessions"] + counts["training_sessions"] == 100
    assert stdout.getvalue() == f"Wrote {output}: 9 tables, {sum(counts.values()):,} rows.\n"


def test_command_writes_the_shape_it_is_given(tmp_path: Path) -> None:
    output = tmp_path / "old-half.db"

    call_command(
        "make_legacy_sample", "--output", str(output), "--sessions", "100",
        "--shape", "old-half", stdout=StringIO(),
    )  # fmt: skip

    with closing(sqlite3.connect(output)) as connection:
        counts = row_counts(connection)
    assert counts["sessions"] == counts["training_sessions"] == 50


def test_command_refuses_a_shape_without_sessions(tmp_path: Path) -> None:
    output = tmp_path / "legacy.db"

    with pytest.raises(CommandError, match="--sessions"):
        call_command("make_legacy_sample", "--output", str(output), "--shape", "old-half")
    assert not output.exists()


def test_command_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    output = tmp_path / "legacy.db"
    output.write_bytes(b"keep me")

    with pytest.raises(CommandError, match="--force"):
        call_command("make_legacy_sample", "--output", str(output), stdout=StringIO())
    assert output.read_bytes() == b"keep me"

    call_command("make_legacy_sample", "--output", str(output), "--force", stdout=StringIO())
    with closing(sqlite3.connect(output)) as connection:
        assert sum(row_counts(connection).values()) == 42


def test_command_rejects_fewer_than_one_session(tmp_path: Path) -> None:
    output = tmp_path / "legacy.db"

    with pytest.raises(CommandError, match="at least 1"):
        call_command("make_legacy_sample", "--output", str(output), "--sessions", "0")
    assert not output.exists()


def test_command_reports_an_unwritable_directory(tmp_path: Path) -> None:
    output = tmp_path / "missing-dir" / "legacy.db"

    with pytest.raises(CommandError, match="writable directory"):
        call_command("make_legacy_sample", "--output", str(output))
