"""Contact Hours, disposition sets, templates, campaigns and allocations over /api/v1/:
create, read, list, change, delete, and each refusal with its exact body and nothing
written."""

from __future__ import annotations

from typing import Any

import pytest

from campaigner.models import Allocation, Campaign, ContactHoursWindow, Disposition
from leads.models import Lead
from tests.factories import AllocationFactory, CampaignFactory, LeadFactory, TemplateFactory
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

HOURS = {
    "name": "Melbourne business",
    "timezone": "Australia/Melbourne",
    "windows": [
        {"days": ["mon", "tue"], "start": "09:00", "end": "17:00"},
        {"days": ["sat"], "start": "10:00", "end": "24:00"},
    ],
    "closedDates": ["2026-12-25"],
}


def refused(api: Any, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    """The answer to a refused write, after checking it wrote nothing."""
    before = database_rows()
    response = api.call(method, path, body)
    assert response.status_code == status, response.content
    assert database_rows() == before
    return response.json()


def test_contact_hours_round_trip(admin_api: Any) -> None:
    created = admin_api.post("contact-hours/", HOURS)
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "zoneMode": "hours", **HOURS}  # by default: its own zone
    windows = ContactHoursWindow.objects.filter(contact_hours_id=body["id"])
    assert sorted(windows.values_list("weekday", "start_minute", "end_minute")) == [
        (0, 540, 1020),
        (1, 540, 1020),
        (5, 600, 1440),
    ]
    assert admin_api.get(f"contact-hours/{body['id']}").json() == body
    changed = admin_api.patch(
        f"contact-hours/{body['id']}", {"closedDates": [], "zoneMode": "number_strict"}
    )
    assert changed.status_code == 200
    assert changed.json() == {**body, "closedDates": [], "zoneMode": "number_strict"}
    assert refused(admin_api, "patch", f"contact-hours/{body['id']}", {"zoneMode": "moon"},
                   400)["errors"] == {"zoneMode": ['"moon" is not a valid choice.']}  # fmt: skip
    listed = admin_api.get("contact-hours/").json()
    assert listed == {"count": 1, "next": None, "previous": None, "results": [changed.json()]}
    assert admin_api.delete(f"contact-hours/{body['id']}").status_code == 204
    assert admin_api.get(f"contact-hours/{body['id']}").status_code == 404


def test_contact_hours_refusals_name_every_key(admin_api: Any) -> None:
    body = refused(
        admin_api,
        "post",
        "contact-hours/",
        {
            "name": "",
            "timezone": "Mars/Olympus",
            "windows": [
                {"days": ["mon"], "start": "17:00", "end": "09:00"},
                {"days": ["funday"], "start": "9:00", "end": "25:00"},
            ],
            "closedDates": ["2026-02-30"],
            "colour": "red",
        },
        400,
    )
    assert set(body["errors"]) == {"colour"}  # an unknown key is refused before the rest
    body = refused(
        admin_api,
        "post",
        "contact-hours/",
        {
            "name": "",
            "timezone": "Mars/Olympus",
            "windows": [
                {"days": ["mon"], "start": "17:00", "end": "09:00"},
                {"days": ["funday"], "start": "9:00", "end": "25:00"},
            ],
            "closedDates": ["2026-02-30"],
        },
        400,
    )
    assert body["errors"] == {
        "name": ["This field may not be blank."],
        "timezone": ["'Mars/Olympus' is not an IANA timezone name"],
        "windows.0.end": ["must be after 'start'"],
        "windows.1.days.0": ['"funday" is not a valid choice.'],
        "closedDates.0": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
    }
    assert (
        body["detail"] == "Invalid input: name, timezone, windows.0.end, windows.1.days.0, "
        "closedDates.0."
    )


def test_a_name_taken_is_409(admin_api: Any) -> None:
    assert admin_api.post("contact-hours/", HOURS).status_code == 201
    body = refused(admin_api, "post", "contact-hours/", HOURS, 409)
    assert body == {
        "detail": "That value is already taken. Key (name)=(Melbourne business) already exists.",
        "reason": "conflict",
    }


def test_contact_hours_in_use_cannot_be_deleted(admin_api: Any) -> None:
    template = TemplateFactory()
    body = refused(admin_api, "delete", f"contact-hours/{template.contact_hours_id}", None, 409)
    assert body == {
        "detail": "It is still in use by campaign templates; remove those first.",
        "reason": "conflict",
    }


