"""What the import and verify ask of PostgreSQL itself: id sequences, planner
statistics, queries without parallel workers, and the lock that keeps one
import at a time.

On any other target (SQLite, the demo's) there is nothing of the kind to do:
SQLite keeps its own id counters up to date, plans without statistics the
import must gather, and takes one writer at a time by itself. Each function
here says what it does there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import DatabaseError, connections
from django.db.models import Model


def on_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


# --- id sequences ---------------------------------------------------------


class _IdSequence(NamedTuple):
    """A model's id sequence, and the SQL of where it stands beside its table's ids.

    The one place that says how a sequence's position is read: the import's
    advance, verify's check and a dry run's restart all go through it, so that
    what verify calls behind is what the import moves on.
    """

    name: str  # as pg_get_serial_sequence gives it, quoted where it must be
    highest_id: str  # SQL: the table's highest id, 0 if it has none
    # SQL: the last id the sequence handed out; nextval gives the one after
    # (Django's sequences count by one). Never past bigint, unlike the next.
    last_id: str
    # SQL: the highest id the sequence will ever hand out (its type's, for an integer id).
    max_id: str


def _id_sequence(cursor: Any, model: type[Model]) -> _IdSequence:
    quote = cursor.db.ops.quote_name
    table, column = model._meta.db_table, model._meta.pk.column
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
    (name,) = cursor.fetchone()
    return _IdSequence(
        name,
        f"(SELECT coalesce(max({quote(column)}), 0) FROM {quote(table)})",
        f"(SELECT last_value - (NOT is_called)::int FROM {name})",
        f"(SELECT seqmax FROM pg_sequence WHERE seqrelid = '{name}'::regclass)",
    )


@dataclass(frozen=True)
class SequencePosition:
    """Where a model's id sequence stands beside the ids its table holds."""

    highest_id: int  # the table's highest id; 0 if it has none
    last_id: int  # the last id the sequence handed out
    max_id: int  # the highest id it will ever hand out

    @property
    def next_id(self) -> int:
        return self.last_id + 1

    @property
    def is_behind(self) -> bool:
        """Whether the next id the sequence hands out is one the table holds already."""
        return self.next_id <= self.highest_id

    @property
    def is_full(self) -> bool:
        """Whether the sequence has no id left to hand out: the app's next row would fail."""
        return self.next_id > self.max_id


def _of_each_sequence(
    using: str, models: Iterable[type[Model]], ask: Callable[[Any, _IdSequence], Any]
) -> dict[str, Any]:
    """`ask(cursor, sequence)` of each model's id sequence, by model label; on SQLite, none."""
    if not on_postgresql(using):
        return {}
    with connections[using].cursor() as cursor:
        return {model._meta.label: ask(cursor, _id_sequence(cursor, model)) for model in models}


def sequence_positions(using: str, models: Iterable[type[Model]]) -> dict[str, SequencePosition]:
    """Each model's sequence position, by model label; on SQLite, none."""

    def position(cursor: Any, sequence: _IdSequence) -> SequencePosition:
        cursor.execute(f"SELECT {sequence.highest_id}, {sequence.last_id}, {sequence.max_id}")
        return SequencePosition(*cursor.fetchone())

    return _of_each_sequence(using, models, position)


def advance_sequences(using: str, models: Iterable[type[Model]]) -> dict[str, int]:
    """Move each model's id sequence past its highest id, never back; the last id
    each has handed out, by model label.

    Rows were written with their legacy ids, which PostgreSQL's sequences do
    not see; without this the app's next insert would collide. On SQLite,
    which keeps its own counter up to date on every insert, nothing to do.
    """

    def advance(cursor: Any, sequence: _IdSequence) -> int:
        # One statement, the sequence's own position counting too, so that it
        # never moves back, even past an id the app took meanwhile.
        cursor.execute(
            f"SELECT setval(%s, greatest({sequence.highest_id}, {sequence.last_id}, 1), true)",
            [sequence.name],
        )
        return cursor.fetchone()[0]

    return _of_each_sequence(using, models, advance)


