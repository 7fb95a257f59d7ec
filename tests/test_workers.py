"""The worker pool: results in the tasks' order, the largest handed out first; a
pool left by an error ends, whatever its workers were doing; and a worker killed
in the middle of sending its result breaks the pool, never hangs it.

The last two run in a process of their own, with a bound on their time: a pool
that never ends would otherwise hold the test run with it.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from migration.stops import stopped_in_one_line
from migration.workers import can_fork, cores, results_in_workers, worker_pool

pytestmark = pytest.mark.skipif(not can_fork(), reason="the workers are forked")

_started_with: str | None = None  # in a worker: what its initializer was given


def _start(greeting: str) -> None:
    global _started_with
    _started_with = greeting


def _task(name: str) -> tuple[str, str | None, int, int]:
    return name, _started_with, os.getpid(), time.monotonic_ns()


def test_results_come_in_the_tasks_order_the_largest_handed_out_first():
    tasks = [("small",), ("large",), ("middling",)]
    with results_in_workers(
        _task, tasks, sizes=[1, 3, 2], workers=1, initializer=_start, initargs=("hello",)
    ) as results:
        found = list(results)
    assert [(name, started) for name, started, _, _ in found] == [
        ("small", "hello"),
        ("large", "hello"),
        ("middling", "hello"),
    ]
    assert {pid for _, _, pid, _ in found} != {os.getpid()}
    # One worker takes the tasks as they were handed out: largest first.
    by_start = sorted(found, key=lambda result: result[3])
    assert [name for name, *_ in by_start] == ["large", "middling", "small"]


def test_one_worker_per_core_and_no_more_than_asked():
    assert cores(most=1) == 1
    assert 1 <= cores(most=64) == min(len(os.sched_getaffinity(0)), 64)


ROOT = Path(__file__).resolve().parent.parent


def said_by_script(script: str) -> str:
    """What `script` printed, run in a Python of its own (a pool left waiting would
    otherwise hang the test run: it fails at the timeout instead)."""
    ended = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ended.returncode == 0, ended.stderr
    return ended.stdout.strip()


# Each worker sends back a result large enough to take a while through the
# pipe; the block fails while they do, at a few moments, so that some worker
# is killed in the middle of one.
LEFT_WHILE_RESULTS_ARE_SENT = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from migration.workers import worker_pool

def started():
    pass

def result(size):
    return b"x" * size

for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3):
    try:
        with worker_pool(2, started) as pool:
            sent = [pool.submit(result, 50_000_000) for _ in range(2)]
            time.sleep(delay)
            raise RuntimeError("the block failed")
    except RuntimeError:
        pass
print("ended")
"""


@pytest.mark.skipif(not can_fork(), reason="workers are forked")
def test_a_pool_left_by_an_error_ends_though_a_worker_dies_sending_its_result():
    assert said_by_script(LEFT_WHILE_RESULTS_ARE_SENT) == "ended"


# A worker dies as one killed while it sends a large result would: the results
# pipe's lock taken, the header of a message in the pipe and only part of its
# body. The pool must break (and the block say so) rather than wait for the rest.
KILLED_WHILE_SENDING_A_RESULT = """
import os, signal, struct, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from migration.workers import WorkerLost, worker_pool, workers_lost_said

def started():
    pass

def slow():
    time.sleep(0.5)
    return "done"

def killed_while_sending_a_result():
    # The executor's worker loop called this: its frame has the results queue.
    results = sys._getframe(1).f_locals["result_queue"]
    results._wlock.acquire()
    os.write(results._writer.fileno(), struct.pack("!i", 1_000_000) + b"x" * 1000)
    os.kill(os.getpid(), signal.SIGKILL)

try:
    with workers_lost_said(), worker_pool(2, started) as pool:
        sent = [pool.submit(slow), pool.submit(killed_while_sending_a_result), pool.submit(slow)]
        for future in sent:
            future.result()
except WorkerLost:
    print("worker lost")
"""


def test_a_worker_killed_while_it_sends_a_result_breaks_the_pool_instead_of_hanging_it():
    assert said_by_script(KILLED_WHILE_SENDING_A_RESULT) == "worker lost"


def _nothing() -> None:
    pass


def _stop_handlers() -> tuple[Any, Any]:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_a_worker_leaves_ctrl_c_to_its_parent_and_ends_at_sigterm_without_a_word():
    # The parent's stop handlers come with the fork; a worker killed by SIGTERM
    # (a broken pool's way) must not take it for the parent's stop.
    with stopped_in_one_line(1, process_ends=False):
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        with worker_pool(1, _nothing) as pool:
            assert pool.submit(_stop_handlers).result() == (signal.SIG_IGN, signal.SIG_DFL)
