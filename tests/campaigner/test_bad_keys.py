"""Repeated wrong API keys from one address lock that address out for a while (hardening #13):
its keys are refused unchecked, a right guess included, while good keys from other addresses
answer as always. The answers stay the contract's 401."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from campaigner.models import KeyFailure
from tests.campaignapi import BASE, GLOBAL_KEY, make_api

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
