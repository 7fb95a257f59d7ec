from django.contrib import admin

from migration.models import ImportRun, LedgerEntry


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "source_path", "outcome", "stopped_at_table", "finished_at")
    readonly_fields = [field.name for field in ImportRun._meta.fields]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("legacy_table", "legacy_id", "target_model", "target_id", "action")
    list_filter = ("legacy_table", "action")
    # The raw row of a trainer holds the legacy password hash: never shown here.
    exclude = ("raw",)
    readonly_fields = [f.name for f in LedgerEntry._meta.fields if f.name != "raw"]
