"""CampaignAPI authentication and what a key may see (campaignapi.md §2).

The key comes from the ``apiKey`` query parameter or, failing that, the ``X-Api-Key`` header.
A global key (no team) sees everything; a team key sees only the templates assigned to its
team, and the campaigns and allocations under them. To a team key anything else does not
exist: the selectors below simply do not return it, so callers answer 116/117/115 exactly as
for an id that is unknown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from campaigner.contract import CampaignApiError, Code
from campaigner.models import (
    Allocation,
    ApiKey,
    Campaign,
    CampaignTemplate,
    ContactHours,
    TemplateField,
    hash_secret,
)
from campaigner.sql import execute_prepared

# last_used_at is refreshed at most this often per key, so a busy key costs no write per call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_key_authenticate(request: HttpRequest) -> ApiKey:
    """The caller's unrevoked key, or ``CampaignApiError(INVALID_API_KEY)`` (HTTP 401).

    Every call checks its key (the lead write calls through ``allocation_of_call``, in the same
    query as their allocation), so it is SQL, not the ORM (~0.1 ms rather than ~1 ms here). The
    key returned carries ``pk``, ``team_id`` and ``last_used_at`` only.
    """
    with connection.cursor() as cursor:
        execute_prepared(cursor, _KEY, [_key_hash(request)])
        return _key_used(cursor, cursor.fetchone())


_KEY = (
    f"SELECT id, team_id, last_used_at FROM {ApiKey._meta.db_table}"  # noqa: S608
    " WHERE key_hash = %s AND NOT revoked"
)


def _key_hash(request: HttpRequest) -> str:
    plain = request.GET.get("apiKey") or request.headers.get("X-Api-Key")
    if not plain:
        raise CampaignApiError(Code.INVALID_API_KEY, "missing apiKey")
    return hash_secret(plain.strip())


def _key_used(cursor: CursorWrapper, row: Sequence[Any] | None) -> ApiKey:
    """The key of a ``_KEY`` row (401 without one), its last use recorded."""
    if row is None:
        raise CampaignApiError(Code.INVALID_API_KEY)
    key = ApiKey(id=row[0], team_id=row[1], last_used_at=row[2])
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        cursor.execute(
            f"UPDATE {ApiKey._meta.db_table} SET last_used_at = %s"  # noqa: S608
            " WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
            [now, key.pk, now - LAST_USED_RESOLUTION],
        )
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


@dataclass(frozen=True)
class CallAllocation:
    """The allocation a lead write call names, with its campaign, template and the template's
    Contact Hours selected, and the template's fields as (name, is phone) in their order when
    they were read with it (``None``: not read)."""

    allocation: Allocation
    template_fields: list[tuple[str, bool]] | None


def allocation_of_call(
    request: HttpRequest,
    template_id: str | None,
    campaign_id: str | None,
    allocation_id: str | None,
) -> CallAllocation:
    """The allocation a lead write call names, for the caller's key: 401 without a valid key,
    then the ids checked as §4 orders them (116, then 117, then 115).

    One SQL query for the key, the allocation with its parents and the template's fields when
    all three ids are right (every call but a failing one; the ORM would cost ~3 ms here); on a
    miss the checks run one by one to find the code to answer."""
    ids = [parse_id(value) for value in (allocation_id, campaign_id, template_id)]
    if not all(ids):
        key = api_key_authenticate(request)
    else:
        with connection.cursor() as cursor:
            execute_prepared(cursor, _KEY_AND_ALLOCATION, [*ids, _key_hash(request)])
            row = cursor.fetchone()
            key = _key_used(cursor, row[:3] if row else None)
        if row is not None and row[3] is not None:  # the allocation's name: it was found
            return _call_allocation(ids, row[3:])
    template = template_get(key, template_id)
    campaign = campaign_get(key, campaign_id, template)
    return CallAllocation(allocation_get(campaign, allocation_id), None)


# The key, and the allocation with its parents and template fields if the key may see them
# (allocation columns NULL otherwise).
_KEY_AND_ALLOCATION = f"""
    SELECT k.id, k.team_id, k.last_used_at,
           a.name, a.started, a.weight, c.name, c.active, c.balance_mode,
           t.name, t.disposition_set_id, h.id, h.name, h.timezone,
           (SELECT coalesce(json_agg(json_build_array(f.name, f.is_phone)
                                     ORDER BY f.position, f.id), '[]')
            FROM {TemplateField._meta.db_table} f WHERE f.template_id = t.id)
    FROM (SELECT %s::bigint AS allocation, %s::bigint AS campaign, %s::bigint AS template) i
    JOIN {ApiKey._meta.db_table} k ON k.key_hash = %s AND NOT k.revoked
    LEFT JOIN ({Allocation._meta.db_table} a
               JOIN {Campaign._meta.db_table} c ON c.id = a.campaign_id
               JOIN {CampaignTemplate._meta.db_table} t ON t.id = c.template_id
               LEFT JOIN {ContactHours._meta.db_table} h ON h.id = t.contact_hours_id)
      ON a.id = i.allocation AND c.id = i.campaign AND t.id = i.template
         AND (k.team_id IS NULL OR EXISTS (
              SELECT 1 FROM {CampaignTemplate.teams.through._meta.db_table} tt
              WHERE tt.campaigntemplate_id = t.id AND tt.group_id = k.team_id))"""  # noqa: S608


def _call_allocation(ids: list[int | None], row: Sequence[Any]) -> CallAllocation:
    allocation_pk, campaign_pk, template_pk = ids
    (a_name, started, weight, c_name, active, mode, t_name, set_id, h_id, h_name, zone, fields) = (
        row
    )
    hours = ContactHours(id=h_id, name=h_name, timezone=zone) if h_id is not None else None
    template = CampaignTemplate(
        id=template_pk, name=t_name, disposition_set_id=set_id, contact_hours=hours
    )
    campaign = Campaign(
        id=campaign_pk, template=template, name=c_name, active=active, balance_mode=mode
    )
    allocation = Allocation(
        id=allocation_pk, campaign=campaign, name=a_name, started=started, weight=weight
    )
    fields = json.loads(fields) if isinstance(fields, str) else fields
    return CallAllocation(allocation, [(name, is_phone) for name, is_phone in fields])
