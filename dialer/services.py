"""The dialer: eligibility, the cache rebuild, hand-out and call outcomes (domain.md §2-§4).

- ``lead_eligibility``: which rules of §2 a lead fails now, and when it will next pass.
- ``dialer_cache_refresh``: rebuild one campaign's cache. One rebuild per campaign at a time
  across all workers (``LockKey.DIALER_CACHE_REBUILD``); the swap to the new generation is one
  commit, so readers never see a mix or a gap. Cost: per started allocation one index-ordered
  top-K scan of ``lead_dialer_order`` (``LIMIT K``, never a sort of the campaign), then a merge
  of at most K·allocations rows in Python and one INSERT of K entries.
- ``dialer_lead_next``: take the first entry (``FOR UPDATE SKIP LOCKED``, so concurrent callers
  never take the same one), delete it, re-check the lead with its row locked (stale entries are
  dropped and the next one tried) and check it out with a version bump, all in one database
  function (one round trip: a hand-out is the dialer's hot path). Two callers never get the
  same lead: an entry is taken by one of them only, and the eligibility re-check under the row
  lock refuses a lead that is already checked out.
- ``dialer_outcome``: apply a disposition to a checked-out lead through the shared disposition
  service and release it.

A lead inserted after a rebuild waits for the next one (campaignapi.md §8); a lead that became
ineligible since is skipped at hand-out.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Histogram

from campaigner.contract import CampaignApiError, Refusal, Refused
from campaigner.locks import LockKey, advisory_xact_lock, advisory_xact_try_lock
from campaigner.models import Campaign, ContactHours, ZoneMode
from campaigner.sql import execute_prepared, fetch_one
from dialer import sql
from dialer.models import CacheEntry, CampaignCache
from dialer.order import AllocationLeads, Candidate, balance
from dialer.schedule import Schedule, schedule_load
from leads import lead_input
from leads import sql as leads_sql
from leads.models import DispositionRecord, Door, Lead
from leads.phone import dial_form, number_zones
from leads.selectors import phone_normaliser_load
from leads.services.calls import CallDetails
from leads.services.disposition import DispositionContext, disposition_find, disposition_plan
from leads.services.lead_version import ChangeBy, LeadConflict, lead_write

logger = logging.getLogger(__name__)

REBUILD_SECONDS = Histogram(
    "dialer_cache_rebuild_seconds",
    "Duration of one campaign's dialer cache rebuild",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class DialerError(Refused):
    """A dialer call that cannot be done, and why (``reason``); the view picks the status."""


# --- eligibility ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    code: str
    detail: str


@dataclass(frozen=True)
class Eligibility:
    reasons: list[Reason]
    next_eligible_at: dt.datetime | None

    @property
    def eligible(self) -> bool:
        return not self.reasons


def dialable_number(lead_id: int) -> str | None:
    """The number the dialer would ring for the lead (``dialer.sql.first_dialable_number``)."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql.DIALABLE_NUMBER, [lead_id])
        row = cursor.fetchone()
    return row[0] if row else None


def _schedule_for(lead: Lead) -> Schedule | None:
    hours_id = lead.contact_hours_id or lead.campaign.template.contact_hours_id
    return schedule_load([hours_id]).get(hours_id) if hours_id else None


def lead_eligibility(lead_id: int, now: dt.datetime | None = None) -> Eligibility:
    """Every rule of domain.md §2 the lead fails at ``now``, and when it will next pass them
    all (``None`` when no time can be given: closed, stopped, no number, …). Read-only."""
    lead = Lead.objects.select_related("campaign__template", "allocation").get(pk=lead_id)
    return eligibility_of(lead, _schedule_for(lead), dialable_number(lead.pk), now)


