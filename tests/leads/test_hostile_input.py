"""Hostile values a fuzzer found (hardening, #13): each gets its contract code, never a 500, and
a refused lead or call writes nothing; in a batch only the bad lead is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dialer.services import dialer_cache_refresh
from leads.models import Lead
from tests.campaignapi import Api, make_api
from tests.dialer.conftest import allocation, campaign, dialer, make_lead  # noqa: F401 (fixtures)
from tests.factories import DispositionFactory
from tests.snapshot import database_rows

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

JANE = {"Name": "Jane", "FirstPhone": "0383218199"}
USED_AT = frozenset({"campaigner_apikey", "campaigner_apitoken"})  # last use is recorded


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def refused(api: Api, method: str, body: Any, code: int, raw: bool = False) -> None:
    before = database_rows(exclude=USED_AT)
    response = api.post(method, body, raw=raw)
    assert (response.status_code, response.json()["code"]) == (400, code), response.json()
    assert database_rows(exclude=USED_AT) == before


def test_a_body_nested_a_thousand_deep_is_150(api: Api) -> None:
    for method in ("insertLeadFast", "insertLeadsFast", "updateLeadFast"):
        refused(api, method, "[" * 1000 + "]" * 1000, 150, raw=True)
        refused(api, method, '{"a":' * 1000 + "1" + "}" * 1000, 150, raw=True)


@pytest.mark.parametrize(
    ("date", "hours"),
    [("0001/01/01 00:00", "Melbourne business"), ("9999/12/31 23:59", "Los Angeles")],
)
def test_callbacks_at_the_ends_of_the_calendar_are_114(api: Api, date: str, hours: str) -> None:
    api.template.contact_hours.__class__.objects.create(
        name="Los Angeles", timezone="America/Los_Angeles"
    )
    lead = {**JANE, "njCallBackDate": date, "njContactHours": hours}
    refused(api, "insertLeadFast", lead, 114)
    body = api.post(
        "insertLeadsFast", [{"FirstPhone": "0390000001"}, lead, {"FirstPhone": "0390000002"}]
    ).json()
    assert [r["code"] for r in body["results"]] == [0, 114, 0]
    assert Lead.objects.count() == 2
    assert api.post("insertLeadFast", {**JANE, "njExternalLeadId": "x"}).json()["code"] == 0
    DispositionFactory(disposition_set=api.template.disposition_set, name="Any")
    refused(api, "updateLeadFast", {**lead, "njExternalLeadId": "x", "njDisposition": "Any"}, 114)


def test_a_number_beyond_json_is_150_not_null(api: Api) -> None:
    huge = '{"Name": 1e400, "FirstPhone": "0383218199"}'
    refused(api, "insertLeadFast", huge, 150, raw=True)
    body = api.post("insertLeadsFast", f'[{huge}, {{"FirstPhone": "0390000001"}}]', raw=True)
    assert [r["code"] for r in body.json()["results"]] == [150, 0]
    assert list(Lead.objects.values_list("fields", flat=True)) == [{"FirstPhone": "0390000001"}]
    api.post("insertLeadFast", {**JANE, "njExternalLeadId": "x"})
    refused(api, "updateLeadFast",
            '{"njExternalLeadId": "x", "FirstPhone": "<No Change>", "Name": -1e400}', 150,
            raw=True)  # fmt: skip


@pytest.mark.parametrize("priority", ["", " ", "1e1", "٥"])
def test_a_priority_that_is_not_a_whole_number_is_151(api: Api, priority: str) -> None:
    refused(api, "insertLeadFast", {**JANE, "njPriority": priority}, 151)


def test_null_priority_is_the_default(api: Api) -> None:
    assert api.post("insertLeadFast", {**JANE, "njPriority": None}).json()["code"] == 0
    assert Lead.objects.get().priority == 10


def test_dialer_calls_refuse_nul_and_edge_dates_with_400(
    dialer: Client,  # noqa: F811 (the fixture)
    campaign: Any,  # noqa: F811 (the fixture)
) -> None:
    DispositionFactory(disposition_set=campaign.template.disposition_set, name="Later")
    lead = make_lead(allocation(campaign))
    dialer_cache_refresh(campaign.pk)
    url = f"/api/v1/dialer/campaigns/{campaign.pk}/next-lead"
    before = database_rows(exclude=USED_AT)
    response = dialer.post(url, {"agent": "\x00"}, content_type="application/json")
    assert response.status_code == 400 and "agent" in response.json()["errors"]
    assert database_rows(exclude=USED_AT) == before
    assert dialer.post(url, {"agent": "a1"}, content_type="application/json").status_code == 200

    outcome = f"/api/v1/dialer/leads/{lead.pk}/outcome"
    for body, field in [
        ({"disposition": "Later", "notes": "a\x00b"}, "notes"),
        ({"disposition": "La\x00ter"}, "disposition"),
        ({"disposition": "Later", "callbackDate": "0001/01/01 00:00"}, "callbackDate"),
        ({"disposition": "Later", "callbackDate": "9999/12/31 23:59"}, "callbackDate"),
    ]:
        before = database_rows(exclude=USED_AT)
        response = dialer.post(outcome, body, content_type="application/json")
        assert response.status_code == 400 and field in response.json()["errors"], body
        assert database_rows(exclude=USED_AT) == before
    ok = dialer.post(outcome, {"disposition": "Later", "callbackDate": "9999/12/28 23:59"},
                     content_type="application/json")  # fmt: skip
    assert ok.status_code == 200
    eligibility = dialer.get(f"/api/v1/leads/{lead.pk}/eligibility")
    assert eligibility.status_code == 200 and eligibility.json()["eligible"] is False
