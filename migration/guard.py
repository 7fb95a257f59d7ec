"""The one guard every path a command writes goes through, with all it must not be.

`paths.check_outputs` compares an output with the files it names; this is
where those files are gathered, so that a report, a cleaned copy and
precheck's record of passed checks are each refused by the same rule: never
the legacy file or its journals, a legacy file a cleaned --source was made
from, or one of the project's own SQLite databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from migration.legacy.lineage import recorded_sources
from migration.paths import Output, check_outputs
from migration.target import database_files


def check_written(source: str | Path, outputs: Sequence[Output]) -> None:
    """Refuse, before any work, an output a command reading `source` must not write."""
    check_outputs(
        source=source,
        outputs=outputs,
        databases=database_files(),
        cleaned_from=recorded_sources(source),
    )
