"""results_in_workers: every task's result, in the tasks' order, the largest handed out first."""

import os
import time

import pytest

from migration.workers import can_fork, cores, results_in_workers

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
