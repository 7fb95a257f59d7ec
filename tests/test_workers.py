"""The worker pool: a pool left by an error ends, whatever its workers were doing.

Run in a process of its own, with a bound on its time: a pool that never
ends would otherwise hold the test run with it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from migration.workers import can_fork

ROOT = Path(__file__).resolve().parent.parent

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
    ended = subprocess.run(
        [sys.executable, "-c", LEFT_WHILE_RESULTS_ARE_SENT, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.strip() == "ended"
