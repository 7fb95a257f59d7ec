"""New rows into a target table, in bulk: COPY on PostgreSQL, bulk_create elsewhere.

The importer hands a writer plain tuples, in the order of the fields it names;
how they reach the table is the writer's business. On PostgreSQL, COPY through
Django's own connection (psycopg 3's `cursor.copy`) inside the caller's
transaction is many times faster than INSERT; on SQLite, bulk_create is fine.
A JSONTextField's value is given as its JSON text, UTF-8 bytes (a ledger
entry's raw copy, made once to be hashed): COPY sends it as it is,
bulk_create the data it holds.

A table's foreign keys are checked at the end of a load, inside the same
transaction, so a row pointing at nothing still stops the table: for a big
load, `loading(model, rows)` holds them off while the rows go in and checks
the whole table at once, and builds a table's plain indexes once after a load
that filled it from empty. A rolled-back table has its constraints and
indexes as they were: the DDL is rolled back with it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson
import psycopg
from django.db import DataError, connections, models
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from psycopg import Copy
from psycopg.copy import FileWriter
from psycopg.types.string import BytesBinaryDumper

from migration.legacy import quote_identifier
from migration.models import JSONTextField


class RowWriter(Protocol):
    def loading(
        self, model: type[Model], rows: int, *, check_keys: bool = True
    ) -> Iterator[None]: ...

    def check_keys_left(self, model: type[Model]) -> None: ...

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None: ...


# What encoding a value for its column raises when the column cannot hold it: an
# int past bigint's (OverflowError), text a driver will not send (ValueError:
# UnicodeEncodeError), and psycopg's own refusals where no Django cursor
# wraps them (a worker process encodes COPY's bytes by itself).
ENCODING_ERRORS = (OverflowError, ValueError, psycopg.Error)


@contextmanager
def values_refused_as_data_errors(
    what: str = "", errors: tuple[type[Exception], ...] = ENCODING_ERRORS
) -> Iterator[None]:
    """A value its column cannot hold raised as Django's DataError, as one the database
    refuses is: the import stops the table by name, in one line, wherever it was
    encoded. `what` says which rows, where the caller does not."""
    try:
        yield
    except errors as error:
        where = f"{what}: " if what else ""
        raise DataError(f"{where}a value its column cannot hold ({error})") from error


def writer_for(using: str) -> RowWriter:
    if connections[using].vendor == "postgresql":
        return CopyWriter(using)
    return BulkCreateWriter(using)


class BulkCreateWriter:
    """bulk_create, for any database Django supports."""

    def __init__(self, using: str):
        self.using = using

    @contextmanager
    def loading(self, model: type[Model], rows: int, *, check_keys: bool = True) -> Iterator[None]:
        yield
        # The foreign keys are deferred to commit; checking now names the table,
        # and makes a dry run (which never commits) check them too.
        connections[self.using].check_constraints(table_names=[model._meta.db_table])

    def check_keys_left(self, model: type[Model]) -> None:
        """Nothing is left: every load checks its table's keys."""

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
        json_texts = {name for name in fields if _is_json_text(model, name)}
        objects = [
            model(
                **{
                    name: orjson.loads(value) if name in json_texts else value
                    for name, value in zip(fields, row, strict=True)
                }
            )
            for row in rows
        ]
        with values_refused_as_data_errors(errors=(OverflowError, ValueError)):
            model.objects.using(self.using).bulk_create(objects)


def _is_json_text(model: type[Model], name: str) -> bool:
    return isinstance(model._meta.get_field(name), JSONTextField)


# Fields whose values Django hands psycopg unchanged on PostgreSQL (the backend's
# adapt_*field_value operations return them as they are, and psycopg's own
# dumpers do the rest). Any other field's value goes through the field's own
# get_db_prep_save, exactly as a save() would send it.
SENT_AS_THEY_ARE = (
    models.IntegerField,  # AutoField, BigIntegerField and the like derive from it
    models.AutoField,
    models.BigAutoField,
    models.CharField,  # EmailField too
    models.TextField,
    models.FloatField,
    models.DecimalField,
    models.BooleanField,
    models.DateField,  # DateTimeField too
    models.TimeField,
    models.UUIDField,
    models.ForeignKey,  # its id
)


