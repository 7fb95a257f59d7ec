"""A legacy file's WAL journal: read whole when SQLite can replay it, refused when it cannot.

The journals are SQLite's own, written by an app's connection in WAL mode and
copied while it is still open (what a killed app leaves), then damaged or cut
as a disk, a copy or a kill would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from accounts.models import User
from migration.legacy import LegacyFileError, open_legacy
from migration.legacy import source as source_module
from migration.legacy.snapshot import MARK
from migration.legacy.wal import (
    FRAME_HEADER_SIZE,
    HEADER_SIZE,
    MAGIC_BIG_ENDIAN,
    _checksum,
    read_wal,
    wal_path,
)
from migration.models import ImportRun, LedgerEntry
from tests.conftest import run_command, sha256_of
from tests.legacy_files import LegacyFile
from tests.test_faults import CommandProcess

pytestmark = pytest.mark.usefixtures("legacy_db")

IN_FILE = ["trainer1"]  # written before the app switched to WAL mode
IN_JOURNAL = ["kim", "lee", "park"]  # one transaction each, only in the journal


def killed_app(tmp_path: Path, *, shm: bool = True) -> Path:
    """A legacy file whose last three trainers are committed in its -wal, not in the file."""
    app = LegacyFile(tmp_path / "app.db")
    app.small_studio()
    app.use_wal()
    for username in IN_JOURNAL:
        app.trainer(username=username)
    try:
        return app.copy_as_killed(tmp_path / "legacy.db", shm=shm)
    finally:
        app.close()


def usernames(path: Path) -> list[str]:
    with open_legacy(path) as source:
        return [name for (name,) in source.query("SELECT username FROM trainers ORDER BY id")]


def frames(journal: Path) -> list[tuple[int, int, int]]:
    """(offset, page number, database size after a commit or 0) of each frame of a journal."""
    data = journal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    size = FRAME_HEADER_SIZE + page_size
    return [
        (offset, *struct.unpack(">II", data[offset : offset + 8]))
        for offset in range(HEADER_SIZE, len(data) - size + 1, size)
    ]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def cut(path: Path, size: int) -> None:
    with path.open("r+b") as file:
        file.truncate(size)


# --- a sound journal is read whole -----------------------------------------


def test_a_journal_sqlite_writes_is_replayed_whole_by_the_reading(tmp_path):
    path = killed_app(tmp_path)
    reading = read_wal(wal_path(path))
    # The reading's checksums are SQLite's: every frame holds, the last one a commit.
    assert reading.frames == len(frames(wal_path(path))) > 3
    assert (reading.replayed, reading.refused, reading.dropped) == (reading.frames, None, 0)
    assert reading.damage == ""
    assert usernames(path) == IN_FILE + IN_JOURNAL


def test_the_checksums_of_a_big_endian_journal_are_sqlites_too(tmp_path):
    # SQLite writes the journal in this machine's order (little-endian here); a
    # big-endian machine's journal, the same frames checksummed the other way,
    # must read the same, to SQLite and to the reading.
    path = killed_app(tmp_path)
    journal = wal_path(path)
    data = bytearray(journal.read_bytes())
    data[0:4] = struct.pack(">I", MAGIC_BIG_ENDIAN)
    running = _checksum(bytes(data[:24]), True, (0, 0))
    data[24:32] = struct.pack(">II", *running)
    page_size = struct.unpack(">I", data[8:12])[0]
    for offset, _, _ in frames(journal):
        page = offset + FRAME_HEADER_SIZE
        running = _checksum(
            bytes(data[offset : offset + 8] + data[page : page + page_size]), True, running
        )
        data[offset + 16 : offset + 24] = struct.pack(">II", *running)
    journal.write_bytes(bytes(data))
    assert read_wal(journal).damage == ""
    assert usernames(path) == IN_FILE + IN_JOURNAL  # SQLite replays it: the checksums hold
    flip(journal, frames(journal)[0][0] + FRAME_HEADER_SIZE + 100)
    assert "frame 1 of" in read_wal(journal).damage


def checkpointed(tmp_path: Path) -> LegacyFile:
    """An app whose journal's writes are all in the file (checkpointed), still open."""
    app = LegacyFile(tmp_path / "app.db")
    app.small_studio()
    app.use_wal()
    for username in IN_JOURNAL:
        app.trainer(username=username)
    app.connection.execute("PRAGMA wal_checkpoint")
    return app


