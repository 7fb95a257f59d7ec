"""The checks a legacy file's exact bytes passed, remembered so that the import need not
run them again.

Every check of precheck is a function of the bytes SQLite reads (the file and,
in WAL mode, its journal), the tool's code and a few settings. A precheck
records which of its checks found nothing, under a digest of those bytes and
the tool; an import or dry run of the same bytes, by the same tool, takes those
checks as passed and runs only the rest (and whatever hands its results to
the import). During a cutover the operator runs precheck, then the import,
on the one final file: without this, the import would spend a fifth of its
time proving again what precheck just proved.

A record holds no data from the file: its digest, the names of the checks
that found nothing, and when. It is signed with the project's SECRET_KEY, so
an edited or foreign record is ignored, as is one of another tool version.
Remembering is best effort: a record that cannot be written costs the next
import its full precheck, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import import_module, metadata, resources
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from migration import paths
from migration.legacy import LegacySource
from migration.legacy import file_sha256 as sha256_of_file
from migration.legacy.wal import wal_path

# What a check's verdict depends on besides the file and the code.
_SETTINGS_READ = ("LEGACY_TIME_ZONE", "TIME_ZONE", "USE_TZ", "PASSWORD_HASHERS")
_SIGNATURE_SALT = "migration.precheck.passed"
_LARGEST_RECORD = 1 << 20  # bytes; a record of every check of a file is a few thousand


@dataclass(frozen=True)
class PassedChecks:
    """The checks (by job name) that found nothing in the bytes of `contents`."""

    contents: str
    jobs: frozenset[str]
    checked_at: str


def contents_sha256(source: LegacySource, file_sha256: str) -> str:
    """A digest of the bytes SQLite reads for the file, whose own digest is `file_sha256`:
    that digest when SQLite reads the file itself; for a WAL-mode file, read from a
    private copy (see snapshot.py), one of the copy and the journal copied with it."""
    if source.read_path == source.path:
        return file_sha256
    digest = hashlib.sha256()
    for path in (source.read_path, wal_path(source.read_path)):
        digest.update(sha256_of_file(path).encode() if path.exists() else b"-")
    return digest.hexdigest()


def recall(contents: str) -> PassedChecks | None:
    """What a precheck by this tool recorded of these bytes, if it did and the record is sound."""
    path = _record_path(contents)
    try:
        # Not a pipe or a device, which would hold the import up reading it.
        if not path.is_file() or path.stat().st_size > _LARGEST_RECORD:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        passed = PassedChecks(record["contents"], frozenset(record["jobs"]), record["checked_at"])
        signature = record["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, unreadable or not ours: the checks run
    if passed.contents != contents or not constant_time_compare(signature, _signature(passed)):
        return None
    return passed


def remember(contents: str, jobs: Iterable[str], *, source: LegacySource) -> None:
    """Record that the checks `jobs` found nothing in the bytes of `contents`."""
    passed = PassedChecks(contents, frozenset(jobs), timezone.now().isoformat())
    record = {
        "contents": passed.contents,
        "jobs": sorted(passed.jobs),
        "checked_at": passed.checked_at,
        "signature": _signature(passed),
    }
    path = _record_path(contents)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The guard every written path goes through: never the legacy file or its journals.
        paths.check_outputs(source=source.path, outputs=[paths.Output("the precheck record", path)])
        with paths.renamed_over(path, paths.temporary_beside(path)) as temporary:
            temporary.write_text(json.dumps(record), encoding="utf-8")
    except (OSError, paths.PathRefused):
        pass  # the next import of these bytes runs every check: slower, never wrong


def _record_path(contents: str) -> Path:
    return Path(settings.PRECHECK_RECORDS_DIR) / f"{tool_digest()[:16]}-{contents}.json"


def _signature(passed: PassedChecks) -> str:
    text = "\n".join((tool_digest(), passed.contents, passed.checked_at, *sorted(passed.jobs)))
    return salted_hmac(_SIGNATURE_SALT, text, algorithm="sha256").hexdigest()


@cache
def tool_digest() -> str:
    """A digest of everything besides the file that a check's verdict depends on: the
    source of the project's own apps and settings, the versions of Python, SQLite and
    every installed package, the settings the checks read and the legacy time zone's
    rules. Any change makes every record a stranger."""
    digest = hashlib.sha256()
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    for part in (sys.version, sqlite3.sqlite_version, *packages):
        digest.update(part.encode() + b"\0")
    for name in _SETTINGS_READ:
        digest.update(f"{name}={getattr(settings, name, None)!r}\0".encode())
    digest.update(_zone_rules(settings.LEGACY_TIME_ZONE) + b"\0")
    root = Path(settings.BASE_DIR).resolve()
    for path in _project_sources():
        digest.update(str(path).encode() + b"\0" + (root / path).read_bytes() + b"\0")
    return digest.hexdigest()


def _zone_rules(name: str) -> bytes:
    """The compiled rules zoneinfo reads for the zone `name`: the system's, else tzdata's."""
    for folder in zoneinfo.TZPATH:
        if (path := Path(folder) / name).is_file():
            return path.read_bytes()
    try:
        return resources.files("tzdata.zoneinfo").joinpath(name).read_bytes()
    except (ModuleNotFoundError, OSError):
        return b"?"


def _project_sources() -> list[Path]:
    """Every Python file of the project's own apps and of its settings' package, relative."""
    root = Path(settings.BASE_DIR).resolve()
    folders = {Path(app.path).resolve() for app in apps.get_app_configs()}
    if settings_module := os.environ.get("DJANGO_SETTINGS_MODULE"):
        folders.add(Path(import_module(settings_module).__file__).resolve().parent)
    return sorted(
        path.relative_to(root)
        for folder in folders
        if folder.is_relative_to(root)
        for path in folder.rglob("*.py")
    )
