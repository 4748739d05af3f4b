"""The Operator and Supervisor roles (domain.md §5.4), made by migration and given in
provisioning, and team scoping in the admin (§5.1): what each role may do, and that a user of
team A sees nothing of team B's templates, campaigns, allocations, leads, imports or caches."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from campaigner.roles import OPERATOR, SUPERVISOR
from dialer.models import CampaignCache
from leads.models import ActionDelivery, DeliveryAttempt
from leads.provisioning import ProvisionError, provision_apply
from leads.services.delivery import action_delivery_attempt, action_delivery_retry
from tests.factories import (
    AllocationFactory,
    CampaignFactory,
    LeadFactory,
    TeamFactory,
    TemplateFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def member(role: str, team: str) -> Client:
    user = UserFactory(username=f"{role}-{team}", is_staff=True)
    user.groups.add(Group.objects.get(name=role), TeamFactory(name=team))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_teams() -> dict[str, Any]:
    made = {}
    for team in ("A", "B"):
        template = TemplateFactory(name=f"Template {team}")
        template.teams.add(TeamFactory(name=team))
        campaign = CampaignFactory(template=template, name=f"Drive of team {team}")
        allocation = AllocationFactory(campaign=campaign)
        lead = LeadFactory(allocation=allocation, fields={"Name": f"Lead of {team}"})
        CampaignCache.objects.create(campaign=allocation.campaign)
        made[team] = {"template": template, "allocation": allocation, "lead": lead}
    return made


def shows_only_team_a(page: str) -> bool:
    """Team A's campaign is on the page and team B's is not (names no token or id can contain)."""
    return "Drive of team A" in page and "Drive of team B" not in page


def test_the_roles_exist_with_their_permissions() -> None:
    operator = set(Group.objects.get(name=OPERATOR).permissions.values_list("codename", flat=True))
    supervisor = set(
        Group.objects.get(name=SUPERVISOR).permissions.values_list("codename", flat=True)
    )
    assert {"change_lead", "add_leadimport", "add_dncentry", "change_campaigncache",
            "change_actiondelivery", "view_campaign", "view_contacthours"} <= operator  # fmt: skip
    assert not {"add_campaign", "change_campaign", "add_apikey", "change_disposition"} & operator
    assert operator < supervisor
    assert {"add_campaign", "change_allocation", "add_apikey", "change_dispositionaction",
            "change_contacthourswindow", "delete_dncentry"} <= supervisor  # fmt: skip
    # Leads are deleted by a supervisor's bulk job (recorded), never by an operator.
    assert "delete_lead" in supervisor and "delete_lead" not in operator


def test_an_operator_works_within_their_team_and_cannot_configure(two_teams: Any) -> None:
    ops = member(OPERATOR, "A")
    mine, theirs = two_teams["A"], two_teams["B"]
    assert ops.get(f"/admin/leads/lead/{mine['lead'].pk}/change/").status_code == 200
    assert ops.get(f"/admin/leads/lead/{theirs['lead'].pk}/change/").status_code == 302  # gone
    campaigns = ops.get("/admin/campaigner/campaign/").content.decode()
    assert shows_only_team_a(campaigns)
    filters = ops.get("/admin/leads/lead/").content.decode()
    assert shows_only_team_a(filters)  # the campaign filter offers only theirs
    caches = ops.get("/admin/dialer/campaigncache/").content.decode()
    assert shows_only_team_a(caches) and "Rebuild the selected caches now" in caches
    assert ops.get("/admin/campaigner/campaign/add/").status_code == 403
    assert ops.get("/admin/leads/leadimport/add/").status_code == 200
    page = ops.get(f"/admin/campaigner/campaign/{mine['allocation'].campaign_id}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # read only


def test_a_supervisor_configures_their_teams_campaigns(two_teams: Any) -> None:
    boss = member(SUPERVISOR, "A")
    mine, theirs = two_teams["A"], two_teams["B"]
    page = boss.get(f"/admin/campaigner/campaign/{mine['allocation'].campaign_id}/change/")
    assert 'name="_save"' in page.content.decode()
    add = boss.get("/admin/campaigner/allocation/add/").content.decode()
    assert shows_only_team_a(add)  # the campaign choice is scoped
    answer = boss.post(
        "/admin/campaigner/allocation/add/",
        {"name": "sneaky", "campaign": theirs["allocation"].campaign_id, "weight": 1},
    )
    assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    assert not theirs["allocation"].campaign.allocations.filter(name="sneaky").exists()
    template_page = boss.get(f"/admin/campaigner/campaigntemplate/{mine['template'].pk}/change/")
    assert ">Operator<" not in template_page.content.decode()  # roles are not teams
    actions = boss.get("/admin/campaigner/disposition/add/").content.decode()
    # the copy targets are only theirs
    assert "Template A / Drive of team A /" in actions and "Template B" not in actions


def test_the_cache_page_is_read_only(two_teams: Any) -> None:
    ops = member(OPERATOR, "A")
    cache = CampaignCache.objects.get(campaign=two_teams["A"]["allocation"].campaign)
    page = ops.get(f"/admin/dialer/campaigncache/{cache.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page and "ms" in page
    assert "Delete selected" not in ops.get("/admin/dialer/campaigncache/").content.decode()
    assert "cache entries" in page.lower() and "entrys" not in page.lower()


def test_roles_are_given_in_provisioning(demo_spec: dict[str, Any]) -> None:
    provision_apply(demo_spec, demo=True)
    ops = get_user_model().objects.get(username="ops")
    assert set(ops.groups.values_list("name", flat=True)) == {"Sales", OPERATOR}
    assert provision_apply(demo_spec, demo=True).changed == 0  # a second run changes nothing
    bad = copy.deepcopy(demo_spec)
    bad["users"][0]["groups"] = ["Boss"]
    with pytest.raises(ProvisionError, match="'groups' are roles"):
        provision_apply(bad, demo=True)
    team = copy.deepcopy(demo_spec)
    team["teams"].append({"name": OPERATOR})
    with pytest.raises(ProvisionError, match="is a role"):
        provision_apply(team, demo=True)


def test_a_retry_continues_the_attempt_numbering(settings: Any, monkeypatch: Any) -> None:
    from leads.services import delivery as service

    settings.ACTION_MAX_ATTEMPTS = 1
    monkeypatch.setattr(service, "_send", lambda d: (500, "boom"))
    item = ActionDelivery.objects.create(
        kind="email", payload={"to": ["a@example.com"], "subject": "s", "body": "b"},
        next_attempt_at=timezone.now(),
    )  # fmt: skip
    for _ in range(3):
        action_delivery_attempt(item.pk)
        item.refresh_from_db()
        action_delivery_retry(item)
    numbers = list(DeliveryAttempt.objects.filter(delivery=item).values_list("number", flat=True))
    assert numbers == [1, 2, 3]


def test_a_user_given_a_role_is_staff_and_a_team_alone_is_not() -> None:
    from tests.factories import TeamFactory, UserFactory

    member = UserFactory(username="member", is_staff=False)
    member.groups.add(TeamFactory(name="Sales"))
    member.refresh_from_db()
    assert member.is_staff is False
    member.groups.add(Group.objects.get(name=OPERATOR))
    assert member.is_staff is True
    member.refresh_from_db()
    assert member.is_staff is True


def test_the_user_page_shows_roles_and_teams_apart_and_saves_both() -> None:
    from tests.factories import TeamFactory, UserFactory

    boss = get_user_model().objects.create_superuser("boss", "b@example.com", "pw")
    client = Client()
    client.force_login(boss)
    sales = TeamFactory(name="Sales")
    user = UserFactory(username="newbie", is_staff=False)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    form = page.context["adminform"].form
    assert [g.name for g in form.fields["roles"].queryset] == [OPERATOR, SUPERVISOR]
    assert [g.name for g in form.fields["teams"].queryset] == ["Sales"]
    assert "groups" not in form.fields
    data = {
        "username": "newbie", "password": user.password, "date_joined_0": "2026-12-05",
        "date_joined_1": "10:00:00", "is_active": "on",
        "roles": [Group.objects.get(name=OPERATOR).pk], "teams": [sales.pk],
    }  # fmt: skip
    answer = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    user.refresh_from_db()
    assert sorted(user.groups.values_list("name", flat=True)) == [OPERATOR, "Sales"]
    assert user.is_staff  # given a role
    listing = client.get("/admin/auth/user/").content.decode()
    assert ">Operator<" in listing and ">Sales<" in listing
