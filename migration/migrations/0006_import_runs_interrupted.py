"""An import run can be interrupted (Ctrl-C or SIGTERM): an outcome of its own."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("migration", "0005_ledger_rows_kept_as_text"),
    ]

    operations = [
        migrations.AlterField(
            model_name="importrun",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("interrupted", "Interrupted (Ctrl-C or SIGTERM)"),
                ],
                default="running",
                max_length=12,
            ),
        ),
    ]
