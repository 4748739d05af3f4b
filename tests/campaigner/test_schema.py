"""The OpenAPI schema and its docs page are served."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/servicemanager/rest/CampaignAPI/insertLeadsFast" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200
