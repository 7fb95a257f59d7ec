"""The legacy files a cleaned copy was made from, as the copy itself records them.

A copy written by clean_legacy names its source in its cleanings table (and a
copy of a copy names both). Those files are legacy files too: no command given
the copy as its --source may write over them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from migration.legacy.schema import CLEANINGS_TABLE


def recorded_sources(path: str | Path) -> tuple[Path, ...]:
    """The source paths a cleaned copy at `path` records; none for any other file.

    Read with `immutable=1`, so that SQLite neither writes nor creates a file
    beside it. A file that cannot be read records nothing here: opening it as
    the source says what is wrong with it, in its own words.
    """
    try:
        uri = f"file:{quote(str(Path(path).expanduser().resolve()))}?mode=ro&immutable=1"
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            rows = connection.execute(f"SELECT source_path FROM {CLEANINGS_TABLE}").fetchall()
    except (sqlite3.Error, OSError, RuntimeError):
        return ()
    return tuple(dict.fromkeys(Path(value) for (value,) in rows if isinstance(value, str)))
