"""What every CampaignAPI view shares: the contract's error envelope, a fast JSON renderer,
API-key authentication done by the view itself (so the §4 order of checks is explicit), and
reading a JSON body within the size limit."""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest
from gunicorn.http.errors import ParseException as HttpParseError
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from campaigner.api.campaignapi_schema import CampaignApiSchema
from campaigner.contract import REPLAYED_HEADER, CampaignApiError, Code
from campaigner.metrics import CALLS

MIB = 2**20


class OrjsonRenderer(BaseRenderer):
    """Compact JSON (as the vendor's ``{"code":0,"message":"OK"}``), fast for 100k results."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        try:
            return orjson.dumps(data)
        except TypeError:
            # Text orjson cannot encode, e.g. an unpaired surrogate echoed back from a client's
            # "\\udc00" escape in ignoredFields: escaped again, as the client sent it.
            return json.dumps(data, separators=(",", ":")).encode()


class CampaignApiView(APIView):
    authentication_classes = ()
    permission_classes = ()
    renderer_classes = (OrjsonRenderer,)
    schema = CampaignApiSchema()
    contract_envelope = True  # errors answered as the envelope (campaigner.api.errors)
    rate_limited = False  # the lead write calls: served by the write threads (ratelimit.py)
    # Any other HTTP method (OPTIONS, PUT, …) is a 405 in the envelope, not DRF's metadata.
    http_method_names = ["get", "post"]

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.has_header(REPLAYED_HEADER):
            code: Any = "replayed"  # a kept answer given again (campaigner.api.idempotent)
        else:
            code = response.data.get("code") if isinstance(response.data, dict) else None
        # Labelled by the API method name, as operators know the calls (the path's last part).
        CALLS.labels(request.path_info.rsplit("/", 1)[-1], str(code)).inc()
        return response


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def body_read(request: HttpRequest | Request) -> bytes:
    """The body's bytes. Over ``CAMPAIGNAPI_MAX_BODY_MB`` MiB → 413/152 without reading it
    all."""
    limit = settings.CAMPAIGNAPI_MAX_BODY_MB * MIB
    too_large = CampaignApiError(
        Code.PAYLOAD_TOO_LARGE, f"the body is over {settings.CAMPAIGNAPI_MAX_BODY_MB} MiB"
    )
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    try:
        if not declared and request.META.get("wsgi.input_terminated"):
            # A chunked body: Django reads nothing without a Content-Length, but the server
            # (e.g. gunicorn) has marked the input as terminated, so it can be read to its end.
            data = request.META["wsgi.input"].read(limit + 1)
        else:
            data = request.read(limit + 1)
    except (OSError, HttpParseError):  # a client gone, broken chunked framing
        raise CampaignApiError(Code.MALFORMED_REQUEST, "the body could not be read") from None
    if len(data) > limit:
        raise too_large
    return data


def json_parse(data: bytes) -> Any:
    """``data`` as JSON; not JSON → 400/150. The Content-Type is not enforced (``curl -d``
    sends a form type)."""
    # The standard parser, not orjson: orjson turns integers beyond 64 bits into floats, which
    # would silently change a client's data (it costs ~75 ms more on an 18 MB batch).
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise CampaignApiError(Code.MALFORMED_REQUEST, "the body is not valid JSON") from None
    except RecursionError:  # arrays or objects nested hundreds deep
        raise CampaignApiError(Code.MALFORMED_REQUEST, "the body is nested too deeply") from None
