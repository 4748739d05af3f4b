"""The admin: every model's pages open, and a new API key is shown once and stored hashed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from campaigner.models import ApiKey, ApiToken, hash_secret
from leads.provisioning import provision_apply
from tests.factories import LeadPhoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client, demo_spec: dict[str, Any]) -> Client:
    provision_apply(demo_spec, demo=True)
    LeadPhoneFactory()
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def test_every_model_of_the_project_is_in_the_admin() -> None:
    """Registered, or edited inline on a registered model (fields on their template, …)."""
    from django.apps import apps

    inline = {i.model for model_admin in admin.site._registry.values() for i in model_admin.inlines}
    ours = [
        m for a in ("campaigner", "leads", "dialer") for m in apps.get_app_config(a).get_models()
    ]
    shown = set(admin.site._registry) | inline
    assert [m.__name__ for m in ours if m not in shown and m.__name__ not in SHOWN_ELSEWHERE] == []


# Parts of a registered model that its own page shows in another form.
SHOWN_ELSEWHERE = {
    "CampaignStats": "a campaign's figures, on the admin's home page (the dashboard)",
    "LeadPhone": "a lead's numbers, listed on its page (changed through its phone fields)",
    "DispositionRecord": "a lead's disposition history, listed on its page",
    "CallRecord": "a lead's calls, listed on its page",
    "LeadImportFile": "the bytes of an import's file, named on the import's page",
    "LeadImportReport": "an import's rejected rows: the error report linked from its page",
    "LeadOrigin": "what inserted a lead, on its page (and the lead list's import filter)",
    "LeadChange": "a lead's history, the timeline on its page",
    "LeadJobFile": "the pieces of an export's file, downloaded from the job's page",
    "ErasedNumber": "hashes of erased numbers: nothing a person can read",
    "ImportMapping": "a template's last import mapping, the guess on the import's mapping page",
    "IdempotentAnswer": "answers kept for retried calls: the server's to give again, not a page",
    "LeadWords": "the words index of the lead list's search (the list's search box)",
    "LeadWordsMark": "how far the search's words index is complete: the server's own",
}


def test_every_registered_model_has_working_pages(operator: Client) -> None:
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert operator.get(changelist).status_code == 200, changelist
        assert operator.get(changelist, {"q": "a"}).status_code == 200, changelist
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert operator.get(change).status_code == 200, change
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        # Leads and deliveries are only made by their services, never typed in.
        addable = model_admin.has_add_permission(operator.get(changelist).wsgi_request)
        assert operator.get(add).status_code == (200 if addable else 403), add


def _shown_secret(response: Any) -> str:
    text = " ".join(str(m) for m in response.context["messages"])
    match = re.search(r": (\S+) — copy it now", text)
    assert match, text
    return match.group(1)


def test_new_api_key_is_shown_once_and_stored_hashed(operator: Client) -> None:
    response = operator.post(
        reverse("admin:campaigner_apikey_add"),
        {"name": "web form", "team": "", "user": ""},
        follow=True,
    )

    plain = _shown_secret(response)
    key = ApiKey.objects.get(name="web form")
    assert key.key_hash == hash_secret(plain)
    assert key.key_prefix == plain[:8]
    again = operator.get(reverse("admin:campaigner_apikey_change", args=[key.pk]))
    assert plain not in again.content.decode()


def test_new_api_token_is_shown_once_and_stored_hashed(operator: Client) -> None:
    user = get_user_model().objects.get(username="ops")
    response = operator.post(
        reverse("admin:campaigner_apitoken_add"), {"user": user.pk, "name": "pbx"}, follow=True
    )

    plain = _shown_secret(response)
    assert ApiToken.objects.get(user=user, name="pbx").token_hash == hash_secret(plain)
