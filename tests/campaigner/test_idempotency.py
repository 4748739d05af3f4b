"""Safe retries (campaigner.idempotency, campaigner.api.idempotent): a write call sent again
with its ``Idempotency-Key`` is answered as the first time, byte for byte, and writes nothing;
the key with another request is refused; racers with one key write once. The CampaignAPI here;
the management API in ``test_idempotency_management.py``; real server processes (a kill -9, a
client that gave up) in ``test_idempotency_live.py``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner import idempotency, ratelimit
from campaigner.models import Disposition, DispositionAction, IdempotentAnswer
from leads.models import ActionDelivery, CallRecord, DispositionRecord, Lead, LeadChange
from tests.campaignapi import Api, make_api
from tests.concurrency import first_calls_meet, held_elsewhere, in_threads, key_held
from tests.factories import ApiKeyFactory
from tests.webhooks import Hook

# The CampaignAPI's write calls refuse to start inside a transaction (run_limited).
pytestmark = pytest.mark.django_db(transaction=True)

KEY = "7d1f2c34-0b1e-4a55-9d8e-0c1a2b3c4d5e"
JANE = {"Name": "Jane Citizen", "FirstPhone": "0383218199", "njExternalLeadId": "crm-1"}


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def keyed(key: str = KEY) -> dict[str, str]:
    return {"Idempotency-Key": key}


def assert_replayed(first: Any, again: Any) -> None:
    """``again`` is ``first`` given back: status, type and bytes, marked as replayed."""
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.status_code == first.status_code
    assert again["Content-Type"] == first["Content-Type"]
    assert again.content == first.content


# --- each write call, retried -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("insertLeadFast", {"Name": "Jane", "FirstPhone": "0383218199"}),
        ("insertLead", {"Name": "Jane", "FirstPhone": "0383218199"}),
        ("insertLeadsFast", [{"FirstPhone": "0383218199"}, {"FirstPhone": "0390001234"}]),
        ("insertLeads", [{"FirstPhone": "0383218199"}, {"FirstPhone": "0390001234"}]),
    ],
)
def test_an_insert_retried_with_its_key_inserts_once(api: Api, method: str, body: Any) -> None:
    """With ``allowDuplicates=true`` and no external id nothing else tells a retry from a new
    lead: without the key, the retry is a second copy of each lead."""
    first = api.post(method, body, headers=keyed(), allowDuplicates="true")
    assert first.status_code == 200 and first.json()["code"] == 0
    history = LeadChange.objects.count()
    retries = [api.post(method, body, headers=keyed(), allowDuplicates="true") for _ in range(3)]

    for again in retries:
        assert_replayed(first, again)
    leads = len(body) if isinstance(body, list) else 1
    assert Lead.objects.count() == leads
    assert LeadChange.objects.count() == history

    api.post(method, body, allowDuplicates="true")  # the same retry without a key
    assert Lead.objects.count() == 2 * leads


def test_the_key_may_be_a_query_parameter_and_is_the_same_key_as_the_header(api: Api) -> None:
    first = api.post("insertLeadFast", JANE, idempotencyKey=KEY)
    again = api.post("insertLeadFast", JANE, headers=keyed())
    both = api.post("insertLeadFast", JANE, headers=keyed(), idempotencyKey=KEY)

    assert first.json()["code"] == 0
    assert_replayed(first, again)
    assert_replayed(first, both)
    assert Lead.objects.count() == 1


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook([])
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def private_webhooks(settings: Any) -> None:
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1


def hot_disposition(api: Api, hook: Hook) -> None:
    """A disposition whose actions show each run: a webhook and a retry limit of 3."""
    hot = Disposition.objects.create(disposition_set=api.template.disposition_set, name="Hot")
    DispositionAction.objects.create(
        disposition=hot, position=0, kind="webhook", params={"url": hook.url, "secret": "s"}
    )
    DispositionAction.objects.create(
        disposition=hot, position=1, kind="retry_limit",
        params={"count": 3, "then": {"kind": "close"}},
    )  # fmt: skip


@pytest.mark.usefixtures("private_webhooks")
@pytest.mark.parametrize("method", ["updateLeadFast", "updateLead"])
def test_an_update_retried_with_its_key_runs_its_actions_once(
    api: Api, hook: Hook, method: str
) -> None:
    hot_disposition(api, hook)
    assert api.post("insertLeadFast", JANE).json()["code"] == 0
    update = {"FirstPhone": "<No Change>", "njDisposition": "Hot", "City": "Carlton"}
    if method == "updateLeadFast":
        update["njExternalLeadId"] = "crm-1"
        params = {}
    else:
        params = {"njExternalLeadId": "crm-1"}

    first = api.post(method, update, headers=keyed(), **params)
    retries = [api.post(method, update, headers=keyed(), **params) for _ in range(3)]

    assert first.json() == {"code": 0, "message": "OK", "leadId": first.json()["leadId"],
                            "version": 2, "ignoredFields": []}  # fmt: skip
    for again in retries:
        assert_replayed(first, again)
    lead = Lead.objects.get()
    assert (lead.version, lead.closed) == (2, False)
    assert DispositionRecord.objects.count() == 1
    assert "retry_limit: 1 of 3" in DispositionRecord.objects.get().actions
    assert ActionDelivery.objects.count() == 1  # one webhook queued


# --- what is refused, what is not kept ---------------------------------------------------------


def test_the_key_with_another_request_is_refused_and_writes_nothing(api: Api) -> None:
    first = api.post("insertLeadFast", JANE, headers=keyed())
    other_body = api.post("insertLeadFast", {**JANE, "FirstPhone": "0390001234"}, headers=keyed())
    other_allocation = api.post("insertLeadFast", JANE, headers=keyed(), allowDuplicates="true")
    other_call = api.post("updateLeadFast", {**JANE, "City": "Carlton"}, headers=keyed())

    assert first.json()["code"] == 0
    for refused in (other_body, other_allocation, other_call):
        assert refused.status_code == 422
        assert refused.json()["code"] == 153
        assert refused.json()["message"] == "IDEMPOTENCY_KEY_REUSED"
        assert "insertLeadFast" in refused.json()["detail"]
        assert "Idempotent-Replayed" not in refused.headers
    assert list(Lead.objects.values_list("fields__FirstPhone", "fields__City")) == [
        ("0383218199", None)
    ]
    assert Lead.objects.get().version == 1


def test_another_if_match_is_another_request(api: Api) -> None:
    Disposition.objects.create(disposition_set=api.template.disposition_set, name="Spoke")
    assert api.post("insertLeadFast", JANE).json()["code"] == 0
    update = {**JANE, "City": "Carlton", "njDisposition": "Spoke"}
    first = api.post("updateLeadFast", update, headers={**keyed(), "If-Match": "1"})
    other = api.post("updateLeadFast", update, headers={**keyed(), "If-Match": "2"})

    assert first.json()["version"] == 2
    assert (other.status_code, other.json()["code"]) == (422, 153)
    assert Lead.objects.get().version == 2


@pytest.mark.parametrize(
    ("header", "param"),
    [("x" * 256, None), ("naïve", None), ("", None), ("two\tparts", None), ("a", "b")],
)
def test_a_bad_key_is_150_and_writes_nothing(api: Api, header: str, param: str | None) -> None:
    params = {"idempotencyKey": param} if param else {}
    answer = api.post("insertLeadFast", JANE, headers={"Idempotency-Key": header}, **params)
    assert answer.status_code == 400 and answer.json()["code"] == 150
    assert not Lead.objects.exists() and not IdempotentAnswer.objects.exists()


def test_keys_are_each_api_keys_own(api: Api) -> None:
    ApiKeyFactory(name="vendor", plain="vendor-key-000000000000000000000")
    body = {"FirstPhone": "0383218199"}
    mine = api.post("insertLeadFast", body, headers=keyed(), allowDuplicates="true")
    theirs = api.post(
        "insertLeadFast", body, headers=keyed(), allowDuplicates="true",
        apiKey="vendor-key-000000000000000000000",
    )  # fmt: skip
    assert mine.json()["code"] == theirs.json()["code"] == 0
    assert "Idempotent-Replayed" not in theirs.headers
    assert Lead.objects.count() == 2


def test_a_lead_rejected_is_kept_and_given_again(api: Api) -> None:
    """A 105 is the call's answer: it is kept, and a retry is told the same even once the
    other lead with the number is gone."""
    taken = api.post("insertLeadFast", {"FirstPhone": "0383218199"}).json()["leadId"]
    first = api.post("insertLeadFast", JANE, headers=keyed())
    Lead.objects.filter(pk=taken).delete()
    again = api.post("insertLeadFast", JANE, headers=keyed())

    assert first.status_code == 400 and first.json()["code"] == 105
    assert_replayed(first, again)
    assert not Lead.objects.exists()


def test_a_conflict_is_not_kept_so_the_retry_runs(api: Api) -> None:
    """110 (the lead checked out by the dialer) wrote nothing and may pass later: the retry with
    the same key runs."""
    assert api.post("insertLeadFast", JANE).json()["code"] == 0
    Disposition.objects.create(disposition_set=api.template.disposition_set, name="Spoke")
    Lead.objects.update(checked_out_until=timezone.now() + dt.timedelta(minutes=3))
    update = {**JANE, "City": "Carlton", "njDisposition": "Spoke"}
    held = api.post("updateLeadFast", update, headers=keyed())
    Lead.objects.update(checked_out_until=None)
    again = api.post("updateLeadFast", update, headers=keyed())

    assert held.json()["code"] == 110
    assert again.json()["code"] == 0 and "Idempotent-Replayed" not in again.headers
    assert Lead.objects.get().fields["City"] == "Carlton"


def test_a_109_is_not_kept_and_a_replay_takes_no_place_in_the_queue(
    api: Api, settings: Any
) -> None:
    """One call at a time, held by another caller: a new keyed call waits its bound and is
    109; a call answered before is answered again at once; the 109's key runs once the slot is
    free."""
    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S = 1
    answered = api.post("insertLeadFast", JANE, headers=keyed("answered"))
    with held_elsewhere(lambda wait: ratelimit.run_limited(wait, bulk=False)):
        started = time.monotonic()
        replay = api.post("insertLeadFast", JANE, headers=keyed("answered"))
        replay_took = time.monotonic() - started
        bob = {"FirstPhone": "0390001234"}
        refused = api.post("insertLeadFast", bob, headers=keyed("queued"))
    retried = api.post("insertLeadFast", bob, headers=keyed("queued"))

    assert_replayed(answered, replay)
    assert replay_took < 0.5  # the queue bound is 1 s
    assert refused.json()["code"] == 109
    assert retried.json()["code"] == 0 and "Idempotent-Replayed" not in retried.headers
    assert Lead.objects.count() == 2


def test_an_expired_answer_is_forgotten_and_removed(api: Api, settings: Any) -> None:
    settings.IDEMPOTENCY_KEY_HOURS = 24
    body = {"FirstPhone": "0383218199"}
    first = api.post("insertLeadFast", body, headers=keyed(), allowDuplicates="true")
    IdempotentAnswer.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    api.post("insertLeadFast", body, headers=keyed("another"), allowDuplicates="true")
    IdempotentAnswer.objects.filter(key="another").update(
        created_at=timezone.now() - dt.timedelta(hours=23)
    )
    later = api.post("insertLeadFast", body, headers=keyed(), allowDuplicates="true")

    assert "Idempotent-Replayed" not in later.headers
    assert later.json()["leadId"] != first.json()["leadId"]
    assert Lead.objects.count() == 3
    # The key's answer is now the new one; the sweep leaves both live answers alone.
    assert idempotency.answers_expire() == 0
    assert idempotency.answers_expire(timezone.now() + dt.timedelta(hours=2)) == 1
    assert list(IdempotentAnswer.objects.values_list("key", flat=True)) == [KEY]


# --- racers with one key ----------------------------------------------------------------------


def first_reads_meet(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """The racers' first look for a kept answer waits until every racer is there, so each has
    found none and runs: the key's guard is then the only thing between them."""
    first_calls_meet(monkeypatch, "campaigner.api.idempotent.answer_find", parties)


