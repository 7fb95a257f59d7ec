"""Ledger entries numbered in the order written, instead of keyed by random UUIDs.

A column's type cannot change from uuid to an identity in place, so the
entries move to a new table, in the order they were written (by run, then as
each table was imported), and the new table takes the old one's name.
"""

import django.db.models.deletion
from django.db import migrations, models

ACTIONS = [
    ("created", "Created"),
    ("updated", "Updated"),
    ("unchanged", "Unchanged"),
    ("merged", "Merged into the row of its twin"),
    ("quarantined", "Quarantined by clean_legacy"),
]
COLUMNS = (
    "legacy_table", "legacy_id", "target_model", "target_id", "action",
    "source_hash", "target_hash", "raw", "run_id",
)  # fmt: skip


def move_entries(apps, schema_editor):
    quote = schema_editor.quote_name
    old = quote(apps.get_model("migration", "LedgerEntry")._meta.db_table)
    new = quote(apps.get_model("migration", "NumberedLedgerEntry")._meta.db_table)
    runs = quote(apps.get_model("migration", "ImportRun")._meta.db_table)
    schema_editor.execute(
        f"INSERT INTO {new} ({', '.join(COLUMNS)}) "
        f"SELECT {', '.join(f'e.{column}' for column in COLUMNS)} "
        f"FROM {old} e JOIN {runs} r ON r.id = e.run_id "
        "ORDER BY r.started_at, e.legacy_table, e.legacy_id"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("migration", "0002_ledger_ids_made_by_the_database"),
    ]

    operations = [
        migrations.CreateModel(
            name="NumberedLedgerEntry",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("legacy_table", models.CharField(max_length=100)),
                ("legacy_id", models.BigIntegerField()),
                ("target_model", models.CharField(max_length=100)),
                ("target_id", models.BigIntegerField(blank=True, null=True)),
                ("action", models.CharField(choices=ACTIONS, max_length=12)),
                (
                    "source_hash",
                    models.CharField(help_text="Hash of the legacy row as read.", max_length=32),
                ),
                (
                    "target_hash",
                    models.CharField(
                        blank=True,
                        help_text="Hash of the target row's fields as imported: a different "
                        "hash now means the row was edited in Django since.",
                        max_length=32,
                    ),
                ),
                (
                    "raw",
                    models.JSONField(
                        help_text="The legacy row, every column, as read; a password hash "
                        "only as a digest."
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="migration.importrun",
                    ),
                ),
            ],
        ),
        migrations.RunPython(move_entries),  # not reversed: UUIDs cannot be made back
        migrations.DeleteModel(name="LedgerEntry"),
        migrations.RenameModel(old_name="NumberedLedgerEntry", new_name="LedgerEntry"),
        migrations.AlterModelOptions(
            name="ledgerentry", options={"verbose_name_plural": "ledger entries"}
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="run",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="migration.importrun",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                fields=("legacy_table", "legacy_id"), name="migration_ledger_one_entry_per_row"
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["target_model", "target_id"], name="migration_l_target__23c993_idx"
            ),
        ),
    ]
