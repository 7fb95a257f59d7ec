"""The one paged reader: every row once, in key order, a page at a time, whatever the key."""

import sqlite3

import pytest

from migration.legacy.paging import pages


def fetch_from(connection: sqlite3.Connection, queries: list[str]):
    def fetch(sql, params):
        queries.append(sql)
        return connection.execute(sql, params).fetchall()

    return fetch


@pytest.fixture
def connection():
    connection = sqlite3.connect(":memory:")
    connection.execute('CREATE TABLE "100%s" (id, note)')
    # Integer keys are written into the SQL; text keys are bound.
    ids = [1, 2, 3, 5, 8, "a", "b", "c"]
    connection.executemany('INSERT INTO "100%s" VALUES (?, ?)', [(i, f"n{i}") for i in ids])
    yield connection
    connection.close()


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8, 100])
def test_every_row_once_in_key_order_a_page_at_a_time(connection, batch_size):
    queries: list[str] = []
    read = list(
        pages(
            fetch_from(connection, queries),
            "x.id",
            "x.note",
            '"100%s" x',
            where="x.note != 'n3'",
            batch_size=batch_size,
        )
    )
    rows = [row for page in read for row in page]
    assert rows == [(i, f"n{i}") for i in (1, 2, 5, 8, "a", "b", "c")]
    assert all(0 < len(page) <= batch_size for page in read)
    assert len(queries) == len(rows) // batch_size + 1  # the last one short, or empty


def test_a_page_starts_past_the_key_given(connection):
    read = pages(fetch_from(connection, []), "id", "note", '"100%s"', after=3)
    assert [row[0] for page in read for row in page] == [5, 8, "a", "b", "c"]