def sound_journal(kind: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """A file whose journal SQLite replays as it should; the usernames committed in all."""
    if kind == "no journal":
        built = LegacyFile(tmp_path / "legacy.db")
        built.small_studio()
        return built.close(), IN_FILE
    if kind in ("-shm present", "-shm absent"):
        return killed_app(tmp_path, shm=kind == "-shm present"), IN_FILE + IN_JOURNAL
    app = checkpointed(tmp_path)
    try:
        if kind == "an empty journal":
            app.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif kind == "older frames after a restart":
            # The next write starts the journal over, new salts, over the old frames.
            app.trainer(username="after-restart")
        path = app.copy_as_killed(tmp_path / "legacy.db")
    finally:
        app.close()
    if kind == "an empty journal":
        assert wal_path(path).stat().st_size == 0
        return path, IN_FILE + IN_JOURNAL
    if kind == "a header and no frames":
        cut(wal_path(path), HEADER_SIZE)
        return path, IN_FILE + IN_JOURNAL
    assert kind == "older frames after a restart"
    salts = {
        wal_path(path).read_bytes()[offset + 8 : offset + 16]
        for offset, *_ in frames(wal_path(path))
    }
    assert len(salts) == 2  # the new writes' frames, then the older generation's
    return path, [*IN_FILE, *IN_JOURNAL, "after-restart"]


def uncommitted_tail(kind: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """The killed app's journal cut inside its last write: that write never committed."""
    path = killed_app(tmp_path)
    journal = wal_path(path)
    offset, _, commit = frames(journal)[-1]
    assert commit  # the last frame commits the last trainer
    cut(journal, offset if kind == "a write without its commit" else offset + 100)
    return path, IN_FILE + IN_JOURNAL[:-1]


SOUND = [
    "no journal",
    "-shm present",
    "-shm absent",
    "an empty journal",
    "a header and no frames",
    "older frames after a restart",
]
TAILS = ["a write without its commit", "a commit frame cut short"]


@pytest.mark.parametrize("kind", SOUND + TAILS)
@pytest.mark.django_db
def test_a_journal_sqlite_can_replay_is_read_with_every_committed_row(kind, tmp_path):
    build: Callable = uncommitted_tail if kind in TAILS else sound_journal
    path, committed = build(kind, tmp_path)
    journal = wal_path(path)
    before = [sha256_of(f) for f in (path, journal) if f.exists()]
    assert usernames(path) == committed
    code, output = run_command("precheck", "--source", str(path), "--format", "json")
    assert code == 0, output
    rows = {table["table"]: table["rows"] for table in json.loads(output)["tables"]}
    assert rows["trainers"] == len(committed)
    assert [sha256_of(f) for f in (path, journal) if f.exists()] == before


# --- a journal SQLite cannot replay is damage --------------------------------


def damage(kind: str, journal: Path) -> None:
    first = frames(journal)[0][0]
    if kind == "a byte of a page":
        flip(journal, first + FRAME_HEADER_SIZE + 100)
    elif kind == "a frame's page number":
        flip(journal, first + 3)
    elif kind == "a frame's salt":
        flip(journal, first + 8)
    elif kind == "the header's checksum":
        flip(journal, 24)
    elif kind == "the header cut short":
        cut(journal, 20)


DAMAGES = [
    "a byte of a page",
    "a frame's page number",
    "a frame's salt",
    "the header's checksum",
    "the header cut short",
]


@pytest.mark.parametrize("kind", DAMAGES)
def test_open_legacy_refuses_a_damaged_journal_in_one_line(kind, tmp_path):
    path = killed_app(tmp_path)
    damage(kind, wal_path(path))
    with pytest.raises(LegacyFileError) as refused, open_legacy(path):
        pass
    message = str(refused.value)
    assert message.startswith(f"{path}: its WAL journal legacy.db-wal is damaged (")
    assert "\n" not in message
    assert "holds the last writes made to the file" in message
    assert "restore the file with its -wal from a backup" in message
    assert "sqlite3's .recover" in message


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("a byte of a page", "frame 1 of 12 fails its checksum, so the 11 frame(s)"),
        ("a frame's salt", "frame 1 of 12 does not carry the journal's salts, so the 11 frame(s)"),
        ("the header's checksum", "its header fails its checksum"),
        ("the header cut short", "its header is cut short (20 of 32 bytes)"),
    ],
)
def test_the_refusal_says_what_is_damaged(kind, why, tmp_path):
    path = killed_app(tmp_path)
    # Each trainer's write changes four pages: twelve frames.
    assert len(frames(wal_path(path))) == 12
    damage(kind, wal_path(path))
    with pytest.raises(LegacyFileError, match=re.escape(f"is damaged ({why}")), open_legacy(path):
        pass


