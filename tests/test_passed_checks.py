"""The checks a file's exact bytes passed, remembered by precheck and taken by the import
(migration/precheck/passed.py): taken only for those bytes, by this tool, from a sound record."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from migration.findings import Severity
from migration.legacy import open_legacy
from migration.legacy.wal import wal_path
from migration.load.report import ImportRefused
from migration.load.run import import_legacy
from migration.mapping.layout import LegacyLayout
from migration.precheck import passed
from migration.precheck import run as precheck_run
from migration.precheck.run import CHECKS, EachTable, run_precheck
from migration.precheck.values import check_values
from migration.self_checks import precheck_jobs_have_names_of_their_own
from tests.conftest import run_command, sha256_of
from tests.legacy_files import LegacyFile, legacy_sql, write_importable_sample
from tests.test_wal import journal_beside_rollback_mode

pytestmark = pytest.mark.usefixtures("legacy_db", "a_key_of_its_own")


@pytest.fixture
def a_key_of_its_own(settings):
    """A secret key of the installation's own, as a cutover has: with the key everyone
    knows, precheck keeps no record (see test_no_record_is_signed_with_the_key_all_know)."""
    settings.SECRET_KEY = "this installation's own key"


def prechecked(path: Path):
    with open_legacy(path) as source:
        return run_precheck(source)


def recalled(path: Path):
    with open_legacy(path) as source:
        return run_precheck(source, recall_passed=True)


def the_record(records: Path) -> dict:
    (record,) = records.glob("*.json")
    return json.loads(record.read_text())


def job_names(path: Path) -> list[str]:
    with open_legacy(path) as source:
        return [name for name, _ in precheck_run._named_jobs(source, LegacyLayout.read(source), {})]


@pytest.fixture
def values_checked(monkeypatch) -> list[str]:
    """The tables whose values precheck's value check read, in the order it read them."""
    tables: list[str] = []

    @functools.wraps(check_values)
    def counted(source, layout, spec, *shared):
        tables.append(spec.table)
        return check_values(source, layout, spec, *shared)

    spied = tuple(
        EachTable(counted) if isinstance(c, EachTable) and c.check is check_values else c
        for c in CHECKS
    )
    monkeypatch.setattr(precheck_run, "CHECKS", spied)
    return tables


@pytest.mark.django_db(transaction=True)
def test_the_import_after_precheck_runs_only_the_checks_that_did_not_pass(tmp_path, values_checked):
    path = write_importable_sample(tmp_path / "legacy.db")
    cold = prechecked(path)
    assert values_checked and cold.checks_recalled == 0
    values_checked.clear()

    with open_legacy(path) as source:
        report = import_legacy(source=source, using="default")

    assert values_checked == []  # every table's values passed a moment ago
    assert report.checks_recalled == cold.checks_run - report.checks_run > 0
    # The checks that did not pass ran again, and what they warn of is said again.
    assert {item.code for item in report.warnings} == {
        item.code for item in cold.findings if str(item.severity) == "warning"
    }


@pytest.mark.parametrize(
    "writes",
    [
        pytest.param(lambda f: f.small_studio(), id="a file that needs nothing"),
        pytest.param(
            lambda f: (f.small_studio(), f.execute("UPDATE clients SET email = 'not-an-address'")),
            id="a value the app refuses",
        ),
        pytest.param(
            lambda f: (f.small_studio(), f.execute("UPDATE sessions SET client_id = 999")),
            id="a reference to no row",
        ),
    ],
)
def test_a_report_from_a_record_is_the_report_every_check_gives(writes, legacy_file):
    # The self-check: findings, integrity and inventory alike, whatever was taken as passed.
    writes(legacy_file)
    path = legacy_file.close()
    cold = prechecked(path)
    warm = recalled(path)
    assert warm.checks_recalled > 0
    assert acted_on(warm) == acted_on(cold)
    assert (warm.integrity, warm.tables, warm.generations, warm.sha256) == (
        cold.integrity, cold.tables, cold.generations, cold.sha256
    )  # fmt: skip
    assert warm.pair_matches == cold.pair_matches


