"""``/health``: 200 when the database and broker answer, 503 with the failing part otherwise."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigner.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthy_server_answers_200(client: Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


@pytest.fixture
def unreachable_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery's broker_url prefers this variable over its config. Nothing listens on port 1.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    assert celery_app.conf.broker_url == "redis://127.0.0.1:1/0"


def test_unreachable_broker_answers_503(client: Client, unreachable_broker: None) -> None:
    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False
    assert "Connection refused" in body["broker"]["error"] or "Error" in body["broker"]["error"]


def test_unreachable_database_answers_503(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "OSError: connection refused"}


def test_a_stale_dialer_cache_is_a_warning_not_a_failure(client: Client) -> None:
    from dialer.services import dialer_cache_refresh
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(name="Never rebuilt")
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["dialerCache"]["ok"] is False
    assert body["dialerCache"]["staleCampaigns"] == ["Never rebuilt"]
    assert body["warnings"] == ["dialerCache"]

    dialer_cache_refresh(campaign.pk)
    body = client.get("/health").json()
    assert body["dialerCache"]["ok"] is True and body["warnings"] == []
    assert body["dialerCache"]["oldestAgeSeconds"] < 5
