"""``lead_update`` at its own level (leads/services/lead_update.py), as ``updateLeadFast`` and
``updateLead`` call it: a ``CallTarget`` and the client's body. The HTTP tests
(tests/leads/test_update_api.py) hold the wire; these hold what the service writes."""

from __future__ import annotations

from typing import Any

import pytest

from campaigner.contract import CampaignApiError, Code
from campaigner.models import Allocation, Disposition
from campaigner.sql import CallTarget, call_target_of
from leads.models import DispositionRecord, DncEntry, Lead, LeadPhone, PhonePattern
from leads.services import lead_update as lead_update_module
from leads.services.lead_insert import lead_insert_batch
from leads.services.lead_update import lead_update, update_ignored_fields
from leads.services.lead_version import LeadConflict
from tests.factories import TESTS_ORIGIN, AllocationFactory, ContactHoursFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def target() -> CallTarget:
    return call_target_of(AllocationFactory.create())


def insert(target: CallTarget, **lead: Any) -> Lead:
    """A lead inserted by the service, with a first disposition (an update that names none
    needs one, 107)."""
    body = {"Name": "Jane", "FirstPhone": "0383218199", **lead}
    (outcome,) = lead_insert_batch(target, [body], origin=TESTS_ORIGIN).outcomes
    assert outcome.lead_id is not None, outcome
    first, _ = Disposition.objects.get_or_create(
        disposition_set_id=target.disposition_set_id, name="New"
    )
    Lead.objects.filter(pk=outcome.lead_id).update(disposition=first)
    return Lead.objects.get(pk=outcome.lead_id)


def snapshot(lead: Lead) -> tuple[Any, ...]:
    lead.refresh_from_db()
    numbers = sorted(LeadPhone.objects.filter(lead=lead).values_list("field_name", "number"))
    return lead.version, lead.fields, lead.allocation_id, lead.priority, numbers