def test_disposition_set_with_actions_as_one_list(admin_api: Any) -> None:
    AllocationFactory(name="Hot", campaign__name="Follow", campaign__template__name="Solar")
    sent: dict[str, Any] = {
        "name": "Solar",
        "dispositions": [
            {"name": "Sale", "final": True, "contact": True},
            {
                "name": "No Answer",
                "priority": 6,
                "actions": [
                    {"kind": "callback", "minutes": 60},
                    {"kind": "retry_limit", "count": 5, "then": {"kind": "close"}},
                ],
            },
            {
                "name": "Hot",
                "actions": [
                    {
                        "kind": "copy_lead",
                        "template": "Solar",
                        "campaign": "Follow",
                        "allocation": "Hot",
                    }
                ],
            },
        ],
    }
    response = admin_api.post("disposition-sets/", sent)
    assert response.status_code == 201, response.content
    body = response.json()
    ids = [d["id"] for d in body["dispositions"]]
    defaults: dict[str, Any] = {
        "enabled": True,
        "priority": None,
        "final": False,
        "callbackRequired": False,
        "contact": False,
        "actions": [],
    }
    assert body == {
        "id": body["id"],
        "name": "Solar",
        "dispositions": [
            {**defaults, **d, "id": i} for d, i in zip(sent["dispositions"], ids, strict=True)
        ],
    }
    # The list is the truth: one renamed by id, one dropped (unused, so deleted).
    changed = admin_api.patch(
        f"disposition-sets/{body['id']}",
        {"dispositions": [{"id": ids[0], "name": "Sold", "final": True}, {"name": "No answer"}]},
    )
    assert changed.status_code == 200, changed.content
    assert [(d["id"], d["name"]) for d in changed.json()["dispositions"]] == [
        (ids[0], "Sold"),
        (ids[1], "No answer"),
    ]
    assert not Disposition.objects.filter(pk=ids[2]).exists()


def test_disposition_set_refusals(admin_api: Any) -> None:
    response = admin_api.post("disposition-sets/", {"name": "S", "dispositions": [{"name": "A"}]})
    set_id, (a,) = response.json()["id"], response.json()["dispositions"]
    body = refused(
        admin_api,
        "patch",
        f"disposition-sets/{set_id}",
        {
            "dispositions": [
                {
                    "name": "B",
                    "actions": [{"kind": "callback", "minutes": -1}, {"kind": "teleport"}],
                },
                {"name": "C", "priority": 101},
            ]
        },
        400,
    )
    assert body["errors"] == {
        "dispositions.0.actions.0": ["'minutes' must be 1-5270400, not -1"],
        "dispositions.0.actions.1": [
            "unknown action kind 'teleport' (one of close, callback, "
            "set_priority, dnc, copy_lead, webhook, email, "
            "retry_limit)"
        ],
        "dispositions.1.priority": ["Ensure this value is less than or equal to 100."],
    }
    body = refused(
        admin_api,
        "patch",
        f"disposition-sets/{set_id}",
        {
            "dispositions": [
                {
                    "name": "X",
                    "actions": [
                        {"kind": "copy_lead", "template": "T", "campaign": "C", "allocation": "A"}
                    ],
                }
            ]
        },
        400,
    )
    assert body["errors"] == {
        "dispositions.0.actions.0": [
            "copy_lead target not found: template 'T', campaign 'C', allocation 'A'"
        ]
    }
    lead = LeadFactory(disposition_id=a["id"])
    body = refused(admin_api, "patch", f"disposition-sets/{set_id}", {"dispositions": []}, 409)
    assert body["detail"] == (
        "disposition 'A' is still set on leads or in their history; keep "
        "it with enabled false instead"
    )
    assert Lead.objects.get(pk=lead.pk).disposition_id == a["id"]


