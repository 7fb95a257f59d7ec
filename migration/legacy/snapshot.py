"""A WAL-mode legacy file read from a private copy, so that nothing appears beside it.

SQLite reads a file in WAL mode through two files beside it: the journal
(`-wal`) and its index in shared memory (`-shm`). Opened read-only, it still
creates both when they are missing and rewrites the index when it is there,
in the studio's own folder, next to the only copy of its history. A file in
the older rollback mode needs neither.

So a WAL-mode file, with its journal if it has one, is copied into a private
temporary folder and read there, as is a file with a journal beside it whatever
its header says (SQLite replays a `-wal` it finds, and then reads in WAL mode).
SQLite replays the same journal into the same rows, and the folder goes when
the command ends. A command killed before it could remove its folder leaves
it, a copy of the studio's data: the folder is named for its process and
marked as a copy's, and the next command removes the marked folders of
processes no longer alive (never a folder that only bears such a name).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migration.legacy.wal import wal_path
from migration.paths import process_is_alive

# The file header's "file format write version" and "read version" (offsets
# 18 and 19, https://www.sqlite.org/fileformat2.html): 1 rollback, 2 WAL.
_FORMAT_VERSIONS = slice(18, 20)
WAL_MODE = b"\x02\x02"
FOLDER_PREFIX = "legacy-read-"
# The empty file a private copy's folder holds first, so that only such folders are
# ever removed as left behind.
MARK = ".studio-migration-private-copy"


def is_wal_mode(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(100)[_FORMAT_VERSIONS] == WAL_MODE


class SnapshotError(OSError):
    """The private copy could not be made: the message says why, in words."""


@contextmanager
def readable_copy(path: Path) -> Iterator[Path]:
    """The path to read `path` by: itself, or for a file SQLite would read through a WAL
    journal a private copy of it and its journal, removed when the block ends.

    A write of the app's own during the copy would mix two states of the
    file: the caller watches for it.
    """
    _remove_left_behind()  # by any command that reads a file, WAL-mode or not
    if not (is_wal_mode(path) or wal_path(path).exists()):  # read in rollback mode
        yield path
        return
    if Path(tempfile.gettempdir()).resolve() == path.resolve().parent:
        raise SnapshotError(
            "it is read through its WAL journal, from a private copy, which would go beside "
            "it: TMPDIR is its own folder; set TMPDIR to another folder"
        )
    with tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-") as folder:
        copy = Path(folder) / path.name
        try:
            (Path(folder) / MARK).touch()  # before the data: a folder without it is not ours
            shutil.copyfile(path, copy)
            journal = wal_path(path)
            if journal.exists():
                shutil.copyfile(journal, wal_path(copy))
        except OSError as error:
            raise SnapshotError(
                f"it is read through its WAL journal, from a copy in {folder}, which could "
                f"not be made ({error.strerror}): set TMPDIR to a folder with room for the file"
            ) from error
        yield copy


def _remove_left_behind() -> None:
    """The copies of runs killed before they could remove them (see the module docstring)."""
    try:
        folders = list(Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"))
    except OSError:
        return  # making the copy says why, in words
    for folder in folders:
        owner = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not process_is_alive(int(owner)) and _made_here(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _made_here(folder: Path) -> bool:
    """Whether `folder` is a private copy's, made by readable_copy for this user: a folder
    of another's that only bears such a name (a backup, say) is never removed."""
    try:
        found = folder.lstat()
        mark = (folder / MARK).lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(found.st_mode)
        and found.st_uid == os.getuid()
        and stat.S_ISREG(mark.st_mode)
        and mark.st_size == 0
    )
