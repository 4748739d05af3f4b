"""One rule, four doors: each configuration refusal tried through the service itself, the
management API, the admin (the page's own form, posted as a browser would) and provisioning
gives the same refusal and writes nothing (``database_rows`` before and after).

The world: a provisioned template "Solar" (fields Name, Suburb, Notes, Phone) with a lead in
campaign C1 that holds a Suburb and has disposition "No Answer"; a second template "Wind"."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client

from campaigner.contract import Refusal, Refused
from campaigner.models import (
    Campaign,
    CampaignTemplate,
    ContactHours,
    Disposition,
    DispositionSet,
)
from campaigner.services import (
    DispositionSpec,
    FieldSpec,
    Window,
    campaign_delete,
    campaign_save,
    contact_hours_save,
    disposition_set_save,
    template_save,
)
from leads.models import DispositionRecord, DncEntry, Lead
from leads.provisioning import ProvisionError, provision_apply
from tests.admin_forms import page_form
from tests.factories import LeadFactory
from tests.leads.api_v1.conftest import Api, _api
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

SPEC: dict[str, Any] = {
    "contact_hours": [
        {
            "name": "Hours",
            "timezone": "Australia/Melbourne",
            "windows": [{"days": ["mon"], "start": "09:00", "end": "17:00"}],
        }
    ],
    "teams": [{"name": "Sales"}],
    "templates": [
        {
            "name": "Solar",
            "contact_hours": "Hours",
            "teams": ["Sales"],
            "fields": [
                {"name": "Name"},
                {"name": "Suburb"},
                {"name": "Notes"},
                {"name": "Phone", "phone": True},
            ],
            "dispositions": [{"name": "Sale", "final": True}, {"name": "No Answer"}],
            "campaigns": [{"name": "C1", "allocations": [{"name": "A1", "started": True}]}],
        },
        {
            "name": "Wind",
            "fields": [{"name": "Phone", "phone": True}],
            "campaigns": [{"name": "C2", "allocations": [{"name": "A2"}]}],
        },
    ],
}
FIELDS = ["Name", "Suburb", "Notes", "Phone"]


@dataclass
class World:
    api: Api
    admin: Client
    solar: CampaignTemplate
    wind: CampaignTemplate
    lead: Lead

    @property
    def c1(self) -> Campaign:
        return Campaign.objects.get(name="C1")


@pytest.fixture
def world(db: Any) -> World:
    provision_apply(copy.deepcopy(SPEC))
    solar = CampaignTemplate.objects.get(name="Solar")
    campaign = solar.campaigns.get()
    no_answer = Disposition.objects.get(name="No Answer")
    lead = LeadFactory(
        allocation=campaign.allocations.get(),
        fields={"Name": "Jo", "Suburb": "Carlton", "Phone": "+61383218199"},
        disposition=no_answer,
    )
    DispositionRecord.objects.create(lead=lead, disposition=no_answer, source="api")
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    return World(
        _api("root", superuser=True), admin, solar, CampaignTemplate.objects.get(name="Wind"), lead
    )


# --- the doors: each runs one attempt and returns the refusal's words -------------------------


def service(call: Callable[[], Any], reason: Refusal) -> str:
    with pytest.raises(Refused) as refused:
        call()
    assert refused.value.reason is reason
    return refused.value.detail


def api(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.content
    return str(answer.json())


def admin_page(world: World, url: str, change: Callable[[dict[str, Any]], None]) -> str:
    data = page_form(world.admin, url)
    change(data)
    answer = world.admin.post(url, data)
    if answer.status_code == 200:  # the form's own check: the page again, with its errors
        return answer.content.decode()
    assert answer.status_code == 302 and answer["Location"] == url, answer.status_code
    return " ".join(str(m) for m in get_messages(answer.wsgi_request))


def provisioning(change: Callable[[dict[str, Any]], None]) -> str:
    spec = copy.deepcopy(SPEC)
    change(spec)
    with pytest.raises(ProvisionError) as refused:
        provision_apply(spec)
    return str(refused.value)


def template_url(world: World) -> str:
    return f"/admin/campaigner/campaigntemplate/{world.solar.pk}/change/"


def field_specs(names: list[str], phone: str = "Phone") -> list[FieldSpec]:
    return [FieldSpec(n, "phone" if n == phone else "text", n == phone) for n in names]


def api_fields(names: list[str], phone: str = "Phone") -> list[dict[str, Any]]:
    return [{"name": n, "phone": n == phone} for n in names]


def admin_field_index(data: dict[str, Any], name: str) -> int:
    return next(
        int(key.split("-")[1])
        for key, value in data.items()
        if key.startswith("fields-") and key.endswith("-name") and value == name
    )


def attempts(world: World, rule: str) -> dict[str, Callable[[], str]]:
    """The rule's attempt at each door."""
    solar, url = world.solar, template_url(world)
    if rule == "field still used":
        kept = ["Name", "Notes", "Phone"]

        def untick(data: dict[str, Any]) -> None:
            data[f"fields-{admin_field_index(data, 'Suburb')}-DELETE"] = "on"

        def drop(spec: dict[str, Any]) -> None:
            fields = spec["templates"][0]["fields"]
            spec["templates"][0]["fields"] = [f for f in fields if f["name"] != "Suburb"]

        return {
            "service": lambda: service(
                lambda: template_save(solar, field_specs(kept), actor=None), Refusal.CONFLICT
            ),
            "api": lambda: api(
                world.api.patch(f"templates/{solar.pk}/", {"fields": api_fields(kept)}), 409
            ),
            "admin": lambda: admin_page(world, url, untick),
            "provisioning": lambda: provisioning(drop),
        }
    if rule == "no phone field":

        def untick_phone(data: dict[str, Any]) -> None:
            # Shown as text too: display type Phone alone makes a phone field.
            index = admin_field_index(data, "Phone")
            data.pop(f"fields-{index}-is_phone")
            data[f"fields-{index}-display_type"] = "text"

        def no_phone(spec: dict[str, Any]) -> None:
            spec["templates"][0]["fields"][3]["phone"] = False

        return {
            "service": lambda: service(
                lambda: template_save(solar, field_specs(FIELDS, phone=""), actor=None),
                Refusal.INVALID,
            ),
            "api": lambda: api(
                world.api.patch(f"templates/{solar.pk}/", {"fields": api_fields(FIELDS, phone="")}),
                400,
            ),
            "admin": lambda: admin_page(world, url, untick_phone),
            "provisioning": lambda: provisioning(no_phone),
        }
    if rule == "reserved nj name":
        renamed = ["Name", "Suburb", "NJnotes", "Phone"]

        def rename(data: dict[str, Any]) -> None:
            data[f"fields-{admin_field_index(data, 'Notes')}-name"] = "NJnotes"

        def rename_in_file(spec: dict[str, Any]) -> None:
            spec["templates"][0]["fields"][2]["name"] = "NJnotes"

        return {
            "service": lambda: service(
                lambda: template_save(solar, field_specs(renamed), actor=None), Refusal.INVALID
            ),
            "api": lambda: api(
                world.api.patch(f"templates/{solar.pk}/", {"fields": api_fields(renamed)}), 400
            ),
            "admin": lambda: admin_page(world, url, rename),
            "provisioning": lambda: provisioning(rename_in_file),
        }
    if rule == "campaign with leads moved":

        def move(campaign: Campaign) -> Campaign:
            campaign.template = world.wind
            return campaign_save(campaign)

        def move_on_page(data: dict[str, Any]) -> None:
            data["template"] = str(world.wind.pk)

        def move_in_file(spec: dict[str, Any]) -> None:
            spec["templates"][1]["campaigns"].append(spec["templates"][0].pop("campaigns")[0])

        return {
            "service": lambda: service(lambda: move(world.c1), Refusal.CONFLICT),
            "api": lambda: api(
                world.api.patch(f"campaigns/{world.c1.pk}/", {"template": world.wind.pk}), 409
            ),
            "admin": lambda: admin_page(
                world, f"/admin/campaigner/campaign/{world.c1.pk}/change/", move_on_page
            ),
            "provisioning": lambda: provisioning(move_in_file),
        }
    if rule == "disposition in use":
        set_ = DispositionSet.objects.get(name="Solar")

        def delete_on_page(data: dict[str, Any]) -> None:
            index = next(
                k.split("-")[1]
                for k, v in data.items()
                if k.startswith("dispositions-") and k.endswith("-name") and v == "No Answer"
            )
            data[f"dispositions-{index}-DELETE"] = "on"

        return {
            "service": lambda: service(
                lambda: disposition_set_save(set_, [DispositionSpec("Sale")], actor=None),
                Refusal.CONFLICT,
            ),
            "api": lambda: api(
                world.api.patch(
                    f"disposition-sets/{set_.pk}/", {"dispositions": [{"name": "Sale"}]}
                ),
                409,
            ),
            "admin": lambda: admin_page(
                world, f"/admin/campaigner/dispositionset/{set_.pk}/change/", delete_on_page
            ),
        }
    if rule == "window ends before it starts":
        hours = ContactHours.objects.get(name="Hours")

        def backwards(data: dict[str, Any]) -> None:
            data["windows-0-start"], data["windows-0-end"] = "17:00", "09:00"

        def backwards_in_file(spec: dict[str, Any]) -> None:
            spec["contact_hours"][0]["windows"][0].update(start="17:00", end="09:00")

        return {
            "service": lambda: service(
                lambda: contact_hours_save(hours, [Window(0, 17 * 60, 9 * 60)], actor=None),
                Refusal.INVALID,
            ),
            "api": lambda: api(
                world.api.patch(
                    f"contact-hours/{hours.pk}/",
                    {"windows": [{"days": ["mon"], "start": "17:00", "end": "09:00"}]},
                ),
                400,
            ),
            "admin": lambda: admin_page(
                world, f"/admin/campaigner/contacthours/{hours.pk}/change/", backwards
            ),
            "provisioning": lambda: provisioning(backwards_in_file),
        }
    raise AssertionError(rule)


