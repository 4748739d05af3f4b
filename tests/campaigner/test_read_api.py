"""The read calls (campaignapi.md §3): getCampaignTemplateList, getCampaignList,
getAllocationList, getDispositionList, getFieldList, getFieldDefn; and CampaignAPI URLs read as
a servlet reads them (§1). getCallRecordList: tests/leads/test_call_records.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigner.models import Disposition, TemplateField
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
    for method in ("getCampaignTemplateList", "getCampaignList", "getAllocationList",
                   "getDispositionList", "getFieldList", "getFieldDefn",
                   "getCallRecordList"):  # fmt: skip
        response = client.get(f"{BASE}{method}?apiKey=wrong&fTemplateId=abc")
        assert (response.status_code, response.json()) == (
            401, {"code": -1, "message": "INVALID_API_KEY"},
        )  # fmt: skip
        assert client.get(f"{BASE}{method}").status_code == 401


@pytest.fixture
def fields_and_dispositions(world: dict) -> dict[str, object]:
    """Solar: fields whose order is not their ids' order, dispositions (one disabled)."""
    solar = world["solar"]
    solar.fields.all().delete()
    for name, position in (("Mobile", 2), ("Name", 0), ("Email", 1)):
        TemplateField.objects.create(
            template=solar, name=name, is_phone=name == "Mobile", position=position
        )
    made = [
        Disposition.objects.create(disposition_set=solar.disposition_set, name=name, **props)
        for name, props in (("Sale", {}), ("No Answer", {}), ("Old", {"enabled": False}))
    ]
    hidden = world["hidden"]
    Disposition.objects.create(disposition_set=hidden.disposition_set, name="Secret")
    return {"dispositions": made}


@pytest.mark.parametrize("verb", ["get", "post"])
def test_disposition_and_field_lists(
    client: Client, world: dict, fields_and_dispositions: dict, verb: str
) -> None:
    call = getattr(client, verb)
    solar = world["solar"]
    sale, no_answer, old = fields_and_dispositions["dispositions"]

    response = call(f"{BASE}getDispositionList?apiKey={GLOBAL_KEY}&fTemplateId={solar.pk}")
    assert (response.status_code, response.json()) == (
        200, ok("Disposition", [(sale.pk, "Sale"), (no_answer.pk, "No Answer"), (old.pk, "Old")])
    )  # fmt: skip

    response = call(f"{BASE}getFieldList?apiKey={GLOBAL_KEY}&fTemplateId={solar.pk}")
    by_name = dict(solar.fields.values_list("name", "pk"))
    assert response.json() == {
        "type": "Field", "code": 0, "message": "OK",
        "entities": [{"id": by_name[n], "name": n} for n in ("Name", "Email", "Mobile")],
    }  # fmt: skip

    response = call(f"{BASE}getFieldDefn?apiKey={GLOBAL_KEY}&fTemplateId={solar.pk}")
    assert response.status_code == 200
    assert response.json() == [
        {"type": "unicode", "key": n, "required": False, "label": n, "help_text": n}
        for n in ("Name", "Email", "Mobile")
    ]


def test_disposition_and_field_lists_keep_to_the_keys_teams(
    client: Client, world: dict, fields_and_dispositions: dict
) -> None:
    hidden = world["hidden"].pk
    for method in ("getDispositionList", "getFieldList"):
        for query in (f"fTemplateId={hidden}", "fTemplateId=abc", ""):
            response = client.get(f"{BASE}{method}?apiKey={TEAM_KEY}&{query}")
            assert (response.status_code, response.json()) == (
                400, {"code": 116, "message": "TEMPLATE_ID_REQUIRED"},
            )  # fmt: skip
    # getFieldDefn: a Zapier form with no fields, never an error
    for query in (f"fTemplateId={hidden}", "fTemplateId=abc", "fTemplateId=99999999", ""):
        response = client.get(f"{BASE}getFieldDefn?apiKey={TEAM_KEY}&{query}")
        assert (response.status_code, response.json()) == (200, [])
    solar = world["solar"].pk
    response = client.get(f"{BASE}getFieldDefn?apiKey={TEAM_KEY}&fTemplateId={solar}")
    assert [entry["key"] for entry in response.json()] == ["Name", "Email", "Mobile"]


def test_a_template_without_a_disposition_set_lists_none(client: Client, world: dict) -> None:
    bare = TemplateFactory(name="Bare", disposition_set=None)
    response = client.get(f"{BASE}getDispositionList?apiKey={GLOBAL_KEY}&fTemplateId={bare.pk}")
    assert response.json() == ok("Disposition", [])


def test_urls_read_as_a_servlet_reads_them(client: Client, world: dict) -> None:
    """A base URL ending in "/" (adjacent slashes are one), a parameter given twice (its first
    value counts), as the vendor's servlet container reads them."""
    solar, jan = world["solar"], world["jan"]
    # (A leading "//" is the live server's: tests/campaigner/test_noojee_clients_live.py. This
    # client would read it as a host name.)
    path = f"/servicemanager//rest/CampaignAPI//getCampaignList?apiKey={GLOBAL_KEY}"
    response = client.get(f"{path}&fTemplateId={solar.pk}")
    assert (response.status_code, response.json()["type"]) == (200, "Campaign")
    response = client.get(f"{BASE}/getAllocationList//?apiKey={GLOBAL_KEY}&fCampaignId={jan.pk}")
    assert response.status_code == 404  # the method name is still exact: "getAllocationList/"
    assert response.json()["message"] == "UNKNOWN_METHOD"

    twice = f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}&apiKey=wrong&fTemplateId={solar.pk}"
    assert client.get(twice).json()["type"] == "Campaign"
    twice = f"{BASE}getCampaignList?apiKey=wrong&apiKey={GLOBAL_KEY}&fTemplateId={solar.pk}"
    assert client.get(twice).status_code == 401
    hidden = world["hidden"].pk
    twice = f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}&fTemplateId={hidden}&fTemplateId={solar.pk}"
    assert client.get(twice).json() == ok("Campaign", [(world["secret"].pk, "Secret")])
    form = client.post(f"{BASE}getCampaignList?apiKey={GLOBAL_KEY}",
                       f"fTemplateId={hidden}&fTemplateId={solar.pk}",
                       content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert form.json() == ok("Campaign", [(world["secret"].pk, "Secret")])
    # Elsewhere paths are as written: the management API does not collapse slashes.
    assert client.get("/api//v1/leads/").status_code == 404  # collapsed, it would be 401