def test_changes_only_what_the_body_names_and_moves_the_lead(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1", SecondPhone="0390001234")
    other = AllocationFactory.create(campaign_id=target.campaign_id)
    version = lead.version
    result = lead_update(
        call_target_of(other),
        {
            "njExternalLeadId": "crm-1",
            "Name": "Janet",
            "FirstPhone": "<No Change>",
            "SecondPhone": "",
            "njPriority": "7",
            "njDisposition": "<no change>",
        },
    )
    assert (result.lead_id, result.version) == (lead.pk, version + 1)
    assert snapshot(lead) == (
        version + 1,
        {"Name": "Janet", "FirstPhone": "0383218199", "SecondPhone": ""},
        other.pk,
        7,
        [("FirstPhone", "+61383218199")],  # the cleared field's number is gone
    )


def test_finds_the_lead_by_its_id_and_refuses_an_external_id_of_another(
    target: CallTarget,
) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    insert(target, njExternalLeadId="crm-2", FirstPhone="0390001111")
    before = snapshot(lead)
    with pytest.raises(CampaignApiError) as refused:
        lead_update(
            target,
            {
                "njLeadId": str(lead.pk),
                "njExternalLeadId": "crm-2",
                "FirstPhone": "<No Change>",
                "Name": "X",
            },
        )
    assert refused.value.code == Code.COULDNT_FIND_THE_LEAD
    assert snapshot(lead) == before
    lead_update(target, {"njLeadId": lead.pk, "FirstPhone": "<No Change>", "Name": "Y"})
    assert snapshot(lead)[1]["Name"] == "Y"


def test_a_stale_version_is_a_conflict_and_writes_nothing(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    before = snapshot(lead)
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "0390009999", "Name": "Late"}
    with pytest.raises(LeadConflict):
        lead_update(target, {**body, "njVersion": lead.version - 1})
    with pytest.raises(LeadConflict):
        lead_update(target, body, if_match=lead.version + 1)
    assert snapshot(lead) == before
    assert lead_update(target, body, if_match=lead.version).version == lead.version + 1


def test_refusals_in_contract_order_write_nothing(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    DncEntry.objects.create(number="+61390001234")
    before = snapshot(lead)
    cases = [
        ({"FirstPhone": "0390001234"}, Code.EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED),
        ({"njExternalLeadId": "crm-1"}, Code.NO_PHONE_FIELDS),
        ({"njExternalLeadId": "nobody", "FirstPhone": "<No Change>"}, Code.COULDNT_FIND_THE_LEAD),
        ({"njExternalLeadId": "crm-1", "FirstPhone": "0390001234"}, Code.DNC),
        ({"njExternalLeadId": "crm-1", "FirstPhone": ""}, Code.NO_PHONE_FIELDS),
        (
            {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njDisposition": "Nope"},
            Code.INVALID_DISPOSTION,
        ),
        (
            {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njContactHours": "Mars"},
            Code.INVALID_TIMEZONE_SPECIFIED,
        ),
    ]
    before = snapshot(lead)
    for body, code in cases:
        with pytest.raises(CampaignApiError) as refused:
            lead_update(target, body)
        assert refused.value.code == code, body
    assert snapshot(lead) == before
    Lead.objects.filter(pk=lead.pk).update(disposition=None)
    with pytest.raises(CampaignApiError) as refused:
        lead_update(target, {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"})
    assert refused.value.code == Code.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED
    assert snapshot(lead) == before


def test_no_phone_rules_are_read_when_no_number_changes(
    target: CallTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert(target, njExternalLeadId="crm-1")

    def unreachable() -> None:
        raise AssertionError("the phone rules were read")

    monkeypatch.setattr(lead_update_module, "phone_normaliser_load", unreachable)
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "Name": "Kept numbers"}
    lead_update(target, body)
    with pytest.raises(AssertionError, match="phone rules"):
        lead_update(target, {**body, "FirstPhone": "0390001111"})


def test_a_changed_number_is_read_with_the_enabled_phone_rules(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    PhonePattern.objects.create(pattern=r"^9(\d{7})$", replacement=r"039\1", position=0)
    lead_update(target, {"njExternalLeadId": "crm-1", "FirstPhone": "90001111"})
    assert snapshot(lead)[4] == [("FirstPhone", "+61390001111")]


def test_a_named_contact_hours_and_a_callback_in_its_zone(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    perth = ContactHoursFactory.create(name="Perth hours", timezone="Australia/Perth")
    lead_update(
        target,
        {
            "njExternalLeadId": "crm-1",
            "FirstPhone": "<No Change>",
            "njContactHours": " Perth hours ",
            "njCallBackDate": "2030/01/02 09:30",
        },
    )
    lead.refresh_from_db()
    assert lead.contact_hours_id == perth.pk
    assert lead.callback_at is not None
    assert lead.callback_at.isoformat() == "2030-01-02T01:30:00+00:00"  # 09:30 in Perth


def test_a_disposition_is_recorded_with_the_write(target: CallTarget) -> None:
    lead = insert(target, njExternalLeadId="crm-1")
    allocation = Allocation.objects.get(pk=target.allocation_id)
    sale = Disposition.objects.create(
        disposition_set_id=allocation.campaign.template.disposition_set_id, name="Sale"
    )
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njDisposition": "Sale"}
    lead_update(target, body)
    lead.refresh_from_db()
    assert lead.disposition_id == sale.pk
    record = DispositionRecord.objects.get(lead=lead)
    assert (record.disposition_id, record.source) == (sale.pk, DispositionRecord.Source.API)


def test_ignored_fields_are_the_keys_that_are_neither_template_nor_system(
    target: CallTarget,
) -> None:
    body = {"Name": 1, "njPriority": 2, "njVersion": 3, "njLeadId": 4, "Colour": 5, "name": 6}
    assert update_ignored_fields(target, body) == ["Colour", "name"]
