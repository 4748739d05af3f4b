"""Clients of the management API: a superuser's, and a team member's with chosen model
permissions; both authenticate by bearer token, as scripts do."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import ApiTokenFactory, TeamFactory


@dataclass
class Api:
    client: Client

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        kwargs: dict[str, Any] = dict(extra)
        if body is not None:
            kwargs.setdefault("content_type", "application/json")
            kwargs["data"] = body if isinstance(body, bytes | str) else json.dumps(body)
        return getattr(self.client, method)(f"/api/v1/{path}", **kwargs)

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("post", path, body, **extra)

    def patch(self, path: str, body: Any, **extra: Any) -> Any:
        return self.call("patch", path, body, **extra)

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1/{path}")


def _api(
    username: str,
    *,
    superuser: bool = False,
    teams: tuple[str, ...] = (),
    perms: tuple[str, ...] = (),
) -> Api:
    plain = f"token-of-{username}-0000000000"
    token = ApiTokenFactory(plain=plain, user__username=username, user__is_superuser=superuser)
    user = token.user
    user.groups.set([TeamFactory(name=t) for t in teams])
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return Api(Client(HTTP_AUTHORIZATION=f"Bearer {plain}"))


@pytest.fixture
def admin_api(db: Any) -> Api:
    return _api("root", superuser=True)


@pytest.fixture
def team_api(db: Any) -> Callable[..., Api]:
    """``team_api("Sales", perms=(...))``: a staff member of that team."""

    def make(team: str, *, perms: tuple[str, ...] = (), username: str | None = None) -> Api:
        return _api(username or f"member-of-{team}", teams=(team,), perms=perms)

    return make
