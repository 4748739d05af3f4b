"""Bulk jobs from the admin's lead list (test client): each action opens the job page with
the list's selection (its count and first leads), the run queues a job, the built-in
"Delete selected" (which failed on large selections) is gone, and an operator gets no deleting
action."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigner.roles import OPERATOR, SUPERVISOR
from campaigner.sql import call_target_of
from leads.models import LeadImport, LeadJob, LeadOrigin
from leads.services import lead_job
from leads.services.lead_insert import lead_insert_batch
from tests.campaignapi import Api, make_api
from tests.factories import TESTS_ORIGIN, LeadFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: Any) -> None:
    monkeypatch.setattr(lead_job, "_queue", lambda job_id: None)


def staff(api: Api, client: Client, role: str) -> Any:
    team = TeamFactory(name=f"{role} team")
    api.template.teams.add(team)
    user = UserFactory(username=role.lower(), is_staff=True)
    user.groups.add(Group.objects.get(name=role), team)
    client.force_login(user)
    return user


def leads(api: Api, count: int) -> list[int]:
    body = [{"Name": f"n{i}", "FirstPhone": f"04{i:08d}"} for i in range(count)]
    result = lead_insert_batch(call_target_of(api.allocation), body, origin=TESTS_ORIGIN)
    return [outcome.lead_id for outcome in result.outcomes if outcome.lead_id]


def test_a_list_action_opens_the_job_with_the_lists_filter_and_runs_it(client: Client) -> None:
    api = make_api(client)
    ids = leads(api, 12)
    staff(api, client, SUPERVISOR)
    changelist = f"/admin/leads/lead/?campaign__id__exact={api.campaign.pk}&q=n1"
    answer = client.post(
        changelist,
        {"action": "job_close", "select_across": "1", "_selected_action": [ids[0]], "index": 0},
    )
    assert answer.status_code == 302
    page = client.get(answer["Location"])
    assert page.status_code == 200
    # "n1", "n10", "n11": the list's search, not only the ticked row.
    assert b"<strong>3</strong> leads" in page.content
    run = client.post(answer["Location"], {})
    job = LeadJob.objects.get()
    assert run["Location"] == f"/admin/leads/leadjob/{job.pk}/change/"
    assert (job.kind, job.selection) == (
        "close", {"campaign": str(api.campaign.pk), "search": "n1"},
    )  # fmt: skip
    assert client.get(run["Location"]).status_code == 200


def test_ticked_rows_a_move_needs_its_allocation_and_delete_is_a_job(client: Client) -> None:
    api = make_api(client)
    ids = leads(api, 3)
    staff(api, client, SUPERVISOR)
    listing = client.get("/admin/leads/lead/")
    assert b"delete_selected" not in listing.content
    assert b"job_delete" in listing.content
    answer = client.post(
        "/admin/leads/lead/", {"action": "job_move", "_selected_action": ids[:2], "index": 0}
    )
    page_url = answer["Location"]
    assert f"ids={ids[0]}%2C{ids[1]}" in page_url
    refused = client.post(page_url, {})
    assert refused.status_code == 200 and not LeadJob.objects.exists()  # no allocation chosen
    assert b"This field is required" in refused.content, refused.content.decode()[-6000:]


def test_an_operator_has_no_deleting_action_nor_page(client: Client) -> None:
    api = make_api(client)
    ids = leads(api, 2)
    staff(api, client, OPERATOR)
    listing = client.get("/admin/leads/lead/")
    assert b"job_close" in listing.content and b"job_delete" not in listing.content
    page = client.get(f"/admin/leads/leadjob/add/?kind=delete&ids={ids[0]}")
    assert page.status_code == 200 and b"job-run" not in page.content
    assert client.post(f"/admin/leads/leadjob/add/?kind=delete&ids={ids[0]}", {}).status_code == 200
    assert not LeadJob.objects.exists()


def test_the_list_filters_by_import_and_an_undo_opens_with_it(
    client: Client, monkeypatch: Any
) -> None:
    api = make_api(client)
    leads(api, 2)
    staff(api, client, SUPERVISOR)
    lead_import = LeadImport.objects.create(
        campaign=api.campaign, allocation=api.allocation, file_name="vendor.csv", file_size=1,
        header=[], rows=1, imported=1, status="done",
    )  # fmt: skip
    origin = LeadOrigin.objects.create(via="import", lead_import=lead_import)
    imported = LeadFactory(allocation=api.allocation, origin=origin)
    listing = client.get(f"/admin/leads/lead/?lead_import={lead_import.pk}")
    assert list(listing.context["cl"].result_list) == [imported]
    assert b"#%d vendor.csv" % lead_import.pk in listing.content
    answer = client.post(
        f"/admin/leads/lead/?lead_import={lead_import.pk}",
        {"action": "job_delete", "select_across": "1", "_selected_action": [imported.pk],
         "index": 0},
    )  # fmt: skip
    assert f"leadImport={lead_import.pk}" in answer["Location"]
    assert b"<strong>1</strong> lead " in client.get(answer["Location"]).content


def test_a_leads_delete_page_is_its_delete_job(client: Client) -> None:
    api = make_api(client)
    ids = leads(api, 1)
    staff(api, client, SUPERVISOR)
    answer = client.get(f"/admin/leads/lead/{ids[0]}/delete/")
    assert answer["Location"] == f"/admin/leads/leadjob/add/?kind=delete&ids={ids[0]}"
