"""The studio-chain benchmark: how long precheck, import and verify take, and in how much memory.

    make bench SESSIONS=1000000 [REPEAT=3] [SHAPE=old-half]
    (or: .venv/bin/python bench/benchmark.py --sessions N [--repeat K] [--shape S])

Writes a chain file with make_legacy_sample (of the shape given: `standard`, a
tenth of the sessions and payments in the old tables, or `old-half`), gives its
sessions their inferable trainers (the file is otherwise clean), then, each into
a fresh PostgreSQL database: a plain COPY of the same rows into the legacy
schema (the floor any importer is measured against), the tool's precheck, then
pgloader (when it is installed) and import_legacy, alternately, K times, and
verify_import after the last import (as in a cutover, with a secret key of its
own, so each import takes as passed the checks the precheck passed; with
PRECHECK_RECORDS_DIR=/nonexistent/folder it runs them all, as an import not
prechecked first does); each in its own process, timed with its
peak memory and the CPU seconds of all processes (the command's own, its
workers', PostgreSQL's): on a shared machine CPU seconds move less than wall
seconds. The ratio to pgloader is the median round's. Not part of the test
suite: it takes minutes at a million.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
PG_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "BOOLEAN": "bigint"}
# Run as a cutover runs: with a secret key of its own (so precheck keeps its record
# of passed checks for the import), its records apart from the user's.
CUTOVER = {
    "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "the benchmark's own key",
    "PRECHECK_RECORDS_DIR": os.environ.get("PRECHECK_RECORDS_DIR")
    or str(ROOT / "var" / "bench-precheck-records"),
}


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER}/{name}"


def settle(name: str) -> None:
    """Drop a database measured and done with, and write out what is pending.

    A load leaves dirty buffers and, a minute on, autovacuum's work on every
    table it filled: without this, the next command measured pays for them.
    """
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    checkpoint()


def checkpoint() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute("CHECKPOINT")


def postgres_cpu() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server's processes, live and ended.

    A backend's time, once it ends, moves to the postmaster's children's time,
    so the sum only grows. None when the server is not on this machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked: its time is in the postmaster's now
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name != "postgres":
            continue
        fields = text[text.rindex(")") + 2 :].split()
        found = True
        total += int(fields[11]) + int(fields[12])  # utime, stime
        parent = Path(f"/proc/{fields[1]}/comm")
        if not parent.exists() or parent.read_text().strip() != "postgres":
            total += int(fields[13]) + int(fields[14])  # the postmaster: its ended children
    return total / ticks if found else None


def timed(command: list[str], *, env: dict | None = None) -> tuple[float, int, str, float]:
    """Wall seconds, peak memory (MB), stdout and CPU seconds of one command.

    In its own process; the CPU seconds are its own, its children's and the
    PostgreSQL server's while it ran."""
    server_before = postgres_cpu()
    started = time.monotonic()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *command],
        cwd=ROOT,
        env={**os.environ, **CUTOVER, **(env or {})},
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    server_after = postgres_cpu()
    peak_kb, user, system = result.stderr.strip().splitlines()[-1].split()
    cpu = float(user) + float(system)
    if server_before is not None and server_after is not None:
        cpu += server_after - server_before
    return seconds, int(peak_kb) // 1024, result.stdout, cpu


