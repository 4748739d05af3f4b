"""``/api/v1/jobs/``: preview, create (202), progress, cancel, an export's file, refusals that
store nothing, and another team's jobs out of sight (404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigner.roles import OPERATOR, SUPERVISOR
from campaigner.sql import call_target_of
from leads.models import LeadJob
from leads.services import lead_job
from leads.services.lead_insert import lead_insert_batch
from leads.services.lead_job import lead_job_run
from tests.campaignapi import Api, make_api
from tests.factories import TESTS_ORIGIN, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # a job's run commits chunk by chunk


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: Any) -> None:
    monkeypatch.setattr(lead_job, "_queue", lambda job_id: None)


def login(api: Api, role: str, team: str = "Solar team") -> Client:
    group = TeamFactory(name=team)
    if team == "Solar team":
        api.template.teams.add(group)
    user = UserFactory(username=f"{role}-{team}".lower().replace(" ", "-"), is_staff=True)
    user.groups.add(Group.objects.get(name=role), group)
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(f"/api/v1/{path}", body, content_type="application/json")


def test_preview_run_progress_and_the_export_file() -> None:
    api = make_api(Client())
    body = [{"Name": f"n{i}", "FirstPhone": f"04{i:08d}"} for i in range(5)]
    lead_insert_batch(call_target_of(api.allocation), body, origin=TESTS_ORIGIN)
    client = login(api, SUPERVISOR)
    selection = {"campaign": api.campaign.pk}
    preview = post(client, "jobs/preview", {"kind": "export", "selection": selection})
    assert preview.status_code == 200 and preview.json()["count"] == 5
    assert preview.json()["sample"][0]["fields"] == {"Name": "n0", "FirstPhone": "0400000000"}
    created = post(client, "jobs/", {"kind": "export", "selection": selection})
    assert created.status_code == 202 and created.json()["status"] == "queued"
    job_id = created.json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}/file.csv").status_code == 400  # not done yet
    assert lead_job_run(job_id) == "done"
    shown = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (shown["status"], shown["total"], shown["processed"], shown["changed"]) == (
        "done", 5, 5, 5,
    )  # fmt: skip
    file = client.get(f"/api/v1/jobs/{job_id}/file.csv")
    text = b"".join(file.streaming_content).decode()
    assert text.splitlines()[0].startswith("Name,StreetAddress,City,State,PostCode,FirstPhone")
    assert len(text.splitlines()) == 6


def test_refusals_store_nothing_and_other_teams_do_not_see_the_job() -> None:
    api = make_api(Client())
    operator = login(api, OPERATOR)
    selection = {"campaign": api.campaign.pk}
    cases = [
        ({"kind": "delete", "selection": selection}, 403),
        ({"kind": "explode", "selection": selection}, 400),
        ({"kind": "move", "selection": selection, "params": {"allocation": 999}}, 400),
        ({"kind": "close", "selection": {"campaign": 999}}, 400),
        ({"kind": "close", "selection": {**selection, "createdAfter": "yesterday"}}, 400),
        ({"kind": "close", "selection": {"colour": "red"}}, 400),
        ({"kind": "close", "selection": "all"}, 400),
    ]
    for body, status in cases:
        assert post(operator, "jobs/", body).status_code == status, body
    assert not LeadJob.objects.exists()

    job_id = post(operator, "jobs/", {"kind": "close", "selection": selection}).json()["id"]
    stranger = login(api, SUPERVISOR, team="Other team")
    assert stranger.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert post(stranger, f"jobs/{job_id}/cancel", {}).status_code == 404
    cancelled = post(operator, f"jobs/{job_id}/cancel", {})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
