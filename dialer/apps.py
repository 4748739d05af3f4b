from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _database_functions_create(using: str, **kwargs: Any) -> None:
    """The dialer's database functions as ``dialer/sql.py`` defines them now (CREATE OR
    REPLACE: a few milliseconds, also after a ``migrate`` that applied nothing)."""
    from dialer.sql import FUNCTIONS  # noqa: PLC0415 (imports models: apps are loaded now)

    with connections[using].cursor() as cursor:
        cursor.execute(FUNCTIONS)


class DialerConfig(AppConfig):
    name = "dialer"
    verbose_name = "Dialer"

    def ready(self) -> None:
        from campaigner.health import register_check  # noqa: PLC0415 (apps are loaded now)
        from dialer.health import dialer_cache_health  # noqa: PLC0415

        register_check("dialerCache", dialer_cache_health)
        post_migrate.connect(_database_functions_create, sender=self)