# What each rule's refusal says, whichever door it came through: the service's words, or
# (second) the admin's own form check of the same rule in Django's words.
RULES: dict[str, tuple[str, ...]] = {
    "field still used": ("'Suburb' still holds values of leads",),
    "no phone field": ("needs at least one phone field",),
    "reserved nj name": ("names starting with 'nj' (in any case) are reserved",),
    "campaign with leads moved": ("cannot move to another template", "already exists under"),
    "disposition in use": (
        "'No Answer' is still set on leads or in their history",
        "would require deleting the following protected related objects",
    ),
    "window ends before it starts": ("before", "after"),
}


@pytest.mark.parametrize("door", ["service", "api", "admin", "provisioning"])
@pytest.mark.parametrize("rule", list(RULES))
def test_a_rule_refuses_at_every_door_and_writes_nothing(
    world: World, rule: str, door: str
) -> None:
    doors = attempts(world, rule)
    if door not in doors:
        pytest.skip(f"{door} has no way to try {rule!r}")
    before = database_rows()

    said = doors[door]()

    said = said.replace("&#x27;", "'")
    assert any(words in said for words in RULES[rule]), said[-3000:]
    assert database_rows() == before
    assert world.solar.fields.count() == len(FIELDS)


def test_provisioning_disables_a_disposition_it_leaves_out_rather_than_deleting_it(
    world: World,
) -> None:
    """The one door that meets "disposition in use" differently, by design: a file that leaves
    a disposition out disables it (a file cannot know which leads name it)."""
    spec = copy.deepcopy(SPEC)
    spec["templates"][0]["dispositions"] = [{"name": "Sale", "final": True}]
    provision_apply(spec)
    assert Disposition.objects.get(name="No Answer").enabled is False
    assert provision_apply(spec).changed == 0


