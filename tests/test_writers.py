"""The importer's two ways of writing rows: COPY on PostgreSQL, bulk_create anywhere.

Both must leave the very rows the ORM would, and both must check every foreign
key before the table's transaction ends (the full import tests run on both
ways too, through the write_path fixture).
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from clients.models import Client
from migration.load.writers import (
    HOLD_KEYS_OFF_FROM_ROWS,
    BulkCreateWriter,
    CopyWriter,
    whole_as_int,
    writer_for,
)
from migration.models import ImportRun, LedgerEntry
from sessions.models import Session, SessionPackage

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
WRITERS = [
    pytest.param(BulkCreateWriter, id="bulk_create"),
    pytest.param(
        CopyWriter,
        id="copy",
        marks=pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
    ),
]
SESSION_FIELDS = (
    "id",
    "client_id",
    "package_id",
    "trainer_id",
    "session_date",
    "session_time",
    "session_duration",
    "session_cost",
    "status",
    "notes",
    "created_at",
    "completed_at",
)


@pytest.fixture
def package() -> SessionPackage:
    trainer = User.objects.create(username="kim", email="kim@example.com")
    client = Client.objects.create(
        trainer=trainer, name="이영희", age=30, gender="female", height=160, weight=55
    )
    return SessionPackage.objects.create(
        client=client,
        trainer=trainer,
        total_amount=Decimal(500000),
        session_price=Decimal(50000),
        total_sessions=10,
        remaining_credits=Decimal(500000),
        remaining_sessions=10,
        is_active=True,
    )


def session_row(package: SessionPackage, pk: int, **changes) -> tuple:
    values = {
        "id": pk,
        "client_id": package.client_id,
        "package_id": package.pk,
        "trainer_id": package.trainer_id,
        "session_date": date(2024, 2, 29),
        "session_time": time(10, 0, 25, 813560),
        "session_duration": 60,
        "session_cost": Decimal(50000),
        "status": "completed",
        "notes": "tab\there, a newline\nand a backslash \\ stay",
        "created_at": datetime(2024, 2, 29, 10, 0, 25, 813560, tzinfo=SEOUL),
        "completed_at": None,
        **changes,
    }
    return tuple(values[name] for name in SESSION_FIELDS)


@pytest.mark.parametrize("writer_class", WRITERS)
def test_rows_read_back_exactly_as_written(writer_class, package):
    writer = writer_class("default")
    with transaction.atomic(), writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS):
        writer.insert(
            Session,
            SESSION_FIELDS,
            [session_row(package, 7), session_row(package, 8, notes=None, status="scheduled")],
        )
    written = Session.objects.get(pk=7)
    assert written.session_time == time(10, 0, 25, 813560)
    assert written.session_cost == Decimal(50000)
    assert written.notes == "tab\there, a newline\nand a backslash \\ stay"
    assert written.created_at == datetime(2024, 2, 29, 1, 0, 25, 813560, tzinfo=UTC)
    assert written.session_date == date(2024, 2, 29)
    assert Session.objects.get(pk=8).notes is None


@pytest.mark.parametrize("writer_class", WRITERS)
def test_a_json_text_fields_text_is_stored_as_its_data(writer_class):
    run = ImportRun.objects.create(
        source_path="x.db", source_sha256="0" * 64, started_at=datetime.now(UTC)
    )
    data = {"name": "이영희", "photo": {"$blob": "AAE="}, "height": 160.5}
    text = '{"height":160.5,"name":"이영희","photo":{"$blob":"AAE="}}'
    writer = writer_class("default")
    with transaction.atomic(), writer.loading(LedgerEntry, rows=1):
        writer.insert(
            LedgerEntry,
            (
                "legacy_table",
                "legacy_id",
                "target_model",
                "action",
                "source_hash",
                "raw",
                "run_id",
            ),
            [
                (
                    "clients",
                    1,
                    "clients.Client",
                    "created",
                    "h",
                    text.encode(),
                    run.pk,
                )
            ],
        )
    assert LedgerEntry.objects.get().raw == data
    if writer_class is CopyWriter:
        # PostgreSQL keeps the very text that was hashed (json, not jsonb's reordering).
        with connection.cursor() as cursor:
            cursor.execute("SELECT raw::text FROM migration_ledgerentry")
            assert cursor.fetchone()[0] == text


def foreign_keys(model) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [model._meta.db_table],
        )
        return cursor.fetchall()


@pytest.mark.parametrize("writer_class", WRITERS)
def test_a_row_pointing_at_nothing_stops_the_load_and_nothing_stays(writer_class, package):
    writer = writer_class("default")
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS),
    ):
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 7)])
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 8, package_id=999)])
    assert not Session.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_puts_every_foreign_key_and_index_back_as_it_was(package):
    before, indexes_before = foreign_keys(Session), indexes(Session)
    assert len(before) == 3  # client, package, trainer
    writer = CopyWriter("default")
    # A failed load into the empty table (both held off) takes nothing away...
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS),
    ):
        assert foreign_keys(Session) == []
        assert len(indexes(Session)) == 1  # the primary key's
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 8, client_id=999)])
    assert foreign_keys(Session) == before
    assert indexes(Session) == indexes_before
    # ... and a load that succeeds puts every one back.
    with transaction.atomic(), writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS):
        assert foreign_keys(Session) == []  # held off while the rows go in
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 7)])
    assert foreign_keys(Session) == before
    assert indexes(Session) == indexes_before


def unchecked_keys(model) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f' AND NOT convalidated ORDER BY conname",
            [model._meta.db_table],
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_keys_put_back_unchecked_are_enforced_then_checked_once_later(package):
    before = foreign_keys(Session)
    writer = CopyWriter("default")
    with (
        transaction.atomic(),
        writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS, check_keys=False),
    ):
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 7, client_id=999)])
    # Back, NOT VALID: the dangling row went in unchecked...
    assert len(unchecked_keys(Session)) == 3
    assert [name for name, _ in foreign_keys(Session)] == [name for name, _ in before]
    # ... but every row written from now on is checked ...
    with pytest.raises(DatabaseError, match="client_id"), transaction.atomic():
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 8, client_id=998)])
        connection.check_constraints()
    # ... and so is the whole table, when they are checked at last.
    with pytest.raises(DatabaseError, match="client_id"), transaction.atomic():
        writer.check_keys_left(Session)
    Session.objects.filter(pk=7).update(client_id=package.client_id)
    writer.check_keys_left(Session)
    assert unchecked_keys(Session) == []
    assert foreign_keys(Session) == before


def indexes(model) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
            [model._meta.db_table],
        )
        return cursor.fetchall()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_big_load_into_an_empty_table_builds_its_indexes_after_it(package):
    before = indexes(Session)
    assert len(before) == 4  # the primary key's, and one per foreign key
    writer = CopyWriter("default")
    with transaction.atomic(), writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS):
        assert [name for name, _ in indexes(Session)] == ["training_session_pkey"]
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 7)])
    assert indexes(Session) == before
    # Into a table that has rows, they are kept up as the rows go in.
    with transaction.atomic(), writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS):
        assert indexes(Session) == before
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 8)])
    assert Session.objects.filter(client=package.client).count() == 2  # found by its index


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_unique_index_is_kept_and_refuses_a_duplicate_as_it_goes_in():
    before = indexes(User)
    writer = CopyWriter("default")
    users = [(1, "kim", "Kim@example.com", "!"), (2, "lee", "kim@example.com", "!")]
    with (
        pytest.raises(DatabaseError, match="accounts_user_email_unique_ci"),
        transaction.atomic(),
        writer.loading(User, rows=HOLD_KEYS_OFF_FROM_ROWS),
    ):
        assert "accounts_user_email_unique_ci" in dict(indexes(User))
        writer.insert(User, ("id", "username", "email", "password"), users)
        pytest.fail("the duplicate is refused by COPY itself, naming its index")
    assert indexes(User) == before  # a plain one held off (username's LIKE) is back too
    assert not User.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_small_load_keeps_the_foreign_keys_and_still_checks_every_row(package):
    before = foreign_keys(Session)
    writer = CopyWriter("default")
    with transaction.atomic(), writer.loading(Session, rows=HOLD_KEYS_OFF_FROM_ROWS - 1):
        assert foreign_keys(Session) == before
        writer.insert(Session, SESSION_FIELDS, [session_row(package, 7)])
    with pytest.raises(DatabaseError) as refused, transaction.atomic():
        with writer.loading(Session, rows=1):
            writer.insert(Session, SESSION_FIELDS, [session_row(package, 8, client_id=999)])
        pytest.fail("the dangling row is refused inside the load, as it goes in")
    assert "client_id" in str(refused.value)
    assert list(Session.objects.values_list("pk", flat=True)) == [7]


def test_postgresql_gets_copy_and_any_other_database_bulk_create():
    expected = CopyWriter if connection.vendor == "postgresql" else BulkCreateWriter
    assert type(writer_for("default")) is expected


def test_a_whole_amount_goes_to_copy_as_an_int_and_anything_else_as_it_came():
    assert whole_as_int(Decimal("300000.00")) == 300000
    assert type(whole_as_int(Decimal("300000.00"))) is int
    assert whole_as_int(Decimal("1.5")) == Decimal("1.5")
    assert whole_as_int(None) is None
