"""The Operator and Supervisor groups (campaigner.roles, domain.md §5.4) with their
permissions. Running it again (or after new permissions) sets the groups' permissions to
exactly these lists."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CONFIGURATION = [
    ("campaigner", "contacthours"), ("campaigner", "contacthourswindow"),
    ("campaigner", "contacthourscloseddate"), ("campaigner", "dispositionset"),
    ("campaigner", "disposition"), ("campaigner", "dispositionaction"),
    ("campaigner", "campaigntemplate"), ("campaigner", "templatefield"),
    ("campaigner", "campaign"), ("campaigner", "allocation"), ("leads", "phonepattern"),
]  # fmt: skip
OPERATOR = [
    *[(app, f"view_{model}") for app, model in CONFIGURATION],
    ("leads", "view_lead"), ("leads", "change_lead"), ("leads", "view_leadphone"),
    ("leads", "change_leadphone"), ("leads", "view_dispositionrecord"),
    ("leads", "view_dncentry"), ("leads", "add_dncentry"), ("leads", "change_dncentry"),
    ("leads", "view_leadimport"), ("leads", "add_leadimport"), ("leads", "change_leadimport"),
    ("leads", "view_actiondelivery"), ("leads", "change_actiondelivery"),
    ("leads", "view_deliveryattempt"),
    ("dialer", "view_campaigncache"), ("dialer", "change_campaigncache"),
    ("dialer", "view_cacheentry"),
]  # fmt: skip
SUPERVISOR = [
    *OPERATOR,
    *[(app, f"{verb}_{model}") for app, model in CONFIGURATION for verb in ("add", "change", "delete")],
    ("campaigner", "view_apikey"), ("campaigner", "add_apikey"), ("campaigner", "change_apikey"),
    ("campaigner", "delete_apikey"), ("leads", "delete_dncentry"),
]  # fmt: skip
ROLES = {"Operator": OPERATOR, "Supervisor": SUPERVISOR}


def make_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Permissions are made after all migrations of a fresh database; these need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        permissions = [
            permission_model.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]
        group.permissions.set(permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigner", "0004_key_failures"),
        ("leads", "0009_lead_imports"),
        ("dialer", "0003_fewer_indexes"),
    ]

    operations = [migrations.RunPython(make_roles, migrations.RunPython.noop)]
