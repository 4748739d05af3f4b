"""CampaignAPI read calls (campaignapi.md §3): GET or POST, not rate limited."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.auth import (
    api_key_authenticate,
    campaign_get,
    parse_id,
    template_get,
    visible_templates,
)
from campaigner.api.base import CampaignApiView
from campaigner.api.campaignapi_schema import (
    FIELD_DEFN_SCHEMA,
    CampaignApiEntityListSerializer,
    campaign_api_schema,
)
from campaigner.contract import Code, envelope
from campaigner.models import Disposition, TemplateField
from campaigner.sql import KeyRow


def call_param(request: Request, *names: str) -> str | None:
    """The first of ``names`` given, from the query string, else from a form-encoded POST
    body. A parameter given twice is read as its first value, as a servlet's
    ``getParameter`` reads it (the query string's are first values already:
    ``campaigner.api.servlet``)."""
    for name in names:
        value = request.query_params.get(name)
        if value is None and request.method == "POST":
            # Django's form reading, not DRF's ``request.POST`` (which would run DRF's parsers
            # over a body the call may read itself).
            value = next(iter(request._request.POST.getlist(name)), None)
        if value is not None:
            return value
    return None


class ListApi(CampaignApiView):
    # A read call answering the list envelope: entities are {id, name}, ordered by id unless
    # order_by says otherwise. (A comment: drf-spectacular would show a docstring as every
    # list call's description.)

    entity_type: ClassVar[str]
    order_by: ClassVar[tuple[str, ...]] = ("id",)

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        raise NotImplementedError

    def entity_list(self, request: Request, key: KeyRow) -> list[Any]:
        return list(self.entities(request, key).order_by(*self.order_by).values("id", "name"))

    def get(self, request: Request) -> Response:
        key = api_key_authenticate(request)
        entities = self.entity_list(request, key)
        return Response(list_envelope(self.entity_type, entities))

    post = get


def list_envelope(entity_type: str, entities: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": entity_type,
        "code": int(Code.OK),
        "message": Code.OK.message,
        "entities": entities,
        **extra,
    }


def list_schema(
    summary: str,
    *params: str,
    codes: tuple[Code, ...] = (),
    success: Any = CampaignApiEntityListSerializer,
    more: tuple[OpenApiParameter, ...] = (),
) -> Any:
    parameters = [
        OpenApiParameter(
            param, int, required=True, description="Also accepted in a form-encoded POST"
        )
        for param in params
    ]
    return campaign_api_schema(
        summary=summary, success=success, codes=codes, parameters=[*parameters, *more]
    )


@list_schema("The templates the key sees")
class TemplateListApi(ListApi):
    entity_type = "CampaignTemplate"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return visible_templates(key)


@list_schema("The campaigns of a template", "fTemplateId", codes=(Code.TEMPLATE_ID_REQUIRED,))
class CampaignListApi(ListApi):
    entity_type = "Campaign"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return template_get(key, call_param(request, "fTemplateId")).campaigns.all()


@list_schema("The allocations of a campaign", "fCampaignId", codes=(Code.CAMPAIGN_ID_REQUIRED,))
class AllocationListApi(ListApi):
    entity_type = "Allocation"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return campaign_get(key, call_param(request, "fCampaignId")).allocations.all()


@list_schema(
    "The dispositions of a template (its disposition set's, enabled or not)",
    "fTemplateId",
    codes=(Code.TEMPLATE_ID_REQUIRED,),
)
class DispositionListApi(ListApi):
    entity_type = "Disposition"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        template = template_get(key, call_param(request, "fTemplateId"))
        return Disposition.objects.filter(disposition_set_id=template.disposition_set_id)


@list_schema(
    "The fields of a template, in the template's order", "fTemplateId",
    codes=(Code.TEMPLATE_ID_REQUIRED,),
)  # fmt: skip
class FieldListApi(ListApi):
    entity_type = "Field"
    order_by = ("position", "id")

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return template_get(key, call_param(request, "fTemplateId")).fields.all()


@campaign_api_schema(
    summary="A template's fields as Zapier's dynamic fields (a bare JSON array)",
    success=FIELD_DEFN_SCHEMA,
    codes=(),
    parameters=[OpenApiParameter("fTemplateId", int, description="An unknown one gives []")],
)
class FieldDefnApi(CampaignApiView):
    """``getFieldDefn``: one Zapier field per template field, in order; a template the key
    cannot see (or none) is an empty array, not an error (a Zapier form then has no fields)."""

    def get(self, request: Request) -> Response:
        key = api_key_authenticate(request)
        template_id = parse_id(call_param(request, "fTemplateId"))
        names = (
            TemplateField.objects.filter(template__in=visible_templates(key), template=template_id)
            .order_by("position", "id")
            .values_list("name", flat=True)
            if template_id
            else []
        )
        return Response(
            [
                {"type": "unicode", "key": n, "required": False, "label": n, "help_text": n}
                for n in names
            ]
        )

    post = get


@csrf_exempt  # a POST with no CSRF token gets the contract's 404, not Django's HTML 403
def unknown_method_view(request: HttpRequest, method: str) -> JsonResponse:
    """Method names are case-sensitive; anything else under the base path is a 404, whatever
    the HTTP method."""
    code = Code.UNKNOWN_METHOD
    return JsonResponse(envelope(code, method), status=code.http_status)


@csrf_exempt
def management_not_found_view(request: HttpRequest) -> JsonResponse:
    """A path under ``/api/v1/`` that names no resource (``/api/v1/leads/-1``): the API's
    JSON 404, not Django's HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)
