from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class CampaignerConfig(AppConfig):
    name = "campaigner"
    verbose_name = "Campaign configuration"

    def ready(self) -> None:
        from campaigner.roles import roles_ensure  # noqa: PLC0415 (needs the models loaded)

        # After the last of the project's apps, whose permissions Django has made by then.
        post_migrate.connect(
            roles_ensure, sender=apps.get_app_config("dialer"), dispatch_uid="roles_ensure"
        )
