"""Erasure of a person (``leads.services.erasure``): every campaign the user sees, the lead's
data and its history's values gone, tombstones that refuse the person's return through the
API and an import, the erasure recorded; an operator may not erase."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client

from campaigner.roles import OPERATOR, SUPERVISOR
from leads.models import ErasedNumber, Lead, LeadChange, LeadImport, LeadPhone
from leads.services import lead_import
from leads.services.lead_import import lead_import_create, lead_import_run
from tests.campaignapi import Api, make_api
from tests.factories import AllocationFactory, CampaignFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the CampaignAPI and the import commit

PERSON = {"Name": "Jo Citizen", "FirstPhone": "0412 345 678", "njExternalLeadId": "crm-jo"}


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def user_in(api: Api, role: str) -> Any:
    team = TeamFactory(name=f"{role} team")
    api.template.teams.add(team)
    user = UserFactory(username=role.lower(), is_staff=True)
    user.groups.add(Group.objects.get(name=role), team)
    return user


def test_erasure_removes_the_person_everywhere_and_refuses_their_return(
    api: Api, client: Client, monkeypatch: Any
) -> None:
    first = api.post("insertLeadFast", PERSON).json()["leadId"]
    api.post("updateLeadFast", {**PERSON, "City": "Richmond"})
    other_campaign = CampaignFactory(template=api.template, name="Winter")
    other_allocation = AllocationFactory(campaign=other_campaign)
    second = api.post(
        "insertLeadFast", {**PERSON, "Name": "J. Citizen"},
        fCampaignId=other_campaign.pk, fAllocationId=other_allocation.pk,
    ).json()["leadId"]  # fmt: skip
    bystander = api.post("insertLeadFast", {"Name": "Other", "FirstPhone": "0499 000 111"}).json()[
        "leadId"
    ]
    supervisor = user_in(api, SUPERVISOR)
    client.force_login(supervisor)

    answer = client.post(
        "/api/v1/leads/erase", {"phone": "+61 412 345 678"}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"leads": sorted([first, second]), "numbers": 1}

    for lead in Lead.objects.filter(pk__in=[first, second]):
        assert (lead.fields, lead.external_id, lead.closed) == ({}, None, True)
    assert not LeadPhone.objects.filter(lead_id__in=[first, second]).exists()
    assert Lead.objects.get(pk=bystander).fields == {"Name": "Other", "FirstPhone": "0499 000 111"}
    # No value of the person is left in the history, nor the number in the tombstones.
    history = json.dumps(list(LeadChange.objects.values("fields", "system")))
    for trace in ("Citizen", "Richmond", "crm-jo", "412345678"):
        assert trace not in history
    assert "412345678" not in json.dumps(list(ErasedNumber.objects.values("digest")))
    erased = LeadChange.objects.get(lead_id=first, kind="erase")
    assert (erased.via, erased.by) == ("api_v1", supervisor.username)

    # The person comes back through the API, in any spelling: refused as a DNC number.
    again = api.post("insertLeadFast", {"Name": "Jo", "FirstPhone": "+61412345678"}).json()
    assert again["code"] == 104
    # ... and through an import.
    monkeypatch.setattr(lead_import, "_queue", lambda import_id: None)
    content = b"Name,FirstPhone\nJo,0412345678\nNew person,0488 777 666\n"
    with transaction.atomic():
        created = lead_import_create(
            api.template, api.campaign, api.allocation, io.BytesIO(content),
            file_name="again.csv", size=len(content), allow_duplicates=True, user=None,
        )  # fmt: skip
    assert lead_import_run(created.pk) == "done"
    result = LeadImport.objects.get(pk=created.pk)
    assert (result.imported, result.rejected_by_code) == (1, {"104": 1})


def test_an_operator_may_not_erase_and_nothing_changes(api: Api, client: Client) -> None:
    lead = api.post("insertLeadFast", PERSON).json()["leadId"]
    client.force_login(user_in(api, OPERATOR))
    answer = client.post("/api/v1/leads/erase", {"leadId": lead}, content_type="application/json")
    assert answer.status_code == 403
    assert Lead.objects.get(pk=lead).fields["Name"] == "Jo Citizen"
    assert not ErasedNumber.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_leadchange WHERE kind = 'erase'")
        assert cursor.fetchone()[0] == 0
