"""CampaignAPI read calls (campaignapi.md §3): GET or POST, not rate limited."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.auth import api_key_authenticate, campaign_get, template_get, visible_templates
from campaigner.api.base import CampaignApiView
from campaigner.api.campaignapi_schema import CampaignApiEntityListSerializer, campaign_api_schema
from campaigner.contract import Code, envelope
from campaigner.sql import KeyRow


def _param(request: Request, name: str) -> str | None:
    """A parameter from the query string, else from a form-encoded POST body."""
    value = request.query_params.get(name)
    if value is None and request.method == "POST":
        value = request._request.POST.get(name)
    return value


CAMPAIGN_API = "servicemanager/rest/CampaignAPI/"


class _ListApi(CampaignApiView):
    entity_type: ClassVar[str]

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        key = api_key_authenticate(request._request)
        rows = self.entities(request, key).order_by("id").values("id", "name")
        return Response(
            {
                "type": self.entity_type,
                "code": int(Code.OK),
                "message": Code.OK.message,
                "entities": list(rows),
            }
        )

    post = get


def _list_schema(summary: str, param: str | None = None, code: Code | None = None) -> Any:
    parameters = []
    if param is not None:
        parameters.append(
            OpenApiParameter(
                param, int, required=True, description="Also accepted in a form-encoded POST"
            )
        )
    return campaign_api_schema(
        summary=summary,
        success=CampaignApiEntityListSerializer,
        codes=(code,) if code else (),
        parameters=parameters,
    )


@_list_schema("The templates the key sees")
class TemplateListApi(_ListApi):
    entity_type = "CampaignTemplate"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return visible_templates(key)


@_list_schema("The campaigns of a template", "fTemplateId", Code.TEMPLATE_ID_REQUIRED)
class CampaignListApi(_ListApi):
    entity_type = "Campaign"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return template_get(key, _param(request, "fTemplateId")).campaigns.all()


@_list_schema("The allocations of a campaign", "fCampaignId", Code.CAMPAIGN_ID_REQUIRED)
class AllocationListApi(_ListApi):
    entity_type = "Allocation"

    def entities(self, request: Request, key: KeyRow) -> QuerySet[Any]:
        return campaign_get(key, _param(request, "fCampaignId")).allocations.all()


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
