from django.apps import AppConfig, apps
from django.core.signals import request_finished
from django.db.models.signals import post_migrate

from campaigner.memory import collect_after_request


class CampaignerConfig(AppConfig):
    name = "campaigner"
    verbose_name = "Campaign configuration"

    def ready(self) -> None:
        from campaigner.roles import roles_ensure  # noqa: PLC0415 (needs the models loaded)

        # After the last of the project's apps, whose permissions Django has made by then.
        post_migrate.connect(
            roles_ensure, sender=apps.get_app_config("dialer"), dispatch_uid="roles_ensure"
        )
        request_finished.connect(collect_after_request, dispatch_uid="collect_after_request")
