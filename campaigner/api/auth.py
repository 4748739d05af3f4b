"""CampaignAPI authentication and what a key may see (campaignapi.md §2).

The key comes from the ``apiKey`` query parameter or, failing that, the ``X-Api-Key`` header.
A global key (no team) sees everything; a team key sees only the templates assigned to its
team, and the campaigns and allocations under them. To a team key anything else does not
exist: the selectors below simply do not return it, so callers answer 116/117/115 exactly as
for an id that is unknown.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request

from campaigner import sql
from campaigner.contract import CampaignApiError, Code
from campaigner.models import Allocation, Campaign, CampaignTemplate, KeyFailure, hash_secret
from campaigner.sql import CallRow, CallTarget, HoursRow, KeyRow, call_target, call_target_of

# last_used_at is refreshed at most this often per key, so a busy key costs no write per call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_key_authenticate(request: HttpRequest | Request) -> KeyRow:
    """The caller's unrevoked key, or ``CampaignApiError(INVALID_API_KEY)`` (HTTP 401).

    Every call checks its key (the lead write calls through ``allocation_of_call``, in the same
    query as their allocation), so it is SQL, not the ORM (~0.1 ms rather than ~1 ms here).
    """
    key_hash, address = _key_hash(request), client_address(request)
    return _key_used(sql.fetch_one(KeyRow, sql.KEY, [key_hash, address]), address)


def _key_hash(request: HttpRequest | Request) -> str:
    plain = request.GET.get("apiKey") or request.headers.get("X-Api-Key")
    if not plain:
        raise CampaignApiError(Code.INVALID_API_KEY, "missing apiKey")
    return hash_secret(plain.strip())


def client_address(request: HttpRequest | Request) -> str | None:
    """The caller's address as the server saw it (``REMOTE_ADDR``), ``None`` if it is not an
    IP address (a unix socket)."""
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _key_used(key: KeyRow | CallRow | None, address: str | None) -> KeyRow:
    """The key of a row, its last use recorded; without one, 401 and the wrong key counted
    against the caller's address (``KeyFailure``)."""
    if key is None:
        wrong_secret_count(address)
        raise CampaignApiError(Code.INVALID_API_KEY)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        with connection.cursor() as cursor:
            cursor.execute(sql.KEY_USED, [now, key.key_id, now - LAST_USED_RESOLUTION])
    return KeyRow(key.key_id, key.key_name, key.team_id, key.last_used_at)


def wrong_secret_count(address: str | None) -> None:
    """One more wrong secret (a CampaignAPI key, a management API token) from ``address``
    (``KeyFailure``): ``CAMPAIGNAPI_BAD_KEY_LIMIT`` of them within ``_WINDOW_S`` lock the
    address out for ``_LOCK_S``, during which every secret it sends is refused unchecked."""
    if address is None:
        return
    # A request's transaction (a management API write runs in one) is rolled back on its 401:
    # the count must outlive it, so inside one it is written on a connection of its own.
    own = connections.create_connection(DEFAULT_DB_ALIAS) if connection.in_atomic_block else None
    try:
        with (own or connection).cursor() as cursor:
            cursor.execute(
                sql.KEY_FAILED,
                {"address": address, "window": settings.CAMPAIGNAPI_BAD_KEY_WINDOW_S,
                 "limit": settings.CAMPAIGNAPI_BAD_KEY_LIMIT,
                 "lock": settings.CAMPAIGNAPI_BAD_KEY_LOCK_S},
            )  # fmt: skip
    finally:
        if own is not None:
            own.close()


def locked_out(address: str | None) -> bool:
    """Whether ``address`` is locked out now (the ORM's twin of ``sql._NOT_LOCKED_OUT``)."""
    return (
        address is not None
        and KeyFailure.objects.filter(address=address, locked_until__gt=timezone.now()).exists()
    )


def visible_templates(key: KeyRow) -> QuerySet[CampaignTemplate]:
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


def template_get(key: KeyRow, raw_id: str | None) -> CampaignTemplate:
    template_id = parse_id(raw_id)
    template = visible_templates(key).filter(pk=template_id).first() if template_id else None
    if template is None:
        raise CampaignApiError(Code.TEMPLATE_ID_REQUIRED)
    return template


def campaign_get(
    key: KeyRow, raw_id: str | None, template: CampaignTemplate | None = None
) -> Campaign:
    campaign_id = parse_id(raw_id)
    campaigns = Campaign.objects.select_related("template__contact_hours").filter(
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
    request: HttpRequest | Request,
    template_id: str | None,
    campaign_id: str | None,
    allocation_id: str | None,
) -> CallTarget:
    """The allocation a lead write call names, for the caller's key: 401 without a valid key,
    then the ids checked as §4 orders them (116, then 117, then 115).

    One SQL query for the key, the allocation with its parents and the template's fields when
    all three ids are right (every call but a failing one; the ORM would cost ~3 ms here); on a
    miss the checks run one by one to find the code to answer."""
    ids = [parse_id(value) for value in (allocation_id, campaign_id, template_id)]
    if not all(ids):
        key = api_key_authenticate(request)
    else:
        address = client_address(request)
        row = sql.fetch_one(CallRow, sql.KEY_AND_ALLOCATION, [*ids, _key_hash(request), address])
        key = _key_used(row, address)
        if row is not None and row.allocation_name is not None:  # found, and visible
            allocation_pk, campaign_pk, template_pk = ids
            assert allocation_pk and campaign_pk and template_pk  # all() above
            hours = None
            if row.hours_id is not None:
                assert row.hours_name is not None and row.hours_timezone is not None
                hours = HoursRow(row.hours_id, row.hours_name, row.hours_timezone)
            return call_target(
                template_id=template_pk,
                campaign_id=campaign_pk,
                allocation_id=allocation_pk,
                disposition_set_id=row.disposition_set_id,
                default_hours=hours,
                template_fields=row.template_fields,
                key_name=row.key_name,
                key_id=row.key_id,
            )
    template = template_get(key, template_id)
    campaign = campaign_get(key, campaign_id, template)
    target = call_target_of(allocation_get(campaign, allocation_id))
    return replace(target, key_name=key.key_name, key_id=key.key_id)
