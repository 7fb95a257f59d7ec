"""The import ledger: every run, and what became of every legacy row.

The ledger is what makes a re-run safe (a row whose source hash has not changed
is skipped), what lets verify_import prove the import row by row, and where the
legacy row itself is kept, unknown columns included, so that nothing in the
legacy file is ever lost.
"""

import uuid

from django.db import models


class JSONTextField(models.JSONField):
    """JSON kept as the text written: in PostgreSQL, text, neither jsonb nor json.

    The ledger keeps every legacy row's canonical JSON, written by the import
    and read by people, never queried inside by the tool. jsonb would take it
    apart (2.4 s of a chain's 1.5 million entries); json would parse it to
    check it (1.5 s) and keep it as it came, as text does. To look inside it in
    SQL: raw::json->>'column'.
    """

    def db_type(self, connection):
        return "text" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        # Text, parsed here; a value psycopg has already parsed is kept as it is.
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class ImportRun(models.Model):
    class Outcome(models.TextChoices):
        # Until the run ends; one killed outright (SIGKILL, power) stays so until
        # the next import, which holds the import lock and so knows it is dead.
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (Ctrl-C or SIGTERM)"
        KILLED = "killed", "Killed (ended without a word)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source_path = models.TextField()
    source_sha256 = models.CharField(max_length=64)
    options = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.RUNNING)
    # The table being imported when the run stopped (failed, interrupted or
    # killed), if it stopped in one: that table was rolled back.
    stopped_at_table = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    report = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Import of {self.source_path} at {self.started_at:%Y-%m-%d %H:%M} ({self.outcome})"


class LedgerEntry(models.Model):
    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"
        MERGED = "merged", "Merged into the row of its twin"
        QUARANTINED = "quarantined", "Quarantined by clean_legacy"
        # No longer in the file: deleted in the old app since, or cleaned out of a
        # copy. Its target row, if it has one, is kept.
        GONE = "gone", "Gone from the legacy file (its target row kept)"

    # Numbered by the database, in the order written: a chain's import appends
    # 1.5 million entries, and a random key (a UUID) would scatter them over
    # the whole index, twice the cost of the rest of the entry. A failed run
    # leaves gaps in the numbering (a dry run does not: see
    # postgres.sequence_in_this_transaction); nothing reads meaning into them.
    id = models.BigAutoField(primary_key=True)
    legacy_table = models.CharField(max_length=100)
    legacy_id = models.BigIntegerField()
    target_model = models.CharField(max_length=100)
    target_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=12, choices=Action.choices)
    source_hash = models.CharField(max_length=32, help_text="Hash of the legacy row as read.")
    target_hash = models.CharField(
        max_length=32,
        blank=True,
        help_text="Hash of the target row's fields as imported: a different hash now means "
        "the row was edited in Django since.",
    )
    raw = JSONTextField(
        help_text="The legacy row, every column, as read; a password hash only as a digest."
    )
    # No index on run: nothing looks entries up by run but deleting a run
    # (refused while it has entries), and every entry would pay for one.
    run = models.ForeignKey(
        ImportRun, on_delete=models.PROTECT, related_name="entries", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["legacy_table", "legacy_id"], name="migration_ledger_one_entry_per_row"
            ),
        ]
        indexes = [models.Index(fields=["target_model", "target_id"])]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.legacy_table} {self.legacy_id} → {self.target_model} {self.target_id}"