# From this many rows a load holds the foreign keys off. Adding a key back
# checks every row of the table in one join; a kept one checks each row loaded,
# locking the row it points at, at several times a row's share of that join:
# past a few percent of the table, holding off wins. Below this many rows it
# makes no difference worth the DDL, and the ledger, the biggest table at the
# end of an import, is not scanned again for a table of a few thousand rows.
HOLD_KEYS_OFF_FROM_ROWS = 50_000


class CopyWriter:
    """COPY ... FROM STDIN through Django's connection, in the caller's transaction."""

    def __init__(self, using: str):
        self.using = using
        self.connection = connections[using]
        self._statements: dict[tuple[type[Model], tuple[str, ...]], CopyStatement] = {}

    @contextmanager
    def loading(self, model: type[Model], rows: int, *, check_keys: bool = True) -> Iterator[None]:
        """For a big load, the table's foreign keys dropped and added back after it,
        and, into an empty table, its plain indexes built after it.

        Adding a foreign key checks every row of the table in one join, where a
        kept one fires a check per row it is given (most of a big COPY's time).
        Likewise an index built once over a table filled from empty (as
        pg_restore does) costs a fraction of keeping it up row by row. Both
        are DDL inside the caller's transaction: if the load fails, the drops
        are rolled back with it. A small load into a big table (the ledger,
        late in an import) keeps them: a check per row costs less than the join.

        With `check_keys=False` the keys go back NOT VALID: enforced from then
        on, but the rows already there are left for `check_keys_left` to check
        once, later. For the ledger, whose every entry an import writes points
        at that import's run: checking its whole table after each big load
        read the entries of the loads before it again, twice over by the end.
        """
        if rows < HOLD_KEYS_OFF_FROM_ROWS:
            with self.connection.cursor() as cursor:
                # Each row checked as it goes in: deferred, a check is queued per
                # row and key, and costs more than twice as much at the end.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            yield
            with self.connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            return
        table = self.connection.ops.quote_name(model._meta.db_table)
        with self.connection.cursor() as cursor:
            # Checks still pending in this transaction (rows an earlier step
            # wrote) are made now: PostgreSQL alters no table that has any.
            self.connection.check_constraints()
            held_off = _foreign_keys(cursor, table, checked=check_keys)
            cursor.execute(f"SELECT EXISTS (SELECT FROM {table})")
            if not cursor.fetchone()[0]:
                held_off += _plain_indexes(cursor, table)
            for drop, _ in held_off:
                cursor.execute(drop)
        yield
        with self.connection.cursor() as cursor:
            for _, add in reversed(held_off):  # indexes first, then the keys checked
                cursor.execute(add)

    def check_keys_left(self, model: type[Model]) -> None:
        """Check every row of the table against the keys a load put back NOT VALID."""
        table = self.connection.ops.quote_name(model._meta.db_table)
        with self.connection.cursor() as cursor:
            self.connection.check_constraints()  # pending checks first, as in loading
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'f' AND NOT convalidated ORDER BY conname",
                [table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_identifier(name)}")

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
        statement = self.copy_statement(model, fields)  # before COPY opens: no query may run
        encoder = CopyEncoder(model, fields, self.connection)
        with self._copying(statement) as copy:
            _set_column_types(copy, statement)
            for row in encoder.prepared(rows):
                copy.write_row(row)

    def insert_encoded(self, statement: CopyStatement, data: bytes) -> None:
        """Rows a CopyEncoder made elsewhere (a worker process), sent as they are."""
        with self._copying(statement) as copy:
            copy.write(data)

    @contextmanager
    def _copying(self, statement: CopyStatement) -> Iterator[Any]:
        # psycopg's errors, raised past Django's cursor, become Django's as any other
        # would; so do the errors of a value psycopg cannot encode for its column.
        with (
            self.connection.wrap_database_errors,
            self.connection.cursor() as cursor,
            cursor.cursor.copy(statement.sql) as copy,
            values_refused_as_data_errors(errors=(OverflowError, ValueError)),
        ):
            try:
                yield copy
            except BaseException as stop:
                if not isinstance(stop, psycopg.Error):
                    _cancel(cursor.cursor.connection)
                raise

    def copy_statement(self, model: type[Model], fields: Sequence[str]) -> CopyStatement:
        """The COPY statement for these fields (and the defaulted others), and the column types."""
        key = (model, tuple(fields))
        if key not in self._statements:
            self._statements[key] = self._read_statement(model, fields)
        return self._statements[key]

    def _read_statement(self, model: type[Model], fields: Sequence[str]) -> CopyStatement:
        table = model._meta.db_table
        written = _written_fields(model, fields)
        columns = [field.column for field in written]
        json_texts = {field.column for field in written if isinstance(field, JSONTextField)}
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [self.connection.ops.quote_name(table)],
            )
            oids = dict(cursor.fetchall())
        quote = self.connection.ops.quote_name
        return CopyStatement(
            sql=f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            "FROM STDIN (FORMAT BINARY)",
            # A JSONTextField's binary form is its UTF-8 text, as bytea's is its
            # bytes: given as bytes, its value takes psycopg's bytes dumper (in C,
            # the bytes as they are), not a JSON one (in Python) nor a string one
            # (which would encode it again).
            column_types=tuple(
                BYTEA_OID if column in json_texts else oids[column] for column in columns
            ),
        )