def sequence_in_this_transaction(using: str, model: type[Model]) -> None:
    """The model's id sequence made part of the transaction under way, so that its
    rollback puts the sequence back (last_value and is_called) with the rest.

    nextval() is not transactional: each id a COPY takes stays taken when the
    COPY is rolled back. ALTER SEQUENCE ... RESTART is: the sequence is written
    anew, the old one kept until the transaction commits, and put back if it
    does not, a process killed outright included. Restarted at the id it would
    hand out next, it hands out the same ids.

    Until the transaction ends, any other session's nextval on it waits. On
    SQLite, whose counters are rows of its own, rolled back as any other,
    nothing to do.
    """
    if not on_postgresql(using):
        return
    with connections[using].cursor() as cursor:
        sequence = _id_sequence(cursor, model)
        cursor.execute(f"SELECT {sequence.last_id}")
        (last_id,) = cursor.fetchone()
        cursor.execute(f"ALTER SEQUENCE {sequence.name} RESTART WITH {int(last_id) + 1}")


# --- planner statistics ---------------------------------------------------


def analyze(using: str, models: Iterable[type[Model]]) -> None:
    """Fresh planner statistics for tables the import filled.

    Autovacuum may be off, or not yet round: without statistics PostgreSQL
    plans a million-row table as if it were empty (nested loops in verify's
    money totals, and in the app's first queries). On SQLite, nothing.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


@contextmanager
def analyzing(using: str, models: Iterable[type[Model]]) -> Iterator[None]:
    """analyze() each of `models`, in order: on a connection of its own beside what
    the block does, and, once the block is done, on this one too until none is left.

    PostgreSQL analyzes a table on one core, and the block (the ledger's key
    check) on another. Inside a transaction (a test's), another connection
    would wait for its locks: all are analyzed after the block there, on this one.
    """
    left = deque(models)

    def analyze_what_is_left() -> None:
        while True:
            try:
                model = left.popleft()  # deque: safe from both threads
            except IndexError:
                return
            analyze(using, [model])

    if connections[using].in_atomic_block:
        yield
        analyze_what_is_left()
        return

    def on_its_own_connection() -> None:
        try:
            analyze_what_is_left()
        finally:
            connections[using].close()  # this thread's own

    with ThreadPoolExecutor(1) as beside:
        analyzed = beside.submit(on_its_own_connection)
        try:
            yield
        except BaseException:
            left.clear()  # the table the other thread is on is its last
            raise
        analyze_what_is_left()
        analyzed.result()


# --- queries beside worker processes ---------------------------------------

_PARALLEL_WORKERS = "max_parallel_workers_per_gather"


@contextmanager
def without_parallel_workers(using: str) -> Iterator[None]:
    """Within the block, each query of this connection runs in its own backend alone.

    For queries beside worker processes that keep every core busy already:
    PostgreSQL's parallel workers would save them no time, and cost CPU of
    their own (verify's checks of the target took half again as much). The
    setting is put back at the end of the block (an autocommit connection's:
    inside a transaction that failed, putting it back would fail too). On
    SQLite, nothing.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting(%s), set_config(%s, '0', false)",
            [_PARALLEL_WORKERS, _PARALLEL_WORKERS],
        )
        (before, _) = cursor.fetchone()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, false)", [_PARALLEL_WORKERS, before])


# --- one import at a time -------------------------------------------------

# Any number of our own choosing, the same in every process: "import" in ASCII.
IMPORT_LOCK = 0x696D706F7274


@contextmanager
def the_only_import(using: str) -> Iterator[bool]:
    """One import into a target at a time: the block is told whether this one is
    alone. If another holds the lock, it is False, and nothing is held: the
    caller stops before anything is read or written.

    A PostgreSQL advisory lock, held by the import's connection: it goes with
    the connection, so a killed import never leaves it behind. (An SQLite
    target takes one writer at a time by itself.)
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK])
        alone = cursor.fetchone()[0]
    if not alone:
        yield False
        return
    try:
        yield True
    finally:
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK])
