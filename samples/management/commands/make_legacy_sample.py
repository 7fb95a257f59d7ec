"""Write a sample legacy file: the production file's shape, or a studio chain's size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from samples.files import CHAIN_SHAPES, SampleSummary, write_chain_sample, write_production_sample
from samples.generations import GENERATION_SAMPLES, write_generation_sample


class Command(BaseCommand):
    help = (
        "Write a sample legacy SQLite file with the legacy schema: by default one "
        "shaped like the 42-row production file; with --sessions N, a studio chain "
        "with N sessions and every other table in proportion (--shape: how much sits in the "
        "old tables); with --generation, the "
        "production file's trainers, clients and assessments as an older generation held them."
    )
    # Pure file writing: no project database, models or checks are involved.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", required=True, type=Path, help="Where to write the sample file."
        )
        parser.add_argument(
            "--sessions",
            type=int,
            help="Write a studio chain with this many sessions instead of the production shape.",
        )
        parser.add_argument(
            "--generation",
            choices=GENERATION_SAMPLES,
            default="newest",
            help="The schema generation: before-packages, first (salted SHA-256 passwords) "
            "or first-unsalted (the app's first days). Default: newest.",
        )
        parser.add_argument(
            "--shape",
            choices=CHAIN_SHAPES,
            help="With --sessions, how the chain's rows are spread: standard (a tenth of "
            "sessions and payments in the old tables; the default) or old-half (half of the "
            "sessions and a fifth of the payments there, little text).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Overwrite the output file if it exists."
        )

    def handle(self, *args: object, **options: object) -> None:
        output: Path = options["output"]
        sessions: int | None = options["sessions"]
        generation: str = options["generation"]
        shape: str | None = options["shape"]
        if sessions is not None and sessions < 1:
            raise CommandError(f"--sessions must be at least 1, not {sessions}.")
        if sessions is not None and generation != "newest":
            raise CommandError(
                "--sessions makes a newest-generation chain: leave out --generation."
            )
        if shape is not None and sessions is None:
            raise CommandError("--shape shapes a chain: give --sessions N as well.")
        summary = self.write_sample(
            output=output,
            sessions=sessions,
            generation=generation,
            shape=shape or "standard",
            force=options["force"],
        )
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Wrote {summary.path}: {len(summary.row_counts)} tables, "
                    f"{summary.total_rows:,} rows."
                )
            )

    def write_sample(
        self, *, output: Path, sessions: int | None, generation: str, shape: str, force: bool
    ) -> SampleSummary:
        try:
            if generation != "newest":
                return write_generation_sample(
                    output=output, generation=generation, overwrite=force
                )
            if sessions is None:
                return write_production_sample(output=output, overwrite=force)
            return write_chain_sample(
                output=output, sessions=sessions, shape=shape, overwrite=force
            )
        except FileExistsError as error:
            raise CommandError(
                f"{output} already exists. "
                "Pass --force to overwrite it, or choose another --output."
            ) from error
        except OSError as error:
            raise CommandError(
                f"Cannot write {output}: {error.strerror or error}. "
                "Choose an --output in an existing, writable directory."
            ) from error
        except sqlite3.Error as error:
            raise CommandError(f"Could not write the sample to {output}: {error}.") from error
