"""Repeated wrong API keys from one address lock that address out for a while (hardening #13):
its keys are refused unchecked, a right guess included, while good keys from other addresses
answer as always. The answers stay the contract's 401."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from campaigner.models import KeyFailure
from tests.campaignapi import BASE, GLOBAL_KEY, make_api
from tests.concurrency import in_threads
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limited(settings: Any) -> None:
    settings.CAMPAIGNAPI_BAD_KEY_LIMIT = 5
    settings.CAMPAIGNAPI_BAD_KEY_WINDOW_S = 60
    settings.CAMPAIGNAPI_BAD_KEY_LOCK_S = 300


def read(client: Client, key: str, address: str) -> int:
    response = client.get(f"{BASE}getCampaignTemplateList", {"apiKey": key}, REMOTE_ADDR=address)
    return response.json()["code"]


def test_an_address_sending_wrong_keys_is_locked_out(client: Client, limited: None) -> None:
    api = make_api(client)
    attacker, customer = "203.0.113.9", "198.51.100.20"
    for n in range(5):
        assert read(client, f"guess-{n}", attacker) == -1
    assert read(client, GLOBAL_KEY, attacker) == -1  # a right guess while locked out: refused
    query = "&".join(f"{k}={v}" for k, v in api.ids().items())
    refused = client.post(f"{BASE}insertLeadFast?{query}", {"FirstPhone": "0383218199"},
                          content_type="application/json", REMOTE_ADDR=attacker)  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (401, -1)
    assert read(client, GLOBAL_KEY, customer) == 0  # everyone else as always
    ok = client.post(f"{BASE}insertLeadFast?{query}", {"FirstPhone": "0383218199"},
                     content_type="application/json", REMOTE_ADDR=customer)  # fmt: skip
    assert ok.json()["code"] == 0
    assert not KeyFailure.objects.filter(address=customer).exists()  # good keys write nothing
    assert KeyFailure.objects.get(address=attacker).locked_until is not None


def test_wrong_keys_spread_over_windows_do_not_lock(client: Client, limited: None) -> None:
    make_api(client)
    for n in range(4):
        read(client, f"guess-{n}", "203.0.113.9")
    KeyFailure.objects.update(window_started_at="2020-01-01T00:00:00Z")  # the window ended
    for n in range(4):
        assert read(client, f"guess-{n}", "203.0.113.9") == -1
    assert read(client, GLOBAL_KEY, "203.0.113.9") == 0
    assert KeyFailure.objects.get().failures == 4


def test_racing_wrong_keys_are_each_counted_once(limited: None, settings: Any) -> None:
    """24 wrong keys from one address at the same moment, from 24 threads with their own
    connections: each is counted (the upsert is one statement, so no increment is lost to a
    race for the address's first row), and the address is locked out."""
    settings.CAMPAIGNAPI_BAD_KEY_LIMIT = 30  # not reached: every call is checked, none skipped
    make_api(Client())
    codes = in_threads(24, lambda n: read(Client(), f"guess-{n}", "203.0.113.9"), together=True)
    assert codes == [-1] * 24
    failure = KeyFailure.objects.get(address="203.0.113.9")
    assert failure.failures == 24 and failure.locked_until is None
    settings.CAMPAIGNAPI_BAD_KEY_LIMIT = 25
    codes = in_threads(3, lambda n: read(Client(), f"again-{n}", "203.0.113.9"), together=True)
    assert codes == [-1] * 3
    failure.refresh_from_db()
    assert failure.failures == 27 and failure.locked_until is not None
    assert read(Client(), GLOBAL_KEY, "203.0.113.9") == -1


def test_an_address_sending_wrong_bearer_tokens_is_locked_out(
    client: Client, limited: None
) -> None:
    """The management API's tokens count with the keys: past the limit the address gets 401
    for every token, the right one included; other addresses are not affected."""
    ApiTokenFactory(plain="the-right-token-of-a-superuser-0000", user__is_superuser=True)
    attacker, customer = "203.0.113.9", "198.51.100.20"

    def templates(token: str, address: str) -> int:
        return client.get(
            "/api/v1/templates/", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address
        ).status_code

    assert templates("the-right-token-of-a-superuser-0000", attacker) == 200
    for n in range(4):
        assert templates(f"guess-{n}", attacker) == 401
    # A write runs in a transaction that its 401 rolls back: the wrong token still counts.
    wrong_write = client.post(
        "/api/v1/dnc/", {"phone": "0390000001"}, content_type="application/json",
        HTTP_AUTHORIZATION="Bearer guess-4", REMOTE_ADDR=attacker,
    )  # fmt: skip
    assert wrong_write.status_code == 401
    assert templates("the-right-token-of-a-superuser-0000", attacker) == 401
    assert KeyFailure.objects.get(address=attacker).failures == 5
    assert read(client, GLOBAL_KEY, attacker) == -1  # one lock-out for keys and tokens
    assert templates("the-right-token-of-a-superuser-0000", customer) == 200
    assert not KeyFailure.objects.filter(address=customer).exists()
