"""getCampaignTemplateList, getCampaignList, getAllocationList (campaignapi.md §3)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.campaignapi import BASE, GLOBAL_KEY
from tests.factories import AllocationFactory, ApiKeyFactory, CampaignFactory, TemplateFactory

pytestmark = pytest.mark.django_db

TEAM_KEY = "team-key-0000000000000000000"


@pytest.fixture
def world() -> dict[str, object]:
    sales = Group.objects.create(name="Sales")
    solar = TemplateFactory(name="Solar")
    solar.teams.add(sales)
    hidden = TemplateFactory(name="Hidden")
    jan = CampaignFactory(template=solar, name="Jan16a")
    feb = CampaignFactory(template=solar, name="Feb16a")
    secret = CampaignFactory(template=hidden, name="Secret")
    web = AllocationFactory(campaign=jan, name="Web leads")
    ref = AllocationFactory(campaign=jan, name="Referrals")
    AllocationFactory(campaign=secret, name="Secret list")
    ApiKeyFactory(plain=GLOBAL_KEY)
    ApiKeyFactory(plain=TEAM_KEY, team=sales)
    return {"solar": solar, "hidden": hidden, "jan": jan, "feb": feb, "secret": secret,
            "web": web, "ref": ref}  # fmt: skip


def ok(entity_type: str, entities: list[tuple[int, str]]) -> dict[str, object]:
    return {"type": entity_type, "code": 0, "message": "OK",
            "entities": [{"id": i, "name": n} for i, n in entities]}  # fmt: skip


@pytest.mark.parametrize("verb", ["get", "post"])
def test_lists_with_a_global_key(client: Client, world: dict, verb: str) -> None:
    call = getattr(client, verb)
    solar, hidden, jan, feb = world["solar"], world["hidden"], world["jan"], world["feb"]
    web, ref = world["web"], world["ref"]

    response = call(f"{BASE}getCampaignTemplateList?apiKey={GLOBAL_KEY}")
    assert response.status_code == 200
    assert response.json() == ok("CampaignTemplate", [(solar.pk, "Solar"), (hidden.pk, "Hidden")])

    response = call(f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}&fTemplateId={solar.pk}")
    assert response.json() == ok("Campaign", [(jan.pk, "Jan16a"), (feb.pk, "Feb16a")])

    response = call(f"{BASE}getAllocationList?apiKey={GLOBAL_KEY}&fCampaignId={jan.pk}")
    assert response.json() == ok("Allocation", [(web.pk, "Web leads"), (ref.pk, "Referrals")])


def test_parameters_may_come_in_a_form_post(client: Client, world: dict) -> None:
    response = client.post(
        f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}", {"fTemplateId": world["solar"].pk}
    )
    assert response.json()["type"] == "Campaign"
    assert len(response.json()["entities"]) == 2


def test_a_team_key_sees_only_its_teams(client: Client, world: dict) -> None:
    solar, hidden, secret = world["solar"], world["hidden"], world["secret"]

    response = client.get(f"{BASE}getCampaignTemplateList?apiKey={TEAM_KEY}")
    assert response.json() == ok("CampaignTemplate", [(solar.pk, "Solar")])
    response = client.get(f"{BASE}getCampaignList?apiKey={TEAM_KEY}&fTemplateId={hidden.pk}")
    assert (response.status_code, response.json()) == (
        400, {"code": 116, "message": "TEMPLATE_ID_REQUIRED"},
    )  # fmt: skip
    response = client.get(f"{BASE}getAllocationList?apiKey={TEAM_KEY}&fCampaignId={secret.pk}")
    assert (response.status_code, response.json()) == (
        400, {"code": 117, "message": "CAMPAIGN_ID_REQUIRED"},
    )  # fmt: skip


@pytest.mark.parametrize("value", ["", "abc", "0", "99999999", "1.0", "%201%20x"])
def test_bad_ids(client: Client, world: dict, value: str) -> None:
    response = client.get(f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}&fTemplateId={value}")
    assert (response.status_code, response.json()) == (
        400, {"code": 116, "message": "TEMPLATE_ID_REQUIRED"},
    )  # fmt: skip
    response = client.get(f"{BASE}getAllocationList?apiKey={GLOBAL_KEY}&fCampaignId={value}")
    assert response.json() == {"code": 117, "message": "CAMPAIGN_ID_REQUIRED"}


def test_missing_ids(client: Client, world: dict) -> None:
    assert client.get(f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}").json()["code"] == 116
    assert client.get(f"{BASE}getAllocationList?apiKey={GLOBAL_KEY}").json()["code"] == 117


def test_the_key_is_checked_first(client: Client, world: dict) -> None:
    for method in ("getCampaignTemplateList", "getCampaignList", "getAllocationList"):
        response = client.get(f"{BASE}{method}?apiKey=wrong&fTemplateId=abc")
        assert (response.status_code, response.json()) == (
            401, {"code": -1, "message": "INVALID_API_KEY"},
        )  # fmt: skip
        assert client.get(f"{BASE}{method}").status_code == 401
