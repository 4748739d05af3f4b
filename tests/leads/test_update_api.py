"""``updateLeadFast`` and ``updateLead``, exact to campaignapi.md §4.6 and §5: every code with
its body and status, and the rows that exist afterwards."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner.models import ContactHours, Disposition
from leads.models import DispositionRecord, DncEntry, Lead, LeadPhone
from tests.campaignapi import Api, make_api
from tests.factories import AllocationFactory, CampaignFactory, DispositionFactory
from tests.snapshot import database_rows

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client: Client) -> Api:
    api = make_api(client)
    dispositions = api.template.disposition_set
    DispositionFactory(disposition_set=dispositions, name="No Answer")
    DispositionFactory(disposition_set=dispositions, name="Sale", final=True)
    DispositionFactory(disposition_set=dispositions, name="Retired", enabled=False)
    return api


@pytest.fixture
def lead(api: Api) -> Lead:
    """Lead "crm-1" with two numbers and the disposition "No Answer"."""
    body = api.post(
        "insertLeadFast",
        {"Name": "Jane", "City": "Abbotsford", "FirstPhone": "0383218199",
         "SecondPhone": "0390001234", "njExternalLeadId": "crm-1", "njPriority": 20},
    ).json()  # fmt: skip
    assert body["code"] == 0
    Lead.objects.filter(pk=body["leadId"]).update(
        disposition=Disposition.objects.get(name="No Answer")
    )
    return Lead.objects.get(pk=body["leadId"])


def data_rows() -> dict[str, Any]:
    return database_rows(exclude=frozenset({"campaigner_apikey"}))


def refused(api: Api, body: Any, code: int, message: str, **params: Any) -> dict[str, Any]:
    """Post an update that must fail with ``code`` and change no row; return its body."""
    before = data_rows()
    response = api.post("updateLeadFast", body, **params)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert (answer["code"], answer["message"]) == (code, message)
    assert data_rows() == before
    return answer


# --- success ------------------------------------------------------------------------------


def test_update_changes_the_given_fields_and_keeps_the_rest(api: Api, lead: Lead) -> None:
    other = AllocationFactory(campaign=api.campaign, name="Second")
    response = api.post(
        "updateLeadFast",
        {"njExternalLeadId": "crm-1", "Name": "Jane Doe", "FirstPhone": "<No Change>",
         "SecondPhone": "03 9000 5555", "City": "<no change>", "State": " <NO CHANGE> ",
         "njPriority": "7", "njCallBackDate": "2030/01/02 09:30", "Extra": 1},
        fAllocationId=other.pk,
    )  # fmt: skip

    assert response.status_code == 200
    assert response.json() == {
        "code": 0, "message": "OK", "leadId": lead.pk, "version": 2, "ignoredFields": ["Extra"],
    }  # fmt: skip
    lead.refresh_from_db()
    assert lead.fields == {
        "Name": "Jane Doe", "City": "Abbotsford", "FirstPhone": "0383218199",
        "SecondPhone": "03 9000 5555",
    }  # fmt: skip
    assert lead.allocation == other
    assert lead.priority == 7
    melbourne = dt.timezone(dt.timedelta(hours=11))  # AEDT in January
    assert lead.callback_at == dt.datetime(2030, 1, 2, 9, 30, tzinfo=melbourne)
    assert lead.version == 2
    assert lead.disposition.name == "No Answer"  # absent: kept
    assert sorted(lead.phones.values_list("field_name", "number", "blocked")) == [
        ("FirstPhone", "+61383218199", False), ("SecondPhone", "+61390005555", False),
    ]  # fmt: skip


def test_each_update_bumps_the_version(api: Api, lead: Lead) -> None:
    versions = [
        api.post(
            "updateLeadFast", {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
        ).json()["version"]
        for _ in range(3)
    ]
    assert versions == [2, 3, 4]
    assert Lead.objects.get().version == 4


def test_the_external_id_may_come_from_the_url(api: Api, lead: Lead) -> None:
    body = {"FirstPhone": "<No Change>", "Name": "From URL"}
    assert api.post("updateLeadFast", body, njExternalLeadId="crm-1").json()["code"] == 0
    assert Lead.objects.get().fields["Name"] == "From URL"


def test_update_lead_prefers_the_url_id_and_update_lead_fast_the_body(api: Api, lead: Lead) -> None:
    body = {"njExternalLeadId": "unknown", "FirstPhone": "<No Change>"}
    assert api.post("updateLead", body, njExternalLeadId="crm-1").json()["code"] == 0
    assert api.post("updateLeadFast", body, njExternalLeadId="crm-1").json()["code"] == 101


def test_an_emptied_phone_clears_that_number(api: Api, lead: Lead) -> None:
    response = api.post("updateLeadFast", {"njExternalLeadId": "crm-1", "SecondPhone": ""})
    assert response.json()["code"] == 0
    assert list(LeadPhone.objects.values_list("field_name", flat=True)) == ["FirstPhone"]
    assert Lead.objects.get().fields["SecondPhone"] == ""


def test_a_number_on_the_dnc_list_is_blocked_by_an_update(api: Api, lead: Lead) -> None:
    DncEntry.objects.create(number="+61390009999")
    response = api.post(
        "updateLeadFast", {"njExternalLeadId": "crm-1", "SecondPhone": "0390009999"}
    )
    assert response.json()["code"] == 0
    assert sorted(LeadPhone.objects.values_list("number", "blocked")) == [
        ("+61383218199", False), ("+61390009999", True),
    ]  # fmt: skip


def test_no_duplicate_check_on_update(api: Api, lead: Lead) -> None:
    api.post("insertLeadFast", {"FirstPhone": "0411111111", "njExternalLeadId": "crm-2"})
    response = api.post("updateLeadFast", {"njExternalLeadId": "crm-2", "FirstPhone": "0383218199",
                                           "njDisposition": "No Answer"})  # fmt: skip
    assert response.json()["code"] == 0
    assert LeadPhone.objects.filter(number="+61383218199").count() == 2


def test_a_disposition_is_matched_case_insensitively_and_final_closes(api: Api, lead: Lead) -> None:
    response = api.post(
        "updateLeadFast", {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>",
                           "njDisposition": "sALE"},
    )  # fmt: skip
    assert response.json()["code"] == 0
    lead.refresh_from_db()
    assert (lead.disposition.name, lead.closed) == ("Sale", True)
    assert list(DispositionRecord.objects.values_list("disposition__name", "source")) == [
        ("Sale", "api")
    ]


def test_matching_versions_are_accepted(api: Api, lead: Lead) -> None:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njVersion": 1}
    response = api.post("updateLeadFast", body, headers={"If-Match": '"1"'})
    assert response.json()["version"] == 2


# --- every refusal, its exact body, and no row changed --------------------------------------


def test_113_without_an_external_id(api: Api, lead: Lead) -> None:
    refused(api, {"FirstPhone": "1"}, 113, "EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED")
    refused(api, {"FirstPhone": "1", "njExternalLeadId": "  "}, 113,
            "EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED")  # fmt: skip


def test_101_for_an_unknown_external_id(api: Api, lead: Lead) -> None:
    refused(api, {"njExternalLeadId": "nope", "FirstPhone": "1"}, 101, "COULDNT_FIND_THE_LEAD")
    # The lead and the disposition are read together; the lead's code still comes first.
    for name in ("No Answer", "Nope"):
        refused(api, {"njExternalLeadId": "nope", "FirstPhone": "1", "njDisposition": name},
                101, "COULDNT_FIND_THE_LEAD")  # fmt: skip


def test_101_for_a_lead_of_another_campaign(api: Api, lead: Lead) -> None:
    campaign = CampaignFactory(template=api.template, name="Other")
    allocation = AllocationFactory(campaign=campaign)
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    refused(api, body, 101, "COULDNT_FIND_THE_LEAD", fCampaignId=campaign.pk,
            fAllocationId=allocation.pk)  # fmt: skip


def test_102_without_a_phone_field_in_the_body(api: Api, lead: Lead) -> None:
    answer = refused(api, {"njExternalLeadId": "crm-1", "Name": "x"}, 102, "NO_PHONE_FIELDS")
    assert answer == {"code": 102, "message": "NO_PHONE_FIELDS",
                      "detail": "an update must carry at least one phone field",
                      "ignoredFields": []}  # fmt: skip


def test_102_when_the_update_empties_every_number(api: Api, lead: Lead) -> None:
    refused(api, {"njExternalLeadId": "crm-1", "FirstPhone": "", "SecondPhone": "abc"}, 102,
            "NO_PHONE_FIELDS")  # fmt: skip


def test_106_for_an_unknown_or_disabled_disposition(api: Api, lead: Lead) -> None:
    for name in ("Nope", "Retired", ""):
        refused(api, {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>",
                      "njDisposition": name}, 106, "INVALID_DISPOSTION")  # fmt: skip


def test_107_when_the_lead_has_no_disposition_and_none_is_given(api: Api, lead: Lead) -> None:
    Lead.objects.update(disposition=None)
    for body in ({}, {"njDisposition": "<No Change>"}):
        refused(api, {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", **body}, 107,
                "DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED")  # fmt: skip


def test_104_when_every_number_would_be_on_the_dnc_list(api: Api, lead: Lead) -> None:
    DncEntry.objects.create(number="+61383218199")
    refused(api, {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "SecondPhone": ""},
            104, "DNC")  # fmt: skip


def test_110_for_a_stale_version(api: Api, lead: Lead) -> None:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    refused(api, {**body, "njVersion": 7}, 110, "LEAD_NOT_UPDATED_DUE_TO_CONFLICT")
    before = data_rows()
    response = api.post("updateLeadFast", body, headers={"If-Match": "0"})
    assert (response.status_code, response.json()["code"]) == (400, 110)
    assert data_rows() == before


def test_110_for_a_checked_out_lead(api: Api, lead: Lead) -> None:
    Lead.objects.update(
        checked_out_by="agent 7", checked_out_until=timezone.now() + dt.timedelta(minutes=3)
    )
    refused(api, {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}, 110,
            "LEAD_NOT_UPDATED_DUE_TO_CONFLICT")  # fmt: skip


def test_an_expired_check_out_does_not_block(api: Api, lead: Lead) -> None:
    Lead.objects.update(
        checked_out_by="agent 7", checked_out_until=timezone.now() - dt.timedelta(seconds=1)
    )
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    assert api.post("updateLeadFast", body).json()["code"] == 0


def test_111_114_151_150(api: Api, lead: Lead) -> None:
    base = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    refused(api, {**base, "njContactHours": "Mars"}, 111, "INVALID_TIMEZONE_SPECIFIED")
    refused(api, {**base, "njCallBackDate": "2030/02/30 10:00"}, 114,
            "INVALID_CALLBACK_DATE_FORMAT")  # fmt: skip
    refused(api, {**base, "njPriority": 101}, 151, "INVALID_PRIORITY")
    refused(api, {**base, "Name": {"first": "x"}}, 150, "MALFORMED_REQUEST")
    refused(api, {**base, "njVersion": "two"}, 150, "MALFORMED_REQUEST")
    refused(api, [base, base], 150, "MALFORMED_REQUEST")
    refused(api, "{", 150, "MALFORMED_REQUEST", raw=True)


def test_check_order_callback_before_external_id(api: Api, lead: Lead) -> None:
    refused(api, {"FirstPhone": "1", "njCallBackDate": "soon"}, 114,
            "INVALID_CALLBACK_DATE_FORMAT")  # fmt: skip


def test_a_skipped_daylight_saving_time_is_114(api: Api, lead: Lead) -> None:
    ContactHours.objects.filter(pk=api.template.contact_hours_id).update(
        timezone="Australia/Melbourne"
    )
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>",
            "njCallBackDate": "2026/10/04 02:30"}  # fmt: skip
    refused(api, body, 114, "INVALID_CALLBACK_DATE_FORMAT")


def test_ids_are_checked_before_the_lead(api: Api, lead: Lead) -> None:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    refused(api, body, 116, "TEMPLATE_ID_REQUIRED", fTemplateId="x")
    refused(api, body, 117, "CAMPAIGN_ID_REQUIRED", fCampaignId=999999)
    refused(api, body, 115, "ALLOCATION_ID_REQUIRED", fAllocationId=None)


# --- the lead named by njLeadId (Noojee's own update script) ---------------------------------


def test_an_update_may_name_the_lead_by_its_id_alone(api: Api, lead: Lead) -> None:
    """Noojee's update_lead_fast script: njLeadId as text, no external id."""
    response = api.post(
        "updateLeadFast",
        {"njLeadId": str(lead.pk), "njDisposition": "Sale", "FirstPhone": "<No Change>",
         "Name": "Jane by id"},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json() == {"code": 0, "message": "OK", "leadId": lead.pk, "version": 2,
                               "ignoredFields": []}  # fmt: skip
    lead.refresh_from_db()
    assert (lead.fields["Name"], lead.disposition.name, lead.closed) == ("Jane by id", "Sale", True)
    # A number works too, and updateLead reads it the same way.
    response = api.post("updateLead", {"njLeadId": lead.pk, "FirstPhone": "<No Change>"})
    assert response.json()["version"] == 3


def test_with_both_ids_the_lead_id_finds_it_and_the_external_id_must_be_its(
    api: Api, lead: Lead
) -> None:
    """The server's rule: njLeadId names the lead; an external id given too must be the
    lead's, or the two name different leads (101)."""
    same = {"njLeadId": lead.pk, "njExternalLeadId": "crm-1", "FirstPhone": "<No Change>"}
    assert api.post("updateLeadFast", same).json()["code"] == 0
    refused(api, {**same, "njExternalLeadId": "crm-2"}, 101, "COULDNT_FIND_THE_LEAD")
    # The URL's external id (updateLeadFast's fallback, updateLead's first choice) likewise.
    body = {"njLeadId": lead.pk, "FirstPhone": "<No Change>"}
    refused(api, body, 101, "COULDNT_FIND_THE_LEAD", njExternalLeadId="crm-2")
    assert api.post("updateLead", body, njExternalLeadId="crm-1").json()["code"] == 0
    # A blank one is no external id.
    assert api.post("updateLeadFast", {**body, "njExternalLeadId": ""}).json()["code"] == 0


def test_a_lead_id_of_another_campaign_or_none_is_101(api: Api, lead: Lead) -> None:
    other_campaign = CampaignFactory(template=api.template, name="Other")
    other_allocation = AllocationFactory(campaign=other_campaign)
    moved = api.post(
        "insertLeadFast", {"FirstPhone": "0412000111"},
        fCampaignId=other_campaign.pk, fAllocationId=other_allocation.pk,
    ).json()["leadId"]  # fmt: skip
    for lead_id in (moved, 99999999, "abc", "1.5", -1, "١"):
        refused(api, {"njLeadId": lead_id, "FirstPhone": "<No Change>"}, 101,
                "COULDNT_FIND_THE_LEAD")  # fmt: skip


def test_no_id_at_all_is_still_113(api: Api, lead: Lead) -> None:
    for blank in ({}, {"njLeadId": ""}, {"njLeadId": None}, {"njLeadId": "<No Change>"}):
        refused(api, {**blank, "FirstPhone": "<No Change>"}, 113,
                "EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED")  # fmt: skip


def test_an_update_by_id_keeps_no_change_fields_and_its_checks(api: Api, lead: Lead) -> None:
    body = {"njLeadId": lead.pk, "FirstPhone": "<No Change>", "City": "<no change>",
            "njDisposition": "<No Change>", "Name": "New"}  # fmt: skip
    assert api.post("updateLeadFast", body).json()["code"] == 0
    lead.refresh_from_db()
    assert (lead.fields["City"], lead.fields["Name"], lead.disposition.name) == (
        "Abbotsford", "New", "No Answer",
    )  # fmt: skip
    refused(api, {**body, "njDisposition": "Nope"}, 106, "INVALID_DISPOSTION")
    refused(api, {**body, "njVersion": 1}, 110, "LEAD_NOT_UPDATED_DUE_TO_CONFLICT")
    refused(api, {"njLeadId": lead.pk}, 102, "NO_PHONE_FIELDS")
