"""The OpenAPI schema and its docs page are served to staff, by token or admin session; the
served schema is the one checked in (``make schema`` writes it) and it validates."""

from pathlib import Path

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.factories import ApiTokenFactory, UserFactory

pytestmark = pytest.mark.django_db

CHECKED_IN = Path(__file__).resolve().parents[2] / "campaigner" / "api" / "openapi.yaml"


def test_schema_and_docs_are_served_to_staff(client: Client) -> None:
    assert client.get("/api/v1/schema/").status_code == 401
    # The docs page sends a person who is not signed in to the login; a bad token is 401.
    signed_out = client.get("/api/v1/docs/")
    assert (signed_out.status_code, signed_out["Location"]) == (
        302, "/admin/login/?next=/api/v1/docs/",
    )  # fmt: skip
    assert client.get("/api/v1/docs/", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    non_staff = Client()
    non_staff.force_login(UserFactory(is_staff=False))
    assert non_staff.get("/api/v1/docs/").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/servicemanager/rest/CampaignAPI/insertLeadsFast" in schema.content
    assert b"/api/v1/dialer/campaigns/{campaign_id}/next-lead" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # Swagger UI is served by the server itself
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content


def test_the_served_schema_is_the_checked_in_one(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))
    served = yaml.safe_load(client.get("/api/v1/schema/").content)
    checked_in = yaml.safe_load(CHECKED_IN.read_text())
    assert served == checked_in, "the API changed: run `make schema` and commit the file"
    validate_schema(served)


def test_the_schema_documents_every_call_without_placeholders() -> None:
    schema = yaml.safe_load(CHECKED_IN.read_text())
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    for resource in ("contact-hours", "disposition-sets", "templates", "campaigns",
                     "allocations", "api-keys", "dnc", "phone-patterns"):  # fmt: skip
        collection, item = f"/api/v1/{resource}/", f"/api/v1/{resource}/{{id}}"
        assert {(collection, "get"), (collection, "post"), (item, "get"), (item, "patch"),
                (item, "delete")} <= operations, resource  # fmt: skip
    assert ("/api/v1/allocations/{id}/start", "post") in operations
    assert ("/api/v1/dnc/check", "post") in operations
    assert ("/api/v1/deliveries/{id}/retry", "post") in operations
    for method in ("insertLeadFast", "insertLeadsFast", "updateLeadFast", "insertLead",
                   "insertLeads", "updateLead"):  # fmt: skip
        operation = schema["paths"][f"/servicemanager/rest/CampaignAPI/{method}"]["post"]
        assert operation["operationId"] == method
        assert {"400", "401", "500"} <= set(operation["responses"])
    text = CHECKED_IN.read_text()
    assert "additionalProperties: {}" not in text  # no untyped dict anywhere


def test_bearer_tokens_of_staff_users_only(client: Client) -> None:
    plain, other = "staff-token-0000000000", "user-token-000000000000"
    ApiTokenFactory(plain=plain)
    ApiTokenFactory(plain=other, user__is_staff=False)

    def status(header: str) -> int:
        return client.get("/api/v1/schema/", headers={"Authorization": header}).status_code

    assert status(f"Bearer {plain}") == 200
    assert status(f"bearer {plain}") == 200
    assert status(f"Bearer {other}") == 401
    assert status("Bearer nope") == 401
    assert status("Bearer") == 401
    assert status(f"Token {plain}") == 401