@pytest.fixture
def imported_then_damaged(tmp_path) -> Path:
    """The killed app's file imported whole, and then its journal damaged."""
    path = killed_app(tmp_path)
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output
    damage("a byte of a page", wal_path(path))
    return path


COMMANDS = {
    "precheck": [],
    "import_legacy": [],
    "verify_import": [],
    "clean_legacy": ["--output", "{tmp}/cleaned.db"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.django_db
def test_every_command_exits_2_on_a_damaged_journal_and_leaves_it_as_it_was(
    command, imported_then_damaged, tmp_path
):
    path = imported_then_damaged
    before = (sha256_of(path), sha256_of(wal_path(path)))
    runs, users = ImportRun.objects.count(), User.objects.count()
    options = [option.format(tmp=tmp_path) for option in COMMANDS[command]]
    code, output = run_command(command, "--source", str(path), *options)
    assert code == 2
    report, _, message = output.partition("CommandError: ")
    assert report.strip() == ""
    assert message.startswith(f"{path}: its WAL journal legacy.db-wal is damaged (frame 1 of 12")
    assert "\n" not in message.strip()
    assert (sha256_of(path), sha256_of(wal_path(path))) == before
    # Nothing was read, so nothing was written either.
    assert (ImportRun.objects.count(), User.objects.count()) == (runs, users)
    assert not (tmp_path / "cleaned.db").exists()


@pytest.mark.django_db
def test_a_damaged_journal_imports_nothing(tmp_path):
    path = killed_app(tmp_path)
    damage("a byte of a page", wal_path(path))
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 2, output
    assert not ImportRun.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert not User.objects.exists()


def test_a_journal_the_app_writes_while_it_is_read_is_not_called_damaged(tmp_path, monkeypatch):
    # The app restarting its journal under the reading could look like damage:
    # what was read is no journal the app leaves, and the refusal says so.
    path = killed_app(tmp_path)
    read = source_module.wal_damage

    def written_meanwhile(database: Path) -> str:
        found = read(database)
        with wal_path(database).open("ab") as journal:
            journal.write(b"\0" * 100)
        return found or "frame 3 of 12 fails its checksum"

    monkeypatch.setattr(source_module, "wal_damage", written_meanwhile)
    with (
        pytest.raises(LegacyFileError, match="another program is writing to it"),
        open_legacy(path),
    ):
        pass


# --- nothing appears or changes beside the file -------------------------------


def closed_in_wal_mode(tmp_path: Path) -> Path:
    """A file the app left in WAL mode and closed: SQLite removed its journal and index."""
    app = checkpointed(tmp_path)
    app.close()
    path = tmp_path / "app.db"
    assert not wal_path(path).exists()
    return path


def journal_beside_rollback_mode(studio: Path, sql: str = "UPDATE trainers SET username = 'kim'"):
    """A file in rollback mode with a WAL journal beside it (copied there, say), holding
    `sql`'s write: SQLite replays a journal it finds, whatever the file's header says."""
    legacy = LegacyFile(studio / "legacy.db")
    legacy.small_studio()
    path = legacy.close()
    maker = studio.parent / "journal-maker.db"
    shutil.copyfile(path, maker)
    with closing(sqlite3.connect(maker)) as app:
        app.execute("PRAGMA journal_mode = WAL")
        app.execute("PRAGMA wal_autocheckpoint = 0")
        app.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        app.execute(sql)
        app.commit()
        shutil.copyfile(wal_path(maker), wal_path(path))
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback mode, by its header
    return path


BESIDE = {
    "WAL mode, closed": closed_in_wal_mode,
    "rollback mode with a journal beside it": journal_beside_rollback_mode,
    "a killed app with its -shm": lambda tmp: killed_app(tmp, shm=True),
    "a killed app without its -shm": lambda tmp: killed_app(tmp, shm=False),
}


def folder_state(folder: Path) -> dict[str, str]:
    return {file.name: sha256_of(file) for file in sorted(folder.iterdir())}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", BESIDE)
@pytest.mark.django_db
def test_no_command_creates_or_changes_a_file_beside_a_wal_mode_source(command, kind, tmp_path):
    studio = tmp_path / "studio"
    studio.mkdir()
    path = BESIDE[kind](studio)
    before = folder_state(studio)
    if command == "verify_import":
        code, output = run_command("import_legacy", "--source", str(path))
        assert code == 0, output
        assert folder_state(studio) == before
    options = [option.format(tmp=tmp_path) for option in COMMANDS[command]]
    code, output = run_command(command, "--source", str(path), *options)
    assert code == 0, output
    assert folder_state(studio) == before


def test_a_journal_beside_a_rollback_mode_file_is_read_as_sqlite_reads_it(tmp_path):
    path = journal_beside_rollback_mode(tmp_path)
    assert usernames(path) == ["kim"]


def test_a_wal_mode_file_is_read_with_its_journal_from_a_copy_that_goes_afterwards(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "private"))
    (tmp_path / "private").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    path = killed_app(tmp_path)
    with open_legacy(path) as source:
        (copy,) = (tmp_path / "private").iterdir()
        assert {"legacy.db", "legacy.db-wal"} <= {file.name for file in copy.iterdir()}
        assert source.read_path == copy / "legacy.db"
        assert [name for (name,) in source.query("SELECT username FROM trainers ORDER BY id")] == (
            IN_FILE + IN_JOURNAL
        )
    assert list((tmp_path / "private").iterdir()) == []


def test_a_copy_left_by_a_killed_run_is_removed_by_the_next_one(tmp_path, monkeypatch):
    # The copy is the studio's data: a run SIGKILLed while it reads leaves it in TMPDIR.
    private = tmp_path / "private"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr("tempfile.tempdir", None)
    path = killed_app(tmp_path)
    reading = (
        "import sys, time, django; django.setup()\n"
        "from pathlib import Path\n"
        "from migration.legacy.snapshot import readable_copy\n"
        "with readable_copy(Path(sys.argv[1])) as copy:\n"
        "    print(copy, flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    with subprocess.Popen(
        [sys.executable, "-c", reading, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as run:
        left = Path(run.stdout.readline().strip()).parent
        run.kill()
    assert left.exists() and left.parent == private
    alive = private / f"legacy-read-{os.getpid()}-reading"  # a run still reading: kept
    alive.mkdir()
    (alive / MARK).touch()
    # A folder of the user's that only bears such a name, say a backup: never removed.
    backup = private / "legacy-read-2024-backup"
    backup.mkdir()
    shutil.copyfile(path, backup / "studio.db")
    # Removed by the next command that reads any file: the cleaned copy is not in WAL mode.
    plain = LegacyFile(tmp_path / "cleaned.db")
    plain.small_studio()
    with open_legacy(plain.close()):
        assert not left.exists()
    assert set(private.iterdir()) == {backup, alive}
    assert (backup / "studio.db").read_bytes() == path.read_bytes()


def test_a_copy_that_cannot_be_made_is_one_line_saying_where_to_make_room(tmp_path, monkeypatch):
    path = killed_app(tmp_path)

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.copyfile", no_room)
    with pytest.raises(LegacyFileError) as refused, open_legacy(path):
        pass
    message = str(refused.value)
    assert message.startswith(f"{path}: it is read through its WAL journal, from a copy in ")
    assert message.endswith(
        "(No space left on device): set TMPDIR to a folder with room for the file"
    )


JOURNALS_NOT_FILES = {
    "a pipe named as its WAL journal": ("-wal", os.mkfifo),
    "a pipe named as its rollback journal": ("-journal", os.mkfifo),
    "a folder named as its WAL journal": ("-wal", os.mkdir),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", JOURNALS_NOT_FILES)
@pytest.mark.django_db
def test_a_journal_that_is_no_file_is_refused_in_one_line(command, kind, legacy_file, tmp_path):
    # SQLite would wait for ever on a pipe (so the command runs in a process of its own,
    # which a hang cannot keep), and fail on a folder in its own words.
    legacy_file.small_studio()
    path = legacy_file.close()
    suffix, make = JOURNALS_NOT_FILES[kind]
    make(f"{path}{suffix}")
    options = [option.format(tmp=tmp_path) for option in COMMANDS[command]]

    run = CommandProcess(command, path, *options)
    try:
        _, stderr = run.communicate(timeout=60)
    finally:
        run.end()

    assert run.returncode == 2, stderr
    (line,) = stderr.decode().strip().splitlines()
    assert line.startswith(f"CommandError: {path}{suffix}: not a file (a pipe, a device or a ")
    assert line.endswith("move it away, then run this again")


@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
@pytest.mark.django_db
def test_a_journal_linked_into_the_kernels_files_is_refused_in_one_line(suffix, legacy_file):
    # Linked to /proc/self/environ, whose read ends: a link to /proc/kmsg, whose read
    # waits for ever past the signal to stop, is refused by the same check.
    legacy_file.small_studio()
    path = legacy_file.close()
    os.symlink("/proc/self/environ", f"{path}{suffix}")

    with pytest.raises(LegacyFileError) as refused, open_legacy(path):
        pass

    message = str(refused.value)
    assert message.startswith(f"{path}{suffix}: a file the kernel makes as it is read (in /proc)")
    assert message.endswith("move it away, then run this again")


@pytest.mark.django_db
def test_a_source_linked_into_the_kernels_files_is_refused_in_one_line(tmp_path):
    # Refused before anything reads it, whatever it would give (/proc/kmsg: a wait for ever).
    path = tmp_path / "legacy.db"
    os.symlink("/proc/self/environ", path)

    with pytest.raises(LegacyFileError) as refused, open_legacy(path):
        pass

    # Named as the link resolves, as every message names the source.
    assert str(refused.value) == (
        f"{path.resolve()}: a file the kernel makes as it is read (in /proc), not a legacy "
        "database; --source takes the legacy .db file"
    )


def test_a_write_the_app_never_finished_is_refused_saying_how_to_roll_it_back(tmp_path):
    # The app killed mid-write leaves a hot rollback journal, which only a writer can undo.
    legacy = LegacyFile(tmp_path / "legacy.db")
    legacy.small_studio()
    path = legacy.close()
    killed_mid_write = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1')\n"
        "c.execute('BEGIN')\n"
        "c.execute('CREATE TABLE filler (x)')\n"
        "c.execute('INSERT INTO filler SELECT randomblob(1000) FROM "
        "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
        "SELECT i FROM n)')\n"
        "c.execute('UPDATE trainers SET username = username || 1')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", killed_mid_write, str(path)], check=True)
    assert Path(f"{path}-journal").stat().st_size > 0
    before = (sha256_of(path), sha256_of(Path(f"{path}-journal")))

    with pytest.raises(LegacyFileError) as refused, open_legacy(path):
        pass

    assert str(refused.value).startswith(
        f"{path}: its rollback journal legacy.db-journal holds a write the app never finished"
    )
    assert str(refused.value).endswith("then run this on the copy")
    assert (sha256_of(path), sha256_of(Path(f"{path}-journal"))) == before


def test_a_private_copy_never_goes_beside_the_file(tmp_path, monkeypatch):
    # TMPDIR set to the studio's own folder would put a copy of its data beside the file.
    path = killed_app(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    before = folder_state(tmp_path)

    with (
        pytest.raises(LegacyFileError, match="TMPDIR is its own folder; set TMPDIR to another"),
        open_legacy(path),
    ):
        pass

    assert folder_state(tmp_path) == before
