"""Forked worker processes, for work that a big file splits into parts.

Forked, not spawned: a spawned worker runs the calling program's main module
again (a script that calls import_legacy would start another import) and
must set Django up and open the legacy file anew. A forked worker has all
that, but for its database connections: the parent's came with the fork.
Used in the worker they would mix two processes' traffic on one socket;
closed there, they would end the parent's session (and its transaction).
So a worker lets go of their sockets without a word to the server, sets the
connections aside, never used and never closed (a worker ends with
os._exit, which finalises nothing), and connects afresh.

A worker is its parent's to stop, and lives no longer than it: every worker
pool is a `worker_pool`, and every worker starts in `_start_worker`, so that

- a parent that dies, however (SIGKILL included), takes its workers with it:
  none is left holding a connection, or a socket of the parent's that would
  keep the parent's session, its transaction and its locks alive;
- Ctrl-C, which the terminal sends to the whole process group, is the
  parent's to act on (see stops.py); a worker ignores it;
- a pool left by an exception (Ctrl-C, a failed table) kills its workers
  rather than wait for work nobody wants;
- a worker that dies under the run, however it dies, breaks the pool: the
  parent is told (BrokenProcessPool), never left waiting (see _WatchedPool).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import Any

from django.db import connections

from migration.errors import OperatorError

_parents_connections: list[Any] = []  # in a worker: set aside, kept so that nothing closes them

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def can_fork() -> bool:
    """Only Linux forks a process with threads and open files safely enough."""
    return sys.platform.startswith("linux")


def fork_context() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context("fork")


@contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., None], *initargs: Any
) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` forked processes, each started by `initializer(*initargs)`.

    Its processes are forked by the thread that first submits to it: it must
    be the thread that waits on them (the kernel takes a worker down with the
    thread that forked it, not with the whole parent; see _die_with_parent).
    Left normally, the pool finishes what was asked of it; left by an
    exception, what a worker is doing is wanted by nobody, so it is killed:
    a worker writes nothing, and its connection ends with it.
    """
    pool = _WatchedPool(
        workers,
        mp_context=fork_context(),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )
    try:
        yield pool
    except BaseException:
        pool.kill_workers_now()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def cores(*, most: int) -> int:
    """How many workers make one per core this process may run on, and at most `most`."""
    return min(len(os.sched_getaffinity(0)), most)


@contextmanager
def results_in_workers(
    call: Callable[..., Any],
    tasks: Sequence[tuple],
    *,
    sizes: Sequence[int],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple = (),
) -> Iterator[Iterator[Any]]:
    """`call(*task)` for every task, by a worker_pool, the results in the tasks' order.

    The largest tasks (by `sizes`) are handed out first, so that the workers
    end together. Within the block, a worker that died under the run is a
    WorkerLost (see workers_lost_said), and an error stops the workers where
    they are (see worker_pool).
    """
    with workers_lost_said(), worker_pool(workers, initializer, *initargs) as pool:
        largest_first = sorted(range(len(tasks)), key=lambda index: -sizes[index])
        futures = {index: pool.submit(call, *tasks[index]) for index in largest_first}
        yield (futures[index].result() for index in range(len(tasks)))


class WorkerLost(OperatorError):
    """A worker process died under the run, killed from outside (the out-of-memory
    killer, a kill by its pid): what it was doing is lost, and the run with it."""


@contextmanager
def workers_lost_said() -> Iterator[None]:
    """Within the block, a worker that died under the run (its pool broken) is a
    WorkerLost: a stop of the run like any failure, said as what happened."""
    try:
        yield
    except BrokenProcessPool as error:
        raise WorkerLost(
            "a worker process died under the run (killed by the system, out of memory, "
            "or by its pid); stop only the main process, and run the command again"
        ) from error


