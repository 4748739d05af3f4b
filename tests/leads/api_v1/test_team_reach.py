"""Teams cannot reach each other through the configuration they share (#23, domain.md §5.1):
a Supervisor and an Operator of team Sales against team Backoffice's keys, disposition sets,
copy targets and templates, through the management API and the admin. Each refusal writes
nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigner.models import ApiKey, DispositionAction
from campaigner.roles import OPERATOR, SUPERVISOR
from tests.factories import (
    AllocationFactory,
    ApiKeyFactory,
    ApiTokenFactory,
    CampaignFactory,
    DispositionFactory,
    TeamFactory,
    TemplateFactory,
)
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

USED_AT = frozenset({"campaigner_apikey", "campaigner_apitoken"})


@dataclass
class Member:
    client: Client  # bearer token, as scripts call /api/v1/
    admin: Client  # logged in to the admin

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = (
            {} if body is None else {"data": json.dumps(body), "content_type": "application/json"}
        )
        return getattr(self.client, method)(f"/api/v1/{path}", **data)


def member(role: str, team: str) -> Member:
    plain = f"token-of-{role}-{team}-000000000000"
    token = ApiTokenFactory(plain=plain, user__username=f"{role}-{team}")
    user = token.user
    user.groups.add(Group.objects.get(name=role), Group.objects.get(name=team))
    admin = Client()
    admin.force_login(user)
    return Member(Client(HTTP_AUTHORIZATION=f"Bearer {plain}"), admin)


@pytest.fixture
def world() -> dict[str, Any]:
    made: dict[str, Any] = {}
    for team in ("Sales", "Backoffice"):
        template = TemplateFactory(name=f"Template of {team}")
        template.teams.add(TeamFactory(name=team))
        allocation = AllocationFactory(campaign=CampaignFactory(template=template))
        disposition = DispositionFactory(disposition_set=template.disposition_set, name="Busy")
        DispositionAction.objects.create(
            disposition=disposition,
            kind="webhook",
            params={"url": f"https://{team.lower()}.example/hook", "secret": f"{team}-secret-1"},
        )
        key = ApiKeyFactory(name=f"key of {team}", team=Group.objects.get(name=team))
        made[team] = {"template": template, "allocation": allocation, "key": key}
    return made


def refused(who: Member, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    before = database_rows(exclude=USED_AT)
    response = who.call(method, path, body)
    assert response.status_code == status, (path, response.content)
    assert database_rows(exclude=USED_AT) == before
    return response.json()


def test_a_supervisor_mints_keys_for_their_own_teams_only(world: dict[str, Any]) -> None:
    sales = member(SUPERVISOR, "Sales")
    for team in (None, "Backoffice", "Supervisor", "Operator"):
        body = refused(sales, "post", "api-keys/", {"name": "k", "team": team}, 400)
        assert list(body["errors"]) == ["team"], body
    made = sales.call("post", "api-keys/", {"name": "k", "team": "Sales"})
    assert made.status_code == 201, made.content
    assert ApiKey.objects.get(name="k").team.name == "Sales"


def test_another_teams_keys_cannot_be_seen_revoked_moved_or_deleted(
    world: dict[str, Any],
) -> None:
    sales = member(SUPERVISOR, "Sales")
    theirs, ours = world["Backoffice"]["key"], world["Sales"]["key"]
    listed = sales.call("get", "api-keys/").json()["results"]
    assert [k["name"] for k in listed] == ["key of Sales"]
    refused(sales, "patch", f"api-keys/{theirs.pk}", {"revoked": True}, 404)
    refused(sales, "delete", f"api-keys/{theirs.pk}", None, 404)
    refused(sales, "patch", f"api-keys/{ours.pk}", {"team": "Backoffice"}, 400)
    refused(sales, "patch", f"api-keys/{ours.pk}", {"team": None}, 400)
    assert sales.call("patch", f"api-keys/{ours.pk}", {"revoked": True}).status_code == 200
    # An Operator does not read keys at all (no view permission), not even their team's.
    assert member(OPERATOR, "Sales").call("get", "api-keys/").status_code == 403


def test_another_teams_disposition_set_is_out_of_reach(world: dict[str, Any]) -> None:
    sales = member(SUPERVISOR, "Sales")
    theirs = world["Backoffice"]["template"].disposition_set
    hook = [
        {
            "name": "Busy",
            "actions": [{"kind": "webhook", "url": "https://x.example/h", "secret": "s"}],
        }
    ]
    refused(sales, "patch", f"disposition-sets/{theirs.pk}", {"dispositions": hook}, 404)
    refused(sales, "delete", f"disposition-sets/{theirs.pk}", None, 404)
    # Shared with a Sales template too: seen, still not changed (403) nor attached elsewhere.
    world["Sales"]["template"].disposition_set = theirs
    world["Sales"]["template"].save()
    assert sales.call("get", f"disposition-sets/{theirs.pk}").status_code == 200
    body = refused(sales, "patch", f"disposition-sets/{theirs.pk}", {"dispositions": hook}, 403)
    assert body["reason"] == "forbidden"
    other = TemplateFactory(name="Another of Sales")
    other.teams.add(Group.objects.get(name="Sales"))
    body = refused(sales, "patch", f"templates/{other.pk}", {"dispositionSet": theirs.pk}, 400)
    assert list(body["errors"]) == ["dispositionSet"]


def test_an_operator_reads_their_teams_sets_without_secrets_and_no_others(
    world: dict[str, Any],
) -> None:
    operator = member(OPERATOR, "Sales")
    ours = world["Sales"]["template"].disposition_set
    theirs = world["Backoffice"]["template"].disposition_set
    answer = operator.call("get", f"disposition-sets/{ours.pk}")
    assert answer.status_code == 200
    assert answer.json()["dispositions"][0]["actions"] == [
        {"kind": "webhook", "url": "https://sales.example/hook"}  # no secret
    ]
    assert operator.call("get", f"disposition-sets/{theirs.pk}").status_code == 404
    listed = operator.call("get", "disposition-sets/").json()["results"]
    assert [s["id"] for s in listed] == [ours.pk]
    refused(operator, "patch", f"disposition-sets/{ours.pk}", {"name": "x"}, 403)  # no permission


def test_a_copy_lead_action_cannot_aim_at_another_teams_campaign(world: dict[str, Any]) -> None:
    sales = member(SUPERVISOR, "Sales")
    target = world["Backoffice"]["allocation"]
    action = {"kind": "copy_lead", "template": target.campaign.template.name,
              "campaign": target.campaign.name, "allocation": target.name}  # fmt: skip
    ours = world["Sales"]["template"].disposition_set
    body = refused(
        sales,
        "patch",
        f"disposition-sets/{ours.pk}",
        {"dispositions": [{"name": "Busy", "actions": [action]}]},
        400,
    )
    assert list(body["errors"]) == ["dispositions.0.actions.0"]


def test_a_role_is_never_a_team(world: dict[str, Any]) -> None:
    sales = member(SUPERVISOR, "Sales")
    template = world["Sales"]["template"]
    for teams in (["Sales", "Supervisor"], ["Backoffice"], []):
        body = refused(sales, "patch", f"templates/{template.pk}", {"teams": teams}, 400)
        assert list(body["errors"]) == ["teams"]
    # Even a template that names a role as a team shows nothing to that role's members.
    template.teams.add(Group.objects.get(name=SUPERVISOR))
    backoffice = member(SUPERVISOR, "Backoffice")
    assert backoffice.call("get", f"templates/{template.pk}").status_code == 404


def test_the_admin_keeps_keys_and_secrets_within_the_team(world: dict[str, Any]) -> None:
    sales = member(SUPERVISOR, "Sales")
    page = sales.admin.get("/admin/campaigner/apikey/").content.decode()
    assert "key of Sales" in page and "key of Backoffice" not in page
    theirs = world["Backoffice"]["key"]
    assert sales.admin.get(f"/admin/campaigner/apikey/{theirs.pk}/change/").status_code == 302
    before = database_rows(exclude=USED_AT)
    backoffice = Group.objects.get(name="Backoffice")
    added = sales.admin.post("/admin/campaigner/apikey/add/", {"name": "k", "team": backoffice.pk})
    assert added.status_code == 200  # the form again, with the error on the team
    added = sales.admin.post("/admin/campaigner/apikey/add/", {"name": "k", "team": ""})
    assert added.status_code == 200
    assert database_rows(exclude=USED_AT) == before
    # An Operator of Sales reads Sales's dispositions without their secrets, and not
    # Backoffice's at all.
    operator = member(OPERATOR, "Sales")
    for team, status in (("Sales", 200), ("Backoffice", 302)):
        disposition = world[team]["template"].disposition_set.dispositions.get()
        answer = operator.admin.get(f"/admin/campaigner/disposition/{disposition.pk}/change/")
        assert answer.status_code == status
        assert b"-secret-1" not in answer.content
    set_page = operator.admin.get("/admin/campaigner/dispositionset/").content.decode()
    assert world["Sales"]["template"].disposition_set.name in set_page
    assert world["Backoffice"]["template"].disposition_set.name not in set_page
