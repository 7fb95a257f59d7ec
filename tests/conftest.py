import hashlib
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.legacy_files import LegacyFile


def pytest_configure(config):
    # CI proves the suite on PostgreSQL; a missing DATABASE_URL must not quietly mean SQLite.
    if os.environ.get("CI") and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI runs the suite on PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture(autouse=True)
def precheck_records(settings, tmp_path_factory) -> Path:
    """Each test's records of passed checks in a folder of its own, apart from its files:
    what one test prechecked never spares another's import its checks."""
    settings.PRECHECK_RECORDS_DIR = tmp_path_factory.mktemp("precheck-records")
    return settings.PRECHECK_RECORDS_DIR


@pytest.fixture
def legacy_file(tmp_path: Path):
    """A new legacy file with the real schema and no rows; call .close() before reading it."""
    built = LegacyFile(tmp_path / "legacy.db")
    yield built
    built.connection.close()


@pytest.fixture
def legacy_db(django_db_blocker):
    """Lets a test read legacy files: pytest-django blocks every database alias by default."""
    with django_db_blocker.unblock():
        yield


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_command(name: str, *args: str) -> tuple[int, str]:
    """Run a management command as an operator would; return its exit code and output."""
    stdout = StringIO()
    try:
        call_command(name, *args, stdout=stdout, stderr=StringIO())
    except CommandError as error:
        return error.returncode, stdout.getvalue() + f"\nCommandError: {error}"
    return 0, stdout.getvalue()


@pytest.fixture
def fast_wrapping(monkeypatch):
    """The wrapping of legacy SHA-256 digests at few PBKDF2 iterations.

    Each stored password records its count, and a login checks it at that
    count: what holds here holds at Django's own (half a second a trainer).
    """
    from accounts.hashers import WrappedHMACSHA256PasswordHasher, WrappedSHA256PasswordHasher

    for hasher in (WrappedSHA256PasswordHasher, WrappedHMACSHA256PasswordHasher):
        monkeypatch.setattr(hasher, "iterations", FEW_ITERATIONS)
    return FEW_ITERATIONS


FEW_ITERATIONS = 1000


@pytest.fixture(params=["copy", "bulk_create"])
def write_path(request, monkeypatch):
    """Runs an import test once per way the importer writes: COPY (PostgreSQL) and bulk_create."""
    from django.db import connection

    from migration.load.writers import BulkCreateWriter

    if request.param == "copy" and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    if request.param == "bulk_create":
        monkeypatch.setattr("migration.load.run.writer_for", BulkCreateWriter)
    return request.param