HeldOff = list[tuple[str, str]]  # (how to drop it, how to put it back), in SQL


def _cancel(connection: psycopg.Connection) -> None:
    """The statement under way on `connection` cancelled in the server, if it can be.

    A COPY is the one statement that runs in the server while Python runs
    here, making its rows. Stopped here (Ctrl-C, an error in a row), psycopg
    ends it by telling the server, and waits for its answer; a server held
    before it reads any more (at a lock, by a trigger) would keep it waiting
    until it is let go. Cancelled first, it answers at once. Whatever goes
    wrong cancelling, the stop that got here is what is said.
    """
    with suppress(psycopg.Error):
        connection.cancel_safe(timeout=5)


def _foreign_keys(cursor: Any, table: str, *, checked: bool) -> HeldOff:
    """The table's foreign keys, to drop and put back: NOT VALID (the rows then in the
    table left unchecked) unless `checked`, and as they were if they were NOT VALID."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    held_off = []
    for name, definition, valid in cursor.fetchall():
        # pg_get_constraintdef ends an unvalidated key's definition with NOT VALID.
        if valid and not checked:
            definition += " NOT VALID"
        held_off.append(
            (
                f"ALTER TABLE {table} DROP CONSTRAINT {quote_identifier(name)}",
                f"ALTER TABLE {table} ADD CONSTRAINT {quote_identifier(name)} {definition}",
            )
        )
    return held_off


def _plain_indexes(cursor: Any, table: str) -> HeldOff:
    """The table's plain indexes, what Django's db_index and Meta.indexes made: not
    unique ones, which refuse a duplicate as it goes in, nor any a constraint uses
    (the primary key's), nor any a rebuild would not put back as it was (one
    clustered on, or in a tablespace of its own)."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT x.indisunique AND NOT x.indisclustered AND NOT x.indisreplident "
        "AND i.reltablespace = 0 "
        "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname",
        [table],
    )
    return [
        (f"DROP INDEX {quote_identifier(name)}", definition)
        for name, definition in cursor.fetchall()
    ]


BYTEA_OID = 17  # PostgreSQL's own, fixed: pg_type.dat