def acted_on(report) -> list:
    """The findings the import acts on: what blocks it, and what it warns of again."""
    return [item for item in report.findings if item.severity != Severity.INFO]


def test_a_check_that_says_something_for_information_only_passes(legacy_file):
    # small_studio's payment method is written as the app did ('카드'): precheck says how it
    # maps, for information; the import has no use for that, and need not say it again.
    legacy_file.small_studio()
    path = legacy_file.close()
    cold = prechecked(path)
    info_only = {item.code for item in cold.findings} - {item.code for item in acted_on(cold)}
    assert "normalise.payment-method" in info_only

    warm = recalled(path)

    assert "normalise.payment-method" not in {item.code for item in warm.findings}
    assert warm.checks_run == len(precheck_run.ALWAYS_RUN)


def test_a_changed_value_is_checked_again(legacy_file, values_checked):
    legacy_file.small_studio()
    path = legacy_file.close()
    assert not prechecked(path).blocking
    legacy_sql(path, "UPDATE sessions SET session_date = 'next tuesday'")
    values_checked.clear()

    report = recalled(path)

    assert report.checks_recalled == 0
    assert "sessions" in values_checked
    assert any(item.table == "sessions" for item in report.blocking)


def test_a_journal_of_new_rows_is_checked_again(tmp_path, values_checked):
    # A WAL-mode file's rows may live in its journal: the same file, a longer journal, is new.
    app = LegacyFile(tmp_path / "legacy.db")
    app.small_studio()
    app.use_wal()
    app.trainer(username="kim")
    assert not prechecked(app.path).blocking
    app.trainer(username="lee", email="not-an-address")
    values_checked.clear()

    report = recalled(app.path)
    app.close()

    assert report.checks_recalled == 0 and "trainers" in values_checked
    assert report.blocking


@pytest.mark.django_db(transaction=True)
def test_an_edited_record_is_not_taken(legacy_file, precheck_records):
    legacy_file.small_studio()
    legacy_file.execute("UPDATE clients SET email = 'not-an-address'")
    path = legacy_file.close()
    assert prechecked(path).blocking
    record_file = next(precheck_records.glob("*.json"))
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**record, "jobs": job_names(path)}))  # "all passed"

    with open_legacy(path) as source, pytest.raises(ImportRefused, match="blocking issue"):
        import_legacy(source=source, using="default")


def test_a_record_signed_with_another_key_is_not_taken(legacy_file, settings, values_checked):
    legacy_file.small_studio()
    path = legacy_file.close()
    prechecked(path)
    settings.SECRET_KEY = "the key of another installation"
    values_checked.clear()

    assert recalled(path).checks_recalled == 0
    assert values_checked


def test_a_record_of_another_version_of_the_tool_is_not_taken(
    legacy_file, monkeypatch, values_checked
):
    legacy_file.small_studio()
    path = legacy_file.close()
    prechecked(path)
    monkeypatch.setattr(passed, "tool_digest", lambda: "0" * 64)  # the code, a package, a zone
    values_checked.clear()

    assert recalled(path).checks_recalled == 0
    assert values_checked


def test_the_tool_digest_follows_the_settings_the_checks_read(settings):
    before = passed.tool_digest()
    passed.tool_digest.cache_clear()
    settings.LEGACY_TIME_ZONE = "Europe/Berlin"
    try:
        assert passed.tool_digest() != before
    finally:
        passed.tool_digest.cache_clear()


def test_a_record_holds_no_data_of_the_file(tmp_path, precheck_records):
    path = write_importable_sample(tmp_path / "legacy.db")
    prechecked(path)
    record = the_record(precheck_records)
    assert set(record) == {"contents_sha256", "jobs", "checked_at", "signature"}
    assert record["contents_sha256"] == sha256_of(path)
    text = json.dumps(record)
    with open_legacy(path) as source:
        for username, email in source.query("SELECT username, email FROM trainers"):
            assert username not in text and email not in text


