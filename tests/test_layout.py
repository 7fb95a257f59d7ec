"""A legacy file's layout: read one way for a source and for clean_legacy's copy, once a command."""

import sqlite3
from contextlib import closing

import pytest

from migration.legacy import open_legacy
from migration.mapping.layout import LegacyLayout
from tests.conftest import run_command
from tests.legacy_files import write_importable_sample

pytestmark = pytest.mark.usefixtures("legacy_db")


def test_a_copy_is_read_as_the_source_is(legacy_file):
    legacy_file.small_studio()
    legacy_file.execute("CREATE VIEW trainer_names AS SELECT id, username FROM trainers")
    legacy_file.execute("ALTER TABLE clients ADD COLUMN shout TEXT AS (upper(name))")
    legacy_file.execute('CREATE TABLE "it\'s 100%s" (id INTEGER PRIMARY KEY)')
    path = legacy_file.close()
    with open_legacy(path) as source:
        read = LegacyLayout.read(source)
    with closing(sqlite3.connect(path)) as connection:
        copy = LegacyLayout.read_sqlite(lambda sql: connection.execute(sql).fetchall())
    assert copy == read
    assert read.views == {"trainer_names"}
    assert read.generated == {"clients": ("shout",)}
    assert read.columns["it's 100%s"] == ("id",)


@pytest.mark.django_db
def test_an_import_and_a_verify_each_read_the_layout_once(tmp_path, monkeypatch):
    path = write_importable_sample(tmp_path / "legacy.db")
    reads = []
    read = LegacyLayout.read.__func__

    def counted(cls, source):
        reads.append(source.path)
        return read(cls, source)

    monkeypatch.setattr(LegacyLayout, "read", classmethod(counted))
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output
    assert len(reads) == 1
    code, output = run_command("verify_import", "--source", str(path))
    assert code == 0, output
    assert len(reads) == 2
