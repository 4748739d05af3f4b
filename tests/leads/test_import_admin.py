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


def test_the_import_page_offers_only_the_users_teams_and_stores_a_draft(api: Any) -> None:
    hidden = AllocationFactory(campaign=CampaignFactory(template=TemplateFactory(name="Theirs")))
    client = operator("view_leadimport", "add_leadimport")
    page = client.get(ADD).content.decode()
    assert "Solar" in page and "Theirs" not in page and str(hidden) not in page
    answer = client.post(ADD, form(api, b"Name,FirstPhone\nAnn,0400000001\n"))
    created = LeadImport.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{created.pk}/change/")
    assert (created.rows, created.status, created.created_by.username) == (1, "draft", "op-2")
    assert created.mapping == {"Name": "Name", "FirstPhone": "FirstPhone"}
    mapping = client.get(answer["Location"]).content.decode()
    assert "mapping-table" in mapping and "Ann" in mapping
    assert "mapping-run" not in mapping  # no change permission: it cannot be run from here
    assert client.post(answer["Location"], {"run": "1"}).status_code == 403
    assert LeadImport.objects.get().status == "draft"


def mapping_post(mapping: dict[int, str], **extra: str) -> dict[str, str]:
    return {**{f"column_{i}": field for i, field in mapping.items()}, **extra}


VENDOR = b"Customer ID,Full Name,Phone No.,Notes,Call back\nC1,Ann,0400000001,vip,\n"


def test_the_mapping_is_guessed_from_a_vendors_header_changed_confirmed_and_kept(
    api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = operator("view_leadimport", "add_leadimport", "change_leadimport")
    draft_url = client.post(ADD, form(api, VENDOR))["Location"]
    draft = LeadImport.objects.get()
    assert draft.mapping == {
        "Customer ID": "njExternalLeadId",
        "Full Name": "",
        "Phone No.": "FirstPhone",
        "Notes": "",
        "Call back": "njCallBackDate",
    }
    page = client.get(draft_url).content.decode()
    assert '<option value="njExternalLeadId" selected>' in page
    # Full Name -> Name; Notes left out: the import needs that confirmed, a dry run does not.
    chosen = {0: "njExternalLeadId", 1: "Name", 2: "FirstPhone", 3: "", 4: "njCallBackDate"}
    before = database_rows()
    refused = client.post(draft_url, mapping_post(chosen, run="1"))
    assert refused.status_code == 200 and "Confirm that &#x27;Notes&#x27; are left out" in (
        refused.content.decode()
    )
    assert database_rows() == before
    twice = client.post(
        draft_url, mapping_post({**chosen, 3: "Name"}, run="1", confirm_ignored="on")
    )
    assert "are both mapped to &#x27;Name&#x27;" in twice.content.decode()
    assert database_rows() == before
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(draft_url, mapping_post(chosen, run="1", confirm_ignored="on"))
    assert answer.status_code == 302 and len(queued) == 1
    started = LeadImport.objects.get()
    assert (started.status, started.dry_run, started.ignored_columns) == (
        "queued",
        False,
        ["Notes"],
    )
    # The template's next file is offered the same mapping, whatever the case of its header.
    client.post(ADD, form(api, VENDOR.replace(b"Full Name", b"FULL NAME")))
    offered = LeadImport.objects.order_by("-pk").first()
    assert offered is not None and offered.mapping["FULL NAME"] == "Name"
    assert offered.mapping["Notes"] == ""


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
