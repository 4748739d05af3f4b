"""The admin's import and DNC upload pages without a browser: what they refuse, what they
store, who may use them and what each user may pick (the browser test is
tests/leads/test_operator_pages.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leads.models import DncEntry, LeadImport, LeadImportFile
from tests.campaignapi import make_api
from tests.factories import (
    AllocationFactory,
    CampaignFactory,
    TeamFactory,
    TemplateFactory,
    UserFactory,
)
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

ADD = "/admin/leads/leadimport/add/"


def operator(*codenames: str, team: str = "Sales") -> Client:
    user = UserFactory(username=f"op-{len(codenames)}", is_staff=True)
    user.groups.add(TeamFactory(name=team))
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api() -> Any:
    api = make_api(Client())
    api.template.teams.add(TeamFactory(name="Sales"))
    return api


def form(api: Any, content: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "template": api.template.pk,
        "campaign": api.campaign.pk,
        "allocation": api.allocation.pk,
        "file": SimpleUploadedFile("leads.csv", content, content_type="text/csv"),
        **extra,
    }


def test_the_import_page_offers_only_the_users_teams_and_starts_an_import(api: Any) -> None:
    hidden = AllocationFactory(campaign=CampaignFactory(template=TemplateFactory(name="Theirs")))
    client = operator("view_leadimport", "add_leadimport")
    page = client.get(ADD).content.decode()
    assert "Solar" in page and "Theirs" not in page and str(hidden) not in page
    answer = client.post(ADD, form(api, b"Name,FirstPhone\nAnn,0400000001\n"))
    created = LeadImport.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{created.pk}/change/")
    assert (created.rows, created.status, created.created_by.username) == (1, "queued", "op-2")
    progress = client.get(answer["Location"]).content.decode()
    assert f"/api/v1/imports/{created.pk}" in progress and "import-bar" in progress
    assert "Cancel this import" not in progress  # no change permission


def test_a_bad_file_or_another_teams_allocation_is_refused_on_the_page(api: Any) -> None:
    client = operator("view_leadimport", "add_leadimport")
    theirs = AllocationFactory(campaign=CampaignFactory(template=TemplateFactory()))
    before = database_rows()
    answer = client.post(ADD, form(api, b"Name,FirstPhone\nB\xe9a,0400000001\n"))
    assert answer.status_code == 200
    assert "the file is not UTF-8 text" in answer.content.decode()
    answer = client.post(ADD, form(api, b"Name,FirstPhone\nA,0400000001\n", allocation=theirs.pk))
    assert "Select a valid choice" in answer.content.decode()
    assert database_rows() == before and not LeadImportFile.objects.exists()


def test_the_pages_need_their_permissions(api: Any) -> None:
    reader = operator("view_leadimport", "view_dncentry")
    assert reader.get(ADD).status_code == 403
    assert reader.get("/admin/leads/dncentry/upload/").status_code == 403
    assert "dnc-upload-link" not in reader.get("/admin/leads/dncentry/").content.decode()


def test_a_dnc_upload_stores_normalised_numbers_and_shows_the_result() -> None:
    client = operator("view_dncentry", "add_dncentry", "change_dncentry")
    content = b"phone,expires\n08 9381 2222,2030-01-01\nnope,\n"
    answer = client.post(
        "/admin/leads/dncentry/upload/", {"file": SimpleUploadedFile("dnc.csv", content)}
    )
    page = answer.content.decode()
    assert 'id="dnc-added">1<' in page and 'id="dnc-rejected">1<' in page
    assert DncEntry.objects.get().number == "+61893812222"
    before = database_rows()
    answer = client.post(
        "/admin/leads/dncentry/upload/", {"file": SimpleUploadedFile("dnc.csv", b"\xff\xfe")}
    )
    assert "dnc-result" not in answer.content.decode() and "errorlist" in answer.content.decode()
    assert database_rows() == before


def test_a_dnc_file_over_the_limit_is_refused_at_both_doors(settings: Any) -> None:
    from tests.leads.api_v1.conftest import _api

    settings.DNC_UPLOAD_MAX_BYTES = 20
    content = b"phone\n0893812222\n0893812223\n"
    client = operator("view_dncentry", "add_dncentry", "change_dncentry")
    page = client.post(
        "/admin/leads/dncentry/upload/", {"file": SimpleUploadedFile("dnc.csv", content)}
    ).content.decode()
    assert "the file is larger than 20 bytes" in page and "dnc-result" not in page
    api = _api("root", superuser=True)
    answer = api.call("post", "dnc/upload", content, content_type="text/csv")
    assert answer.status_code == 400
    assert answer.json()["detail"] == "the file is larger than 20 bytes"
    assert not DncEntry.objects.exists()
