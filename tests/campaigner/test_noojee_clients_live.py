"""Noojee's own clients, replayed against a live server exactly as they call it: the
``noojee_campaigner_cli`` tool (a base URL ending in ``/``, so every path starts ``//``), the
``update_lead_fast`` script (the lead named by ``njLeadId``), an older script's ``campaignId``,
and a query string that repeats ``apiKey`` (a servlet reads the first)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner.models import Disposition
from campaigner.ratelimit import limited_path
from dialer.services import dialer_outcome
from leads.models import Lead
from leads.services.calls import CallDetails
from tests.campaignapi import GLOBAL_KEY, make_api
from tests.live import gunicorn, raw_exchange

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLASHED = "//servicemanager/rest/CampaignAPI/"  # "https://host/" + "/servicemanager/…"


def get(port: int, target: str) -> tuple[int, Any]:
    request = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Dart/3.3 (dart:io)\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    status, _, body = raw_exchange(port, request)
    return status, json.loads(body)


def post(port: int, target: str, body: dict[str, Any]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data
    status, _, answer = raw_exchange(port, request)
    return status, json.loads(answer)


def test_a_write_call_under_a_slashed_path_is_still_a_write_call() -> None:
    """The worker sends write calls to their own threads by path (``limited_path``): a
    slashed path is the same view there as in Django."""
    assert limited_path(SLASHED + "updateLeadFast")
    assert limited_path("/servicemanager//rest/CampaignAPI//insertLeadsFast")
    assert not limited_path(SLASHED + "getCallRecordList")


def test_noojees_clients_replayed(client: Client, tmp_path: Path) -> None:
    api = make_api(client)
    template, campaign, allocation = api.template, api.campaign, api.allocation
    fax = Disposition.objects.create(disposition_set=template.disposition_set, name="Fax")
    sale = Disposition.objects.create(disposition_set=template.disposition_set, name="Sale")
    answer = api.post("insertLeadFast", {"Name": "Ann", "FirstPhone": "0383218199"}).json()
    lead_id = answer["leadId"]
    for name, duration in (("Fax", 30), ("Sale", 598)):
        until = timezone.now() + dt.timedelta(minutes=3)
        Lead.objects.filter(pk=lead_id).update(
            checked_out_by="agent-7", checked_out_until=until, checked_out_number="+61383218199"
        )
        dialer_outcome(lead_id, name, call=CallDetails(duration_s=duration, unique_call_id=name))

    key = f"apiKey={GLOBAL_KEY}"
    twice = f"apiKey={GLOBAL_KEY}&apiKey=not-the-key"
    with gunicorn(tmp_path, "--workers", "1", "--threads", "2") as (port, _):
        status, body = get(port, f"{SLASHED}getDispositionList?{twice}&fTemplateId={template.pk}")
        assert status == 200
        assert body["entities"] == [{"id": fax.pk, "name": "Fax"}, {"id": sale.pk, "name": "Sale"}]

        status, body = get(port, f"{SLASHED}getFieldList?{key}&fTemplateId={template.pk}")
        assert [e["name"] for e in body["entities"]][:2] == ["Name", "StreetAddress"]
        status, body = get(port, f"{SLASHED}getFieldDefn?{key}&fTemplateId={template.pk}")
        assert status == 200 and body[0] == {
            "type": "unicode", "key": "Name", "required": False, "label": "Name",
            "help_text": "Name",
        }  # fmt: skip

        # Noojee's update_lead_fast script: the lead by njLeadId as text, no external id.
        ids = f"fTemplateId={template.pk}&fCampaignId={campaign.pk}&fAllocationId={allocation.pk}"
        update = {"njLeadId": str(lead_id), "njDisposition": "Fax", "FirstPhone": "<No Change>"}
        status, body = post(port, f"{SLASHED}updateLeadFast?{ids}&{twice}", update)
        assert (status, body["code"], body["leadId"]) == (200, 0, lead_id)

        # The older script's spelling of the ids; the dispositions as the tool sends them.
        query = (
            f"{twice}&fTemplateId={template.pk}&campaignId={campaign.pk}"
            f"&allocationId={allocation.pk}&fDispositions={fax.pk},{sale.pk}"
        )
        status, body = get(port, f"{SLASHED}getCallRecordList?{query}")
        assert (status, body["code"], body["type"]) == (200, 0, "CallRecord")
        calls = [(e["njDisposition"], e["njCallDuration"], e["njDialAttempts"])
                 for e in body["entities"]]  # fmt: skip
        assert calls == [("Sale", "598", "2"), ("Fax", "30", "1")]
        only_fax = query.replace(f"{fax.pk},{sale.pk}", str(fax.pk))
        status, body = get(port, f"{SLASHED}getCallRecordList?{only_fax}")
        assert [e["njUniqueCallId"] for e in body["entities"]] == ["Fax"]

        # The refusals are the list calls': the key first, then the template, the campaign.
        wrong_first = f"apiKey=not-the-key&apiKey={GLOBAL_KEY}"
        for method in ("getDispositionList", "getFieldList", "getFieldDefn", "getCallRecordList"):
            status, body = get(port, f"{SLASHED}{method}?{wrong_first}&fTemplateId={template.pk}")
            assert (status, body) == (401, {"code": -1, "message": "INVALID_API_KEY"}), method
        assert get(port, f"{SLASHED}getFieldList?{key}&fTemplateId=0") == (
            400, {"code": 116, "message": "TEMPLATE_ID_REQUIRED"},
        )  # fmt: skip
        status, body = get(port, f"{SLASHED}getCallRecordList?{key}&fTemplateId={template.pk}")
        assert (status, body["code"]) == (400, 117)