def test_racing_inserts_with_one_key_insert_once(
    api: Api, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 4
    first_reads_meet(monkeypatch, 4)
    body = {"FirstPhone": "0383218199"}

    def call(_: int) -> Any:
        return Client().post(
            f"/servicemanager/rest/CampaignAPI/insertLeadFast?{query(api)}&allowDuplicates=true",
            data=body, content_type="application/json", headers=keyed(),
        )  # fmt: skip

    answers = in_threads(4, call)

    assert Lead.objects.count() == 1
    assert {a.content for a in answers} == {answers[0].content}
    assert answers[0].json()["code"] == 0
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1


@pytest.mark.usefixtures("private_webhooks")
def test_racing_updates_with_one_key_run_the_actions_once(
    api: Api, hook: Hook, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 4
    hot_disposition(api, hook)
    assert api.post("insertLeadFast", JANE).json()["code"] == 0
    first_reads_meet(monkeypatch, 3)
    update = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njDisposition": "Hot"}

    def call(_: int) -> Any:
        return Client().post(
            f"/servicemanager/rest/CampaignAPI/updateLeadFast?{query(api)}",
            data=update, content_type="application/json", headers=keyed(),
        )  # fmt: skip

    answers = in_threads(3, call)

    assert {a.content for a in answers} == {answers[0].content}
    assert answers[0].json()["version"] == 2
    assert Lead.objects.get().version == 2
    assert DispositionRecord.objects.count() == 1
    assert ActionDelivery.objects.count() == 1
    assert not CallRecord.objects.exists()


def query(api: Api) -> str:
    return "&".join(f"{k}={v}" for k, v in api.ids().items())


def test_a_call_whose_key_is_still_in_flight_is_told_to_retry(api: Api, settings: Any) -> None:
    settings.IDEMPOTENCY_WAIT_S = 0.5
    with key_held(f"key:{api.key.pk}", KEY):
        started = time.monotonic()
        busy = api.post("insertLeadFast", JANE, headers=keyed())
        waited = time.monotonic() - started
    retried = api.post("insertLeadFast", JANE, headers=keyed())

    assert busy.status_code == 409
    assert (busy.json()["code"], busy.json()["message"]) == (154, "IDEMPOTENCY_KEY_IN_FLIGHT")
    assert busy.headers["Retry-After"] == "1"
    assert 0.5 <= waited < 3
    assert retried.json()["code"] == 0  # the other call rolled back: this one runs
    assert Lead.objects.count() == 1
