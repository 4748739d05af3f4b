"""The kinds of disposition action and the shape of their specs (campaignapi.md §6, domain.md §7).

Specs, not the actions themselves: the actions run in ``leads.services.disposition``. Pure: no
model or database is imported here, so the models can use it for their own checks.

``validate_action`` is the single check of an action spec, used by provisioning, the admin and
(later) the management API, so an action that is stored is always one the disposition service
can run. It checks shape only; names of other templates/campaigns (``copy_lead``) are resolved
by the caller, which knows what exists.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models


class ActionKind(models.TextChoices):
    CLOSE = "close"
    CALLBACK = "callback"
    SET_PRIORITY = "set_priority"
    DNC = "dnc"
    COPY_LEAD = "copy_lead"
    WEBHOOK = "webhook"
    EMAIL = "email"
    RETRY_LIMIT = "retry_limit"


class ActionSpecError(ValueError):
    """An action spec that the server could not run."""


def _int(spec: dict[str, Any], key: str, low: int, high: int | None = None) -> int:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionSpecError(f"{key!r} must be a whole number")
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f">= {low}"
        raise ActionSpecError(f"{key!r} must be {bound}, not {value}")
    return value


def _str(spec: dict[str, Any], key: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ActionSpecError(f"{key!r} must be a non-empty string")
    return value


def validate_action(spec: Any, *, nested: bool = False) -> tuple[str, dict[str, Any]]:
    """Check one action spec ``{"kind": …, <params>}``; return ``(kind, params)``.

    Raises ``ActionSpecError`` naming the bad key. Unknown keys are an error, so a typo in a
    provisioning file is reported rather than silently ignored.
    """
    if not isinstance(spec, dict):
        raise ActionSpecError("an action must be an object with a 'kind'")
    kind = spec.get("kind")
    if kind not in ActionKind.values:
        raise ActionSpecError(
            f"unknown action kind {kind!r} (one of {', '.join(ActionKind.values)})"
        )
    params: dict[str, Any]
    if kind == ActionKind.CLOSE:
        params = {}
    elif kind == ActionKind.CALLBACK:
        # At most ten years: a callback date must stay a date every reader can handle.
        params = {"minutes": _int(spec, "minutes", 1, 10 * 366 * 24 * 60)}
    elif kind == ActionKind.SET_PRIORITY:
        params = {"priority": _int(spec, "priority", 0, 100)}
    elif kind == ActionKind.DNC:
        numbers = spec.get("numbers", "dialed")
        if numbers not in ("dialed", "all"):
            raise ActionSpecError("'numbers' must be 'dialed' or 'all'")
        params = {"numbers": numbers}
    elif kind == ActionKind.COPY_LEAD:
        params = {key: _str(spec, key) for key in ("template", "campaign", "allocation")}
    elif kind == ActionKind.WEBHOOK:
        url = _str(spec, "url")
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError as exc:
            raise ActionSpecError(f"'url' is not an http(s) URL: {url!r}") from exc
        params = {"url": url, "secret": _str(spec, "secret")}
    elif kind == ActionKind.EMAIL:
        to = _str(spec, "to")
        for address in to.split(","):
            try:
                EmailValidator()(address.strip())
            except ValidationError as exc:
                raise ActionSpecError(f"'to' has an invalid address: {address.strip()!r}") from exc
        params = {"to": to, "subject": _str(spec, "subject"), "body": _str(spec, "body")}
    else:  # retry_limit
        if nested:
            raise ActionSpecError("'retry_limit' cannot be nested in another 'retry_limit'")
        then_kind, then_params = validate_action(spec.get("then"), nested=True)
        params = {"count": _int(spec, "count", 1), "then": {"kind": then_kind, **then_params}}
    unknown = set(spec) - {"kind"} - _allowed_keys(kind)
    if unknown:
        raise ActionSpecError(f"unknown key(s) for {kind!r}: {', '.join(sorted(unknown))}")
    return kind, params


def _allowed_keys(kind: str) -> set[str]:
    return {
        ActionKind.CLOSE: set(),
        ActionKind.CALLBACK: {"minutes"},
        ActionKind.SET_PRIORITY: {"priority"},
        ActionKind.DNC: {"numbers"},
        ActionKind.COPY_LEAD: {"template", "campaign", "allocation"},
        ActionKind.WEBHOOK: {"url", "secret"},
        ActionKind.EMAIL: {"to", "subject", "body"},
        ActionKind.RETRY_LIMIT: {"count", "then"},
    }[ActionKind(kind)]
