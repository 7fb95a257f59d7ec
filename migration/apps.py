from django.apps import AppConfig


class MigrationConfig(AppConfig):
    name = "migration"
    verbose_name = "Legacy migration"

    def ready(self) -> None:
        from migration import self_checks  # noqa: F401  (registers the system check)
