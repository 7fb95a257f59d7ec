"""New rows into a target table, in bulk: COPY on PostgreSQL, bulk_create elsewhere.

The importer hands a writer plain tuples, in the order of the fields it names;
how they reach the table is the writer's business. On PostgreSQL, COPY through
Django's own connection (psycopg 3's `cursor.copy`) inside the caller's
transaction is many times faster than INSERT; on SQLite, bulk_create is fine.

A table's foreign keys are checked once for the whole table, not row by row:
`loading(model)` holds them off while the rows go in and checks them at the
end, inside the same transaction, so a row pointing at nothing still stops
the table, and a rolled-back table leaves the constraints as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

from django.db import connections, models
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from psycopg.types.json import Jsonb


class JsonText(NamedTuple):
    """A JSON value whose canonical text is already made (a ledger row's raw copy,
    serialised once to be hashed): COPY sends the text, bulk_create the data."""

    data: Any
    text: str


class RowWriter(Protocol):
    def loading(self, model: type[Model]) -> Iterator[None]: ...

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None: ...


def writer_for(using: str) -> RowWriter:
    if connections[using].vendor == "postgresql":
        return CopyWriter(using)
    return BulkCreateWriter(using)


class BulkCreateWriter:
    """bulk_create, for any database Django supports."""

    def __init__(self, using: str):
        self.using = using

    @contextmanager
    def loading(self, model: type[Model]) -> Iterator[None]:
        yield
        # The foreign keys are deferred to commit; checking now names the table,
        # and makes a dry run (which never commits) check them too.
        connections[self.using].check_constraints(table_names=[model._meta.db_table])

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
        objects = [
            model(**{name: _data(value) for name, value in zip(fields, row, strict=True)})
            for row in rows
        ]
        model.objects.using(self.using).bulk_create(objects)


def _data(value: Any) -> Any:
    return value.data if isinstance(value, JsonText) else value


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


class CopyWriter:
    """COPY ... FROM STDIN through Django's connection, in the caller's transaction."""

    def __init__(self, using: str):
        self.using = using
        self.connection = connections[using]

    @contextmanager
    def loading(self, model: type[Model]) -> Iterator[None]:
        """The table's foreign keys dropped for the load and added back after it.

        Adding a foreign key checks every row in one join, where a kept one
        fires a check per row (most of a COPY's time). Both are DDL inside
        the table's transaction: if the load fails, they were never dropped.
        """
        table = model._meta.db_table
        with self.connection.cursor() as cursor:
            # Checks still pending in this transaction (rows an earlier step
            # wrote) are made now: PostgreSQL alters no table that has any.
            self.connection.check_constraints()
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                [self.connection.ops.quote_name(table)],
            )
            foreign_keys = cursor.fetchall()
            quoted = self.connection.ops.quote_name
            for name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {quoted(table)} DROP CONSTRAINT {quoted(name)}")
        yield
        with self.connection.cursor() as cursor:
            for name, definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE {quoted(table)} ADD CONSTRAINT {quoted(name)} {definition}"
                )

    def insert(self, model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
        model_fields = [model._meta.get_field(name) for name in fields]
        # As bulk_create would: a field left out gets its default, made in Python
        # ('' for text), unless the database makes it (an auto id, a db_default).
        defaulted = [
            field
            for field in model._meta.concrete_fields
            if field not in model_fields
            and not isinstance(field, AutoFieldMixin)
            and not field.has_db_default()
        ]
        if defaulted:
            model_fields += defaulted
            rows = ((*row, *(field.get_default() for field in defaulted)) for row in rows)
        table = model._meta.db_table
        columns = [field.column for field in model_fields]
        column_types = self._column_types(table, columns)  # before COPY: no query during one
        quote = self.connection.ops.quote_name
        statement = (
            f"COPY {quote(table)} ({', '.join(quote(column) for column in columns)}) "
            "FROM STDIN (FORMAT BINARY)"
        )
        preparers = [self._preparer(field) for field in model_fields]
        prepared = [(index, prepare) for index, prepare in enumerate(preparers) if prepare]
        # psycopg's errors, raised past Django's cursor, become Django's as any other would.
        with (
            self.connection.wrap_database_errors,
            self.connection.cursor() as cursor,
            cursor.cursor.copy(statement) as copy,
        ):
            # Binary: neither side formats or parses a number or a date as text.
            copy.set_types(column_types)
            for row in rows:
                if prepared:
                    row = list(row)
                    for index, prepare in prepared:
                        row[index] = prepare(row[index])
                copy.write_row(row)

    def _column_types(self, table: str, columns: list[str]) -> list[int]:
        """The columns' types (their oids), as the table itself has them."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [self.connection.ops.quote_name(table)],
            )
            oids = dict(cursor.fetchall())
        return [oids[column] for column in columns]

    def _preparer(self, field: models.Field) -> Callable[[Any], Any] | None:
        if isinstance(field, models.JSONField):

            def prepare_json(value: Any) -> Any:
                if isinstance(value, JsonText):
                    return Jsonb(value.text, dumps=_already_json)
                return field.get_db_prep_save(value, self.connection)

            return prepare_json
        if isinstance(field, SENT_AS_THEY_ARE):
            return None
        return lambda value: field.get_db_prep_save(value, self.connection)


def _already_json(text: str) -> str:
    return text
