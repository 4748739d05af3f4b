"""Safe retries at the management API (campaigner.api.idempotent.IdempotentWrites): a
``POST``/``PATCH``/``DELETE`` sent again with its ``Idempotency-Key`` gets the first answer,
byte for byte, and writes nothing; the dialer's outcome, retried, records one call and runs
its actions once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner.models import ApiToken, Campaign, Disposition, DispositionAction, IdempotentAnswer
from leads.models import ActionDelivery, CallRecord, DispositionRecord, DncEntry, Lead
from tests.concurrency import first_calls_meet, in_threads, key_held
from tests.dialer.conftest import allocation, always_open, make_lead
from tests.factories import TemplateFactory
from tests.leads.api_v1.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)

KEY = {"HTTP_IDEMPOTENCY_KEY": "dnc-upload-2026-12-06-0001"}


def assert_replayed(first: Any, again: Any) -> None:
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.get("Content-Type") == first.get("Content-Type")


def test_a_create_retried_with_its_key_creates_once(admin_api: Api) -> None:
    body = {"phone": "0383218199", "note": "asked on the phone"}
    first = admin_api.post("dnc/", body, **KEY)
    retries = [admin_api.post("dnc/", body, **KEY) for _ in range(2)]

    assert first.status_code == 201
    for again in retries:
        assert_replayed(first, again)
    assert DncEntry.objects.count() == 1


def test_a_change_and_a_delete_retried_are_answered_as_the_first_time(admin_api: Api) -> None:
    entry = admin_api.post("dnc/", {"phone": "0383218199"}).json()
    first = admin_api.patch(f"dnc/{entry['id']}", {"note": "by letter"}, **KEY)
    again = admin_api.patch(f"dnc/{entry['id']}", {"note": "by letter"}, **KEY)
    assert first.status_code == 200
    assert_replayed(first, again)

    delete_key = {"HTTP_IDEMPOTENCY_KEY": "delete-1"}
    deleted = admin_api.client.delete(f"/api/v1/dnc/{entry['id']}", **delete_key)
    deleted_again = admin_api.client.delete(f"/api/v1/dnc/{entry['id']}", **delete_key)
    unkeyed = admin_api.client.delete(f"/api/v1/dnc/{entry['id']}")
    assert deleted.status_code == 204
    assert_replayed(deleted, deleted_again)  # not the 404 a second delete would get
    assert unkeyed.status_code == 404
    assert not DncEntry.objects.exists()


def test_the_key_with_another_request_is_refused_and_writes_nothing(admin_api: Api) -> None:
    admin_api.post("dnc/", {"phone": "0383218199"}, **KEY)
    other_body = admin_api.post("dnc/", {"phone": "0390001234"}, **KEY)
    # The same JSON spelled another way is the same request.
    spaced = admin_api.post("dnc/", '{ "phone" : "0383218199" }', **KEY)

    assert other_body.status_code == 422
    assert other_body.json()["reason"] == "key_reused"
    assert "POST /api/v1/dnc/" in other_body.json()["detail"]
    assert spaced.headers["Idempotent-Replayed"] == "true"
    assert list(DncEntry.objects.values_list("number", flat=True)) == ["+61383218199"]


def test_an_error_is_not_kept_and_a_bad_key_is_a_400(admin_api: Api) -> None:
    refused = admin_api.post("dnc/", {"phone": "not a number"}, **KEY)
    created = admin_api.post("dnc/", {"phone": "0383218199"}, **KEY)
    bad_key = admin_api.post("dnc/", {"phone": "0390001234"}, HTTP_IDEMPOTENCY_KEY="é" * 3)

    assert refused.status_code == 400
    assert created.status_code == 201 and "Idempotent-Replayed" not in created.headers
    assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.json()["errors"]
    assert DncEntry.objects.count() == 1


def test_keys_are_each_users_own(admin_api: Api, team_api: Any) -> None:
    other = team_api("Floor", perms=("leads.add_dncentry",), username="supervisor")
    admin_api.post("dnc/", {"phone": "0383218199"}, **KEY)
    theirs = other.post("dnc/", {"phone": "0390001234"}, **KEY)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert IdempotentAnswer.objects.count() == 2


def test_racing_creates_with_one_key_create_once(
    admin_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_calls_meet(monkeypatch, "campaigner.api.idempotent.answer_find", 4)
    # Used just now: no racer records the token's use (a row the first would hold meanwhile).
    ApiToken.objects.update(last_used_at=timezone.now())

    def call(_: int) -> Any:
        client = Client(HTTP_AUTHORIZATION=admin_api.client.defaults["HTTP_AUTHORIZATION"])
        return client.post(
            "/api/v1/dnc/", {"phone": "0383218199", "note": "racing"},
            content_type="application/json", **KEY,
        )  # fmt: skip

    answers = in_threads(4, call)

    assert DncEntry.objects.count() == 1
    assert {a.status_code for a in answers} == {201}
    assert {a.content for a in answers} == {answers[0].content}


# --- the dialer's outcome -----------------------------------------------------------------------


@pytest.fixture
def checked_out(admin_api: Api, settings: Any) -> Lead:
    """A lead handed out to an agent, with a disposition whose webhook shows each run."""
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = True
    template = TemplateFactory(name="Dialer", contact_hours=always_open())
    campaign = Campaign.objects.create(template=template, name="Outbound")
    hot = Disposition.objects.create(disposition_set=template.disposition_set, name="Hot")
    DispositionAction.objects.create(
        disposition=hot, position=0, kind="webhook",
        params={"url": "http://127.0.0.1:9/hook", "secret": "s"},
    )  # fmt: skip
    lead = make_lead(allocation(campaign))
    Lead.objects.filter(pk=lead.pk).update(
        checked_out_until=timezone.now() + dt.timedelta(minutes=3), checked_out_by="agent 1"
    )
    return lead


def test_an_outcome_retried_with_its_key_records_one_call(
    admin_api: Api, checked_out: Lead
) -> None:
    path = f"dialer/leads/{checked_out.pk}/outcome"
    body = {"disposition": "Hot", "notes": "keen", "uniqueCallId": "pbx-77", "durationSeconds": 40}
    first = admin_api.post(path, body, **KEY)
    again = admin_api.post(path, body, **KEY)
    unkeyed = admin_api.post(path, body)

    assert first.status_code == 200 and json.loads(first.content)["version"] == 2
    assert_replayed(first, again)  # not the 409 "not checked out" a second outcome gets
    assert unkeyed.status_code == 409
    assert CallRecord.objects.count() == 1
    assert DispositionRecord.objects.count() == 1
    assert ActionDelivery.objects.count() == 1
    assert Lead.objects.get().version == 2


def test_a_write_whose_key_is_still_in_flight_is_told_to_retry(
    admin_api: Api, settings: Any
) -> None:
    settings.IDEMPOTENCY_WAIT_S = 0.5
    user = ApiToken.objects.get().user
    with key_held(f"user:{user.pk}", KEY["HTTP_IDEMPOTENCY_KEY"]):
        busy = admin_api.post("dnc/", {"phone": "0383218199"}, **KEY)
    retried = admin_api.post("dnc/", {"phone": "0383218199"}, **KEY)

    assert busy.status_code == 409
    assert busy.json()["reason"] == "key_in_flight" and busy.headers["Retry-After"] == "1"
    assert retried.status_code == 201
    assert DncEntry.objects.count() == 1


def test_a_csv_upload_retried_with_its_key_is_answered_as_the_first(admin_api: Api) -> None:
    """A raw text/csv body (the DNC upload), and one that is no CSV at all: never a 500."""
    csv = b"phone,note\n0383218199,asked\n0390001234,asked\n"
    first = admin_api.client.post("/api/v1/dnc/upload", data=csv, content_type="text/csv", **KEY)
    again = admin_api.client.post("/api/v1/dnc/upload", data=csv, content_type="text/csv", **KEY)
    odd = admin_api.client.post(
        "/api/v1/dnc/upload", data=b"\x7f", content_type="text/csv",
        HTTP_IDEMPOTENCY_KEY="another",
    )  # fmt: skip

    assert first.status_code == 200 and first.json()["added"] == 2
    assert_replayed(first, again)
    assert odd.status_code < 500
    assert DncEntry.objects.count() == 2