def test_template_fields_in_order_and_a_held_field_stays(admin_api: Any) -> None:
    response = admin_api.post(
        "templates/",
        {"name": "Solar", "fields": [{"name": "Name"}, {"name": "FirstPhone", "phone": True}]},
    )
    assert response.status_code == 201, response.content
    template = response.json()
    assert template == {
        "id": template["id"],
        "name": "Solar",
        "contactHours": None,
        "dispositionSet": None,
        "teams": [],
        "fields": [
            {"name": "Name", "displayType": "text", "phone": False, "inName": False},
            {"name": "FirstPhone", "displayType": "phone", "phone": True, "inName": False},
        ],
    }
    path = f"templates/{template['id']}"
    assert refused(admin_api, "patch", path, {"fields": [{"name": "Name"}]}, 400)["errors"] == {
        "fields": ["a template needs at least one phone field"]
    }
    assert refused(
        admin_api, "patch", path, {"fields": [{"name": "njPriority", "phone": True}]}, 400
    )["errors"] == {
        "fields.0.name": ["names starting with 'nj' (in any case) are reserved for system fields"]
    }
    campaign = CampaignFactory(template_id=template["id"])
    LeadFactory(allocation__campaign=campaign, fields={"Name": "Ann"})
    body = refused(
        admin_api, "patch", path, {"fields": [{"name": "FirstPhone", "phone": True}]}, 409
    )
    assert body == {
        "detail": "field 'Name' still holds values of leads; it cannot be removed",
        "reason": "conflict",
    }
    reordered = admin_api.patch(
        path,
        {
            "fields": [
                {"name": "FirstPhone", "phone": True},
                {"name": "Name"},
                {"name": "Email", "displayType": "email"},
            ]
        },
    )
    assert [f["name"] for f in reordered.json()["fields"]] == ["FirstPhone", "Name", "Email"]


def test_campaign_delete_only_without_leads(admin_api: Any) -> None:
    template = TemplateFactory()
    response = admin_api.post("campaigns/", {"name": "Jan", "template": template.pk})
    assert response.status_code == 201
    assert response.json() == {
        "id": response.json()["id"],
        "name": "Jan",
        "template": template.pk,
        "active": True,
        "balanceMode": "priority",
    }
    campaign_id = response.json()["id"]
    allocation = admin_api.post("allocations/", {"name": "Web", "campaign": campaign_id})
    assert allocation.json() == {
        "id": allocation.json()["id"],
        "name": "Web",
        "campaign": campaign_id,
        "started": False,
        "weight": 1,
    }
    LeadFactory(allocation=Allocation.objects.get(pk=allocation.json()["id"]))
    body = refused(admin_api, "delete", f"campaigns/{campaign_id}", None, 409)
    assert body == {
        "detail": "campaign 'Jan' still has leads; set active false instead",
        "reason": "conflict",
    }
    body = refused(admin_api, "delete", f"allocations/{allocation.json()['id']}", None, 409)
    assert body["detail"] == "allocation 'Web' still has leads; stop it instead"
    Lead.objects.all().delete()
    assert admin_api.delete(f"campaigns/{campaign_id}").status_code == 204
    assert not Campaign.objects.filter(pk=campaign_id).exists()
    assert not Allocation.objects.exists()


def test_allocation_start_stop_and_filters(admin_api: Any) -> None:
    allocation = AllocationFactory(started=False, name="Web")
    other = AllocationFactory(started=False, name="Paper")
    started = admin_api.post(f"allocations/{allocation.pk}/start")
    assert started.status_code == 200 and started.json()["started"] is True
    assert admin_api.post(f"allocations/{allocation.pk}/stop/").json()["started"] is False
    admin_api.post(f"allocations/{other.pk}/start")
    found = admin_api.get("allocations/?started=true").json()
    assert [a["id"] for a in found["results"]] == [other.pk]
    by_name = admin_api.get("allocations/?ordering=-name&pageSize=1").json()
    assert by_name["count"] == 2 and [a["name"] for a in by_name["results"]] == ["Web"]
    assert by_name["next"].endswith("ordering=-name&page=2&pageSize=1")


def test_paths_methods_and_pages(admin_api: Any) -> None:
    AllocationFactory()
    assert admin_api.get("allocations").status_code == 200  # no trailing slash: no redirect
    assert admin_api.get("allocations/abc").status_code == 404
    response = admin_api.call("put", "campaigns/1", {"name": "x"})
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert admin_api.get("allocations/?pageSize=1001").json()["count"] == 1
    assert admin_api.get("allocations/?page=9").status_code == 404
    assert admin_api.post("allocations/", b"[" * 5000).json()["errors"] == {
        "body": ["JSON parse error - the body is nested too deeply"]
    }
    assert admin_api.post("campaigns/", ["not", "an", "object"]).status_code == 400


def test_text_the_database_cannot_hold_is_400(admin_api: Any) -> None:
    """Found by schemathesis: a team named with a NUL reached the query (500)."""
    body = refused(
        admin_api,
        "post",
        "templates/",
        {"name": "T", "teams": ["a\x00b"], "fields": [{"name": "P", "phone": True}]},
        400,
    )
    assert body["errors"] == {"teams": ["Null characters are not allowed."]}
    body = refused(admin_api, "post", "api-keys/", {"name": "k", "user": "\ud800"}, 400)
    assert list(body["errors"]) == ["user"]
    assert admin_api.get("contact-hours/?name=%00").status_code == 400
