from django.apps import AppConfig


class CampaignerConfig(AppConfig):
    name = "campaigner"
    verbose_name = "Campaign configuration"
