"""Optimistic locking under real concurrency: racing updates of one version, and a write slipped
in between an update's read and its write (as Saleor's ``race_condition`` helper does)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from leads.models import Lead
from leads.services import lead_update
from leads.services.lead_version import lead_write
from tests.campaignapi import Api, make_api
from tests.concurrency import in_threads, meet_before
from tests.factories import TESTS, DispositionFactory

RACERS = 8

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client: Client, settings: Any) -> Api:
    settings.CAMPAIGNAPI_CONCURRENCY = RACERS  # every racer runs at once
    api = make_api(client)
    DispositionFactory(disposition_set=api.template.disposition_set, name="No Answer")
    body = {"FirstPhone": "0383218199", "Name": "Jane", "njExternalLeadId": "crm-1"}
    assert api.post("insertLeadFast", body).json()["code"] == 0
    return api


@pytest.mark.parametrize("by", ["external id", "lead id", "both"])
def test_racing_updates_of_one_version_let_exactly_one_win(
    api: Api, monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    """Every racer has read version 1 and passed every check before any of them writes (they
    meet at the conditional write), so only ``WHERE version = …`` can stop the losers. The
    racers name the lead by its external id, by its id (``njLeadId``), or by both."""
    meet_before(monkeypatch, lead_update, "lead_write", RACERS)
    ids: dict[str, Any] = {"njExternalLeadId": "crm-1", "njLeadId": str(Lead.objects.get().pk)}
    if by != "both":
        del ids["njLeadId" if by == "external id" else "njExternalLeadId"]

    def call(i: int) -> Any:
        racer = Api(Client(), api.template, api.campaign, api.allocation, api.key)
        return racer.post(
            "updateLeadFast",
            {**ids, "FirstPhone": f"04000000{i:02d}",
             "Name": f"racer {i}", "njDisposition": "No Answer"},
        ).json()  # fmt: skip

    bodies = in_threads(RACERS, call, together=True)

    assert sorted(body["code"] for body in bodies) == [0] + [110] * (RACERS - 1)
    winner = next(i for i, body in enumerate(bodies) if body["code"] == 0)
    lead = Lead.objects.get()
    assert lead.version == 2
    assert lead.fields["Name"] == f"racer {winner}"
    assert list(lead.phones.values_list("number", flat=True)) == [f"+614000000{winner:02d}"]
    assert lead.dispositions.count() == 1


def test_a_write_between_read_and_write_makes_the_update_110(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin save lands after the API call read the lead and before it writes: the call
    gets 110 and the admin's write survives untouched."""
    lead = Lead.objects.get()

    def admin_save() -> None:
        try:
            lead_write(lead.pk, 1, {"fields": {"Name": "Set by the admin"}}, by=TESTS)
        finally:
            connection.close()

    def write_after_admin(*args: Any, **kwargs: Any) -> int:
        other = threading.Thread(target=admin_save)  # its own connection, commits at once
        other.start()
        other.join()
        return lead_write(*args, **kwargs)

    monkeypatch.setattr(lead_update, "lead_write", write_after_admin)
    response = api.post(
        "updateLeadFast", {"njExternalLeadId": "crm-1", "FirstPhone": "0499999999",
                           "Name": "Set by the API", "njDisposition": "No Answer"},
    )  # fmt: skip

    assert (response.status_code, response.json()["code"]) == (400, 110)
    lead.refresh_from_db()
    assert lead.version == 2
    assert lead.fields == {"Name": "Set by the admin"}
    assert list(lead.phones.values_list("number", flat=True)) == ["+61383218199"]
    assert lead.dispositions.count() == 0
