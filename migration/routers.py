from django.conf import settings


class LegacyRouter:
    """Keeps the read-only legacy alias out of every migration and every write."""

    def db_for_write(self, model, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == settings.LEGACY_DATABASE_ALIAS:
            return False
        return None