def eligibility_of(
    lead: Lead, schedule: Schedule | None, number: str | None, now: dt.datetime | None = None
) -> Eligibility:
    now = now or timezone.now()
    reasons: list[Reason] = []
    waits = [now]
    never = False
    if not lead.campaign.active:
        reasons.append(Reason("campaign_inactive", f"campaign {lead.campaign} is not active"))
        never = True
    if not lead.allocation.started:
        reasons.append(Reason("allocation_stopped", f"allocation {lead.allocation} is stopped"))
        never = True
    if lead.closed:
        reasons.append(Reason("closed", "the lead is closed"))
        never = True
    if lead.callback_at is not None and lead.callback_at > now:
        reasons.append(Reason("callback_in_future", f"callback due {lead.callback_at.isoformat()}"))
        waits.append(lead.callback_at)
    zones: tuple[zoneinfo.ZoneInfo, ...] = ()
    if schedule is not None and number is not None:
        read_in = schedule.zones_for(number_zones(number, settings.PHONE_DEFAULT_REGION))
        zones = tuple(zoneinfo.ZoneInfo(zone) for zone in read_in)
    for zone in zones or ((schedule.zone,) if schedule is not None else ()):
        assert schedule is not None
        whose = "the number's zone " if zones else ""
        if schedule.closed_on(now, zone):
            reasons.append(
                Reason("closed_date", f"{schedule.name} is closed today in {whose}{zone.key}")
            )
        elif not schedule.is_open(now, zone):
            local = now.astimezone(zone)
            reasons.append(
                Reason(
                    "outside_contact_hours",
                    f"{local:%a %H:%M} {whose}{zone.key} is outside {schedule.name}",
                )
            )
    if number is None:
        reasons.append(Reason("no_dialable_number", "every number is blocked or on the DNC list"))
        never = True
    if lead.checked_out_until is not None and lead.checked_out_until > now:
        reasons.append(
            Reason(
                "checked_out",
                f"checked out by {lead.checked_out_by or 'someone'} until "
                f"{lead.checked_out_until.isoformat()}",
            )
        )
        waits.append(lead.checked_out_until)
    if not reasons:
        return Eligibility([], now)
    if never:
        return Eligibility(reasons, None)
    at: dt.datetime | None = max(waits)
    if schedule is not None and at is not None:
        at = schedule.next_open(at, zones)
    return Eligibility(reasons, at)


# --- the cache --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    campaign_id: int
    size: int
    duration_ms: float
    refreshed_at: dt.datetime


def dialer_cache_refresh(campaign_id: int, *, wait: bool = True) -> RefreshResult | None:
    """Rebuild the campaign's cache with its next ``DIALER_CACHE_SIZE`` eligible leads.

    ``wait=False`` (the periodic job) returns ``None`` at once if another rebuild of the
    campaign is running; ``wait=True`` (an operator's "rebuild now") waits for it and rebuilds
    after. An inactive campaign gets an empty cache. Idempotent apart from timing. Commits on
    return, unless called in the caller's transaction (a call with an ``Idempotency-Key``).
    """
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        if wait:
            advisory_xact_lock(LockKey.DIALER_CACHE_REBUILD, campaign_id)
        elif not advisory_xact_try_lock(LockKey.DIALER_CACHE_REBUILD, campaign_id):
            return None
        campaign = Campaign.objects.select_related("template").get(pk=campaign_id)
        cache, _ = CampaignCache.objects.get_or_create(campaign=campaign)
        lead_ids, zoned = _next_leads(campaign, now) if campaign.active else ([], {})
        read_in = [zoned.get(lead_id) for lead_id in lead_ids]
        generation = cache.generation + 1
        with connection.cursor() as cursor:
            cursor.execute(
                sql.CACHE_INSERT,
                [campaign_id, generation, lead_ids, [z and z[0] for z in read_in],
                 [z and ",".join(z[1]) for z in read_in]],
            )  # fmt: skip
        duration_ms = (time.perf_counter() - started) * 1000
        CampaignCache.objects.filter(pk=campaign_id).update(
            generation=generation, size=len(lead_ids), refreshed_at=now, duration_ms=duration_ms
        )
    # The old generation is invisible from the commit on; removing it is housekeeping.
    CacheEntry.objects.filter(cache_id=campaign_id, generation__lt=generation).delete()
    REBUILD_SECONDS.observe(duration_ms / 1000)
    return RefreshResult(campaign_id, len(lead_ids), duration_ms, now)


# Where Contact Hours are read in the number's zone, the rebuild reads candidates a page at a
# time (of the cache's size) and keeps those open in their number's zones: at most this many
# pages per allocation.
ZONED_PAGES = 10


