from django.conf import settings


class LegacyRouter:
    """Keeps the legacy alias out of every migration, and models off it.

    What keeps the legacy file from ever being written is how the alias is
    opened (mode=ro, query_only): see migration.legacy.source.
    """

    def db_for_write(self, model, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == settings.LEGACY_DATABASE_ALIAS:
            return False
        return None
