"""precheck's "nothing blocks" is a promise: every rule the target enforces has its twin.

A file precheck passes must import and verify. Each rule the target holds its
rows to (in the database: a column's type and size, NOT NULL, a unique or check
constraint; in the model: max_length, choices) is enforced first by precheck,
by the converters (each declares what it returns) or by a check of its own
(twins.py). Here: files that broke the promise (precheck passed, then the
import or the verification failed) are refused by precheck with the right
code; values just inside every limit import and verify; the import says in
one line what the target itself refuses; the twins hold against PostgreSQL's
own lower(), and the converters to the domains they declare.
(tests/test_self_checks.py: a target rule without a twin fails `manage.py check`.)
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import User
from clients.models import Client
from migration.legacy import open_legacy
from migration.load import chunks as parallel
from migration.load import writers
from migration.mapping.converters import LegacyValueError, mailbox_key
from migration.mapping.domains import domain_of
from migration.mapping.passwords import MADE_WITH_THE_ACCOUNT, stored_password
from migration.models import LedgerEntry
from sessions.models import FeeAuditLog, Session, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import LegacyFile
from tests.test_prefilters import COLUMN_TYPES, converters_under_test, corpus  # noqa: F401

POSTGRESQL = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's rules")
LARGEST_ID = 2**63 - 2  # the last a legacy row may take: bigint's own is the id sequence's


def deeply_nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "[]" + "}" * (depth - 1)


# --- files that broke the promise ------------------------------------------


def nan_in_fee_details(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details='{"vat_rate": NaN}')


def infinity_in_fee_details(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details='{"card_fee": Infinity}')


def a_float_read_back_as_an_integer(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details='{"gross": 1e+23}')


def an_integer_past_64_bits_in_fee_details(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details='{"gross": 100000000000000000000}')


def an_escaped_nul_in_fee_details(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details='{"note": "a\\u0000b"}')


def fee_details_nested_300_deep(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details=deeply_nested(300))


def fee_details_nested_thousands_deep(f: LegacyFile, ids: dict) -> None:
    f.fee_audit(ids["package"], calculation_details=deeply_nested(5000))


def emails_glibcs_lower_makes_one(f: LegacyFile, ids: dict) -> None:
    f.trainer(email="İnstructor@studio.example")
    f.trainer(email="instructor@studio.example")


def emails_of_spaces_alone(f: LegacyFile, ids: dict) -> None:
    f.trainer(email=" ")
    f.trainer(email="  ")


def an_old_table_renumbered_past_bigint(f: LegacyFile, ids: dict) -> None:
    f.execute("UPDATE sessions SET id = ?", (LARGEST_ID,))
    f.training_session(ids["client"], ids["package"], ids["trainer"])


def duplicate_ids_in_a_table_that_lost_its_key(f: LegacyFile, ids: dict) -> None:
    f.without_keys("clients")
    f.client(ids["trainer"], id=ids["client"])


def duplicate_usernames_in_a_table_that_lost_its_key(f: LegacyFile, ids: dict) -> None:
    f.without_keys("trainers")
    f.trainer(id=ids["trainer"] + 1, username="trainer1")


def a_seoul_time_in_year_0_in_utc(f: LegacyFile, ids: dict) -> None:
    f.execute("UPDATE trainers SET created_at = '0001-01-01 00:00:00.5'")


def an_offset_time_in_year_10000_in_utc(f: LegacyFile, ids: dict) -> None:
    f.execute("UPDATE sessions SET completed_at = '9999-12-31T23:59:59-01:00'")


BROKEN_PROMISES: list[tuple[Callable[[LegacyFile, dict], None], str]] = [
    (nan_in_fee_details, "value.unreadable-value"),
    (infinity_in_fee_details, "value.unreadable-value"),
    (a_float_read_back_as_an_integer, "value.out-of-range"),
    (an_integer_past_64_bits_in_fee_details, "value.out-of-range"),
    (an_escaped_nul_in_fee_details, "value.out-of-range"),
    (fee_details_nested_300_deep, "value.out-of-range"),
    (fee_details_nested_thousands_deep, "value.out-of-range"),
    (emails_glibcs_lower_makes_one, "trainers.duplicate-email"),
    (emails_of_spaces_alone, "trainers.duplicate-email"),
    (an_old_table_renumbered_past_bigint, "pairs.no-room-for-ids"),
    (duplicate_ids_in_a_table_that_lost_its_key, "value.duplicate-id"),
    (duplicate_usernames_in_a_table_that_lost_its_key, "trainers.duplicate-username"),
    (a_seoul_time_in_year_0_in_utc, "value.out-of-range"),
    (an_offset_time_in_year_10000_in_utc, "value.out-of-range"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
@pytest.mark.parametrize(
    ("make", "code"), BROKEN_PROMISES, ids=[make.__name__ for make, _ in BROKEN_PROMISES]
)
def test_what_the_target_would_refuse_precheck_blocks(tmp_path, make, code):
    # Each of these passed precheck, then failed in import_legacy or verify_import
    # (a refused value, a traceback, or a target that could not read it back).
    legacy = LegacyFile(tmp_path / "legacy.db")
    make(legacy, legacy.small_studio())
    path = legacy.close()

    exit_code, output = run_command("precheck", "--source", str(path))
    assert exit_code == 1
    assert f"[{code}]" in output

    exit_code, output = run_command("import_legacy", "--source", str(path))
    assert exit_code == 1
    assert "precheck finds" in output  # refused before anything is written
    assert User.objects.count() == 0


# --- values just inside every limit ----------------------------------------


def edge_studio(path: Path) -> Path:
    """A studio whose values are as close to each of the target's limits as it takes."""
    legacy = LegacyFile(path)
    ids = legacy.small_studio()
    legacy.trainer(email="e@studio.example", created_at="0001-01-01 00:00:00")  # UTC
    # An accent makes another address (the app takes one in the domain, not the local part).
    legacy.trainer(email="e@stúdio.example", created_at="9999-12-31 23:59:59.999999")  # Seoul
    legacy.trainer(email="İ@studio.example", username="Trainer1")  # usernames tell case apart
    legacy.fee_audit(
        ids["package"],
        calculation_details=(
            '{"big": 18446744073709551615, "small": -9223372036854775808, '
            '"float": 9999999999999998.0, "tiny": 5e-324, "exp": 1.5e-7, '
            '"text": "\\ud83d\\ude00 \\u00e9", "deep": ' + deeply_nested(199) + "}"
        ),
    )
    # training_sessions' two rows get the last two ids a legacy row may take.
    legacy.execute("UPDATE sessions SET id = ?", (LARGEST_ID - 2,))
    for day in ("2024-01-01", "2024-01-02"):
        legacy.training_session(ids["client"], ids["package"], ids["trainer"], session_date=day)
    return legacy.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db", "write_path")
