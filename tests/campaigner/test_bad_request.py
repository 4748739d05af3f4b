"""Django's own 400, raised before any view (here a Host header the server does not answer
for, found by schemathesis), is answered in the API's shapes on the API's paths and never
echoes the value."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

BAD_HOST = "FwnHBsBo5hf24@"


def test_a_bad_host_gets_the_management_apis_json() -> None:
    answer = Client().post(
        "/api/v1/contact-hours/", data="{}", content_type="application/json", HTTP_HOST=BAD_HOST
    )
    assert answer.status_code == 400 and answer["Content-Type"] == "application/json"
    assert answer.json()["reason"] == "invalid" and BAD_HOST not in answer.content.decode()


def test_a_bad_host_gets_the_campaignapi_envelope() -> None:
    answer = Client().post(
        "/servicemanager/rest/CampaignAPI/insertLeadFast", data="{}",
        content_type="application/json", HTTP_HOST=BAD_HOST,
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["code"] == 150 and answer.json()["message"] == "MALFORMED_REQUEST"


def test_elsewhere_it_is_djangos_page() -> None:
    answer = Client().get("/admin/", HTTP_HOST=BAD_HOST)
    assert answer.status_code == 400 and answer["Content-Type"].startswith("text/html")
