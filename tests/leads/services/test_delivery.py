"""The delivery service at its own level (leads/services/delivery.py): one attempt of a webhook,
recorded whatever happens, retried with back-off up to the attempt limit, an operator's retry.
Plain ``django_db``: ``action_delivery_attempt`` owns its transaction (``durable=True``), which
the test's outer transaction allows."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from campaigner.action_specs import ActionKind
from campaigner.models import DispositionAction
from leads.models import ActionDelivery, DeliveryAttempt
from leads.services.delivery import (
    action_delivery_attempt,
    action_delivery_retry,
    backoff_seconds,
    sign,
)
from tests.factories import DispositionFactory
from tests.webhooks import Hook

pytestmark = pytest.mark.django_db

SECRET = "s3cret"


@pytest.fixture(autouse=True)
def loopback_allowed(settings: Any) -> None:
    settings.ACTION_WEBHOOK_ALLOW_PRIVATE = True
    settings.ACTION_RETRY_BASE_SECONDS = 30
    settings.ACTION_MAX_ATTEMPTS = 3


def webhook(url: str) -> ActionDelivery:
    action = DispositionAction.objects.create(
        disposition=DispositionFactory.create(),
        position=0,
        kind=ActionKind.WEBHOOK,
        params={"url": url, "secret": SECRET},
    )
    return ActionDelivery.objects.create(
        kind=ActionDelivery.Kind.WEBHOOK,
        action=action,
        payload={"url": url, "body": {"njLeadId": "7", "Name": "Zoë"}},
        next_attempt_at=timezone.now(),
    )


def make_due(delivery: ActionDelivery) -> None:
    ActionDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_delivered_webhook_is_signed_and_recorded_once() -> None:
    hook = Hook([200])
    delivery = webhook(hook.url)
    result = action_delivery_attempt(delivery.pk)
    assert result is not None and (result.status, result.retry_in) == ("delivered", None)
    ((headers, body),) = hook.received
    assert json.loads(body) == {"njLeadId": "7", "Name": "Zoë"}
    assert headers["X-Campaigner-Signature"] == sign(SECRET, body)
    assert action_delivery_attempt(delivery.pk) is None  # finished: nothing more to do
    assert len(hook.received) == 1
    attempts = DeliveryAttempt.objects.filter(delivery=delivery)
    assert list(attempts.values_list("number", "ok", "http_status")) == [(1, True, 200)]


def test_failures_back_off_then_fail_at_the_attempt_limit() -> None:
    hook = Hook([500, 503, 500])
    delivery = webhook(hook.url)
    waits = []
    for _ in range(3):
        result = action_delivery_attempt(delivery.pk)
        assert result is not None
        waits.append(result.retry_in)
        assert action_delivery_attempt(delivery.pk) is None  # not due yet
        make_due(delivery)
    assert waits == [30.0, 60.0, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("failed", 3, 500)
    assert backoff_seconds(20) == 3600  # never more than an hour


def test_an_operators_retry_gives_a_fresh_allowance_numbered_on(
    django_capture_on_commit_callbacks: object,
) -> None:
    hook = Hook([500, 500, 500])
    delivery = webhook(hook.url)
    for _ in range(3):
        action_delivery_attempt(delivery.pk)
        make_due(delivery)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert action_delivery_retry(delivery) is True
    assert action_delivery_attempt(delivery.pk) is not None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    numbers = DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", flat=True)
    assert sorted(numbers) == [1, 2, 3, 4]
    assert action_delivery_retry(delivery) is False  # delivered: left alone


def test_an_unreachable_receiver_is_recorded_not_raised() -> None:
    delivery = webhook("http://127.0.0.1:9/nothing-listens-here")
    result = action_delivery_attempt(delivery.pk)
    assert result is not None and result.status == "retrying"
    delivery.refresh_from_db()
    assert delivery.last_error and delivery.last_http_status is None
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=25)


def test_a_deleted_action_fails_the_attempt_with_the_reason() -> None:
    hook = Hook([])
    delivery = webhook(hook.url)
    DispositionAction.objects.filter(pk=delivery.action_id).delete()
    action_delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert "no secret" in delivery.last_error
    assert hook.received == []
