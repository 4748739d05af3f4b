"""Editing a lead in the admin (#16): check-out on open, one input per template field, phone
edits that reach the number rows, dispositions through the shared service, and a merge screen
that loses nothing: value by value, the operator's pick written exactly, and a check-out alone
never a conflict."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.lead_form import LeadEditForm, encode
from leads.models import ActionDelivery, DncEntry, Lead, LeadPhone
from leads.services.lead_edit import lead_values
from tests.campaignapi import Api, make_api
from tests.factories import TESTS, AllocationFactory, DispositionFactory

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Api:
    api = make_api(Client())
    DispositionFactory(disposition_set=api.template.disposition_set, name="Sale", final=True)
    DispositionFactory(disposition_set=api.template.disposition_set, name="Call back")
    body = {"Name": "Jane", "FirstPhone": "0383218199", "njExternalLeadId": "crm-1"}
    assert api.post("insertLeadFast", body).json()["code"] == 0
    return api


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def url(lead: Lead) -> str:
    return reverse("admin:leads_lead_change", args=[lead.pk])


def opened(client: Client, lead_id: int) -> dict[str, Any]:
    """Open the lead's page, as a person does; the form data the page holds."""
    assert client.get(url(Lead(pk=lead_id))).status_code == 200
    lead = Lead.objects.select_related("campaign__template").get(pk=lead_id)
    form = LeadEditForm(lead)
    values = lead_values(lead, form.names)
    data = {k: v for k, v in form.as_data(values).items() if v is not False}
    return {**data, "seen_version": lead.version, "base": encode(values)}


def api_update(api: Api, **changes: Any) -> int:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", **changes}
    body.setdefault("njDisposition", "Call back")
    return int(api.post("updateLeadFast", body).json()["code"])


def expire_check_out() -> None:
    Lead.objects.update(checked_out_until=timezone.now() - dt.timedelta(seconds=1))


def disposition(name: str) -> int:
    from campaigner.models import Disposition

    return int(Disposition.objects.get(name=name).pk)


