"""CampaignAPI authentication and what a key may see (campaignapi.md §2).

The key comes from the ``apiKey`` query parameter or, failing that, the ``X-Api-Key`` header.
A global key (no team) sees everything; a team key sees only the templates assigned to its
team, and the campaigns and allocations under them. To a team key anything else does not
exist: the selectors below simply do not return it, so callers answer 116/117/115 exactly as
for an id that is unknown.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from campaigner.api.codes import CampaignApiError, Code
from campaigner.models import Allocation, ApiKey, Campaign, CampaignTemplate, hash_secret

# last_used_at is refreshed at most this often per key, so a busy key costs no write per call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_key_authenticate(request: HttpRequest) -> ApiKey:
    """The caller's unrevoked key, or ``CampaignApiError(INVALID_API_KEY)`` (HTTP 401)."""
    plain = request.GET.get("apiKey") or request.headers.get("X-Api-Key")
    if not plain:
        raise CampaignApiError(Code.INVALID_API_KEY, "missing apiKey")
    key = (
        ApiKey.objects.select_related("team")
        .filter(key_hash=hash_secret(plain.strip()), revoked=False)
        .first()
    )
    if key is None:
        raise CampaignApiError(Code.INVALID_API_KEY)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return key


def visible_templates(key: ApiKey) -> QuerySet[CampaignTemplate]:
    templates = CampaignTemplate.objects.all()
    if key.team_id is not None:
        templates = templates.filter(teams=key.team_id)
    return templates


def parse_id(value: str | None) -> int | None:
    """A positive database id from a URL parameter, or ``None`` (missing, blank, non-numeric)."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def template_get(key: ApiKey, raw_id: str | None) -> CampaignTemplate:
    template_id = parse_id(raw_id)
    template = visible_templates(key).filter(pk=template_id).first() if template_id else None
    if template is None:
        raise CampaignApiError(Code.TEMPLATE_ID_REQUIRED)
    return template


def campaign_get(
    key: ApiKey, raw_id: str | None, template: CampaignTemplate | None = None
) -> Campaign:
    campaign_id = parse_id(raw_id)
    campaigns = Campaign.objects.select_related("template").filter(
        template__in=visible_templates(key)
    )
    if template is not None:
        campaigns = campaigns.filter(template=template)
    campaign = campaigns.filter(pk=campaign_id).first() if campaign_id else None
    if campaign is None:
        raise CampaignApiError(Code.CAMPAIGN_ID_REQUIRED)
    return campaign


def allocation_get(campaign: Campaign, raw_id: str | None) -> Allocation:
    allocation_id = parse_id(raw_id)
    allocation = (
        Allocation.objects.filter(campaign=campaign, pk=allocation_id).first()
        if allocation_id
        else None
    )
    if allocation is None:
        raise CampaignApiError(Code.ALLOCATION_ID_REQUIRED)
    return allocation


def allocation_of_call(
    key: ApiKey, template_id: str | None, campaign_id: str | None, allocation_id: str | None
) -> Allocation:
    """The allocation a lead write call names, checked as §4 orders it (116, then 117, then
    115), with its campaign, template and the template's Contact Hours selected.

    One query when all three ids are right (every call but a failing one); on a miss the
    checks run one by one to find the code to answer."""
    template_pk, campaign_pk, allocation_pk = (
        parse_id(value) for value in (template_id, campaign_id, allocation_id)
    )
    if template_pk and campaign_pk and allocation_pk:
        allocation = (
            Allocation.objects.select_related("campaign__template__contact_hours")
            .filter(
                pk=allocation_pk,
                campaign_id=campaign_pk,
                campaign__template_id=template_pk,
                campaign__template__in=visible_templates(key),
            )
            .first()
        )
        if allocation is not None:
            return allocation
    template = template_get(key, template_id)
    campaign = campaign_get(key, campaign_id, template)
    return allocation_get(campaign, allocation_id)