def test_a_precheck_whose_record_cannot_be_written_reports_as_ever(legacy_file, settings, tmp_path):
    legacy_file.small_studio()
    path = legacy_file.close()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    settings.PRECHECK_RECORDS_DIR = blocked / "records"

    code, output = run_command("precheck", "--source", str(path))

    assert code == 0, output
    assert recalled(path).checks_recalled == 0


def test_a_record_named_like_the_legacy_file_never_writes_it(legacy_file, settings):
    # A hostile setting: the records' folder is the legacy file's, and the file bears the
    # name its record would take. The guard every written path passes refuses it.
    legacy_file.small_studio()
    path = legacy_file.close()
    record_path = passed._record_path(sha256_of(path))
    settings.PRECHECK_RECORDS_DIR = path.parent
    named_as_record = path.rename(path.parent / record_path.name)
    before = sha256_of(named_as_record)

    report = prechecked(named_as_record)

    assert not report.blocking
    assert sha256_of(named_as_record) == before
    assert [p.name for p in path.parent.iterdir()] == [named_as_record.name]


def test_a_precheck_that_fails_records_nothing(legacy_file, monkeypatch, precheck_records):
    legacy_file.small_studio()
    path = legacy_file.close()

    def broken(source, layout, spec, *shared):
        raise RuntimeError("a check broke")

    failing = tuple(
        EachTable(broken) if isinstance(c, EachTable) and c.check is check_values else c
        for c in CHECKS
    )
    monkeypatch.setattr(precheck_run, "CHECKS", failing)
    with pytest.raises(RuntimeError):
        prechecked(path)
    assert list(precheck_records.iterdir()) == []


def test_two_checks_of_one_name_fail_the_projects_checks(monkeypatch):
    # A record knows a check by its name: two of one name, and it would vouch for both.
    assert precheck_jobs_have_names_of_their_own() == []

    @functools.wraps(check_values)
    def check_values_again(*args):
        return check_values(*args)

    monkeypatch.setattr(precheck_run, "CHECKS", (*CHECKS, EachTable(check_values_again)))
    (error,) = precheck_jobs_have_names_of_their_own()
    assert (error.id, error.msg) == (
        "migration.E012",
        "two checks of precheck are named check_values: rename one",
    )


def test_precheck_itself_runs_every_check_every_time(legacy_file, values_checked):
    # precheck is the proof an operator asks for: it never answers from a record.
    legacy_file.small_studio()
    path = legacy_file.close()
    for _ in range(2):
        values_checked.clear()
        code, output = run_command("precheck", "--source", str(path))
        assert code == 0, output
        assert "sessions" in values_checked


def test_the_pair_matches_the_import_takes_are_made_whatever_a_record_says(legacy_file):
    ids = legacy_file.small_studio()
    old = legacy_file.training_session(  # the twin of small_studio's session
        ids["client"], ids["package"], ids["trainer"],
        session_date="2024-03-05", session_time="10:00:25.813560",
    )  # fmt: skip
    path = legacy_file.close()
    cold = prechecked(path)
    assert cold.pair_matches["training_sessions"].duplicates == {old: ids["session"]}
    every_job = job_names(path)
    with open_legacy(path) as source:  # a sound record that says every check passed
        passed.remember(sha256_of(path), every_job, source=source)

    warm = recalled(path)

    assert warm.checks_recalled == len(every_job) - len(precheck_run.ALWAYS_RUN)
    assert warm.pair_matches == cold.pair_matches


def test_a_pipe_where_a_record_would_be_holds_nothing_up(legacy_file, precheck_records):
    legacy_file.small_studio()
    path = legacy_file.close()
    os.mkfifo(passed._record_path(sha256_of(path)))  # opened for reading, it would block

    assert recalled(path).checks_recalled == 0


