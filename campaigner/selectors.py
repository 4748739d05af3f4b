"""Who sees what (domain.md §5.1): a superuser sees everything; any other staff user sees only
the templates of the teams (Django groups) they belong to, and the campaigns and allocations
under them. To that user anything else does not exist: the management API answers 404 for it,
and 400 on the field of a write that names it.

Contact Hours, disposition sets, the DNC list, phone patterns and API keys are shared
configuration: every staff user reads them (writing them needs the model permission)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from campaigner.models import Allocation, Campaign, CampaignTemplate


def sees_everything(user: Any) -> bool:
    return bool(user.is_superuser)


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
    return CampaignTemplate.objects.filter(teams__user=user).values("pk")
