from django.apps import AppConfig


class DialerConfig(AppConfig):
    name = "dialer"
    verbose_name = "Dialer"

    def ready(self) -> None:
        from campaigner.health import register_check  # noqa: PLC0415 (apps are loaded now)
        from dialer.health import dialer_cache_health  # noqa: PLC0415

        register_check("dialerCache", dialer_cache_health)