def test_values_just_inside_every_limit_import_and_verify(tmp_path):
    path = edge_studio(tmp_path / "edges.db")
    for command in ("precheck", "import_legacy", "verify_import"):
        exit_code, output = run_command(command, "--source", str(path))
        assert exit_code == 0, output
    assert Session.objects.filter(pk__gte=LARGEST_ID - 1).count() == 2
    (details,) = FeeAuditLog.objects.values_list("calculation_details", flat=True)
    assert (details["big"], details["small"], details["tiny"]) == (2**64 - 1, -(2**63), 5e-324)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
@POSTGRESQL
def test_values_just_inside_every_limit_import_and_verify_in_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "FROM_ROWS", 0)  # every table converted by workers
    monkeypatch.setattr(writers, "HOLD_KEYS_OFF_FROM_ROWS", 0)
    path = edge_studio(tmp_path / "edges.db")
    for command in ("import_legacy", "verify_import"):
        exit_code, output = run_command(command, "--source", str(path))
        assert exit_code == 0, output


# --- what only the target knows, said in one line --------------------------


def a_target_session_at_the_largest_id() -> None:
    """The new app's own rows, the last of its sessions at bigint's largest id."""
    trainer = User.objects.create(id=1000, username="app-admin", email="admin@studio.example")
    client = Client.objects.create(
        id=1000, trainer=trainer, name="Walk-in", age=30, gender="female", height=160, weight=55
    )
    package = SessionPackage.objects.create(
        id=1000,
        client=client,
        trainer=trainer,
        total_amount=Decimal(0),
        session_price=Decimal(0),
        total_sessions=1,
        remaining_credits=Decimal(0),
        remaining_sessions=1,
    )
    Session.objects.create(
        id=2**63 - 1,
        client=client,
        trainer=trainer,
        package=package,
        session_date="2024-01-01",
        session_duration=60,
        session_cost=Decimal(0),
    )