def write_chain(path: Path, sessions: int, shape: str) -> int:
    path.unlink(missing_ok=True)
    subprocess.run(
        [PYTHON, "manage.py", "make_legacy_sample", "--output", str(path),
         "--sessions", str(sessions), "--shape", shape, "--verbosity", "0"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    with sqlite3.connect(path) as legacy:
        # The chain leaves ~1% of sessions without a trainer (as the app did);
        # clean_legacy would infer them; here, so the file imports as it is.
        legacy.execute(
            "UPDATE sessions SET trainer_id = (SELECT trainer_id FROM session_packages p "
            "WHERE p.id = sessions.package_id) WHERE trainer_id IS NULL"
        )
        return sum(
            legacy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for (table,) in legacy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        )


def plain_copy(path: Path) -> float:
    """COPY every legacy row into same-shaped PostgreSQL tables: the floor."""
    url = fresh_database("bench_copy")
    started = time.monotonic()
    legacy = sqlite3.connect(path)
    with psycopg.connect(url) as target:
        for (table,) in legacy.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            columns = legacy.execute(f'SELECT name, type FROM pragma_table_info("{table}")')
            columns = list(columns)
            ddl = ", ".join(f'"{n}" {PG_TYPES.get(t.upper(), "text")}' for n, t in columns)
            target.execute(f'CREATE TABLE "{table}" ({ddl})')
            names = ", ".join(f'"{n}"' for n, _ in columns)
            with target.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in legacy.execute(f'SELECT {names} FROM "{table}"'):
                    copy.write_row(row)
    legacy.close()
    seconds = time.monotonic() - started
    settle("bench_copy")
    return seconds


def pgloader(path: Path) -> tuple[float, float] | None:
    """pgloader's wall and CPU seconds, or None when it is not installed."""
    if shutil.which("pgloader") is None:
        return None
    url = fresh_database("bench_pgloader")
    seconds, _, _, cpu = timed(["pgloader", f"sqlite://{path}", url])
    settle("bench_pgloader")
    return seconds, cpu


def rows_per_second(import_report: str) -> dict[str, int]:
    tables = json.loads(import_report)["tables"]
    return {table["table"]: table["rows_per_second"] for table in tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument(
        "--shape",
        choices=("standard", "old-half"),
        default="standard",
        help="the chain's shape: standard, or old-half (half of the sessions and a fifth "
        "of the payments in the old tables, little text)",
    )
    parser.add_argument("--file", type=Path, default=ROOT / "var" / "bench-chain.db")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time pgloader and the import this many times, alternately; the ratio "
        "reported is the median's (the machine's speed drifts from run to run)",
    )
    options = parser.parse_args()
    options.file.parent.mkdir(parents=True, exist_ok=True)

    rows = write_chain(options.file, options.sessions, options.shape)
    print(
        f"chain file ({options.shape}): {options.sessions:,} sessions, {rows:,} rows, "
        f"{options.file}"
    )
    floor = plain_copy(options.file)
    print(f"plain COPY into the legacy schema: {floor:.1f} s")
    source = ["--source", str(options.file)]

    def step(name: str, command: str, env: dict[str, str]) -> tuple[float, str, float]:
        checkpoint()  # what the step before left dirty is not this one's to write
        command_line = [PYTHON, "manage.py", command, *source, "--format", "json"]
        seconds, peak_mb, output, cpu = timed(command_line, env=env)
        print(
            f"{name:<9} {seconds:8.1f} s  {cpu:6.1f} CPU s  {rows / seconds:>10,.0f} rows/s  "
            f"peak {peak_mb} MB"
        )
        return seconds, output, cpu

    target = {"DATABASE_URL": fresh_database("bench_target")}
    step("precheck", "precheck", target)
    rounds = []
    for _ in range(options.repeat):
        loader = pgloader(options.file)
        print(
            f"pgloader  {loader[0]:8.1f} s  {loader[1]:6.1f} CPU s"
            if loader
            else "pgloader: not installed"
        )
        target = {"DATABASE_URL": fresh_database("bench_target")}
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT,
                       env={**os.environ, **target}, check=True)  # fmt: skip
        seconds, report, cpu = step("import", "import_legacy", target)
        rounds.append((seconds, cpu, loader or (1.0, 1.0), report))
    step("verify", "verify_import", target)  # the last import's

    seconds, cpu, loader, report = sorted(rounds, key=lambda r: r[0] / r[2][0])[len(rounds) // 2]
    print("import rows/s per table:", rows_per_second(report))
    print(f"import / plain COPY: {seconds / floor:.1f}x")
    if shutil.which("pgloader"):
        ratios = ", ".join(f"{s / p[0]:.2f}x" for s, _, p, _ in rounds)
        cpu_ratios = ", ".join(f"{c / p[1]:.2f}x" for _, c, p, _ in rounds)
        print(f"import / pgloader: {seconds / loader[0]:.2f}x (median of: {ratios})")
        print(f"import / pgloader in CPU seconds: {cpu / loader[1]:.2f}x (rounds: {cpu_ratios})")


if __name__ == "__main__":
    main()
