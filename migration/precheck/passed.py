"""The checks a legacy file's exact bytes passed, remembered so that the import need not
run them again.

A check's verdict depends on the bytes SQLite reads (the file, and the WAL
journal it reads through when there is one), on the tool (the project's code
and data files, its settings module, the packages installed, Python's and
SQLite's versions, the legacy time zone's rules), and on nothing else: no
check reads the target, the clock or the command's options. A precheck records
which of its checks passed (found nothing that blocks an import or warns of
something), under a digest of those bytes and one of the tool; an import or
dry run of the same bytes, by the same tool, takes those checks as passed and
runs only the rest. During a cutover the operator prechecks the final file,
then imports it: without this, the import would spend a fifth of its time
proving again what precheck just proved.

A record holds no data from the file: its digest, the names of the checks
that passed, and when. It is signed with the project's SECRET_KEY, so an
edited or forged record is ignored, as is one of another tool; with the key
everyone knows (settings' local default), none is kept. Anything amiss with
a record, or with writing one, costs the next import its full precheck,
nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import sys
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import import_module, metadata, resources
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from migration import guard, paths
from migration.legacy import LegacySource
from migration.legacy import file_sha256 as sha256_of_file
from migration.legacy.wal import wal_path

# The settings a check reads, as the running process has them (settings.py may
# take them from elsewhere than its own text).
_SETTINGS_READ = ("LEGACY_TIME_ZONE", "PASSWORD_HASHERS")
_SIGNATURE_SALT = "migration.precheck.passed"
_LARGEST_RECORD = 1 << 20  # bytes; a record of every check of a file is a few thousand


@dataclass(frozen=True)
class PassedChecks:
    """The checks (by job name) that passed in the bytes whose digest is given."""

    contents_sha256: str
    jobs: frozenset[str]
    checked_at: str


def sha256_of_contents(source: LegacySource, file_sha256: str) -> str:
    """A digest of the bytes SQLite reads for the file, whose own digest is `file_sha256`:
    that digest when SQLite reads the file alone; when it reads it through a WAL journal,
    from a private copy (see snapshot.py), one of the copy and its journal."""
    if source.read_path == source.path:
        return file_sha256
    digest = hashlib.sha256()
    for path in (source.read_path, wal_path(source.read_path)):
        digest.update(sha256_of_file(path).encode() if path.exists() else b"-")
    return digest.hexdigest()


def recall(contents_sha256: str) -> PassedChecks | None:
    """What a precheck by this tool recorded of these bytes, if it did and the record is sound."""
    try:
        path = _record_path(contents_sha256)
        # A file as remember() writes it: not a link (to a pipe, a device, or a file of
        # /proc, each of which could hold the import up reading it), not empty, small.
        if path is None or not _is_a_record_file(path):
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        passed = PassedChecks(
            record["contents_sha256"], frozenset(record["jobs"]), record["checked_at"]
        )
        if passed.contents_sha256 != contents_sha256:
            return None
        # Signed over the jobs sorted: a job that is no text fails there, a TypeError.
        return passed if constant_time_compare(record["signature"], _signature(passed)) else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None  # unreadable, or not a record of ours: the checks run


def remember(contents_sha256: str, jobs: Iterable[str], *, source: LegacySource) -> None:
    """Record that the checks `jobs` passed in the bytes of that digest."""
    try:
        path = _record_path(contents_sha256)
        if path is None:
            return
        passed = PassedChecks(contents_sha256, frozenset(jobs), timezone.now().isoformat())
        record = {
            "contents_sha256": passed.contents_sha256,
            "jobs": sorted(passed.jobs),
            "checked_at": passed.checked_at,
            "signature": _signature(passed),
        }
        record_output = paths.Output("the precheck record", path, makes_folder=True)
        guard.check_written(source.path, [record_output])
        with paths.renamed_over(path, paths.temporary_beside(path)) as temporary:
            temporary.write_text(json.dumps(record), encoding="utf-8")
    except (OSError, paths.PathRefused):
        pass  # the next import of these bytes runs every check: slower, never wrong


def records_folder() -> Path | None:
    """PRECHECK_RECORDS_DIR, else the user's cache folder; None, so no records, for a user
    without a home, or without a secret key of the project's own to sign them with."""
    if getattr(settings, "LOCAL_ONLY_SECRET_KEY", None) == settings.SECRET_KEY:
        return None
    if configured := getattr(settings, "PRECHECK_RECORDS_DIR", None):
        return Path(configured)
    if cache_home := os.environ.get("XDG_CACHE_HOME"):
        return Path(cache_home) / "studio-migration"
    try:
        return Path.home() / ".cache" / "studio-migration"
    except RuntimeError:  # no HOME, and no entry in the password database
        return None


def _is_a_record_file(path: Path) -> bool:
    try:
        found = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(found.st_mode) and 0 < found.st_size <= _LARGEST_RECORD


def _record_path(contents_sha256: str) -> Path | None:
    folder = records_folder()
    return None if folder is None else folder / f"{tool_digest()[:16]}-{contents_sha256}.json"


def _signature(passed: PassedChecks) -> str:
    text = "\n".join(
        (tool_digest(), passed.contents_sha256, passed.checked_at, *sorted(passed.jobs))
    )
    return salted_hmac(_SIGNATURE_SALT, text, algorithm="sha256").hexdigest()


@cache
def tool_digest() -> str:
    """A digest of everything besides the file that a check's verdict depends on (see the
    module docstring). Any change makes every record a stranger. Made once a process."""
    digest = hashlib.sha256()
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    for part in (sys.version, sqlite3.sqlite_version, *packages):
        digest.update(part.encode() + b"\0")
    for name in _SETTINGS_READ:
        digest.update(f"{name}={getattr(settings, name, None)!r}\0".encode())
    digest.update(_zone_rules(settings.LEGACY_TIME_ZONE) + b"\0")
    for name, path in _tool_files():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
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


def _tool_files() -> list[tuple[str, Path]]:
    """Every file of the project's own apps (code, schemas, data; not caches or hidden
    files), and its settings module's, each with the name it is digested under."""
    root = Path(settings.BASE_DIR).resolve()
    found = {
        str(path.relative_to(root)): path
        for app in apps.get_app_configs()
        if (folder := Path(app.path).resolve()).is_relative_to(root)
        for path in _files_under(folder)
    }
    if settings_module := os.environ.get("DJANGO_SETTINGS_MODULE"):
        module_file = Path(import_module(settings_module).__file__).resolve()
        found[f"settings:{module_file.name}"] = module_file
    return sorted(found.items())


def _files_under(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") or part == "__pycache__" for part in parts):
            continue
        if path.is_file():  # a dangling link (an editor's lock file, say) is none
            yield path
