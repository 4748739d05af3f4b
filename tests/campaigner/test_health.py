"""``/health``: 200 when the database and broker answer, 503 with the failing part otherwise."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigner.celery import app as celery_app
from tests.factories import ApiTokenFactory, CampaignFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True))
    return client


def test_anyone_gets_the_status_and_nothing_more(client: Client) -> None:
    CampaignFactory(name="Secret campaign")
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    client.force_login(UserFactory(is_staff=False))
    assert client.get("/health").json() == {"status": "ok"}
    bad_token = client.get("/health", headers={"Authorization": "Bearer nope"})
    assert bad_token.json() == {"status": "ok"}


def test_a_token_of_a_staff_user_sees_the_detail(client: Client) -> None:
    ApiTokenFactory(plain="health-token-0000000000")
    body = client.get("/health", headers={"Authorization": "Bearer health-token-0000000000"})
    assert body.json()["database"]["ok"] is True


def test_healthy_server_answers_200(staff: Client) -> None:
    response = staff.get("/health")

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


def test_unreachable_broker_answers_503(staff: Client, unreachable_broker: None) -> None:
    assert Client().get("/health").json() == {"status": "unavailable"}
    response = staff.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False
    assert "Connection refused" in body["broker"]["error"] or "Error" in body["broker"]["error"]


def test_unreachable_database_answers_503(staff: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = staff.get("/health")

    # Who the caller is cannot be known without the database: the status alone.
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})
    from campaigner.health import database_status

    assert database_status() == {"ok": False, "error": "OSError: connection refused"}


def test_a_stale_dialer_cache_is_a_warning_not_a_failure(staff: Client) -> None:
    from dialer.services import dialer_cache_refresh

    campaign = CampaignFactory(name="Never rebuilt")
    body = staff.get("/health").json()
    assert body["status"] == "ok"
    assert body["dialerCache"]["ok"] is False
    assert body["dialerCache"]["staleCampaigns"] == ["Never rebuilt"]
    assert body["warnings"] == ["dialerCache"]

    dialer_cache_refresh(campaign.pk)
    body = staff.get("/health").json()
    assert body["dialerCache"]["ok"] is True and body["warnings"] == []
    assert body["dialerCache"]["oldestAgeSeconds"] < 5
