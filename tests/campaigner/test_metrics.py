"""``/metrics`` counts CampaignAPI calls by method and code, and inserted leads."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.campaignapi import make_api

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)


def sample(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(f"{name}{{{label_text}}}" if labels else name) + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_calls_and_inserted_leads_are_counted(client: Client) -> None:
    api = make_api(client)
    before = client.get("/metrics").content.decode()
    api.post("insertLeadsFast", [{"FirstPhone": "0383218199"}, {"FirstPhone": "0383218199"}])
    api.post("insertLeadFast", {"Name": "no phone"})
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = response.content.decode()
    calls = "campaignapi_calls_total"
    assert (
        sample(after, calls, code="0", method="insertLeadsFast")
        - sample(before, calls, code="0", method="insertLeadsFast")
        == 1
    )
    assert (
        sample(after, calls, code="102", method="insertLeadFast")
        - sample(before, calls, code="102", method="insertLeadFast")
        == 1
    )
    inserted = "campaignapi_leads_inserted_total"
    assert sample(after, inserted) - sample(before, inserted) == 1
    assert "campaignapi_queue_wait_seconds_bucket" in after
