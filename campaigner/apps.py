from django.apps import AppConfig, apps
from django.core.signals import request_finished
from django.db.models.signals import m2m_changed, post_migrate

from campaigner.memory import collect_after_request


class CampaignerConfig(AppConfig):
    name = "campaigner"
    verbose_name = "Campaign configuration"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model  # noqa: PLC0415 (needs the apps)

        from campaigner.roles import role_makes_staff, roles_ensure  # noqa: PLC0415

        # After the last of the project's apps, whose permissions Django has made by then.
        post_migrate.connect(
            roles_ensure, sender=apps.get_app_config("dialer"), dispatch_uid="roles_ensure"
        )
        m2m_changed.connect(
            role_makes_staff,
            sender=get_user_model().groups.through,
            dispatch_uid="role_makes_staff",
        )
        request_finished.connect(collect_after_request, dispatch_uid="collect_after_request")