def _set_column_types(copy: Copy, statement: CopyStatement) -> None:
    """Each column's values dumped as the table's column type takes them.

    By type, psycopg dumps bytea with the dumper of its DB-API `Binary`
    wrapper, in Python, an isinstance check each value (a chain's ledger: 1.5
    million raw copies). Our values are plain bytes: the C dumper of bytes is
    put back first, on this cursor only.
    """
    copy.cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
    copy.set_types(statement.column_types)


@dataclass(frozen=True)
class CopyStatement:
    """A COPY into one table: its SQL, and each column's type as the table has it.

    Binary: neither side formats or parses a number or a date as text.
    """

    sql: str
    column_types: tuple[int, ...]


def _written_fields(model: type[Model], fields: Sequence[str]) -> list[models.Field]:
    """The named fields, then those left out that bulk_create would fill with a default
    ('' for text); not those the database fills itself (an auto id, a db_default)."""
    named = [model._meta.get_field(name) for name in fields]
    defaulted = [
        field
        for field in model._meta.concrete_fields
        if field not in named
        and not isinstance(field, AutoFieldMixin)
        and not field.has_db_default()
    ]
    return named + defaulted


class CopyEncoder:
    """Rows as COPY takes them: values prepared as the model's fields would send them."""

    def __init__(self, model: type[Model], fields: Sequence[str], connection: Any):
        written = _written_fields(model, fields)
        self._defaulted = written[len(fields) :]
        self._connection = connection
        preparers = [self._preparer(field) for field in written]
        self._prepared = [(index, prepare) for index, prepare in enumerate(preparers) if prepare]

    def prepared(self, rows: Iterable[tuple]) -> Iterator[Sequence[Any]]:
        return map(self.prepare, rows)

    @property
    def prepares_anything(self) -> bool:
        return bool(self._defaulted or self._prepared)

    def prepare(self, row: tuple) -> Sequence[Any]:
        if self._defaulted:
            row = (*row, *(field.get_default() for field in self._defaulted))
        if self._prepared:
            row = list(row)
            for index, prepare in self._prepared:
                row[index] = prepare(row[index])
        return row

    @contextmanager
    def encoding(self, statement: CopyStatement, cursor: Any) -> Iterator[EncodedRows]:
        """Rows written in COPY's binary format into memory with `cursor`'s adapters,
        nothing sent. A cursor per encoding: the column types are set on it."""
        buffer = io.BytesIO()
        with Copy(cursor, binary=True, writer=FileWriter(buffer)) as copy:
            _set_column_types(copy, statement)
            yield EncodedRows(self, copy, buffer)

    def _preparer(self, field: models.Field) -> Callable[[Any], Any] | None:
        if isinstance(field, JSONTextField):  # its bytes, sent as they are: see _read_statement
            return None
        if isinstance(field, models.DecimalField) and field.decimal_places == 0:
            return whole_as_int
        if isinstance(field, SENT_AS_THEY_ARE):
            return None
        return lambda value: field.get_db_prep_save(value, self._connection)


def whole_as_int(value: Any) -> Any:
    """A whole amount as an int for a numeric(p, 0) column: psycopg encodes an int in
    a fraction of a Decimal's time, and PostgreSQL stores the same number. Anything
    else goes as it came (1.5 is rounded by PostgreSQL)."""
    if isinstance(value, Decimal):
        whole = int(value)
        if whole == value:
            return whole
    return value


class EncodedRows:
    """What a CopyEncoder.encoding has encoded so far: write(row), then data."""

    def __init__(self, encoder: CopyEncoder, copy: Copy, buffer: io.BytesIO):
        self.buffer = buffer
        self._prepare, self._write_row = encoder.prepare, copy.write_row
        if not encoder.prepares_anything:
            self.write = copy.write_row  # each row as it is (a ledger entry): a call fewer

    def write(self, row: tuple) -> None:
        self._write_row(self._prepare(row))

    @property
    def data(self) -> bytes:
        return self.buffer.getvalue()
