"""The target database a command writes or verifies: named, reachable, migrated.

Checked before the legacy file is read, so that a wrong `--database`, a
database that is not there, or one that `migrate` never ran on is one line
at the start rather than a traceback half way through. Whether the
migrations are applied is Django's own answer (the plan `migrate` would
run), as runserver's check_migrations asks it.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from migration.errors import InputError, OperatorError, first_line


class UnknownDatabase(InputError):
    """--database names no alias of settings.DATABASES."""


class TargetUnavailable(OperatorError):
    """The target database cannot be used as it is; nothing was read or written."""


def database_files() -> dict[str, Path]:
    """The project's own SQLite databases (a target such as make demo's), which no
    command's output may be either."""
    files = {}
    for alias, database in connections.settings.items():
        name = str(database.get("NAME") or "")
        if database["ENGINE"].endswith("sqlite3") and name and not _in_memory(name):
            files[f"the {alias!r} database"] = Path(name)
    return files


def _in_memory(name: str) -> bool:
    return name == ":memory:" or name.startswith("file:")  # a URI: memory, or the legacy alias


def check_target(using: str) -> None:
    known = [alias for alias in connections.settings if alias != settings.LEGACY_DATABASE_ALIAS]
    if using == settings.LEGACY_DATABASE_ALIAS:
        raise UnknownDatabase(
            f"--database {using}: that alias is the legacy file's (read-only); "
            f"name the target's alias ({', '.join(known)})"
        )
    if using not in connections.settings:
        raise UnknownDatabase(
            f"--database {using}: no such database in the settings; name one of {', '.join(known)}"
        )
    connection = connections[using]
    try:
        connection.ensure_connection()
    except DatabaseError as error:
        raise TargetUnavailable(
            f"--database {using}: cannot connect to the target database "
            f"({first_line(error)}); check that it exists and can be reached, then run this again"
        ) from error
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        raise TargetUnavailable(
            f"--database {using}: cannot read which migrations it has ({first_line(error)}); "
            f"run manage.py migrate --database {using}, then run this again"
        ) from error
    if unapplied:
        migration, _ = unapplied[0]
        raise TargetUnavailable(
            f"--database {using}: the target database is not migrated ({len(unapplied)} "
            f"migration(s) unapplied, {migration.app_label}.{migration.name} first): run "
            f"manage.py migrate --database {using} first"
        )
