"""The conventions every ``/api/v1/`` resource shares (domain.md §5.1), in one place:

- paths: a collection ``/api/v1/<name>/``, an item ``/api/v1/<name>/<id>``, an action
  ``/api/v1/<name>/<id>/<action>``; a trailing slash is accepted either way, never redirected
  (``ManagementRouter``);
- lists: ``?page=N&pageSize=M`` (default 50, at most 1,000) → ``{"count", "next", "previous",
  "results"}``, by id unless ``?ordering=`` says otherwise (``ManagementPagination``);
- keys in camelCase; a key the resource does not have is a 400 naming it, so a typo is never
  silently ignored (``StrictFields``); keys a resource only shows (``id``, ``createdAt``) may be
  sent back and are ignored;
- writes are atomic: the whole request runs in one transaction, so any error leaves the
  database as it was; with an ``Idempotency-Key`` its answer is kept in that transaction
  (``campaigner.api.idempotent.IdempotentWrites``);
- reads need a staff user, writes also the Django model permission (a superuser has them all);
  ``POST`` creates (201), ``PATCH`` changes only the keys given (200), ``DELETE`` removes (204);
  ``PUT`` is not offered (405);
- errors: see ``campaigner.api.errors``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django_filters import rest_framework as filters
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter
from rest_framework.viewsets import GenericViewSet

from campaigner.api.idempotent import IdempotentWrites
from campaigner.api.tokens import ManagementApiView

MAX_PAGE_SIZE = 1000


class ManagementRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


class ManagementPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = MAX_PAGE_SIZE


class ModelPermissions(DjangoModelPermissions):
    """Reads for any staff user; writes need the model's add/change/delete permission. An
    action on an item (``start``, ``retry``) needs the change permission, or what the view's
    ``action_permissions`` names for it."""

    perms_map: dict[str, list[str]] = {
        **DjangoModelPermissions.perms_map,
        "GET": [],
        "HEAD": [],
        "OPTIONS": [],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        extra = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if extra is not None:
            return bool(request.user and request.user.has_perms(extra))
        return super().has_permission(request, view)


class StrictFields:
    """A serializer mixin: keys the serializer does not know are refused, each by name."""

    # A nested item (a window, a disposition, a field) is always whole: PATCH changes only the
    # top-level keys it gives, but a list it gives replaces the old one, so every item of it
    # needs its required keys (DRF would skip them: the partial flag is the root's). (A
    # comment, not the docstring: drf-spectacular shows the docstring in the schema.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            errors = {str(key): ["Unknown key."] for key in data if key not in fields}
            # With an unknown key, the required ones missing are named too (a key spelled
            # wrong is usually one of them: "file" sent as "upload").
            if errors or self.parent is not None:  # type: ignore[attr-defined]
                partial = getattr(self.root, "partial", False)  # type: ignore[attr-defined]
                errors.update(
                    {
                        name: [field.error_messages["required"]]
                        for name, field in fields.items()
                        if field.required
                        and not field.read_only
                        and name not in data
                        and not (partial and self.parent is None)  # type: ignore[attr-defined]
                    }
                )
            if errors:
                raise serializers.ValidationError(dict(sorted(errors.items())))
        return super().to_internal_value(data)  # type: ignore[misc]


class ManagementSerializer(StrictFields, serializers.Serializer):
    pass


class ManagementModelSerializer(StrictFields, serializers.ModelSerializer):
    pass


class ManagementViewSet(IdempotentWrites, GenericViewSet):
    """Base of the ``/api/v1/`` resources. ``get_queryset`` is where a resource applies the
    caller's scope (``campaigner.selectors``): what it leaves out is 404."""

    authentication_classes = ManagementApiView.authentication_classes
    parser_classes = ManagementApiView.parser_classes
    permission_classes = (*ManagementApiView.permission_classes, ModelPermissions)
    pagination_class = ManagementPagination
    filter_backends = (DjangoFilterBackend,)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions: ClassVar[dict[str, list[str]]] = {}
    lookup_value_regex = "[0-9]+"  # ids only: anything else is no such path (404)


class CrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ManagementViewSet,
):
    pass


def ordering(*names: tuple[str, str]) -> filters.OrderingFilter:
    """``?ordering=`` by id or the (parameter, model field) pairs given; ``-`` descends."""
    return filters.OrderingFilter(
        fields=[("id", "id"), *((field, param) for param, field in names)]
    )
