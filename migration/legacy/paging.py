"""Reading a SELECT page by page in the order of its key, never a whole table at once.

The legacy file (through its read-only alias), precheck's filtered reads and
clean_legacy's copy are all read this way. Each page is a query of its own
that starts past the last key of the page before, so memory stays flat and
each query short however large the table; and each page is read in full
before the caller sees it, so a caller may change the rows it has read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

DEFAULT_BATCH_SIZE = 5_000

# Runs one page's query, with its parameters (`?`), and returns all its rows.
Fetch = Callable[[str, Sequence[Any]], list[tuple]]


def pages(
    fetch: Fetch,
    key: str,
    select: str,
    tables: str,
    *,
    where: str | None = None,
    after: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[list[tuple]]:
    """Each page of `SELECT key, select FROM tables WHERE where`, in `key` order, each
    row's key its first value.

    `after`: the first page starts past this key (None: at the first row). An
    integer key (a rowid always is one) is written into the SQL, so that a
    driver that rewrites placeholders never touches the names around it; any
    other key is the page's one parameter.
    """
    while True:
        conditions = [] if where is None else [f"({where})"]
        params: tuple[Any, ...] = ()
        if after is not None:
            if isinstance(after, int):
                conditions.append(f"{key} > {int(after)}")
            else:
                conditions.append(f"{key} > ?")
                params = (after,)
        filtered = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        page = fetch(
            f"SELECT {key}, {select} FROM {tables}{filtered} "
            f"ORDER BY {key} LIMIT {int(batch_size)}",
            params,
        )
        if page:
            yield page
        if len(page) < batch_size:
            return
        after = page[-1][0]
