"""Calls: what the dialer reports of one (``CallDetails``), the record each outcome stores
(``CallRecord``, domain.md §4), and the lead as Noojee's URL action sends it
(``noojee_payload``, campaignapi.md §6), which ``getCallRecordList`` answers too.

Noojee's URL action sends every value as a string: ``"njLeadId": "54321"``, ``njCallDate``
with seconds, and the call keys (``njCallDuration``, ``njDialAttempts``, ``njDialedNumber``,
``njUniqueCallId``) empty when the disposition did not come from a call. ``njAction`` is sent
empty, as Noojee's own payloads have it. A receiver written against Noojee's (Tijuana's
``CallOutcomeService`` reads ``njDialAttempts.to_i``) reads ours the same way.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from leads import lead_input
from leads.lead_input import json_spelling
from leads.models import CallRecord, Lead

CALL_DATE_FORMAT = "%Y/%m/%d %H:%M:%S"  # Noojee's njCallDate: njCallBackDate's, with seconds


@dataclass(frozen=True)
class CallDetails:
    """A call as the dialer reports it with the outcome; every part is optional (an outcome
    without details is still one call: the record then has the handed-out number, the
    outcome's time and the holder of the check-out)."""

    dialed_number: str = ""
    started_at: dt.datetime | None = None
    duration_s: int | None = None
    unique_call_id: str = ""
    agent: str = ""


def call_record_new(
    lead: Lead, disposition_id: int, details: CallDetails, now: dt.datetime
) -> CallRecord:
    """The lead's next call record, not saved yet (its outcome's record id is set by the
    caller). ``attempt`` follows the lead's last record: the caller holds the lead's row
    (the versioned write), so two outcomes of one lead never number the same attempt."""
    last = CallRecord.objects.filter(lead=lead).aggregate(last=Max("attempt"))["last"]
    return CallRecord(
        lead=lead,
        campaign_id=lead.campaign_id,
        allocation_id=lead.allocation_id,
        disposition_id=disposition_id,
        attempt=(last or 0) + 1,
        called_at=details.started_at or now,
        duration_s=details.duration_s,
        dialed_number=details.dialed_number,
        unique_call_id=details.unique_call_id,
        agent=details.agent,
    )


@dataclass(frozen=True)
class PayloadLead:
    """What the payload says of the lead and where it is."""

    lead_id: int
    external_id: str | None
    fields: dict[str, Any]
    campaign: str
    allocation: str
    zone: zoneinfo.ZoneInfo  # of the lead's Contact Hours: njCallDate's


def payload_lead(lead: Lead, allocation: str) -> PayloadLead:
    """What the payload says of ``lead`` (with its campaign's template and Contact Hours
    loaded), in ``allocation`` (its own, or the one it was in at a call)."""
    hours = lead.contact_hours or lead.campaign.template.contact_hours
    return PayloadLead(
        lead_id=lead.pk,
        external_id=lead.external_id,
        fields=lead.fields,
        campaign=lead.campaign.name,
        allocation=allocation,
        zone=lead_input.zone(hours.timezone if hours else None),
    )


def noojee_payload(
    lead: PayloadLead, disposition: str, at: dt.datetime, call: CallRecord | None
) -> dict[str, str]:
    """The lead's fields and the system keys, every value a string. ``at``: when the
    disposition was set (a call's start, when it came from one)."""
    payload = {name: json_spelling(value) for name, value in lead.fields.items()}
    payload.update(
        {
            "njAction": "",
            "njLeadId": str(lead.lead_id),
            "njExternalLeadId": lead.external_id or "",
            "njDisposition": disposition,
            "njCampaignName": lead.campaign,
            "njAllocationName": lead.allocation,
            "njCallDate": (call.called_at if call else at)
            .astimezone(lead.zone)
            .strftime(CALL_DATE_FORMAT),
            "njCallDuration": json_spelling(call.duration_s) if call else "",
            "njDialAttempts": str(call.attempt) if call else "",
            "njDialedNumber": call.dialed_number if call else "",
            "njUniqueCallId": call.unique_call_id if call else "",
        }
    )
    return payload
