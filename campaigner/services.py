"""Configuration writes that need nothing outside ``campaigner`` (the rest, which must know
about leads, are in ``leads.services.configuration``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from campaigner.models import ApiKey, new_secret


def api_key_create(name: str, team: Group | None = None, user: Any = None) -> tuple[ApiKey, str]:
    """A new CampaignAPI key: the row (only the key's hash and first characters are stored)
    and the plain key, which the caller shows once and which can never be read again.
    A name already taken raises ``IntegrityError``."""
    plain = new_secret()
    key = ApiKey(name=name, team=team, user=user)
    key.set_key(plain)
    key.save()
    return key, plain
