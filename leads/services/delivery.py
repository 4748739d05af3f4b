"""Delivering webhook and email actions (campaignapi.md §6), one attempt at a time.

``action_delivery_attempt(id)`` makes one attempt at a due delivery and records it; the Celery
task around it (``leads.tasks``) queues the next attempt with exponential backoff. The delivery
row is locked (``FOR UPDATE SKIP LOCKED``) for the attempt, so the task and the sweeper never
send the same delivery twice at once; a delivered or failed delivery is never sent again.

Webhook: ``POST`` of the frozen JSON body with ``X-Campaigner-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body bytes under the action's secret (as GitHub signs its webhooks),
and ``X-Campaigner-Delivery: <id>`` so a receiver can drop a repeat. Any 2xx is delivered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigner.action_specs import ActionKind
from campaigner.models import DispositionAction
from leads.models import ActionDelivery, DeliveryAttempt

SIGNATURE_HEADER = "X-Campaigner-Signature"
DELIVERY_HEADER = "X-Campaigner-Delivery"
MAX_BACKOFF_S = 3600
_ERROR_CHARS = 500


@dataclass(frozen=True)
class AttemptResult:
    """``retry_in``: seconds until the next attempt is due, or ``None`` when there is none."""

    status: str
    retry_in: float | None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_seconds(attempt: int) -> float:
    """Wait after failed attempt ``attempt`` (1-based): BASE, 2·BASE, 4·BASE, … ≤ 1 h."""
    return float(min(settings.ACTION_RETRY_BASE_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_S))


def deliveries_due() -> QuerySet[ActionDelivery]:
    """Unfinished deliveries whose next attempt is due now."""
    return ActionDelivery.objects.filter(
        status__in=[ActionDelivery.Status.PENDING, ActionDelivery.Status.RETRYING],
        next_attempt_at__lte=timezone.now(),
    )


def action_delivery_attempt(delivery_id: int) -> AttemptResult | None:
    """Make one attempt at the delivery if it is due and unfinished; record it.

    Returns ``None`` when there was nothing to do (finished, not yet due, or another worker is
    on it). Network and mail errors are recorded, never raised.
    """
    with transaction.atomic(durable=True):
        delivery = (
            deliveries_due().select_for_update(skip_locked=True).filter(pk=delivery_id).first()
        )
        if delivery is None:
            return None
        started = time.monotonic()
        http_status, error = _send(delivery)
        ok = not error
        delivery.attempts += 1
        delivery.last_http_status = http_status
        delivery.last_error = error
        if ok:
            delivery.status = ActionDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.attempts >= settings.ACTION_MAX_ATTEMPTS:
            delivery.status = ActionDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = ActionDelivery.Status.RETRYING
            delivery.next_attempt_at = timezone.now() + dt.timedelta(
                seconds=backoff_seconds(delivery.attempts)
            )
        delivery.save()
        # Numbered over the delivery's whole history: an operator's retry gives a fresh
        # allowance of attempts (``attempts``), not a second "attempt 1".
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=DeliveryAttempt.objects.filter(delivery=delivery).count() + 1,
            ok=ok,
            http_status=http_status,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    retry_in = backoff_seconds(delivery.attempts) if delivery.next_attempt_at else None
    return AttemptResult(delivery.status, retry_in)


# The Celery task that makes one attempt (leads/tasks.py registers it under this name). Queued
# by name, so that services need not import the tasks module, which imports them.
SEND_TASK = "leads.tasks.action_delivery_send_task"


def deliveries_queue_on_commit(ids: list[int]) -> None:
    """Queue an attempt of each delivery once the current transaction commits (at once outside
    one). A broker that is down does not turn the committed write into an error: the sweeper
    (``deliveries_due``) queues due deliveries again."""

    def queue() -> None:
        for delivery_id in ids:
            current_app.signature(SEND_TASK, args=(delivery_id,)).delay()

    transaction.on_commit(queue, robust=True)


def action_delivery_retry(delivery: ActionDelivery) -> bool:
    """An operator's "retry now": a failed or waiting delivery becomes due again, with a fresh
    allowance of attempts, and is queued once the transaction commits. A delivered one is left
    alone (``False``)."""
    if delivery.status == ActionDelivery.Status.DELIVERED:
        return False
    ActionDelivery.objects.filter(pk=delivery.pk).update(
        status=ActionDelivery.Status.RETRYING, next_attempt_at=timezone.now(), attempts=0
    )
    deliveries_queue_on_commit([delivery.pk])
    return True


def _send(delivery: ActionDelivery) -> tuple[int | None, str]:
    """(HTTP status, error text; empty when delivered)."""
    if delivery.kind == ActionDelivery.Kind.EMAIL:
        return None, _send_email(delivery)
    secret = _secret(delivery.action)
    if secret is None:
        return None, "the webhook action was deleted, so there is no secret to sign with"
    body = json.dumps(delivery.payload["body"], ensure_ascii=False, separators=(",", ":"))
    data = body.encode()
    request = urllib.request.Request(  # noqa: S310 (http/https only: validate_action checks)
        delivery.payload["url"],
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "campaigner-webhook/1",
            SIGNATURE_HEADER: sign(secret, data),
            DELIVERY_HEADER: str(delivery.pk),
        },
    )
    try:
        with _OPENER.open(request, timeout=settings.ACTION_WEBHOOK_TIMEOUT_S) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:_ERROR_CHARS]
    except (OSError, ValueError) as exc:  # refused, timeout, DNS, bad URL
        return None, f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


def _vetted_connection(
    address: tuple[str, int], timeout: Any = None, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection`` for webhooks: the host is resolved here and only a public
    address is connected to (unless ``ACTION_WEBHOOK_ALLOW_PRIVATE``), so a webhook cannot be
    aimed at the server's own network: loopback, private ranges, link-local (cloud metadata
    at 169.254.169.254), multicast, reserved. The check is on the very address connected to,
    so a name that resolves differently a moment later cannot slip past it."""
    host, port = address
    allow_private = settings.ACTION_WEBHOOK_ALLOW_PRIVATE
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        ip = ipaddress.ip_address(sockaddr[0])
        if not allow_private and not ip.is_global:
            error = OSError(f"{host} is {ip}, not a public address: webhooks may not go there")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host} did not resolve")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _vetted_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _vetted_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is a failed attempt: following it would send the signed lead elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy from the environment either: the address check must see the real target.
_OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _NoRedirects
)


def _send_email(delivery: ActionDelivery) -> str:
    content = delivery.payload
    try:
        send_mail(content["subject"], content["body"], None, content["to"], fail_silently=False)
    except Exception as exc:  # any backend failure is a failed attempt
        return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
    return ""


def _secret(action: DispositionAction | None) -> str | None:
    if action is None:
        return None
    params = action.params
    if action.kind == ActionKind.RETRY_LIMIT:
        params = params.get("then", {})
    secret = params.get("secret")
    return secret if isinstance(secret, str) else None
