"""The ledger's raw rows as text on PostgreSQL (see models.JSONTextField); elsewhere
the column is already what Django's JSONField makes, and stays."""

from django.db import migrations


def as_text(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE migration_ledgerentry ALTER COLUMN raw TYPE text")


def as_json(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE migration_ledgerentry ALTER COLUMN raw TYPE json USING raw::json"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("migration", "0004_ledger_rows_kept_as_json_text"),
    ]

    operations = [migrations.RunPython(as_text, as_json)]
