"""Who sees and who may change what (domain.md §5.1). A superuser sees and changes everything
(so does provisioning, ``actor=None`` in the services). Any other staff user:

- **Team configuration**: sees only the templates of their teams (Django groups other than
  the roles of ``campaigner.roles``), and the campaigns and allocations under them. Anything
  else does not exist to them: the management API answers 404 for it, and 400 on the key of a
  write that names it.
- **API keys** belong to a team: a user sees, creates and changes keys of their own teams only;
  a global key (no team) is a superuser's.
- **Shared by use** (Contact Hours, disposition sets with their dispositions and actions):
  such a row belongs to the teams of the templates that use it. A user sees the rows that one
  of their templates uses or that no template uses yet, and changes (or gives to a template)
  only those no other team's template uses: a set shared by several teams' templates is
  changed by someone in all of them, or by a superuser.
- **Global**: the DNC list (one register for the whole call centre: any team's operators add
  to it) and the phone patterns (they rewrite every team's numbers: a superuser's).

Writes also need the Django model permission (``campaigner.roles``)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import Group
from django.db.models import Model, Q, QuerySet

from campaigner.models import (
    Allocation,
    ApiKey,
    Campaign,
    CampaignTemplate,
    ContactHours,
    DispositionSet,
)
from campaigner.roles import ROLES


def sees_everything(user: Any) -> bool:
    """A superuser, or ``None``: the system itself (provisioning, a superuser's file)."""
    return user is None or bool(user.is_superuser)


def teams() -> QuerySet[Group]:
    """Every team: the groups that are not roles."""
    return Group.objects.exclude(name__in=ROLES)


def teams_of(user: Any) -> QuerySet[Group]:
    """The teams ``user`` may name (their own; a superuser's: all)."""
    if sees_everything(user):
        return teams()
    return teams().filter(user=user)


def api_keys_visible(user: Any) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.all()
    if sees_everything(user):
        return keys
    return keys.filter(team__in=teams_of(user))


Shared = TypeVar("Shared", ContactHours, DispositionSet)


def shared_visible(queryset: QuerySet[Shared], user: Any) -> QuerySet[Shared]:
    """The Contact Hours or disposition sets ``user`` sees: used by a template of theirs, or
    by none yet."""
    if sees_everything(user):
        return queryset
    used_here = Q(templates__in=_template_ids(user)) | Q(templates__isnull=True)
    return queryset.filter(pk__in=queryset.model._default_manager.filter(used_here).values("pk"))


def shared_writable(queryset: QuerySet[Shared], user: Any) -> QuerySet[Shared]:
    """Those of them ``user`` may change or give to a template: no template of a team they are
    not in uses them."""
    visible = shared_visible(queryset, user)
    if sees_everything(user):
        return visible
    elsewhere = CampaignTemplate.objects.exclude(pk__in=_template_ids(user))
    return visible.exclude(templates__in=elsewhere)


def shared_writable_by(row: Shared, user: Any) -> bool:
    return (
        row.pk is None
        or shared_writable(type(row)._default_manager.filter(pk=row.pk), user).exists()
    )


def templates_visible(user: Any) -> QuerySet[CampaignTemplate]:
    templates = CampaignTemplate.objects.all()
    if sees_everything(user):
        return templates
    return templates.filter(pk__in=_template_ids(user))


def campaigns_visible(user: Any) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.all()
    if sees_everything(user):
        return campaigns
    return campaigns.filter(template_id__in=_template_ids(user))


def allocations_visible(user: Any) -> QuerySet[Allocation]:
    allocations = Allocation.objects.all()
    if sees_everything(user):
        return allocations
    return allocations.filter(campaign__template_id__in=_template_ids(user))


M = TypeVar("M", bound=Model)


def scoped(queryset: QuerySet[M], user: Any, template_path: str) -> QuerySet[M]:
    """``queryset`` narrowed to the rows ``user`` sees, each row's template reached by
    ``template_path`` (``"campaign__template"`` for allocations; ``""`` for templates)."""
    if sees_everything(user):
        return queryset
    key = f"{template_path}__in" if template_path else "pk__in"
    return queryset.filter(**{key: _template_ids(user)})


def campaign_ids_visible(user: Any) -> QuerySet[Campaign, Any] | None:
    """The ids of the campaigns ``user`` sees, as a subquery; ``None`` means all of them (so
    a superuser's lead search needs no filter at all)."""
    if sees_everything(user):
        return None
    return Campaign.objects.filter(template_id__in=_template_ids(user)).values("pk")


def _template_ids(user: Any) -> QuerySet[CampaignTemplate, Any]:
    # Through teams only: a role (every Supervisor) named as a template's team grants nothing.
    return CampaignTemplate.objects.filter(teams__in=teams_of(user)).values("pk")
