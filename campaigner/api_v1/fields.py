"""Serializer fields shared by the resources: a reference to something the caller must be
able to see (else 400 on that key, as if it did not exist), and the JSON schema of an action."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from campaigner.action_specs import ActionKind, ActionSpecError, validate_action
from campaigner.models import ContactHours, DispositionSet
from campaigner.selectors import (
    allocations_visible,
    campaigns_visible,
    shared_visible,
    templates_visible,
)


@extend_schema_field(OpenApiTypes.INT)
class _Visible(serializers.PrimaryKeyRelatedField):
    visible: Any = None

    def get_queryset(self) -> QuerySet[Any]:
        return type(self).visible(self.context["request"].user)


class VisibleTemplateField(_Visible):
    visible = staticmethod(templates_visible)


class VisibleCampaignField(_Visible):
    visible = staticmethod(campaigns_visible)


class VisibleAllocationField(_Visible):
    visible = staticmethod(allocations_visible)


class VisibleContactHoursField(_Visible):
    visible = staticmethod(lambda user: shared_visible(ContactHours.objects.all(), user))


class VisibleDispositionSetField(_Visible):
    visible = staticmethod(lambda user: shared_visible(DispositionSet.objects.all(), user))


SECRET_READER = "campaigner.change_disposition"  # noqa: S105 (a permission name)


class NameField(serializers.SlugRelatedField):
    """A reference by name (a team, a user). Text the database cannot hold (NUL, unpaired
    surrogates) is refused like any name that does not exist, before it reaches a query."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        for check in (ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator()):
            try:
                check(data)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return super().to_internal_value(data)


ACTION_SCHEMA = {
    "type": "object",
    "description": "A disposition action: its kind and that kind's parameters (close; "
    "callback: minutes; set_priority: priority; dnc: numbers = dialed|all; copy_lead: "
    "template, campaign, allocation (names); webhook: url, secret; email: to, subject, body; "
    "retry_limit: count, then (another action)).",
    "properties": {"kind": {"type": "string", "enum": list(ActionKind.values)}},
    "required": ["kind"],
    "additionalProperties": True,
}


@extend_schema_field(ACTION_SCHEMA)
class ActionField(serializers.Field):
    """``{"kind": …, <params>}`` checked by the one action-shape check; internally the
    ``(kind, params)`` it returns."""

    def to_internal_value(self, data: Any) -> tuple[str, dict[str, Any]]:
        try:
            return validate_action(data)
        except ActionSpecError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: Any) -> dict[str, Any]:
        kind, params = value
        request = self.context.get("request")
        if "secret" in params and not (request and request.user.has_perm(SECRET_READER)):
            # A webhook's signing secret is shown only to who may change it.
            params = {key: v for key, v in params.items() if key != "secret"}
        return {"kind": kind, **params}
