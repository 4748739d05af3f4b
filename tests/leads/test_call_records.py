"""Call records (domain.md §4): the dialer's outcome stores one per call, with its details;
they are read by getCallRecordList (campaignapi.md §3), ``/api/v1/leads/<id>/calls`` and the
URL action's payload, which a receiver written against Noojee's parses unchanged."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigner.celery import app as celery_app
from campaigner.models import Campaign, Disposition, DispositionAction
from leads import tasks  # noqa: F401 (registers the delivery task the webhook is queued to)
from leads.models import CallRecord, DispositionRecord, Lead
from tests.campaignapi import BASE, GLOBAL_KEY
from tests.dialer.conftest import allocation, campaign, dialer, make_lead
from tests.factories import ApiKeyFactory, ApiTokenFactory, TemplateFactory
from tests.webhooks import Hook, tijuana_read

pytestmark = pytest.mark.django_db
__all__ = ["campaign", "dialer"]  # fixtures of the dialer tests, used here

TEAM_KEY = "team-key-of-call-records-000000"


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook([])
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(autouse=True)
def _eager_tasks(settings: Any) -> Iterator[None]:
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def keys(campaign: Campaign) -> None:
    ApiKeyFactory(plain=GLOBAL_KEY)
    sales = Group.objects.create(name="Sales")
    campaign.template.teams.add(sales)
    other = Group.objects.create(name="Other")
    ApiKeyFactory(plain=TEAM_KEY, team=other)


def check_out(lead: Lead, agent: str = "agent-7") -> None:
    number = lead.phones.get().number
    Lead.objects.filter(pk=lead.pk).update(
        checked_out_by=agent,
        checked_out_until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3),
        checked_out_number=number,
    )


def outcome(dialer: Client, lead: Lead, disposition: str, **details: Any) -> Any:
    check_out(lead)
    return dialer.post(
        f"/api/v1/dialer/leads/{lead.pk}/outcome",
        {"disposition": disposition, **details},
        content_type="application/json",
    )


def records(client: Client, campaign: Campaign, query: str = "", key: str = GLOBAL_KEY) -> Any:
    ids = f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
    return client.get(f"{BASE}getCallRecordList?apiKey={key}&{ids}{query}")


def test_an_outcome_with_details_stores_its_call(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    started = "2026-12-04T16:15:17+11:00"
    response = outcome(dialer, lead, "No Answer", dialedNumber="(03) 0000 0000",
                       callStartedAt=started, durationSeconds=598,
                       uniqueCallId="1513228517.34030", agent="Kim")  # fmt: skip
    assert response.status_code == 200, response.content

    call = CallRecord.objects.get()
    assert (call.lead_id, call.attempt, call.duration_s, call.unique_call_id, call.agent) == (
        lead.pk, 1, 598, "1513228517.34030", "Kim",
    )  # fmt: skip
    assert call.called_at == dt.datetime.fromisoformat(started)
    assert call.dialed_number == "+61300000000"  # read as every door reads numbers (E.164)
    assert call.record == DispositionRecord.objects.get()
    assert (call.campaign_id, call.allocation_id) == (lead.campaign_id, lead.allocation_id)
    assert call.disposition.name == "No Answer"


def test_an_outcome_without_details_is_still_one_call(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    before = dt.datetime.now(dt.UTC)
    assert outcome(dialer, lead, "No Answer").status_code == 200
    assert outcome(dialer, lead, "No Answer", durationSeconds=None).status_code == 200

    first, second = CallRecord.objects.order_by("id")
    assert [first.attempt, second.attempt] == [1, 2]
    assert first.dialed_number == lead.phones.get().number  # the handed-out number
    assert first.agent == "agent-7"  # who held the lead
    assert first.duration_s is None and first.unique_call_id == ""
    assert first.called_at >= before

    answer = dialer.get(f"/api/v1/leads/{lead.pk}").json()
    assert answer["dialAttempts"] == 2


@pytest.mark.parametrize(
    "details",
    [{"durationSeconds": -1}, {"durationSeconds": "long"}, {"callStartedAt": "yesterday"},
     {"uniqueCallId": "x" * 151}, {"dialedNumber": "1" * 33},
     {"callStartedAt": "0001-01-01T00:00:00+10:00"}, {"callStartedAt": "2999-01-01T00:00:00Z"}],
)  # fmt: skip
def test_bad_details_are_refused_and_write_nothing(
    dialer: Client, campaign: Campaign, details: dict[str, Any]
) -> None:
    lead = make_lead(allocation(campaign))
    response = outcome(dialer, lead, "No Answer", **details)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(details)
    assert not CallRecord.objects.exists() and not DispositionRecord.objects.exists()
    assert Lead.objects.get().version == lead.version


def test_the_url_action_of_a_call_is_noojees_payload(
    dialer: Client, campaign: Campaign, hook: Hook, django_capture_on_commit_callbacks: Any
) -> None:
    """The payload a receiver written against Noojee's reads: every value a string, the call
    date with seconds in the lead's zone, the call's duration, attempt count, number, id."""
    sale = Disposition.objects.get(name="Sale")
    DispositionAction.objects.create(disposition=sale, position=0, kind="webhook",
                                     params={"url": hook.url, "secret": "s"})  # fmt: skip
    lead = make_lead(allocation(campaign, name="Donors 100+"), external_id="crm-9")
    Lead.objects.filter(pk=lead.pk).update(fields={"Name": "Ann", "Age": 41, "Opt": None})
    assert outcome(dialer, lead, "No Answer").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # the delivery, queued on commit
        response = outcome(dialer, lead, "Sale", callStartedAt="2017-12-14T05:15:17Z",
                           durationSeconds=598, uniqueCallId="1513228517.34030")  # fmt: skip
    assert response.status_code == 200, response.content

    [(_, body)] = hook.received
    assert tijuana_read(body) == {
        "call_date": dt.datetime(2017, 12, 14, 16, 15, 17),  # Melbourne (summer: +11)
        "lead_id": lead.pk,
        "unique_call_id": "1513228517.34030",
        "disposition": "Sale",
        "campaign_name": "Outbound",
        "allocation_name": "Donors 100+",
        "dialed_number": lead.phones.get().number,
        "dial_attempts": 2,
        "call_duration": 598,
    }
    payload = json.loads(body)
    assert (payload["Name"], payload["Age"], payload["Opt"]) == ("Ann", "41", "")
    assert (payload["njAction"], payload["njExternalLeadId"]) == ("", "crm-9")


def test_get_call_record_list_end_to_end(
    client: Client, dialer: Client, campaign: Campaign, keys: None
) -> None:
    """Outcome → call record → getCallRecordList, filtered by dispositions and allocation,
    newest first, paged."""
    first, second = allocation(campaign, "First"), allocation(campaign, "Second")
    a, b, c = make_lead(first, external_id="a"), make_lead(first), make_lead(second)
    no_answer, sale = (
        Disposition.objects.get(name="No Answer"),
        Disposition.objects.get(name="Sale"),
    )
    for lead, name, minute in ((a, "No Answer", 1), (b, "No Answer", 2), (c, "No Answer", 3),
                               (a, "Sale", 4)):  # fmt: skip
        started = f"2026-11-30T10:0{minute}:00+11:00"
        assert outcome(dialer, lead, name, callStartedAt=started, durationSeconds=minute,
                       uniqueCallId=f"u{minute}").status_code == 200  # fmt: skip

    answer = records(client, campaign, f"&fDispositions={no_answer.pk},{sale.pk}").json()
    assert (answer["type"], answer["code"], answer["message"], answer["more"]) == (
        "CallRecord", 0, "OK", False,
    )  # fmt: skip
    assert [e["njUniqueCallId"] for e in answer["entities"]] == ["u4", "u3", "u2", "u1"]
    newest = answer["entities"][0]
    assert newest == {
        "Name": "Lead", "njLeadId": str(a.pk), "njExternalLeadId": "a",
        "njCallDate": "2026/11/30 10:04:00", "njDisposition": "Sale", "njCallDuration": "4",
        "njDialAttempts": "2", "njDialedNumber": a.phones.get().number, "njUniqueCallId": "u4",
        "njAgent": "agent-7", "njCampaignName": "Outbound", "njAllocationName": "First",
    }  # fmt: skip

    only_sales = records(client, campaign, f"&fDispositions={sale.pk}").json()["entities"]
    assert [e["njUniqueCallId"] for e in only_sales] == ["u4"]
    # The older spelling of the ids, and one allocation.
    ids = f"fTemplateId={campaign.template_id}&campaignId={campaign.pk}&allocationId={second.pk}"
    old = client.get(f"{BASE}getCallRecordList?apiKey={GLOBAL_KEY}&{ids}"
                     f"&fDispositions={no_answer.pk}")  # fmt: skip
    assert [e["njUniqueCallId"] for e in old.json()["entities"]] == ["u3"]
    # A range (the template's zone) and a page.
    ranged = records(client, campaign, "&fStartDate=2026/11/30 10:02&fEndDate=2026/11/30 10:04")
    assert [e["njUniqueCallId"] for e in ranged.json()["entities"]] == ["u3", "u2"]
    page = records(client, campaign, "&fLimit=3").json()
    assert ([e["njUniqueCallId"] for e in page["entities"]], page["more"]) == (
        ["u4", "u3", "u2"], True,
    )  # fmt: skip
    rest = records(client, campaign, "&fLimit=3&fOffset=3").json()
    assert ([e["njUniqueCallId"] for e in rest["entities"]], rest["more"]) == (["u1"], False)


def test_get_call_record_list_refusals(
    client: Client, dialer: Client, campaign: Campaign, keys: None
) -> None:
    other = TemplateFactory(name="Other")
    alien = Campaign.objects.create(template=other, name="Alien")
    lead = make_lead(allocation(campaign))
    assert outcome(dialer, lead, "No Answer").status_code == 200

    def answer(query: str, key: str = GLOBAL_KEY) -> tuple[int, Any]:
        response = client.get(f"{BASE}getCallRecordList?apiKey={key}&{query}")
        return response.status_code, response.json()

    template, mine = campaign.template_id, campaign.pk
    assert answer("") == (400, {"code": 116, "message": "TEMPLATE_ID_REQUIRED"})
    assert answer(f"fTemplateId={template}")[1]["code"] == 117
    assert answer(f"fTemplateId={template}&fCampaignId={alien.pk}")[1]["code"] == 117
    wrong_allocation = f"fTemplateId={template}&fCampaignId={mine}&fAllocationId=999999"
    assert answer(wrong_allocation) == (400, {"code": 115, "message": "ALLOCATION_ID_REQUIRED"})
    # Another team's key: the template does not exist for it.
    assert answer(f"fTemplateId={template}&fCampaignId={mine}", TEAM_KEY)[1]["code"] == 116
    assert answer(f"fTemplateId={template}&fCampaignId={mine}", "wrong")[0] == 401
    for bad in ("fDispositions=1,x", "fLimit=0", "fLimit=5001", "fOffset=-1",
                "fStartDate=2026-11-30", "fEndDate=30/11/2026 10:00",
                "fStartDate=0001/01/01 00:00"):  # fmt: skip
        status, body = answer(f"fTemplateId={template}&fCampaignId={mine}&{bad}")
        assert (status, body["code"], body["message"]) == (400, 150, "MALFORMED_REQUEST"), bad


def test_a_leads_calls_over_the_management_api(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    assert outcome(dialer, lead, "No Answer", durationSeconds=12, uniqueCallId="x1").status_code
    assert outcome(dialer, lead, "Sale", durationSeconds=30).status_code == 200

    response = dialer.get(f"/api/v1/leads/{lead.pk}/calls")
    assert response.status_code == 200
    calls = response.json()["results"]
    assert [(c["attempt"], c["disposition"], c["durationSeconds"]) for c in calls] == [
        (2, "Sale", 30), (1, "No Answer", 12),
    ]  # fmt: skip
    assert calls[1]["uniqueCallId"] == "x1" and calls[1]["agent"] == "agent-7"
    assert dialer.get("/api/v1/leads/999999/calls").status_code == 404


def test_calls_are_scoped_by_team(client: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    ApiTokenFactory(plain="staff-token-00000000000000", user__username="kim",
                    user__is_staff=True)  # fmt: skip
    response = client.get(
        f"/api/v1/leads/{lead.pk}/calls", HTTP_AUTHORIZATION="Bearer staff-token-00000000000000"
    )
    assert response.status_code == 404  # not of the user's teams: it does not exist
