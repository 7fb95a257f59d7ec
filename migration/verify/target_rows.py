"""A target model's rows as verify reads them: tuples of the fields the import keeps in sync.

The walk compares a legacy row's expected values with these, a batch of
target rows fetched by id range at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from operator import itemgetter
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import DecimalField, Model

from migration.mapping.canonical import digest, fingerprint_form, tuple_getter
from migration.mapping.specs import RENUMBERED_TABLES, TableSpec


class TargetTable:
    """A target model's rows as tuples of the fields the import keeps in sync.

    The fields are those the importer fingerprints: the fields the target keeps
    itself after the import (a trainer's login state) are proved by the
    passwords check, not compared here.
    """

    def __init__(self, spec: TableSpec, using: str):
        self.model, self.using = apps.get_model(spec.model), using
        self.fields = spec.synced_fields
        self.money = tuple(
            (index, name) for index, name in enumerate(self.fields) if is_won(self.model, name)
        )
        # References to tables whose rows may be renumbered: the legacy id must be mapped.
        self._renumbered = tuple(
            (index, name)
            for index, name in enumerate(self.fields)
            if spec.reference_fields.get(name) in RENUMBERED_TABLES
        )
        self._values_of = _tuple_getter(self.fields)
        # The values in their names' order, as a fingerprint takes them (canonical.Fingerprinter).
        self.name_order = tuple(sorted(range(len(self.fields)), key=self.fields.__getitem__))
        self._in_name_order = tuple_getter(self.name_order)

    def rows(self, ids: list[Any]) -> dict[Any, tuple]:
        """The target rows with these ids (those that exist), by id."""
        wanted = [target_id for target_id in ids if target_id is not None]
        if not wanted:
            return {}
        low, high = min(wanted), max(wanted)
        rows = self.model.objects.using(self.using)
        if high - low < 2 * len(wanted):
            # Nearly always so: a batch's ids run in order with few gaps. A range
            # is one index scan, where an IN list sends thousands of parameters.
            rows = rows.filter(pk__gte=low, pk__lte=high)
        else:
            rows = rows.filter(pk__in=wanted)
        with _timestamps_read_in_c(self.using):
            return {values[0]: values[1:] for values in rows.values_list("pk", *self.fields)}

    def expected(self, values: dict[str, Any], references: dict[str, dict[Any, Any]]) -> tuple:
        """The values a legacy row's (as read) should have become, references mapped to
        target ids."""
        expected = self._values_of(values)
        if not self._renumbered:
            return expected
        mapped = list(expected)
        for index, name in self._renumbered:
            if mapped[index] is not None:
                mapped[index] = references[name].get(mapped[index])
        return tuple(mapped)

    def fingerprint(self, values: tuple) -> str:
        """The row's fingerprint as the importer made it (see canonical.target_fingerprint)."""
        return digest(self.fingerprint_form(values))

    def fingerprint_form(self, values: tuple) -> bytes:
        """The text the row's fingerprint hashes (canonical.fingerprint_form)."""
        return fingerprint_form(self._in_name_order(values))


@contextmanager
def _timestamps_read_in_c(using: str) -> Iterator[None]:
    """Target timestamps read by psycopg's own loader, where it gives what Django's gives.

    Django reads every timestamptz through a loader of its own, written in
    Python, that puts its time zone on the value; for a million rows that
    is most of the reading. With Django's zone UTC and the session's too,
    psycopg's loader (in C) gives the very same values.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        yield
        return
    with connection.execute_wrapper(_read_utc_timestamps_in_c):
        yield


def _read_utc_timestamps_in_c(execute, sql, params, many, context):
    import psycopg  # only on PostgreSQL

    cursor = context["cursor"].cursor
    if cursor.connection.info.parameter_status("TimeZone") == "UTC":
        oid = psycopg.postgres.types["timestamptz"].oid
        loader = psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
        cursor.adapters.register_loader(oid, loader)
    return execute(sql, params, many, context)


def _tuple_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple]:
    # itemgetter makes the tuple in C, but gives a bare value for a single name.
    if len(names) > 1:
        return itemgetter(*names)
    return lambda values: tuple(values[name] for name in names)


def is_won(model: type[Model], name: str) -> bool:
    """An amount of money: exact won, a decimal with no places."""
    try:
        field_ = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return isinstance(field_, DecimalField) and field_.decimal_places == 0