class _WatchedPool(ProcessPoolExecutor):
    """A ProcessPoolExecutor that a dead worker cannot leave waiting forever.

    A worker killed while it sends a result (the out-of-memory killer's
    moment: a converted chunk is the most a worker holds) leaves half a
    message in the results pipe, and that pipe's lock taken for good. The
    executor's thread, reading the message, waits for the rest; it never
    marks the pool broken, so every future waits with it, and shutdown waits
    for that thread. The read would end at the end of the pipe, but that comes
    only once no process holds the pipe's write end: the other workers (stuck
    on the lock, or idle) and this process, which never writes there. So the
    parent lets go of its write end as soon as its workers are forked, and a
    thread watches them: when one ends other than by returning, it kills the
    others. The read then meets the end of the pipe, and the executor breaks
    the pool as for any dead worker (the feeder of tasks ends too: the
    executor closes the tasks pipe's read end, and no worker holds it).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._forked: list[BaseProcess] = []  # every worker: forked together, never replaced
        self._watch: threading.Thread | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future = super().submit(fn, *args, **kwargs)
        if self._watch is None:  # the first submit forked the workers (a fork pool's way)
            self._forked = list(self._processes.values())
            self._result_queue._writer.close()
            self._watch = threading.Thread(
                target=self._watch_workers, name="worker watch", daemon=True
            )
            self._watch.start()
        return future

    def kill_workers_now(self) -> None:
        """Every worker killed, whatever it is doing (a kill of one already gone does nothing)."""
        for process in self._forked:
            process.kill()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        if wait and self._watch is not None:
            # The executor has joined every worker, so the watch has seen each end.
            self._watch.join(timeout=5)

    def _watch_workers(self) -> None:
        alive = {process.sentinel: process for process in self._forked}
        while alive:
            for ended in multiprocessing.connection.wait(list(alive)):
                if not _returned(alive.pop(ended).pid):
                    self.kill_workers_now()
                    return


def _returned(pid: int) -> bool:
    """Whether a child that has ended ended by returning, as a worker told to stop does.

    Looked at without reaping it (WNOWAIT): the executor reaps its workers, and
    a pid reaped here could be another process's by the time it looks.
    """
    try:
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped already: by the executor, which knows it ended
        return True
    return ended.si_code == os.CLD_EXITED and ended.si_status == 0


# --- in a new worker --------------------------------------------------------


def _start_worker(parent: int, initializer: Callable[..., None], initargs: tuple) -> None:
    _die_with_parent(parent)
    # Ctrl-C reaches every process of the terminal's group: the parent decides
    # what it means, and shuts its workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM is how multiprocessing stops the workers of a broken pool: it ends
    # a worker at once, as by default. The parent's handler, which came with the
    # fork, would make it the parent's stop, and the worker print a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _let_go_of_parents_connections()
    initializer(*initargs)


def _die_with_parent(parent: int) -> None:
    """SIGKILL to this process when its parent dies (strictly: when the parent's
    thread that forked it ends, which is why worker_pool says which thread that is)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent:  # the parent died before the line above: no signal will come
        os._exit(1)


def _let_go_of_parents_connections() -> None:
    """In a new worker: the parent's connections let go of, and the next use of any
    alias connects afresh.

    Each socket of the parent's has /dev/null put over its file descriptor:
    this process no longer holds the socket open (once the parent is gone, so
    is the server's session, whatever this process does), nothing is sent on
    it, and its descriptor's number is not reused by a file this process
    opens, which the connection set aside would otherwise still name.
    """
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for connection in connections.all(initialized_only=True):
            if (socket := _socket_of(connection)) is not None:
                os.dup2(null, socket)
            _parents_connections.append(connection)
            del connections[connection.alias]
    finally:
        os.close(null)


def _socket_of(connection: Any) -> int | None:
    """The file descriptor of a connection's socket; None for SQLite's, which has none."""
    driver = connection.connection  # None until it connects
    if connection.vendor != "postgresql" or driver is None or driver.closed:
        return None
    return driver.fileno()
