"""Disposition actions in the admin (#16): each kind its own small form, checked by the one
shape check (validate_action) and stored exactly as provisioning and the API store them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from campaigner.models import DispositionAction
from tests.factories import AllocationFactory, DispositionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def post(admin: Client, disposition: Any, **action: Any) -> Any:
    data = {
        "name": disposition.name, "disposition_set": disposition.disposition_set_id,
        "enabled": "on", "position": 0, "actions-TOTAL_FORMS": 1, "actions-INITIAL_FORMS": 0,
    }  # fmt: skip
    data.update({f"actions-0-{key}": value for key, value in action.items()})
    return admin.post(f"/admin/campaigner/disposition/{disposition.pk}/change/", data)


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ({"kind": "callback", "minutes": 60}, {"minutes": 60}),
        ({"kind": "set_priority", "priority": 3}, {"priority": 3}),
        ({"kind": "dnc", "numbers": "all"}, {"numbers": "all"}),
        ({"kind": "webhook", "url": "https://crm.example/hook", "secret": "s3cret"},
         {"url": "https://crm.example/hook", "secret": "s3cret"}),
        ({"kind": "email", "to": "a@example.com", "subject": "Hi", "body": "B"},
         {"to": "a@example.com", "subject": "Hi", "body": "B"}),
        ({"kind": "retry_limit", "count": 5, "then_kind": "callback", "minutes": 30},
         {"count": 5, "then": {"kind": "callback", "minutes": 30}}),
        ({"kind": "close", "minutes": 9}, {}),  # inputs of other kinds are not kept
    ],
)  # fmt: skip
def test_each_kind_is_stored_as_provisioning_stores_it(
    admin: Client, action: dict[str, Any], params: dict[str, Any]
) -> None:
    disposition = DispositionFactory()
    answer = post(admin, disposition, position=0, **action)
    assert answer.status_code == 302, answer.content.decode()[-1500:]
    stored = DispositionAction.objects.get()
    assert (stored.kind, stored.params) == (action["kind"], params)
    page = admin.get(f"/admin/campaigner/disposition/{disposition.pk}/change/").content.decode()
    assert "campaigner/action_inputs.js" in page


def test_a_copy_target_is_chosen_and_stored_by_name(admin: Client) -> None:
    target = AllocationFactory()
    disposition = DispositionFactory()
    assert (
        post(admin, disposition, position=0, kind="copy_lead", target=target.pk).status_code == 302
    )
    campaign = target.campaign
    assert DispositionAction.objects.get().params == {
        "template": campaign.template.name,
        "campaign": campaign.name,
        "allocation": target.name,
    }
    page = admin.get(f"/admin/campaigner/disposition/{disposition.pk}/change/").content.decode()
    assert f'value="{target.pk}" selected' in page


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"kind": "callback"}, "&#x27;minutes&#x27; must be a whole number"),
        ({"kind": "webhook", "url": "https://x.example"}, "&#x27;secret&#x27; must be"),
        ({"kind": "retry_limit", "count": 2}, "unknown action kind"),
        ({"kind": "copy_lead"}, "&#x27;template&#x27; must be"),
    ],
)
def test_an_incomplete_action_is_refused(
    admin: Client, action: dict[str, Any], message: str
) -> None:
    disposition = DispositionFactory()
    answer = post(admin, disposition, position=0, **action)
    assert answer.status_code == 200 and message in answer.content.decode()
    assert not DispositionAction.objects.exists()


def test_a_sets_page_saves_each_dispositions_actions_new_ones_included(admin: Client) -> None:
    """The set's page (the actions nested under each disposition): an action deleted, a new
    disposition with its action, in one save, through the set's service."""
    from campaigner.models import Disposition, DispositionSet

    outcomes = DispositionSet.objects.create(name="Outbound outcomes")
    no_answer = Disposition.objects.create(disposition_set=outcomes, name="No Answer")
    callback = DispositionAction.objects.create(
        disposition=no_answer, position=0, kind="callback", params={"minutes": 30}
    )
    sets = "dispositions"
    data = {
        "name": "Outbound outcomes",
        f"{sets}-TOTAL_FORMS": 2, f"{sets}-INITIAL_FORMS": 1,
        f"{sets}-0-id": no_answer.pk, f"{sets}-0-disposition_set": outcomes.pk,
        f"{sets}-0-name": "No Answer", f"{sets}-0-enabled": "on",
        f"{sets}-0-actions-TOTAL_FORMS": 1, f"{sets}-0-actions-INITIAL_FORMS": 1,
        f"{sets}-0-actions-0-id": callback.pk, f"{sets}-0-actions-0-disposition": no_answer.pk,
        f"{sets}-0-actions-0-position": 0, f"{sets}-0-actions-0-kind": "callback",
        f"{sets}-0-actions-0-minutes": 30, f"{sets}-0-actions-0-DELETE": "on",
        f"{sets}-1-disposition_set": outcomes.pk, f"{sets}-1-name": "Do not call",
        f"{sets}-1-enabled": "on", f"{sets}-1-final": "on",
        f"{sets}-1-actions-TOTAL_FORMS": 1, f"{sets}-1-actions-INITIAL_FORMS": 0,
        f"{sets}-1-actions-0-position": 0, f"{sets}-1-actions-0-kind": "dnc",
        f"{sets}-1-actions-0-numbers": "all",
    }  # fmt: skip
    answer = admin.post(f"/admin/campaigner/dispositionset/{outcomes.pk}/change/", data)

    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert not no_answer.actions.exists()
    dnc = Disposition.objects.get(disposition_set=outcomes, name="Do not call")
    assert dnc.final
    assert [(a.kind, a.params) for a in dnc.actions.all()] == [("dnc", {"numbers": "all"})]
