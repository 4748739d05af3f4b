"""Log audit: after calls with the key in ``?apiKey=`` and in ``X-Api-Key``, good and bad, no line
that gunicorn or Django wrote holds the key, and the access log still shows each call."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from tests.campaignapi import BASE, GLOBAL_KEY, make_api
from tests.live import gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WRONG_KEY = "wrong-key-but-still-a-secret-0000"


def test_no_log_line_holds_an_api_key(tmp_path: Path, client: object) -> None:
    api = make_api(client)
    ids = f"fTemplateId={api.template.pk}&fCampaignId={api.campaign.pk}"
    ids += f"&fAllocationId={api.allocation.pk}"
    calls = [
        (f"insertLeadFast?{ids}&apiKey={GLOBAL_KEY}", {}),
        (f"insertLeadFast?apiKey={GLOBAL_KEY}&{ids}", {}),  # a duplicate: 105
        (f"insertLeadFast?{ids}&APIKEY={WRONG_KEY}", {}),
        (f"insertLeadFast?{ids}&apiKey={WRONG_KEY}", {}),  # 401, logged by Django too
        (f"insertLeadFast?{ids}", {"X-Api-Key": GLOBAL_KEY}),
        (f"getCampaignList?fTemplateId=x&apiKey={GLOBAL_KEY}", {}),  # 116
        (f"nosuchMethod?apiKey={GLOBAL_KEY}", {}),  # 404
    ]
    with gunicorn(tmp_path, "--workers", "1", "--threads", "2") as (port, _):
        statuses = []
        for path, headers in calls:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = json.dumps({"FirstPhone": "0383218199"})
            conn.request(
                "POST", BASE + path, body=body, headers={"Referer": BASE + path, **headers}
            )
            statuses.append(conn.getresponse().status)
            conn.close()
    assert statuses == [200, 400, 401, 401, 400, 400, 404]
    access = (tmp_path / "access.log").read_text()
    everything = access + (tmp_path / "error.log").read_text()
    assert GLOBAL_KEY not in everything and WRONG_KEY not in everything
    assert GLOBAL_KEY[:12] not in everything  # not even a prefix
    lines = access.splitlines()
    assert len(lines) == len(calls)
    assert all("apiKey=[redacted]" in line or "APIKEY=[redacted]" in line or "X-Api" not in line
               for line in lines)  # fmt: skip
    assert "insertLeadFast" in lines[0] and '" 200 ' in lines[0]
