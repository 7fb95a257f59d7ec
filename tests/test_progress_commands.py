"""precheck and verify_import draw progress on a terminal, as the import does, and
nothing when their output is piped or --verbosity 0 asks for quiet.

Each command runs as an operator runs it: manage.py in a process of its own,
its output on a pseudo-terminal (or on pipes).
"""

import os
import pty
import re
import select
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from migration.mapping.specs import SPECS
from migration.progress import TerminalProgress, terminal_progress
from migration.verify.parts import Part, _PartsTold
from migration.verify.walk import EVERY_ID, IdRange
from samples.files import write_production_sample
from tests.conftest import run_command
from tests.legacy_files import write_importable_chain

ERASE_LINE = "\x1b[K"  # what a progress line ends with, redrawn in place
TIMEOUT = 120


def manage_py_env() -> dict[str, str]:
    """The environment of a manage.py run on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url}


def on_a_terminal(*args: str) -> tuple[int, str]:
    """manage.py's exit code and all it wrote, standard output and error, to a terminal."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=manage_py_env(),
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    written = bytearray()
    try:
        while select.select([leader], [], [], TIMEOUT)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other side is closed: the command ended
                break
            if not chunk:
                break
            written += chunk
        process.wait(timeout=TIMEOUT)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return process.returncode, written.decode("utf-8", "replace")


def piped(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=manage_py_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    write_production_sample(output=path)
    return path


def progress_lines(written: str) -> list[str]:
    """The progress lines drawn, as last drawn."""
    return [part for part in re.split(r"[\r\n]+", written) if part.endswith(ERASE_LINE)]


def test_precheck_draws_its_checks_on_a_terminal(sample):
    code, written = on_a_terminal("precheck", "--source", str(sample))
    assert code == 1, written  # the sample's shared e-mail blocks
    lines = progress_lines(written)
    assert lines, written
    assert all(" checks/s" in line for line in lines)
    assert "\x1b[31" not in "".join(lines)  # drawn as it is, not in an error's red
    # The last line is every check done: n/n.
    done, total = re.search(r"([\d,]+)/([\d,]+)", lines[-1]).groups()
    assert done == total
    assert "Precheck of" in written  # the report follows, as ever


def test_precheck_draws_nothing_when_piped_or_quiet(sample):
    process = piped("precheck", "--source", str(sample))
    assert process.returncode == 1
    assert ERASE_LINE not in process.stdout + process.stderr
    assert "\r" not in process.stdout + process.stderr
    assert "Precheck of" in process.stdout
    code, written = on_a_terminal("precheck", "--source", str(sample), "--verbosity", "0")
    assert code == 1
    assert ERASE_LINE not in written


def test_the_plan_on_a_terminal_ends_with_a_newline_before_the_error_line(sample):
    code, written = on_a_terminal("precheck", "--source", str(sample), "--format", "markdown")
    assert code == 1
    plan, error = re.sub(r"\x1b\[[\d;]*m", "", written).rsplit("CommandError: ", 1)  # no colours
    assert plan.endswith("precheck again.\r\n")  # a terminal writes each newline as \r\n
    assert error.startswith("1 blocking finding(s)")


@pytest.mark.django_db(transaction=True)  # the import commits, for verify's own process
@pytest.mark.usefixtures("legacy_db")
@pytest.mark.skipif(connection.vendor != "postgresql", reason="verify's process on PostgreSQL")
def test_verify_draws_each_table_on_a_terminal_and_nothing_when_piped(tmp_path):
    path = write_importable_chain(tmp_path / "chain.db", 2000)
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output

    code, written = on_a_terminal("verify_import", "--source", str(path))
    assert code == 0, written
    tables = [line.split()[0] for line in progress_lines(written)]
    assert {"trainers", "clients", "sessions", "payments", "fee_audit_log"} <= set(tables)
    assert tables.count("fee_audit_log") == 1  # empty: drawn once, done
    # Each table's line is drawn in place, and left as it ended when the next begins.
    assert written.count("\r\n\r  sessions ") == 1
    assert all(" rows/s" in line for line in progress_lines(written))
    # Counts read with thousands separators: the row balance of a table past a thousand rows.
    (balance,) = [line for line in written.splitlines() if "row balance:" in line]
    assert re.search(r"sessions \d,\d{3} = \d,\d{3} created", balance), balance

    process = piped("verify_import", "--source", str(path))
    assert process.returncode == 0, process.stderr
    assert ERASE_LINE not in process.stdout + process.stderr
    assert "\r" not in process.stdout + process.stderr
    assert "row balance:" in process.stdout


# --- the callback itself ----------------------------------------------------------


class Terminal(StringIO):
    def __init__(self, is_terminal: bool):
        super().__init__()
        self.is_terminal = is_terminal

    def isatty(self) -> bool:
        return self.is_terminal

    def write(self, text: str, style_func=None, ending: str = "\n") -> int:  # as OutputWrapper
        return super().write(text if text.endswith(ending) else text + ending)


def test_a_callback_only_for_a_terminal_and_a_verbosity_of_one_or_more():
    assert terminal_progress(Terminal(False), 1) is None
    assert terminal_progress(Terminal(True), 0) is None
    terminal = Terminal(True)
    progress = terminal_progress(terminal, 1, unit="checks")
    progress("checks", 3, 3)
    assert "3/3" in terminal.getvalue() and "checks/s" in terminal.getvalue()


def test_the_unit_names_what_is_counted():
    stream = StringIO()
    progress = TerminalProgress(stream.write, clock=iter([0.0, 2.0]).__next__, unit="checks")
    progress("checks", 10, 10)
    assert "checks/s" in stream.getvalue() and "rows/s" not in stream.getvalue()


def test_verify_tells_each_table_as_its_parts_come_in():
    told = []
    clients, fee_audit_log = SPECS["clients"], SPECS["fee_audit_log"]
    parts = [
        Part(clients, IdRange(None, 8, (3, 7)), 5),
        Part(clients, IdRange(8, None, (8, 12)), 5),
        Part(fee_audit_log, EVERY_ID, 0),
    ]
    for walked_so_far in ([6, 10, 0], [11, 12, 0]):  # as estimated; past the estimate
        told.clear()
        parts_told = _PartsTold(parts, lambda *call: told.append(call))
        for part, rows in zip(parts_told, walked_so_far, strict=True):
            parts_told.walked(part, rows)
        first, last = walked_so_far[:2]
        assert told == [
            ("clients", 0, 10),  # its clock starts
            ("clients", first, max(10, first + 1)),  # not done before its last part is
            ("clients", last, last),  # done at what was walked
            ("fee_audit_log", 0, 0),  # empty: done at once
        ]
