"""The progress bar: drawn from numbers alone, no database."""

from io import StringIO

from migration.progress import TerminalProgress, progress_line


def test_a_line_shows_rows_rate_and_time_left():
    line = progress_line("sessions", 450_000, 900_000, seconds=10.0)
    assert "[############............]" in line
    assert "450,000/900,000" in line
    assert "45,000 rows/s" in line
    assert line.endswith("0:10 left")


def test_a_finished_table_has_no_time_left():
    line = progress_line("trainers", 1_000, 1_000, seconds=0.5)
    assert "[########################]" in line
    assert "left" not in line


def test_an_empty_table_is_complete():
    assert "[########################]" in progress_line("fee_audit_log", 0, 0, seconds=0.0)


def test_the_terminal_line_is_redrawn_in_place_and_ends_with_the_table():
    ticks = iter([0.0, 1.0, 2.0])
    stream = StringIO()
    progress = TerminalProgress(stream.write, clock=lambda: next(ticks))
    progress("clients", 500, 1_000)
    progress("clients", 1_000, 1_000)
    written = stream.getvalue()
    assert written.count("\r") == 2
    assert written.endswith("\n")
    assert "500 rows/s" in written.split("\r")[2]  # 1,000 rows in 2 s
