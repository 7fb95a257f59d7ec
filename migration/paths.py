"""Where a command may write: never over the legacy file, and only where writing can succeed.

Every file a command writes (a report, a cleaned copy, the temporary file each
is first written to) is checked here before any work starts. A name is
compared with the files it must not be as the kernel would resolve it
(relative, `./`, `..`, symbolic links to the file or to a folder on its way)
and by inode (a hard link), so no spelling of the legacy file, or of the
journals SQLite keeps beside it (its committed rows may live in its `-wal`),
gets past. Nor does a legacy file that a cleaned --source was made from, as
the copy records it. Two outputs may not be one file either.

An output must also be writable before the work starts: an import that
commits and then cannot write its report, or a cleaned copy written beside a
report that cannot be, leaves a run half done. The check writes (and removes)
a temporary file where the output's own temporary file will go.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migration.errors import InputError

# The files SQLite keeps beside a database, named after it.
SIDECARS = {"-wal": "WAL journal", "-shm": "shared-memory file", "-journal": "rollback journal"}


class PathRefused(InputError):
    """A path on the command line that names no usable file, or one never to be written."""


@dataclass(frozen=True)
class Output:
    """A file a command will write, and the option that named it."""

    option: str  # "--output", "--report"
    path: Path
    # An SQLite file (a cleaned copy): its journals are its too, so no other output may be one.
    database: bool = False
    # Whether an existing file there may be replaced (clean_legacy's --output needs --force).
    replaces: bool = True
    # Whether its folder is made if missing (private to the user), once the path is allowed.
    makes_folder: bool = False


@dataclass(frozen=True)
class _Claimed:
    """A file no (further) output may be."""

    path: Path  # resolved
    what: str  # "the legacy file (--source)", "the --output file's WAL journal", ...
    advice: str


def resolved(path: str | Path, option: str) -> Path:
    """The absolute path the kernel would open for `path`, every symbolic link followed."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop (RuntimeError before Python 3.13)
        raise PathRefused(
            f"{option} {path}: a loop of symbolic links that names no file; check the {option} path"
        ) from error


def check_outputs(
    *,
    source: str | Path,
    outputs: Sequence[Output],
    databases: Mapping[str, Path] | None = None,
    cleaned_from: Sequence[Path] = (),
) -> None:
    """Refuse, before any work, an output that is the source (or one of its journals),
    a legacy file the source was `cleaned_from`, one of the project's own SQLite
    `databases` (named by what they are), another output, or cannot be written."""
    claimed = _files_of(
        Path(source).expanduser(),  # as open_legacy reads it
        option="--source",
        what="the legacy file (--source)",
        whose="the legacy file's",
        advice="name another file (the legacy file is never written)",
    )
    for original in cleaned_from:
        claimed += _files_of(
            original,
            option="the cleaned copy's record",
            what=f"the legacy file {original} that --source was cleaned from",
            whose=f"the legacy file {original}'s",
            advice="name another file (a legacy file is never written)",
        )
    for what, path in (databases or {}).items():
        claimed += _files_of(
            path, option="the settings", what=what, whose=f"{what}'s", advice="name another file"
        )
    for output in outputs:
        real = resolved(output.path, output.option)
        for other in claimed:
            if _same(output.path, real, other):
                raise PathRefused(
                    f"{output.option} {output.path}: that is {other.what}; "
                    f"{output.option} must {other.advice}"
                )
            # A folder made on the way would take the file's name.
            if output.makes_folder and other.path in real.parents:
                raise PathRefused(
                    f"{output.option} {output.path}: that is inside {other.what}; "
                    f"{output.option} must {other.advice}"
                )
        if output.makes_folder:
            _make_folder(output)
        _check_writable(output)
        claimed += _files_of(
            output.path,
            option=output.option,
            what=f"the {output.option} file",
            whose=f"the {output.option} file's",
            advice="name a file of its own",
            journals=output.database,
        )


def _files_of(
    path: Path, *, option: str, what: str, whose: str, advice: str, journals: bool = True
) -> list[_Claimed]:
    """A file, and the journals SQLite may keep beside it if it is a database: beside the
    name given and beside the file it resolves to (SQLite follows a symbolic link)."""
    real = resolved(path, option)
    files = [_Claimed(real, what, advice)]
    if journals:
        for base in dict.fromkeys((real, resolved(path.parent, option) / path.name)):
            for suffix, journal in SIDECARS.items():
                files.append(_Claimed(Path(f"{base}{suffix}"), f"{whose} {journal}", advice))
    return files


def _same(path: Path, real: Path, other: _Claimed) -> bool:
    if real == other.path:
        return True
    try:
        return os.path.samefile(path, other.path)  # a hard link
    except OSError:
        return False  # one of them does not exist (yet)


def _make_folder(output: Output) -> None:
    try:
        output.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise PathRefused(
            f"{output.option} {output.path}: its folder cannot be made ({error.strerror}); "
            f"choose another {output.option}"
        ) from error


def _check_writable(output: Output) -> None:
    option, path = output.option, output.path
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new file
    except OSError as error:
        raise PathRefused(
            f"{option} {path}: cannot be looked at ({error.strerror}); choose another {option}"
        ) from error
    if mode is not None and stat.S_ISDIR(mode):
        raise PathRefused(f"{option} {path}: is a folder; {option} takes a file's name")
    if mode is not None and not stat.S_ISREG(mode):
        raise PathRefused(
            f"{option} {path}: not a regular file (a device or a pipe, say); "
            f"{option} takes a file's name"
        )
    if mode is not None and not output.replaces:
        raise PathRefused(f"{path} already exists: choose another {option}, or add --force")
    # Where the writer puts its temporary file: beside the name given, to be renamed over it.
    folder = path.parent
    try:
        temporary_beside(path).unlink()
    except (FileNotFoundError, NotADirectoryError) as error:
        raise PathRefused(
            f"{option} {path}: there is no folder {folder}; create it, or choose another {option}"
        ) from error
    except OSError as error:
        raise PathRefused(
            f"{option} {path}: cannot write in {folder} ({error.strerror}); "
            "choose a folder you can write to"
        ) from error


@contextmanager
def renamed_over(path: Path, temporary: Path) -> Iterator[Path]:
    """`temporary` (see temporary_beside), renamed over `path` when the block ends, or
    removed, with any journal SQLite kept beside it, if the block fails: `path` is
    never half written."""
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        _remove_with_sidecars(temporary)
        raise


def temporary_beside(path: Path) -> Path:
    """A new empty file beside `path`, named for it and for this process.

    A run killed before it could remove its temporary file leaves it behind;
    the next run to write `path` removes those of processes no longer alive.
    """
    _remove_left_behind(path)
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(fd)
    return Path(name)


TEMPORARY_SUFFIX = ".tmp"


def _remove_left_behind(path: Path) -> None:
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return  # mkstemp says why, in the caller's words
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TEMPORARY_SUFFIX)):
            continue
        owner = name[len(prefix) :].split(".", 1)[0]
        if owner.isdigit() and not process_is_alive(int(owner)):
            _remove_with_sidecars(path.parent / name)


def process_is_alive(pid: int) -> bool:
    """Whether a process of that id runs: a temporary file or folder named for a process
    that no longer does was left by a run killed before it could remove it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove_with_sidecars(temporary: Path) -> None:
    for file in (temporary, *(Path(f"{temporary}{suffix}") for suffix in SIDECARS)):
        file.unlink(missing_ok=True)
