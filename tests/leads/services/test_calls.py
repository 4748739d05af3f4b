"""The call services at their own level (leads/services/calls.py): a call's record numbered
after the lead's last, and the Noojee payload every URL action and ``getCallRecordList`` send,
every value a string and the call date in the lead's zone."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from leads.models import CallRecord, DispositionRecord, Lead
from leads.services.calls import CallDetails, call_record_new, noojee_payload, payload_lead
from tests.factories import ContactHoursFactory, DispositionFactory, LeadFactory
from tests.webhooks import tijuana_read

pytestmark = pytest.mark.django_db

NOON_UTC = dt.datetime(2030, 1, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def lead() -> Lead:
    return LeadFactory.create(
        external_id="crm-1", fields={"Name": "Zoë", "Age": 41, "VIP": True, "Note": None}
    )


def test_records_are_numbered_after_the_leads_last(lead: Lead) -> None:
    disposition = DispositionFactory.create()
    first = call_record_new(lead, disposition.pk, CallDetails(), NOON_UTC)
    assert (first.attempt, first.called_at, first.pk) == (1, NOON_UTC, None)  # not saved
    first.record = DispositionRecord.objects.create(
        lead=lead, disposition=disposition, source=DispositionRecord.Source.DIALER
    )
    first.save()
    started = NOON_UTC - dt.timedelta(minutes=5)
    details = CallDetails("+61383218199", started, 42, "uid-1", "agent-7")
    second = call_record_new(lead, disposition.pk, details, NOON_UTC)
    assert (second.attempt, second.called_at, second.duration_s, second.agent) == (
        2,
        started,
        42,
        "agent-7",
    )
    assert (second.campaign_id, second.allocation_id) == (lead.campaign_id, lead.allocation_id)


def test_the_payload_is_all_strings_with_the_call_date_in_the_leads_zone(lead: Lead) -> None:
    lead.contact_hours = ContactHoursFactory.create(timezone="Australia/Perth")
    record = CallRecord(
        lead=lead, attempt=3, called_at=NOON_UTC, duration_s=65, dialed_number="+61383218199"
    )
    payload = noojee_payload(payload_lead(lead, "Morning"), "Sale", NOON_UTC, record)
    assert payload == {
        "Name": "Zoë",
        "Age": "41",
        "VIP": "true",
        "Note": "",
        "njAction": "",
        "njLeadId": str(lead.pk),
        "njExternalLeadId": "crm-1",
        "njDisposition": "Sale",
        "njCampaignName": lead.campaign.name,
        "njAllocationName": "Morning",
        "njCallDate": "2030/01/02 20:00:00",  # noon UTC in Perth
        "njCallDuration": "65",
        "njDialAttempts": "3",
        "njDialedNumber": "+61383218199",
        "njUniqueCallId": "",
    }
    read = tijuana_read(json.dumps(payload).encode())  # as a Noojee receiver reads it
    assert (read["dial_attempts"], read["call_duration"]) == (3, 65)


def test_without_a_call_the_payload_dates_the_disposition_and_leaves_the_call_blank(
    lead: Lead,
) -> None:
    payload = noojee_payload(payload_lead(lead, "A"), "Callback", NOON_UTC, None)
    template_zone = lead.campaign.template.contact_hours
    assert template_zone is not None and template_zone.timezone == "Australia/Melbourne"
    assert payload["njCallDate"] == "2030/01/02 23:00:00"
    assert [payload[k] for k in ("njCallDuration", "njDialAttempts", "njDialedNumber")] == [
        "",
        "",
        "",
    ]
