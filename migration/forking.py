"""Forked worker processes, for work that a big file splits into parts.

Forked, not spawned: a spawned worker runs the calling program's main module
again (a script that calls import_legacy would start another import) and
must set Django up and open the legacy file anew. A forked worker has all
that, but for its database connections: the parent's came with the fork.
Used in the worker they would mix two processes' traffic on one socket;
closed there, they would end the parent's session (and its transaction).
So a worker sets them aside, never used and never closed (a worker ends
with os._exit, which finalises nothing), and connects afresh.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

from django.db import connections

_parents_connections: list[Any] = []  # in a worker: set aside, kept so that nothing closes them


def can_fork() -> bool:
    """Only Linux forks a process with threads and open files safely enough."""
    return sys.platform.startswith("linux")


def fork_context() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context("fork")


def set_aside_parents_connections() -> None:
    """In a new worker: the next use of any alias connects afresh."""
    for connection in connections.all(initialized_only=True):
        _parents_connections.append(connection)
        del connections[connection.alias]
