"""Racing inserts never both insert a number or external id; a failed batch leaves nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from leads.models import Lead, LeadPhone
from leads.services import lead_insert
from tests.campaignapi import Api, make_api
from tests.concurrency import in_threads, meet_before

RACERS = 8


@pytest.fixture
def racers_meet_at_the_lock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Every racer has read its leads and stands at the campaign's insert lock when the first
    one takes it (they meet there), so only the lock keeps their lookups and writes apart."""
    settings.CAMPAIGNAPI_CONCURRENCY = RACERS  # the rate limit lets them all in at once
    meet_before(monkeypatch, lead_insert, "advisory_xact_lock", RACERS)


def race(api: Api, leads: Callable[[int], Any], method: str = "insertLeadFast") -> list[Any]:
    def call(i: int) -> Any:
        racer = Api(Client(), api.template, api.campaign, api.allocation, api.key)
        return racer.post(method, leads(i)).json()

    return in_threads(RACERS, call, together=True)


@pytest.mark.django_db(transaction=True)
def test_racing_inserts_of_one_number_insert_it_once(racers_meet_at_the_lock: None) -> None:
    api = make_api(Client())
    bodies = race(api, lambda i: {"FirstPhone": "03 8321 8199", "njExternalLeadId": f"e{i}"})

    assert sorted(b["code"] for b in bodies) == [0] + [105] * (RACERS - 1)
    assert LeadPhone.objects.filter(number="+61383218199").count() == 1
    assert Lead.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_inserts_of_one_external_id_insert_it_once(racers_meet_at_the_lock: None) -> None:
    api = make_api(Client())
    bodies = race(api, lambda i: {"FirstPhone": f"038321810{i}", "njExternalLeadId": "same"})

    assert sorted(b["code"] for b in bodies) == [0] + [112] * (RACERS - 1)
    assert Lead.objects.filter(external_id="same").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_batches_with_overlapping_numbers(racers_meet_at_the_lock: None) -> None:
    """Each batch shares half its numbers with every other; each number ends up once."""
    api = make_api(Client())
    shared = [{"FirstPhone": f"04000000{n:02d}"} for n in range(20)]
    bodies = race(
        api,
        lambda i: shared + [{"FirstPhone": f"05{i:02d}0000{n:02d}"} for n in range(20)],
        method="insertLeadsFast",
    )

    assert sum(b["imported"] for b in bodies) == 20 + 20 * RACERS
    numbers = list(LeadPhone.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 20 + 20 * RACERS


@pytest.mark.django_db(transaction=True)
def test_a_failure_in_the_middle_of_writing_leaves_no_lead_of_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_api(Client())
    api.post("insertLeadFast", {"FirstPhone": "0390000000"})
    calls = 0
    original = lead_insert._dumps

    def fail_at_the_300th_lead(fields: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        if calls == 300:
            raise RuntimeError("disk on fire")
        return original(fields)

    monkeypatch.setattr(lead_insert, "_dumps", fail_at_the_300th_lead)
    batch = [{"FirstPhone": f"04{n:08d}"} for n in range(500)]
    response = api.post("insertLeadsFast", batch)

    assert response.status_code == 500
    assert response.json() == {"code": 103, "message": "EXCEPTION"}
    assert calls == 300  # it failed while streaming the leads, not before
    assert Lead.objects.count() == 1
    assert LeadPhone.objects.count() == 1
    # The campaign's insert lock died with the transaction: the next batch goes through.
    monkeypatch.setattr(lead_insert, "_dumps", original)
    assert api.post("insertLeadsFast", batch).json()["imported"] == 500
