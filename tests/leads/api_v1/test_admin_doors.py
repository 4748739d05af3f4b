"""Admin writes go through the API's services (#16): for the same input, the admin and
``/api/v1/`` store the same thing, and what the admin stores takes effect on the CampaignAPI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from campaigner.models import ApiKey, hash_secret
from leads.models import DncEntry
from tests.campaignapi import BASE, make_api
from tests.leads.api_v1.conftest import Api

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(db: Any) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def test_a_dnc_number_typed_with_spaces_blocks_the_next_insert(
    admin: Client, admin_api: Api
) -> None:
    api = make_api(Client())
    answer = admin.post(
        "/admin/leads/dncentry/add/", {"number": "08 9381 2222", "expires_on": "", "note": "asked"}
    )
    assert answer.status_code == 302, answer.content
    entry = DncEntry.objects.get()
    assert (entry.number, entry.note, entry.source) == ("+61893812222", "asked", "admin")
    code = api.post("insertLeadFast", {"Name": "X", "FirstPhone": "(08) 9381-2222"}).json()["code"]
    assert code == 104
    # The API's door, same input: the same entry, updated rather than doubled.
    same = admin_api.post("dnc/", {"phone": "08 9381 2222", "note": "asked"})
    assert same.status_code == 200 and same.json()["phone"] == "+61893812222"
    assert DncEntry.objects.count() == 1
    # Listing it again in the admin updates the note, as the API does.
    admin.post("/admin/leads/dncentry/add/", {"number": "0893812222", "note": "again"})
    assert list(DncEntry.objects.values_list("number", "note")) == [("+61893812222", "again")]
    listed = admin.get("/admin/leads/dncentry/?q=%2B61+8+9381+2222").content.decode()
    assert "(08) 9381 2222 (+61893812222)" in listed  # as a person reads it, and as stored


def test_an_unusable_number_is_refused_in_the_admin(admin: Client) -> None:
    answer = admin.post("/admin/leads/dncentry/add/", {"number": "call me", "note": ""})
    assert answer.status_code == 200
    assert "is not a usable phone number" in answer.content.decode()
    assert not DncEntry.objects.exists()


def test_an_api_key_made_in_the_admin_is_shown_once_and_works(admin: Client) -> None:
    api = make_api(Client())
    answer = admin.post(
        "/admin/campaigner/apikey/add/", {"name": "crm-2", "team": "", "user": ""}, follow=True
    )
    assert answer.redirect_chain and answer.status_code == 200
    match = re.search(r"API key &#x27;crm-2&#x27;: (\S+) —", answer.content.decode())
    assert match is not None
    plain = match.group(1)
    key = ApiKey.objects.get(name="crm-2")
    assert key.key_hash == hash_secret(plain) and key.key_prefix == plain[:8]
    assert plain not in admin.get(f"/admin/campaigner/apikey/{key.pk}/change/").content.decode()
    listed = Client().get(f"{BASE}getCampaignTemplateList?apiKey={plain}").json()
    assert listed["code"] == 0 and [e["name"] for e in listed["entities"]] == [api.template.name]


def test_an_allocation_or_campaign_with_leads_neither_moves_nor_goes(admin: Client) -> None:
    from campaigner.models import Allocation
    from tests.factories import AllocationFactory, CampaignFactory, LeadFactory

    allocation = AllocationFactory()
    LeadFactory(allocation=allocation)
    other = CampaignFactory()
    moved = admin.post(
        f"/admin/campaigner/allocation/{allocation.pk}/change/",
        {"name": allocation.name, "campaign": other.pk, "started": "on", "weight": 1},
        follow=True,
    )
    assert "it cannot move to another campaign" in moved.content.decode()
    assert Allocation.objects.get(pk=allocation.pk).campaign_id == allocation.campaign_id
    gone = admin.post(
        f"/admin/campaigner/campaign/{allocation.campaign_id}/delete/", {"post": "yes"}, follow=True
    )
    assert "would require deleting the following protected related objects" in (
        gone.content.decode()
    )
    assert Allocation.objects.filter(pk=allocation.pk).exists()
    stopped = admin.post(
        "/admin/campaigner/allocation/",
        {"action": "stop", "_selected_action": [allocation.pk]},
        follow=True,
    )
    assert "Stopped 1 allocation(s)." in stopped.content.decode()
    assert Allocation.objects.get(pk=allocation.pk).started is False
