"""A legacy file's WAL journal, read as SQLite's recovery reads it, to see what it would drop.

A legacy app killed in WAL mode leaves its last committed writes in the `-wal`
file beside the database, and SQLite replays them when it opens the file. It
replays frame after frame while each carries the journal's salts and a
cumulative checksum that holds, stops at the first that does not, and keeps
what came before up to the last commit. The rest it ignores without a word:
one flipped byte, and every write after it is gone from what every command
reads. Nothing can tell those writes from an intact file but the journal itself.

`wal_damage(path)` compares the two (the format is SQLite's "WAL file format",
https://www.sqlite.org/fileformat2.html#walformat): a journal whose header
cannot be read, or that holds frames of its current writes after the first
frame SQLite refuses, is damaged. What SQLite would rightly leave out is not:
frames of an older generation (other salts) after a checkpoint restarted the
journal, and a tail that never reached its commit (a write the kill cut short).
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
# The magic's lowest bit says in which byte order the checksums read the data.
MAGIC_LITTLE_ENDIAN, MAGIC_BIG_ENDIAN = 0x377F0682, 0x377F0683
VERSION = 3007000
_WORDS = struct.Struct(">8I")  # every header field is stored big-endian
_FRAME = struct.Struct(">6I")
_MASK = 0xFFFFFFFF
assert array("I").itemsize == 4, "the checksum reads the journal in 4-byte words"


def wal_path(database: Path) -> Path:
    """Where SQLite looks for the journal of `database`."""
    return database.with_name(database.name + "-wal")


@dataclass(frozen=True)
class WalReading:
    """What a journal holds, against what SQLite replays of it."""

    frames: int  # whole frames in the file
    replayed: int  # of those, the frames SQLite replays: up to its last valid commit
    refused: int | None  # the first frame SQLite refuses (numbered from 1), if any
    why_refused: str  # why it refuses that frame
    # Frames of the journal's current writes after the refused one: lost. Other
    # frames after it are older generations (already in the database), and
    # frames from the last commit on a write that never committed.
    dropped: int
    header_problem: str = ""  # the header itself cannot be read: the whole journal is ignored

    @property
    def damage(self) -> str:
        """What SQLite would drop of the journal's writes, in words; "" if nothing."""
        if self.header_problem:
            return f"its header {self.header_problem}, so none of its writes would be read"
        if self.dropped:
            return (
                f"frame {self.refused} of {self.frames} {self.why_refused}, so the "
                f"{self.dropped} frame(s) of writes after it would not be read"
            )
        return ""


def read_wal(path: Path) -> WalReading | None:
    """The journal at `path` read as SQLite's recovery reads it; None if it is absent or empty."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None
    with file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return None  # what a checkpoint that truncates the journal leaves
        header = file.read(HEADER_SIZE)
        if problem := _header_problem(header):
            return WalReading(0, 0, None, "", 0, header_problem=problem)
        magic, _, page_size, _, salt_1, salt_2, *checksum = _WORDS.unpack(header)
        salts, big_endian = (salt_1, salt_2), magic == MAGIC_BIG_ENDIAN
        # A frame cut short at the end is the write the kill interrupted: never committed.
        frames = (size - HEADER_SIZE) // (FRAME_HEADER_SIZE + page_size)
        running = (checksum[0], checksum[1])
        replayed, refused, why, dropped = 0, None, "", 0
        for number in range(1, frames + 1):
            frame_header = file.read(FRAME_HEADER_SIZE)
            page_number, commit_size, *frame_salts, checksum_1, checksum_2 = _FRAME.unpack(
                frame_header
            )
            current = tuple(frame_salts) == salts
            if refused is not None:
                # Past the refused frame only the salts matter: a frame of the
                # journal's current writes here is a write SQLite drops.
                dropped += current
                file.seek(page_size, os.SEEK_CUR)
                continue
            page = file.read(page_size)
            if not current:
                refused, why = number, "does not carry the journal's salts"
                continue
            running = _checksum(frame_header[:8] + page, big_endian, running)
            if running != (checksum_1, checksum_2) or page_number == 0:
                refused, why = number, "fails its checksum"
            elif commit_size:
                replayed = number
        return WalReading(frames, replayed, refused, why, dropped)


def wal_damage(database: Path) -> str:
    """What SQLite would silently drop of the journal beside `database`, in words; "" if nothing."""
    reading = read_wal(wal_path(database))
    return reading.damage if reading is not None else ""


def _header_problem(header: bytes) -> str:
    if len(header) < HEADER_SIZE:
        return f"is cut short ({len(header)} of {HEADER_SIZE} bytes)"
    magic, version, page_size, *_, checksum_1, checksum_2 = _WORDS.unpack(header)
    if magic not in (MAGIC_LITTLE_ENDIAN, MAGIC_BIG_ENDIAN):
        return "is not a WAL header"
    if version != VERSION or page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return "is damaged"
    if _checksum(header[:24], magic == MAGIC_BIG_ENDIAN, (0, 0)) != (checksum_1, checksum_2):
        return "fails its checksum"
    return ""


def _checksum(data: bytes, big_endian: bool, start: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from `start`."""
    words = array("I", data)  # 4-byte unsigned words, in this machine's byte order
    if big_endian != (sys.byteorder == "big"):
        words.byteswap()
    s1, s2 = start
    for first, second in zip(words[0::2], words[1::2], strict=True):
        s1 = (s1 + first + s2) & _MASK
        s2 = (s2 + second + s1) & _MASK
    return s1, s2
