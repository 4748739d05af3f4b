"""Editing a lead in the admin: check-out on open, the version check with its merge screen,
dispositions through the shared service, and retrying a delivery."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.models import ActionDelivery, Lead
from tests.campaignapi import Api, make_api
from tests.factories import DispositionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Api:
    api = make_api(Client())
    DispositionFactory(disposition_set=api.template.disposition_set, name="Sale", final=True)
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


def form_data(lead: Lead, seen_version: int, **changes: Any) -> dict[str, Any]:
    data = {
        "allocation": lead.allocation_id, "fields": '{"Name": "Jane", "FirstPhone": "0383218199"}',
        "external_id": lead.external_id, "priority": lead.priority, "callback_at_0": "",
        "callback_at_1": "", "contact_hours": lead.contact_hours_id or "", "disposition": "",
        "seen_version": seen_version,
        "phones-TOTAL_FORMS": 0, "phones-INITIAL_FORMS": 0,
        "dispositions-TOTAL_FORMS": 0, "dispositions-INITIAL_FORMS": 0,
    }  # fmt: skip
    data.update(changes)
    return data


def api_update(api: Api, name: str) -> int:
    body = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "njDisposition": "Sale",
            "Name": name}  # fmt: skip
    return int(api.post("updateLeadFast", body).json()["code"])


def test_opening_a_lead_checks_it_out_and_saving_releases_it(api: Api, operator: Client) -> None:
    lead = Lead.objects.get()
    assert operator.get(url(lead)).status_code == 200
    lead.refresh_from_db()
    assert (lead.checked_out_by, lead.version) == ("admin:op", 2)
    assert api_update(api, "from the API") == 110

    data = form_data(lead, 2, priority=3, fields='{"Name": "Edited", "FirstPhone": "0383218199"}')
    response = operator.post(url(lead), data)
    assert response.status_code == 302, response.content
    lead.refresh_from_db()
    assert (lead.priority, lead.fields["Name"], lead.version) == (3, "Edited", 3)
    assert (lead.checked_out_by, lead.checked_out_until) == ("", None)
    assert api_update(api, "from the API") == 0


def test_a_stale_form_is_refused_with_both_versions_then_saved(api: Api, operator: Client) -> None:
    lead = Lead.objects.get()
    operator.get(url(lead))  # version 2, checked out
    Lead.objects.update(checked_out_until=timezone.now() - dt.timedelta(seconds=1))  # expired
    assert api_update(api, "from the API") == 0  # version 3

    data = form_data(lead, 2, priority=3, fields='{"Name": "Mine", "FirstPhone": "0383218199"}')
    response = operator.post(url(lead), data)
    assert response.status_code == 200  # the form again, with the merge table
    page = response.content.decode()
    assert "This lead changed since you opened it (version 2 → 3)" in page
    assert "stored <b>{&#x27;Name&#x27;: &#x27;from the API&#x27;" in page
    assert Lead.objects.get().fields["Name"] == "from the API"

    response = operator.post(url(lead), {**data, "seen_version": 3})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.fields["Name"], lead.priority, lead.version) == ("Mine", 3, 4)


def test_a_disposition_set_in_the_admin_runs_through_the_service(
    api: Api, operator: Client
) -> None:
    lead = Lead.objects.get()
    operator.get(url(lead))
    sale = lead.campaign.template.disposition_set.dispositions.get(name="Sale")
    response = operator.post(url(lead), form_data(lead, 2, disposition=sale.pk))
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.closed and lead.disposition == sale
    assert list(lead.dispositions.values_list("source", "agent")) == [("admin", "op")]


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
    lead = Lead.objects.get()
    until = timezone.now() + dt.timedelta(minutes=3)
    Lead.objects.update(checked_out_by="agent 7", checked_out_until=until)
    page = operator.get(url(lead))
    assert "agent 7 has this lead checked out" in page.content.decode().lower()

    response = operator.post(url(lead), form_data(lead, 1, priority=3))
    assert response.status_code == 200
    assert "agent 7 has this lead checked out until" in response.content.decode().lower()
    after = Lead.objects.get()
    assert (after.priority, after.version, after.checked_out_by) == (10, 1, "agent 7")


def test_an_allocation_of_another_campaign_is_refused(api: Api, operator: Client) -> None:
    from tests.factories import AllocationFactory

    lead = Lead.objects.get()
    operator.get(url(lead))
    elsewhere = AllocationFactory()
    response = operator.post(url(lead), form_data(lead, 2, allocation=elsewhere.pk))
    assert response.status_code == 200
    assert "Choose an allocation of the lead&#x27;s own campaign." in response.content.decode()
    assert Lead.objects.get().allocation_id == lead.allocation_id
