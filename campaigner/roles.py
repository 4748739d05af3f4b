"""The two roles of the admin (domain.md §5.4), as Django groups that a user is given beside
their teams (provisioning: ``"groups": ["Operator"]`` on a user).

- **Operator**: edits leads, runs imports and bulk jobs that change leads, uploads DNC,
  rebuilds dialer caches, retries deliveries, and reads the configuration.
- **Supervisor**: an operator who also configures templates, campaigns, allocations, Contact
  Hours, dispositions and their actions, the DNC list and their teams' API keys, and deletes
  and erases leads (bulk jobs that delete or undo an import, erasure).

What either sees and changes stays limited to their teams (``campaigner.selectors``). The
phone patterns rewrite every team's numbers: they are a superuser's (both roles read them).

A user given either role is made staff (``role_makes_staff``): the roles are the admin's.

``roles_ensure`` makes the groups hold exactly these permissions. It runs after every
``migrate`` (``post_migrate``, once Django has made the permissions of every app), so the
roles exist on a new database, follow the permissions of new models, and come back after a
test database is flushed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

OPERATOR = "Operator"
SUPERVISOR = "Supervisor"
ROLES = (OPERATOR, SUPERVISOR)

_CONFIGURATION = [
    ("campaigner", "contacthours"), ("campaigner", "contacthourswindow"),
    ("campaigner", "contacthourscloseddate"), ("campaigner", "dispositionset"),
    ("campaigner", "disposition"), ("campaigner", "dispositionaction"),
    ("campaigner", "campaigntemplate"), ("campaigner", "templatefield"),
    ("campaigner", "campaign"), ("campaigner", "allocation"),
]  # fmt: skip
_OPERATOR = [
    *((app, f"view_{model}") for app, model in _CONFIGURATION),
    ("leads", "view_phonepattern"),
    ("leads", "view_lead"), ("leads", "change_lead"), ("leads", "view_leadphone"),
    ("leads", "view_dispositionrecord"),
    ("leads", "view_dncentry"), ("leads", "add_dncentry"), ("leads", "change_dncentry"),
    ("leads", "view_leadimport"), ("leads", "add_leadimport"), ("leads", "change_leadimport"),
    ("leads", "view_leadjob"), ("leads", "add_leadjob"), ("leads", "change_leadjob"),
    ("leads", "view_leadchange"), ("leads", "view_leadorigin"),
    ("leads", "view_actiondelivery"), ("leads", "change_actiondelivery"),
    ("leads", "view_deliveryattempt"), ("leads", "view_numberfinding"),
    ("dialer", "view_campaigncache"), ("dialer", "change_campaigncache"),
    ("dialer", "view_cacheentry"),
]  # fmt: skip
PERMISSIONS = {
    OPERATOR: _OPERATOR,
    SUPERVISOR: [
        *_OPERATOR,
        *((app, f"{verb}_{model}") for app, model in _CONFIGURATION
          for verb in ("add", "change", "delete")),
        ("campaigner", "view_apikey"), ("campaigner", "add_apikey"),
        ("campaigner", "change_apikey"), ("campaigner", "delete_apikey"),
        ("leads", "delete_dncentry"), ("leads", "delete_numberfinding"),
        # Deleting leads (a job that deletes or undoes an import, an erasure).
        ("leads", "delete_lead"),
    ],
}  # fmt: skip


def roles_ensure(**kwargs: Any) -> None:
    """The role groups with exactly their permissions (a ``post_migrate`` receiver)."""
    for name, wanted in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        match = Q(pk__in=[])
        for app, codename in wanted:
            match |= Q(content_type__app_label=app, codename=codename)
        permissions = list(Permission.objects.filter(match))
        if len(permissions) != len(set(wanted)):
            raise RuntimeError(f"the {name} role names a permission that does not exist")
        group.permissions.set(permissions)


def role_makes_staff(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any,
                     **kwargs: Any) -> None:  # fmt: skip
    """A user given a role (Operator, Supervisor) is staff: the roles are the admin's, and a
    new operator whose "staff status" was not ticked by hand could not sign in to it. An
    ``m2m_changed`` receiver of the users' groups, so every door (the admin's user page,
    provisioning, a script) gets the same rule."""
    if action != "post_add" or reverse or not pk_set:
        return
    if Group.objects.filter(pk__in=pk_set, name__in=ROLES).exists() and not instance.is_staff:
        type(instance).objects.filter(pk=instance.pk).update(is_staff=True)
        instance.is_staff = True