@pytest.fixture
def session_sequence_restored():
    """Sessions' id sequence put back at its start afterwards: the import moves it past
    the row at bigint's largest id, and a sequence outlives the rows a test flushes (the
    next test's verify would find it full)."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('training_session', 'id'), 1, false)"
            if connection.vendor == "postgresql"
            else "SELECT 1"
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("legacy_db")
@pytest.mark.parametrize("where", ["in-process", "in-workers"])
def test_an_id_past_bigint_stops_its_table_in_one_line(
    tmp_path, monkeypatch, where, session_sequence_restored
):
    # The file is fine; the target's own rows leave no id for the old table's
    # rows after them. Its value was encoded past Django's error handling (in
    # a worker process, with psycopg), and the import died with a traceback.
    if where == "in-workers":
        if connection.vendor != "postgresql":
            pytest.skip("workers feed COPY")
        monkeypatch.setattr(parallel, "FROM_ROWS", 0)
    a_target_session_at_the_largest_id()
    legacy = LegacyFile(tmp_path / "legacy.db")
    ids = legacy.small_studio()
    legacy.training_session(ids["client"], ids["package"], ids["trainer"])
    path = legacy.close()

    exit_code, output = run_command("import_legacy", "--source", str(path))
    assert exit_code == 1
    message = output.split("CommandError: ")[1]
    assert message.startswith("import stopped: ")
    assert "training_sessions" in message and "its column cannot hold" in message
    assert "\n" not in message.strip()
    assert not LedgerEntry.objects.filter(legacy_table="training_sessions").exists()


# --- the twins, held to the target's own rules ------------------------------


@pytest.mark.django_db
@POSTGRESQL
def test_mailbox_key_is_as_strict_as_postgresqls_lower_in_every_locale_provider():
    # The target's rule is lower(email) unique; lower() is the database's, in its
    # locale: every character it lowers must keep its key, in glibc's and ICU's.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collname FROM pg_collation WHERE collname IN "
            "('und-x-icu', 'tr-x-icu', 'az-x-icu', 'lt-x-icu', 'el-x-icu')"
        )
        collations = ["", *(f' COLLATE "{name}"' for (name,) in cursor.fetchall())]
        differing = {}
        for collate in collations:
            cursor.execute(
                f"SELECT c, lower(c{collate}) FROM (SELECT chr(n) AS c FROM "
                "generate_series(1, 1114111) AS n WHERE n NOT BETWEEN 55296 AND 57343) AS chars "
                f"WHERE lower(c{collate}) <> c"
            )
            lowered = cursor.fetchall()
            assert len(lowered) > 1000  # the cased letters of Unicode
            differing[collate] = [
                (c, low) for c, low in lowered if mailbox_key(c) != mailbox_key(low)
            ]
        # Lowered in their context: a final sigma, Lithuanian's dot under an accent.
        for text in ("ΣΑΣ ΣΑΣ", "Ì Í Ĩ IÌ", "İSTANBUL ıI"):
            for collate in collations:
                cursor.execute(f"SELECT lower(%s{collate})", [text])
                (low,) = cursor.fetchone()
                if mailbox_key(text) != mailbox_key(low):
                    differing[collate].append((text, low))
    assert {collate: pairs for collate, pairs in differing.items() if pairs} == {}


@pytest.mark.usefixtures("legacy_db")
def test_every_value_a_converter_takes_is_in_its_declared_domain(corpus):  # noqa: F811
    # twins.py checks the target's rules against the domains; here the converters
    # are held to them, over the corpus of odd values tests/test_prefilters.py uses.
    outside = []
    with open_legacy(corpus) as source:
        for column in COLUMN_TYPES:
            values = [value for (value,) in source.rows("corpus", (column,))]
            for name, convert in converters_under_test().items():
                domain = domain_of(convert)
                for raw in values:
                    try:
                        value = convert(raw)
                    except LegacyValueError:
                        continue
                    if isinstance(value, MADE_WITH_THE_ACCOUNT):
                        value = stored_password(value, 1)  # what the target holds
                    if not domain.contains(value):
                        outside.append((name, raw, value))
    assert outside == []
