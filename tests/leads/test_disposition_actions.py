"""Each disposition action's effect (campaignapi.md §6), set through ``updateLeadFast``.

Webhooks go to a real HTTP server started by the test; Celery runs tasks eagerly here (the
worker itself is exercised in tests/dialer/test_beat.py), so a retry happens at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from campaigner.celery import app as celery_app
from campaigner.models import Disposition, DispositionAction
from leads.models import ActionDelivery, DncEntry, Lead, LeadPhone
from leads.services.delivery import action_delivery_retry
from leads.tasks import action_deliveries_due_task
from tests.campaignapi import Api, make_api
from tests.factories import AllocationFactory, CampaignFactory
from tests.webhooks import Hook, tijuana_read

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret"


@pytest.fixture(autouse=True)
def _eager_tasks(settings: Any) -> Iterator[None]:
    settings.ACTION_RETRY_BASE_SECONDS = 0
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


@pytest.fixture
def lead(api: Api) -> Lead:
    body = {"Name": "Jane", "FirstPhone": "0383218199", "SecondPhone": "0390001234",
            "njExternalLeadId": "crm-1"}  # fmt: skip
    lead_id = api.post("insertLeadFast", body).json()["leadId"]
    return Lead.objects.get(pk=lead_id)


def disposition(api: Api, name: str, *actions: dict[str, Any], **props: Any) -> Disposition:
    made = Disposition.objects.create(
        disposition_set=api.template.disposition_set, name=name, **props
    )
    for position, spec in enumerate(actions):
        kind = spec.pop("kind")
        DispositionAction.objects.create(
            disposition=made, position=position, kind=kind, params=spec
        )
    return made


def set_disposition(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njDisposition": name}
    response = api.post("updateLeadFast", {**body, **extra})
    return response.json()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook([])
    yield receiver
    receiver.server.shutdown()


# --- local actions --------------------------------------------------------------------------


def test_close(api: Api, lead: Lead) -> None:
    disposition(api, "Gone", {"kind": "close"})
    assert set_disposition(api, "Gone")["code"] == 0
    lead.refresh_from_db()
    assert lead.closed and lead.disposition.name == "Gone"


def test_callback_in_n_minutes_unless_the_caller_gave_a_date(api: Api, lead: Lead) -> None:
    disposition(api, "Later", {"kind": "callback", "minutes": 60})
    before = timezone.now()
    set_disposition(api, "Later")
    lead.refresh_from_db()
    assert lead.callback_at is not None
    assert before + dt.timedelta(minutes=60) <= lead.callback_at
    assert lead.callback_at <= timezone.now() + dt.timedelta(minutes=60)

    set_disposition(api, "Later", njCallBackDate="2031/05/06 10:00")
    lead.refresh_from_db()
    assert lead.callback_at == dt.datetime(2031, 5, 6, 0, 0, tzinfo=dt.UTC)  # 10:00 AEST


def test_set_priority_and_the_disposition_priority(api: Api, lead: Lead) -> None:
    disposition(api, "Warm", priority=40)
    disposition(api, "Hot", {"kind": "set_priority", "priority": 1}, priority=40)
    set_disposition(api, "Warm")
    assert Lead.objects.get().priority == 40
    set_disposition(api, "Hot")
    assert Lead.objects.get().priority == 1


def test_dnc_of_the_dialed_number(api: Api, lead: Lead) -> None:
    disposition(api, "Wrong number", {"kind": "dnc", "numbers": "dialed"})
    Lead.objects.update(checked_out_number="+61390001234")
    assert set_disposition(api, "Wrong number")["code"] == 0
    assert list(DncEntry.objects.values_list("number", flat=True)) == ["+61390001234"]
    assert sorted(LeadPhone.objects.values_list("number", "blocked")) == [
        ("+61383218199", False), ("+61390001234", True),
    ]  # fmt: skip


def test_dnc_of_all_numbers_makes_an_expiring_entry_permanent(api: Api, lead: Lead) -> None:
    DncEntry.objects.create(number="+61390001234", expires_on=dt.date(2099, 1, 1), note="kept")
    disposition(api, "Do Not Call", {"kind": "dnc", "numbers": "all"}, {"kind": "close"})
    assert set_disposition(api, "Do Not Call")["code"] == 0
    assert sorted(DncEntry.objects.values_list("number", "expires_on", "note")) == [
        ("+61383218199", None, f"lead {lead.pk}"), ("+61390001234", None, "kept"),
    ]  # fmt: skip
    assert set(LeadPhone.objects.values_list("blocked", flat=True)) == {True}
    assert Lead.objects.get().closed


def test_copy_lead_into_another_campaign_through_the_insert_checks(api: Api, lead: Lead) -> None:
    campaign = CampaignFactory(template=api.template, name="Upsell")
    target = AllocationFactory(campaign=campaign, name="Hot leads")
    disposition(api, "Interested", {"kind": "copy_lead", "template": api.template.name,
                                    "campaign": "Upsell", "allocation": "Hot leads"})  # fmt: skip
    assert set_disposition(api, "Interested")["code"] == 0
    copy = Lead.objects.get(allocation=target)
    assert copy.fields == {"Name": "Jane", "FirstPhone": "0383218199", "SecondPhone": "0390001234"}
    assert copy.external_id == "crm-1"
    assert copy.campaign == campaign and copy.version == 1

    # A second copy is a duplicate in the target campaign: rejected, logged, update kept.
    assert set_disposition(api, "Interested")["code"] == 0
    assert Lead.objects.filter(allocation=target).count() == 1
    record = lead.dispositions.last()
    assert record.actions == ["copy_lead: rejected 112 DUPLICATE_EXTERNAL_ID"]


def test_retry_limit_closes_the_lead_on_the_nth_no_answer(api: Api, lead: Lead) -> None:
    disposition(api, "No Answer", {"kind": "callback", "minutes": 30},
                {"kind": "retry_limit", "count": 3, "then": {"kind": "close"}})  # fmt: skip
    closed = []
    for _ in range(3):
        assert set_disposition(api, "No Answer")["code"] == 0
        closed.append(Lead.objects.get().closed)
    assert closed == [False, False, True]
    assert [r.actions for r in lead.dispositions.all()] == [
        ["callback: in 30 min", "retry_limit: 1 of 3"],
        ["callback: in 30 min", "retry_limit: 2 of 3"],
        ["callback: in 30 min", "retry_limit: 3 of 3 reached, close", "close: closed"],
    ]


# --- webhook and email ------------------------------------------------------------------------


def test_the_webhook_is_delivered_signed(api: Api, lead: Lead, hook: Hook) -> None:
    disposition(api, "Hot", {"kind": "webhook", "url": hook.url, "secret": SECRET})
    answer = set_disposition(api, "Hot", Name="Jane Hot")
    assert answer["code"] == 0

    [(headers, body)] = hook.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Campaigner-Signature"], expected)
    read = tijuana_read(body)  # Noojee's shape: every value a string, the date with seconds
    melbourne = timezone.now().astimezone(zoneinfo.ZoneInfo("Australia/Melbourne"))
    assert abs(read["call_date"] - melbourne.replace(tzinfo=None)) < dt.timedelta(seconds=30)
    payload = json.loads(body)
    del payload["njCallDate"]
    assert payload == {
        "Name": "Jane Hot", "FirstPhone": "0383218199", "SecondPhone": "0390001234",
        "njLeadId": str(lead.pk), "njExternalLeadId": "crm-1", "njDisposition": "Hot",
        "njCampaignName": "Jan16a", "njAllocationName": "Web leads", "njAction": "",
        # not from a call: the call keys are empty
        "njCallDuration": "", "njDialAttempts": "", "njDialedNumber": "", "njUniqueCallId": "",
    }  # fmt: skip
    delivery = ActionDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("delivered", 1, 200)
    assert headers["X-Campaigner-Delivery"] == str(delivery.pk)


def test_a_webhook_answering_500_twice_is_delivered_on_the_third_attempt(
    api: Api, lead: Lead, hook: Hook
) -> None:
    hook.statuses = [500, 500]
    disposition(api, "Hot", {"kind": "webhook", "url": hook.url, "secret": SECRET})
    assert set_disposition(api, "Hot")["code"] == 0

    assert len(hook.received) == 3
    assert len({body for _, body in hook.received}) == 1  # every attempt sends the same body
    delivery = ActionDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert list(delivery.tries.values_list("number", "ok", "http_status")) == [
        (1, False, 500), (2, False, 500), (3, True, 200),
    ]  # fmt: skip


def test_a_failing_webhook_never_undoes_the_update(api: Api, lead: Lead, settings: Any) -> None:
    settings.ACTION_MAX_ATTEMPTS = 2
    disposition(api, "Hot", {"kind": "webhook", "url": "http://127.0.0.1:9/", "secret": SECRET})
    answer = set_disposition(api, "Hot", Name="Kept")

    assert answer["code"] == 0 and answer["version"] == 2
    assert Lead.objects.get().fields["Name"] == "Kept"
    delivery = ActionDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert "Connection refused" in delivery.last_error

    # An operator's retry makes it due again and queues it (here it runs at once, and fails
    # its two attempts again); then nothing is due for the sweeper.
    assert action_delivery_retry(delivery) is True
    assert action_deliveries_due_task() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.tries.count() == 4


def test_a_rolled_back_update_queues_nothing(api: Api, lead: Lead, hook: Hook) -> None:
    disposition(api, "Hot", {"kind": "webhook", "url": hook.url, "secret": SECRET})
    answer = set_disposition(api, "Hot", njVersion=5)
    assert answer["code"] == 110
    assert ActionDelivery.objects.count() == 0
    assert hook.received == []


def test_email_with_field_substitution(api: Api, lead: Lead) -> None:
    body = "Lead ${njLeadId} (${FirstPhone}) in ${njCampaignName}${Missing}."
    disposition(api, "Sale", {"kind": "email", "to": "boss@example.com, ops@example.com",
                              "subject": "Sale: ${Name}", "body": body})  # fmt: skip
    assert set_disposition(api, "Sale")["code"] == 0
    [message] = mail.outbox
    assert message.to == ["boss@example.com", "ops@example.com"]
    assert message.subject == "Sale: Jane"
    assert message.body == f"Lead {lead.pk} (0383218199) in Jan16a."
    assert ActionDelivery.objects.get().status == "delivered"


@pytest.mark.parametrize("target", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]"])
def test_a_webhook_to_a_private_address_is_refused_without_a_request(
    api: Api, lead: Lead, settings: Any, target: str
) -> None:
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = False
    settings.ACTION_MAX_ATTEMPTS = 1
    disposition(
        api, "Hook", {"kind": "webhook", "url": f"http://{target}:9/hook", "secret": SECRET}
    )
    assert set_disposition(api, "Hook")["code"] == 0
    delivery = ActionDelivery.objects.get()
    assert delivery.status == ActionDelivery.Status.FAILED
    assert "not a public address" in delivery.last_error


def test_a_private_receiver_is_refused_unless_allowed(
    api: Api, lead: Lead, hook: Hook, settings: Any
) -> None:
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = False
    settings.ACTION_MAX_ATTEMPTS = 1
    disposition(api, "Hook", {"kind": "webhook", "url": hook.url, "secret": SECRET})
    set_disposition(api, "Hook")
    assert hook.received == []  # no request left the server


def test_a_redirect_is_a_failed_attempt_not_followed(
    api: Api, lead: Lead, hook: Hook, settings: Any
) -> None:
    settings.ACTION_MAX_ATTEMPTS = 1
    hook.statuses = [302]
    disposition(api, "Hook", {"kind": "webhook", "url": hook.url, "secret": SECRET})
    set_disposition(api, "Hook")
    delivery = ActionDelivery.objects.get()
    assert (delivery.status, delivery.last_http_status) == (ActionDelivery.Status.FAILED, 302)
    assert len(hook.received) == 1