def test_a_campaign_with_leads_cannot_be_deleted_at_any_door(world: World) -> None:
    c1 = world.c1
    before = database_rows()
    assert "still has leads" in service(lambda: campaign_delete(c1), Refusal.CONFLICT)
    assert world.api.delete(f"campaigns/{c1.pk}/").status_code == 409
    url = f"/admin/campaigner/campaign/{c1.pk}/delete/"
    page = world.admin.post(url, {"post": "yes"})
    assert page.status_code == 200 and "protected" in page.content.decode()
    assert database_rows() == before


def test_a_dnc_entry_keeps_the_source_it_was_first_listed_by(world: World) -> None:
    """Listed in the admin, then again through the API, an upload and a provisioning file: the
    note and expiry follow the last, the source stays the admin's."""
    world.admin.post("/admin/leads/dncentry/add/", {"number": "03 8321 8100", "note": "asked"})
    assert world.api.post("dnc/", {"phone": "0383218100", "note": "api"}).status_code == 200
    upload = b"phone,note\n0383218100,upload\n"
    assert world.api.post("dnc/upload/", upload, content_type="text/csv").status_code == 200
    spec = copy.deepcopy(SPEC)
    spec["dnc"] = [{"phone": "+61 3 8321 8100", "note": "file"}]
    provision_apply(spec)
    entry = DncEntry.objects.get()
    assert (entry.number, entry.note, entry.source) == ("+61383218100", "file", "admin")
    assert provision_apply(spec).changed == 0