DEEP = "[" * 50_000 + "]" * 50_000  # JSON Python's parser cannot follow down


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param({"checked_at": 5}, id="a moment that is no text"),
        pytest.param({"jobs": [1, "check_values[sessions]"]}, id="a job that is no name"),
        pytest.param({"jobs": "check_values[sessions]"}, id="jobs that are no list"),
        pytest.param({"signature": None}, id="no signature"),
        pytest.param({"jobs": DEEP}, id="nested too deep"),
    ],
)
def test_a_record_not_of_our_making_is_no_record(damage, legacy_file, precheck_records):
    legacy_file.small_studio()
    path = legacy_file.close()
    prechecked(path)
    (record_file,) = precheck_records.glob("*.json")
    text = json.dumps({**json.loads(record_file.read_text()), **damage})
    record_file.write_text(text.replace(json.dumps(DEEP), DEEP))

    assert recalled(path).checks_recalled == 0


def test_a_journal_beside_a_rollback_mode_file_is_part_of_what_was_checked(tmp_path):
    studio = tmp_path / "studio"
    studio.mkdir()
    path = journal_beside_rollback_mode(studio, "UPDATE trainers SET email = 'not-an-address'")
    journal = wal_path(path).read_bytes()
    wal_path(path).unlink()
    assert not prechecked(path).blocking  # the file alone passes
    wal_path(path).write_bytes(journal)  # its bytes unchanged, but SQLite reads this too

    report = recalled(path)

    assert report.checks_recalled == 0 and report.blocking


def test_the_tool_digest_covers_the_schemas_the_checks_read():
    digested = {name for name, _ in passed._tool_files()}
    assert {"migration/legacy/schema.sql", "migration/precheck/run.py"} <= digested
    assert not any("__pycache__" in name for name in digested)


def test_a_user_without_a_home_imports_with_every_check(legacy_file, settings, monkeypatch):
    legacy_file.small_studio()
    path = legacy_file.close()
    settings.PRECHECK_RECORDS_DIR = None
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    assert passed.records_folder() is None
    assert prechecked(path).checks_run > 0
    assert recalled(path).checks_recalled == 0


def test_no_record_is_signed_with_the_key_all_know(legacy_file, settings, precheck_records):
    # Anyone could forge a record with settings' local default key: none is kept or taken.
    legacy_file.small_studio()
    path = legacy_file.close()
    settings.SECRET_KEY = settings.LOCAL_ONLY_SECRET_KEY
    prechecked(path)
    assert list(precheck_records.iterdir()) == []
    every_job = job_names(path)
    with open_legacy(path) as source:  # what a forger would write
        passed.remember(sha256_of(path), every_job, source=source)
    assert list(precheck_records.iterdir()) == []
    settings.SECRET_KEY = "a key for a moment"
    with open_legacy(path) as source:  # and one written with a key of one's own
        passed.remember(sha256_of(path), every_job, source=source)
    settings.SECRET_KEY = settings.LOCAL_ONLY_SECRET_KEY

    assert recalled(path).checks_recalled == 0


def test_a_records_folder_named_like_the_files_journal_is_never_made(legacy_file, settings):
    # A folder made there would stand where SQLite keeps the file's journal.
    legacy_file.small_studio()
    path = legacy_file.close()
    settings.PRECHECK_RECORDS_DIR = wal_path(path)

    report = prechecked(path)

    assert not report.blocking
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert not prechecked(path).blocking  # and the file is read as before


@pytest.mark.parametrize("kind", ["a link to a sound record", "an empty file"])
def test_a_record_that_is_not_a_file_of_ours_is_not_read(kind, legacy_file, precheck_records):
    # A link could lead to a pipe or to /proc (which says it is a regular file, of size 0).
    legacy_file.small_studio()
    path = legacy_file.close()
    prechecked(path)
    (record_file,) = precheck_records.glob("*.json")
    if kind == "an empty file":
        record_file.write_text("")
    else:
        elsewhere = record_file.rename(record_file.with_name("elsewhere"))
        record_file.symlink_to(elsewhere)

    assert recalled(path).checks_recalled == 0
