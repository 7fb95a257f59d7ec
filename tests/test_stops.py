"""How a command stops: SIGTERM taken as Ctrl-C, and a stop said in one line, however it
came out of the work (stops.py). No database: the signals are sent to this process.

The commands stopped for real, in their own processes, are in test_faults.py.
"""

import os
import signal
import sqlite3
from contextlib import AbstractContextManager

import orjson
import pytest
from django.core.management.base import CommandError

from migration.stops import Interrupted, stopped_in_one_line


def stopping(**options) -> AbstractContextManager[None]:
    return stopped_in_one_line(1, **{"process_ends": False, **options})


def test_sigterm_is_ctrl_c_within_a_command_and_is_said_in_one_line():
    with pytest.raises(CommandError) as raised, stopping():
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("SIGTERM did not stop the work")
    assert str(raised.value) == (
        "interrupted: nothing was left half-written; run the command again"
    )
    assert raised.value.returncode == 1


def test_the_work_says_what_its_stop_left():
    with pytest.raises(CommandError) as raised, stopping():
        raise Interrupted("sessions was rolled back; run import_legacy again to finish")
    assert str(raised.value) == (
        "interrupted: sessions was rolled back; run import_legacy again to finish"
    )


def test_a_stop_that_c_code_turned_into_an_error_of_its_own_is_still_a_stop():
    # orjson raises a TypeError from the KeyboardInterrupt its `default` raised.
    def default(value):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(CommandError, match="^interrupted: "), stopping():
        orjson.dumps(object(), default=default)


def test_a_stop_that_c_code_turned_into_an_error_without_its_cause_is_still_a_stop():
    # sqlite3 says only that a user-defined function raised an exception.
    legacy = sqlite3.connect(":memory:")
    legacy.create_function("slow", 0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(CommandError, match="^interrupted: "), stopping():
        try:
            legacy.execute("SELECT slow()").fetchall()
        except sqlite3.Error as error:
            raise ValueError(f"reading the file failed: {error}") from error


def test_ctrl_c_again_while_the_work_stops_is_ignored():
    cleaned_up = []
    with pytest.raises(CommandError, match="^interrupted: "), stopping():
        try:
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # pressed again: the cleanup goes on
            cleaned_up.append(True)
    assert cleaned_up


def test_errors_that_are_not_stops_pass_through_and_the_signals_are_as_they_were():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(LookupError), stopping():
        raise LookupError("not a stop")
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_a_signal_ignored_on_purpose_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as nohup, or a parent, set it
    try:
        with stopping():
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
