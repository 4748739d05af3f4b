"""Team scoping (domain.md §5.1): a staff member of team A does not see team B's templates,
campaigns, allocations, leads or deliveries (404, and 400 on the key of a write that names
one), while a superuser sees everything; shared configuration is readable by all and writable
only with the model permission."""

from __future__ import annotations

from typing import Any

import pytest

from campaigner.models import Campaign
from leads.models import ActionDelivery
from tests.factories import AllocationFactory, LeadFactory, LeadPhoneFactory, TeamFactory
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_teams() -> dict[str, Any]:
    out = {}
    for team in ("A", "B"):
        allocation = AllocationFactory(
            campaign__name=f"Campaign {team}", campaign__template__name=f"Template {team}"
        )
        allocation.campaign.template.teams.set([TeamFactory(name=team)])
        lead = LeadFactory(allocation=allocation)
        LeadPhoneFactory(lead=lead, number=f"+6138321810{'AB'.index(team)}")
        delivery = ActionDelivery.objects.create(kind="webhook", lead=lead, payload={})
        out[team] = {
            "template": allocation.campaign.template_id,
            "lead": lead.pk,
            "campaign": allocation.campaign_id,
            "allocation": allocation.pk,
            "delivery": delivery.pk,
        }
    return out


RESOURCES = {
    "template": "templates",
    "campaign": "campaigns",
    "allocation": "allocations",
    "lead": "leads",
    "delivery": "deliveries",
}


def test_a_member_sees_only_their_teams(team_api: Any, two_teams: dict[str, Any]) -> None:
    api = team_api("A")
    for kind, path in RESOURCES.items():
        listed = api.get(f"{path}/").json()
        assert [r["id"] for r in listed["results"]] == [two_teams["A"][kind]], path
        assert api.get(f"{path}/{two_teams['A'][kind]}").status_code == 200
        hidden = api.get(f"{path}/{two_teams['B'][kind]}")
        assert hidden.status_code == 404, path
        assert "Template B" not in hidden.content.decode()
    # The phone search never reaches another team's leads.
    assert api.get("leads/?phone=0383218101").json()["count"] == 0
    assert api.get("leads/?phone=03 8321 8100").json()["count"] == 1
    # The dialer calls and the eligibility of the lead read obey the same scope.
    b = two_teams["B"]
    for path in (
        f"dialer/campaigns/{b['campaign']}/next-lead",
        f"dialer/campaigns/{b['campaign']}/refresh",
    ):
        assert api.post(path).status_code == 404, path
    assert api.get(f"dialer/campaigns/{b['campaign']}/cache").status_code == 404
    assert api.get(f"leads/{b['lead']}/eligibility").status_code == 404
    assert api.post(f"dialer/leads/{b['lead']}/outcome", {"disposition": "x"}).status_code == 404
    assert api.get(f"leads/{two_teams['A']['lead']}/eligibility").status_code == 200


def test_a_superuser_sees_both(admin_api: Any, two_teams: dict[str, Any]) -> None:
    for kind, path in RESOURCES.items():
        listed = admin_api.get(f"{path}/").json()
        assert sorted(r["id"] for r in listed["results"]) == sorted(
            two_teams[t][kind] for t in "AB"
        ), path


def test_a_write_naming_another_teams_thing_is_400(
    team_api: Any, two_teams: dict[str, Any]
) -> None:
    api = team_api(
        "A",
        perms=(
            "campaigner.add_campaign",
            "campaigner.change_campaign",
            "campaigner.add_allocation",
            "campaigner.add_campaigntemplate",
            "campaigner.delete_campaign",
        ),
    )
    before = database_rows()
    b = two_teams["B"]
    response = api.post("campaigns/", {"name": "Sneaky", "template": b["template"]})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "template": [f'Invalid pk "{b["template"]}" - object does not exist.']
    }
    response = api.post("allocations/", {"name": "Sneaky", "campaign": b["campaign"]})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"campaign"}
    response = api.post(
        "templates/", {"name": "T", "teams": ["B"], "fields": [{"name": "P", "phone": True}]}
    )
    assert response.status_code == 400 and set(response.json()["errors"]) == {"teams"}
    assert api.patch(f"campaigns/{b['campaign']}", {"active": False}).status_code == 404
    assert api.delete(f"campaigns/{b['campaign']}").status_code == 404
    assert database_rows() == before
    # Their own, they may.
    mine = api.post("campaigns/", {"name": "Mine", "template": two_teams["A"]["template"]})
    assert mine.status_code == 201
    assert Campaign.objects.filter(name="Mine").exists()


def test_writes_need_the_model_permission(team_api: Any, two_teams: dict[str, Any]) -> None:
    api = team_api("A")
    assert api.get("contact-hours/").status_code == 200  # shared configuration: readable
    before = database_rows()
    response = api.post("contact-hours/", {"name": "X", "timezone": "UTC"})
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert api.post("dnc/", {"phone": "0383218100"}).status_code == 403
    assert api.post(f"allocations/{two_teams['A']['allocation']}/stop").status_code == 403
    assert api.post(f"deliveries/{two_teams['A']['delivery']}/retry").status_code == 403
    assert database_rows() == before
    assert api.post("dnc/check", {"phones": ["0383218100"]}).status_code == 200
    allowed = team_api("A", perms=("campaigner.change_allocation",), username="supervisor")
    assert allowed.post(f"allocations/{two_teams['A']['allocation']}/stop").status_code == 200


def test_no_token_is_401(client: Any, db: Any) -> None:
    for path in ("templates/", "leads/", "dnc/check"):
        response = client.get(f"/api/v1/{path}")
        assert response.status_code == 401
        assert response.json() == {"detail": "Authentication credentials were not provided."}
    bad = client.get("/api/v1/templates/", HTTP_AUTHORIZATION="Bearer nope")
    assert bad.status_code == 401 and bad.json() == {"detail": "invalid token"}