def _next_leads(
    campaign: Campaign, now: dt.datetime
) -> tuple[list[int], dict[int, tuple[str, tuple[str, ...]]]]:
    """The campaign's next leads in hand-out order, and for those under Contact Hours read in
    the number's zone (``ZoneMode``) the number and the zones checked (the hand-out checks
    them again)."""
    limit = settings.DIALER_CACHE_SIZE
    default_hours = campaign.template.contact_hours_id
    zoned_hours = {
        schedule.id: schedule
        for schedule in schedule_load(
            ContactHours.objects.exclude(zone_mode=ZoneMode.HOURS).values_list("pk", flat=True)
        ).values()
    }
    per_allocation = []
    read_in: dict[int, tuple[str, tuple[str, ...]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql.NEXT_LEADS_SETTINGS)
        cursor.execute(leads_sql.OPEN_CONTACT_HOURS, [now])
        open_hours = [row[0] for row in cursor.fetchall()]
        for allocation in campaign.allocations.filter(started=True).order_by("id"):
            params = {"allocation": allocation.pk, "now": now, "default": default_hours,
                      "open": open_hours, "limit": limit}  # fmt: skip
            if zoned_hours:
                leads = _zoned_candidates(cursor, params, zoned_hours, now, read_in)
            else:
                cursor.execute(sql.NEXT_LEADS, params)
                leads = [Candidate(*row) for row in cursor.fetchall()]
            per_allocation.append(AllocationLeads(allocation.pk, allocation.weight, leads))
    chosen = balance(campaign.balance_mode, per_allocation, limit)
    return chosen, {lead_id: read_in[lead_id] for lead_id in chosen if lead_id in read_in}


def _zoned_candidates(
    cursor: Any,
    params: dict[str, Any],
    zoned_hours: dict[int, Schedule],
    now: dt.datetime,
    read_in: dict[int, tuple[str, tuple[str, ...]]],
) -> list[Candidate]:
    """One allocation's next ``limit`` leads where some Contact Hours are read in the
    number's zone: those leads are kept when their windows are open in the zones
    ``Schedule.zones_for`` gives their number (noted in ``read_in``)."""
    limit, region = params["limit"], settings.PHONE_DEFAULT_REGION
    open_hours = set(params["open"])
    leads: list[Candidate] = []
    for page in range(ZONED_PAGES):
        cursor.execute(sql.NEXT_LEADS_ZONED,
                       {**params, "zoned": list(zoned_hours), "offset": page * limit})  # fmt: skip
        rows = cursor.fetchall()
        for lead_id, priority, callback_at, created_at, hours_id, number in rows:
            schedule = zoned_hours.get(hours_id)
            if schedule is not None:
                zones = schedule.zones_for(number_zones(number, region))
                if not zones:
                    if hours_id not in open_hours:
                        continue
                elif not schedule.open_in(now, tuple(zoneinfo.ZoneInfo(z) for z in zones)):
                    continue
                else:
                    read_in[lead_id] = (number, zones)
            leads.append(Candidate(lead_id, priority, callback_at, created_at))
            if len(leads) == limit:
                return leads
        if len(rows) < limit:
            break
    return leads


def dialer_cache_refresh_all() -> dict[int, RefreshResult | None]:
    """Rebuild every active campaign's cache, and empty the caches of inactive ones; a
    campaign another worker is rebuilding is skipped (``None``)."""
    ids = set(Campaign.objects.filter(active=True).values_list("pk", flat=True))
    ids |= set(CampaignCache.objects.exclude(size=0).values_list("pk", flat=True))
    results: dict[int, RefreshResult | None] = {}
    for campaign_id in sorted(ids):
        try:
            results[campaign_id] = dialer_cache_refresh(campaign_id, wait=False)
        except Exception:
            logger.exception("dialer cache rebuild of campaign %s failed", campaign_id)
            results[campaign_id] = None
    return results


# --- hand-out and outcome -----------------------------------------------------------------------


@dataclass(frozen=True)
class HandOut:
    lead_id: int
    external_id: str | None
    allocation_id: int
    fields: dict[str, Any]
    phone: str
    version: int
    skipped: int
    checked_out_until: dt.datetime


def dialer_lead_next(campaign_id: int, agent: str = "") -> HandOut | None:
    """Check out the campaign's next eligible lead from its cache; ``None`` when there is none.

    One call of the database function ``dialer_next_lead`` (``dialer/sql.py``), one round
    trip and one transaction: it takes the first cache entry nobody else holds, deletes it,
    re-checks the lead, drops stale entries, and checks the lead out for
    ``DIALER_CHECKOUT_SECONDS`` with a version bump. ``agent`` names the holder. The number
    is the one stored (E.164) in the form the PBX dials (``PHONE_DIAL_FORMAT``).
    """
    holder = agent.strip()[:150] or "dialer"
    until = timezone.now() + dt.timedelta(seconds=settings.DIALER_CHECKOUT_SECONDS)
    handed = fetch_one(
        partial(HandOut, checked_out_until=until), sql.HANDOUT, [campaign_id, holder, until]
    )
    if handed is None:
        return None
    dialled = dial_form(handed.phone, settings.PHONE_DEFAULT_REGION, settings.PHONE_DIAL_FORMAT)
    return replace(handed, phone=dialled)


def dialer_outcome(
    lead_id: int,
    disposition_name: str,
    callback: Any = None,
    notes: str = "",
    call: CallDetails | None = None,
) -> Lead:
    """Record a call's outcome on a checked-out lead: its disposition (and the actions), an
    optional callback date (``yyyy/MM/dd HH:mm`` in the lead's Contact Hours zone), notes, and
    the call (``call``: the dialer's details, each optional), stored as the lead's next call
    record; the check-out is released and the version bumped. Returns the lead as written.
    A dialed number the phone rules read is stored (and put on the DNC list by a ``dnc``
    action) normalised; else as given, and the action takes the handed-out number.

    Errors (``DialerError``, nothing written): ``NOT_FOUND`` unknown lead, ``NOT_CHECKED_OUT``,
    ``CONFLICT`` changed meanwhile, ``INVALID`` unknown disposition, bad callback date, or a
    disposition that needs a callback date. One transaction: the caller's, if it has one (a
    call with an ``Idempotency-Key``, whose answer is kept with it).
    """
    with transaction.atomic():
        lead = (
            Lead.objects.select_related("campaign__template", "contact_hours")
            .filter(pk=lead_id)
            .first()
        )
        if lead is None:
            raise DialerError(Refusal.NOT_FOUND, f"no lead {lead_id}")
        now = timezone.now()
        if lead.checked_out_until is None or lead.checked_out_until <= now:
            raise DialerError(Refusal.NOT_CHECKED_OUT, "the lead is not checked out")
        found = disposition_find(
            lead.campaign.template.disposition_set_id, str(disposition_name or "").strip()
        )
        if found is None:
            raise DialerError(Refusal.INVALID, f"no enabled disposition {disposition_name!r}",
                              "disposition")  # fmt: skip
        disposition = found
        values: dict[str, Any] = {
            "checked_out_by": "", "checked_out_until": None, "checked_out_number": "",
        }  # fmt: skip
        if not lead_input.is_blank(callback):
            values["callback_at"] = _callback_at(lead, callback)
        elif disposition.callback_required and all(a.kind != "callback" for a in found.actions):
            raise DialerError(Refusal.INVALID, f"{disposition.name} needs a callbackDate",
                              "callbackDate")  # fmt: skip
        call = call or CallDetails()
        dialed = phone_normaliser_load()(call.dialed_number) if call.dialed_number else None
        agent = call.agent or lead.checked_out_by
        context = DispositionContext(
            source=DispositionRecord.Source.DIALER,
            agent=agent,
            notes=str(notes or ""),
            dialed_number=dialed or lead.checked_out_number,
            callback_given="callback_at" in values,
            call=replace(
                call, dialed_number=dialed or call.dialed_number or lead.checked_out_number,
                agent=agent,
            ),
        )  # fmt: skip
        plan = disposition_plan(lead.pk, found, context, values)
        try:
            by = ChangeBy(Door.DIALER, agent)
            lead_write(lead.pk, lead.version, values, by=by, holder=lead.checked_out_by, now=now)
        except LeadConflict as conflict:
            raise DialerError(Refusal.CONFLICT, conflict.detail or "") from None
        plan.finish()
    return Lead.objects.get(pk=lead_id)


def _callback_at(lead: Lead, value: Any) -> dt.datetime:
    hours = lead.contact_hours or lead.campaign.template.contact_hours
    zone = lead_input.zone(hours.timezone if hours else None)
    try:
        parts = lead_input.callback_parts(value)
        assert parts is not None  # not blank: checked by the caller
        return lead_input.callback_at(parts, zone)
    except CampaignApiError as rejected:
        raise DialerError(
            Refusal.INVALID, f"callbackDate: {rejected.detail}", "callbackDate"
        ) from None
