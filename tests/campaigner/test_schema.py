"""The OpenAPI schema and its docs page are served to staff, by token or admin session."""

import pytest
from django.test import Client

from tests.factories import ApiTokenFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_schema_and_docs_are_served_to_staff(client: Client) -> None:
    assert client.get("/api/v1/schema/").status_code == 401
    client.force_login(UserFactory(is_staff=True))
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/servicemanager/rest/CampaignAPI/insertLeadsFast" in schema.content
    assert b"/api/v1/dialer/campaigns/{campaign_id}/next-lead" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200


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