def test_opening_a_lead_holds_nothing_editing_holds_it_and_saving_releases_it(
    api: Api, operator: Client
) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    lead = Lead.objects.get()
    assert (lead.checked_out_by, lead.checked_out_until, lead.version) == ("", None, 1)
    # The page asks for the hold when the operator starts editing.
    held = operator.post(reverse("admin:leads_lead_hold", args=[lead_id])).json()
    lead = Lead.objects.get()
    assert held["held"] is True and held["heldBy"] == "admin:op"
    assert (lead.checked_out_by, lead.version) == ("admin:op", 2)
    assert api_update(api, Name="from the API") == 110

    response = operator.post(url(lead), {**data, "priority": 3, "field:Name": "Edited"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    lead.refresh_from_db()
    assert (lead.priority, lead.fields["Name"], lead.version) == (3, "Edited", 3)
    assert (lead.checked_out_by, lead.checked_out_until) == ("", None)
    assert api_update(api, Name="from the API") == 0
    page = operator.get(url(lead)).content.decode()
    assert page.index('name="field:Name"') < page.index('name="field:FirstPhone"')  # in order


def test_a_phone_edit_rewrites_the_number_rows(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    DncEntry.objects.create(number="+61400111222")
    data = opened(operator, lead_id)
    answer = operator.post(
        url(Lead(pk=lead_id)),
        {**data, "field:FirstPhone": "(03) 9999 0000", "field:SecondPhone": "0400 111 222"},
    )
    assert answer.status_code == 302
    assert sorted(LeadPhone.objects.values_list("field_name", "number", "blocked")) == [
        ("FirstPhone", "+61399990000", False),
        ("SecondPhone", "+61400111222", True),
    ]
    lead = Lead.objects.get()
    assert lead.fields["FirstPhone"] == "(03) 9999 0000"  # the field as typed, the row normalised
    # An unusable number is refused and nothing is written.
    data = opened(operator, lead_id)
    before = (Lead.objects.get().version, list(LeadPhone.objects.values_list("number")))
    answer = operator.post(url(lead), {**data, "field:FirstPhone": "call me", "priority": 5})
    assert answer.status_code == 400 and "is not a usable phone number" in answer.content.decode()
    assert (Lead.objects.get().version, list(LeadPhone.objects.values_list("number"))) == before
    assert Lead.objects.get().priority == 10


def test_the_merge_screen_takes_theirs_keeps_mine_and_writes_exactly_the_picks(
    api: Api, operator: Client
) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    expire_check_out()
    assert api_update(api, njPriority=7, Name="API name") == 0  # priority, name, disposition
    mine = {**data, "field:Name": "My name", "field:SecondPhone": "0400000001"}
    screen = operator.post(url(Lead(pk=lead_id)), mine)
    assert screen.status_code == 409
    page = screen.content.decode()
    assert "This lead changed since you opened it" in page
    assert 'id="merge-fieldname"' in page and "both changed: pick one" in page  # a conflict
    assert 'id="merge-priority"' in page and 'id="merge-disposition_id"' in page  # theirs
    assert Lead.objects.get().fields["Name"] == "API name"  # nothing written yet

    # The operator keeps their name, and the API's priority and disposition (preset).
    stored = Lead.objects.get()
    form = LeadEditForm(stored)
    values = lead_values(stored, form.names)
    again = {
        **{k: v for k, v in form.as_data(values).items() if v is not False},
        "field:SecondPhone": "0400000001",
        "seen_version": stored.version, "base": encode(values),
        "merge_keys": ["field:Name", "priority", "disposition_id"],
        "pick:field:Name": "yours", "yours:field:Name": "My name", "stored:field:Name": "API name",
        "pick:priority": "stored", "stored:priority": "7", "yours:priority": "10",
        "pick:disposition_id": "stored", "stored:disposition_id": str(disposition("Call back")),
        "yours:disposition_id": "",
    }  # fmt: skip
    saved = operator.post(url(stored), again)
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    lead = Lead.objects.get()
    assert lead.fields == {"Name": "My name", "FirstPhone": "0383218199",
                           "SecondPhone": "0400000001"}  # fmt: skip
    assert (lead.priority, lead.disposition_id) == (7, disposition("Call back"))
    assert lead.version == stored.version + 1


def test_a_conflict_must_be_picked(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    expire_check_out()
    assert api_update(api, Name="API name") == 0
    stored = Lead.objects.get()
    form = LeadEditForm(stored)
    values = lead_values(stored, form.names)
    unpicked = {
        **{k: v for k, v in form.as_data(values).items() if v is not False},
        "seen_version": stored.version, "base": encode(values), "merge_keys": ["field:Name"],
        "yours:field:Name": "Mine", "stored:field:Name": "API name",
    }  # fmt: skip
    answer = operator.post(url(stored), unpicked)
    assert answer.status_code == 400 and "Pick the stored value or yours for: Name" in (
        answer.content.decode()
    )
    assert Lead.objects.get().version == stored.version
    assert data["field:Name"] == "Jane"


def test_a_second_tabs_check_out_is_not_a_conflict(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    first_tab = opened(operator, lead_id)
    opened(operator, lead_id)  # the same lead in a second tab: checked out again, version + 1
    saved = operator.post(url(Lead(pk=lead_id)), {**first_tab, "priority": 4})
    assert saved.status_code == 302
    lead = Lead.objects.get()
    assert (lead.priority, lead.fields["Name"], lead.checked_out_by) == (4, "Jane", "")


def test_a_disposition_set_in_the_admin_runs_through_the_service(
    api: Api, operator: Client
) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    response = operator.post(url(Lead(pk=lead_id)), {**data, "disposition_id": disposition("Sale")})
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.closed and lead.disposition_id == disposition("Sale")
    assert list(lead.dispositions.values_list("source", "agent")) == [("admin", "op")]


def test_a_callback_is_entered_in_the_leads_zone(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    page = operator.get(url(Lead(pk=lead_id))).content.decode()
    assert "Australia/Melbourne time" in page
    answer = operator.post(url(Lead(pk=lead_id)), {**data, "callback_at": "2027/01/04 09:30"})
    assert answer.status_code == 302
    assert Lead.objects.get().callback_at == dt.datetime(2027, 1, 3, 22, 30, tzinfo=dt.UTC)
    data = opened(operator, lead_id)
    assert data["callback_at"] == "2027/01/04 09:30"
    bad = operator.post(url(Lead(pk=lead_id)), {**data, "callback_at": "4/1/2027 9:30"})
    assert bad.status_code == 400
    # A callback with seconds (set by an action) is shown to the minute and kept as it is.
    exact = dt.datetime(2027, 1, 3, 22, 30, 42, tzinfo=dt.UTC)
    Lead.objects.update(callback_at=exact)
    data = opened(operator, lead_id)
    assert operator.post(url(Lead(pk=lead_id)), {**data, "priority": 6}).status_code == 302
    assert Lead.objects.get().callback_at == exact


def test_retry_action_requeues_a_failed_delivery(operator: Client, settings: Any) -> None:
    delivery = ActionDelivery.objects.create(
        kind="email", payload={"to": ["a@example.com"], "subject": "s", "body": "b"},
        status="failed", attempts=8,
    )  # fmt: skip
    response = operator.post(
        reverse("admin:leads_actiondelivery_changelist"),
        {"action": "retry_now", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("retrying", 0)
    assert delivery.next_attempt_at is not None


def test_a_lead_checked_out_by_an_agent_cannot_be_saved(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    until = timezone.now() + dt.timedelta(minutes=3)
    Lead.objects.update(checked_out_by="agent 7", checked_out_until=until)
    page = operator.get(url(Lead(pk=lead_id)))
    assert "agent 7 has this lead checked out" in page.content.decode().lower()
    lead = Lead.objects.get()
    form = LeadEditForm(lead)
    values = lead_values(lead, form.names)
    data = {**form.as_data(values), "seen_version": 1, "base": encode(values), "priority": 3}
    data.pop("closed")
    response = operator.post(url(lead), data)
    assert response.status_code == 409
    assert "agent 7 has this lead checked out until" in response.content.decode().lower()
    after = Lead.objects.get()
    assert (after.priority, after.version, after.checked_out_by) == (10, 1, "agent 7")


def test_only_the_leads_own_allocations_are_offered(api: Api, operator: Client) -> None:
    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    elsewhere = AllocationFactory()
    response = operator.post(url(Lead(pk=lead_id)), {**data, "allocation_id": elsewhere.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert Lead.objects.get().allocation_id == api.allocation.pk
    assert json.loads(data["base"])["allocation_id"] == api.allocation.pk


def test_the_list_shows_names_and_numbers_and_finds_them(api: Api, operator: Client) -> None:
    listing = operator.get("/admin/leads/lead/").content.decode()
    assert "Jane" in listing and "(03) 8321 8199" in listing  # as a person reads it
    for term in ("(03) 8321 8199", "+61 3 8321 8199", "61383218199", "crm-1", "jan"):
        found = operator.get("/admin/leads/lead/", {"q": term}).content.decode()
        assert "(03) 8321 8199" in found, term
    nobody = operator.get("/admin/leads/lead/", {"q": "nobody"}).content.decode()
    assert "(03) 8321 8199" not in nobody


def test_a_check_out_racing_the_save_is_no_conflict(
    api: Api, operator: Client, monkeypatch: Any
) -> None:
    from leads import admin as lead_admin
    from leads.services.lead_version import lead_write

    lead_id = Lead.objects.get().pk
    data = opened(operator, lead_id)
    real, calls = lead_admin.lead_edit, []

    def checked_out_meanwhile(lead: Lead, version: int, *args: Any, **kwargs: Any) -> int:
        calls.append(version)
        if len(calls) == 1:  # another tab checks the lead out just before this write
            until = timezone.now() + dt.timedelta(minutes=3)
            values = {"checked_out_by": "admin:op", "checked_out_until": until}
            lead_write(lead.pk, version, values, holder="admin:op", by=TESTS)
        return real(lead, version, *args, **kwargs)

    monkeypatch.setattr(lead_admin, "lead_edit", checked_out_meanwhile)
    saved = operator.post(url(Lead(pk=lead_id)), {**data, "priority": 8})
    assert saved.status_code == 302
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    assert Lead.objects.get().priority == 8


def test_the_leads_page_shows_its_times_in_the_leads_zone(api: Api, operator: Client) -> None:
    """Created, updated, check-out, history and calls in the lead's Contact Hours zone (as its
    callback), not the server's UTC."""
    created = dt.datetime(2026, 12, 5, 3, 58, tzinfo=dt.UTC)  # 14:58 in Melbourne (UTC+11)
    until = timezone.now() + dt.timedelta(minutes=5)
    Lead.objects.update(created_at=created, checked_out_by="agent 7", checked_out_until=until)
    lead = Lead.objects.get()
    page = operator.get(url(lead)).content.decode()
    assert "Times on this page are Australia/Melbourne time" in page
    assert "5 Dec 2026, 2:58 p.m." in page and "3:58 a.m." not in page
    local = until.astimezone(zoneinfo.ZoneInfo("Australia/Melbourne"))
    assert f"agent 7 until {local:%H:%M:%S}" in page
    assert f"checked out until {local:%H:%M:%S} (Australia/Melbourne)" in page


def test_a_hold_is_extended_released_and_never_taken_from_someone_else(
    api: Api, operator: Client
) -> None:
    lead_id = Lead.objects.get().pk
    hold = reverse("admin:leads_lead_hold", args=[lead_id])
    release = reverse("admin:leads_lead_release", args=[lead_id])
    first = operator.post(hold).json()
    again = operator.post(hold).json()
    assert again["held"] and again["until"] >= first["until"]
    assert operator.post(release).status_code == 204
    assert Lead.objects.get().checked_out_until is None
    assert api_update(api, Name="from the API") == 0  # released: the CRM's write goes through

    until = timezone.now() + dt.timedelta(minutes=3)
    Lead.objects.filter(pk=lead_id).update(checked_out_by="agent 7", checked_out_until=until)
    refused = operator.post(hold).json()
    assert (refused["held"], refused["heldBy"]) == (False, "agent 7")
    assert "agent 7 has this lead checked out" in refused["message"]
    assert operator.post(release).status_code == 204
    assert Lead.objects.get().checked_out_by == "agent 7"  # not the operator's to release
    assert operator.get(hold).status_code == 403  # only a POST holds


def test_the_list_names_a_lead_by_its_name_fields_and_finds_a_full_name(
    api: Api, operator: Client
) -> None:
    """The NAME column showed the first value of the stored JSON (its keys have no order: the
    State, the email); a full name split over two fields was never found."""
    from campaigner.models import TemplateField

    Lead.objects.update(
        fields={"State": "Vic", "Name": "Jane", "FirstPhone": "0383218199", "City": "Kew"}
    )
    listing = operator.get("/admin/leads/lead/")
    assert ">Jane<" in listing.content.decode() and ">Vic<" not in listing.content.decode()

    TemplateField.objects.filter(template=api.template, name="Name").update(name="FirstName")
    TemplateField.objects.create(template=api.template, name="LastName", position=1)
    Lead.objects.update(fields={"FirstName": "Jane", "LastName": "Citizen", "State": "Vic"})
    page = operator.get("/admin/leads/lead/", {"q": "jane citizen"}).content.decode()
    assert ">Jane Citizen<" in page and "1 result" in page
    assert "0 results" in operator.get("/admin/leads/lead/", {"q": "jane smith"}).content.decode()


def test_a_template_chooses_the_fields_of_a_leads_name_at_every_door(
    api: Api, operator: Client, admin_client: Client
) -> None:
    """The template's "in the lead's name" fields, set through the management API, name the
    lead in the list, in the template's order; the other doors read the same setting."""
    Lead.objects.update(fields={"Name": "Jane", "FirstPhone": "0383218199", "Suburb": "Kew"})
    template = admin_client.get(f"/api/v1/templates/{api.template.pk}/").json()
    fields = [{**f, "inName": f["name"] == "Name"} for f in template["fields"]]
    fields.insert(0, {"name": "Suburb", "inName": True})
    answer = admin_client.patch(
        f"/api/v1/templates/{api.template.pk}/",
        {"fields": fields},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert [f["name"] for f in answer.json()["fields"] if f["inName"]] == ["Suburb", "Name"]
    assert ">Kew Jane<" in operator.get("/admin/leads/lead/").content.decode()
    page = admin_client.get(f"/admin/campaigner/campaigntemplate/{api.template.pk}/change/")
    assert "fields-0-in_name" in page.content.decode()  # the admin's field rows have the tick
