"""Django's own 400 and 500 answers (``handler400``, ``handler500`` in ``campaigner.urls``):
errors raised outside a DRF view, whose errors ``campaigner.api.errors`` answers. On the API
paths they keep the API's shapes; a database that cannot be reached is "retry", never 500."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from campaigner.api.errors import RETRY_AFTER, database_unavailable
from campaigner.api.servlet import CAMPAIGN_API
from campaigner.contract import Code, envelope
from campaigner.health import health_answer


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 400 (a bad ``Host`` header, a malformed cookie or multipart body, too many
    parameters, caught before any view): on the CampaignAPI the envelope (150), on ``/api/v1/``
    the API's error shape, elsewhere Django's page. The offending value is never echoed.
    ``/health`` answers whatever the ``Host`` (a load balancer probes by address): the status
    anyone gets, never the staff detail."""
    path = request.path_info.lstrip("/")
    if path == "health" and request.method == "GET":
        return health_answer(detail=False)
    if path.startswith(CAMPAIGN_API):
        code = Code.MALFORMED_REQUEST
        return JsonResponse(envelope(code, "the request could not be read"), status=400)
    if path.startswith("api/v1/") or path == "health":
        detail = "The request could not be read (its Host header, cookies or body framing)."
        return JsonResponse({"detail": detail, "reason": "invalid"}, status=400)
    return defaults.bad_request(request, exception or Exception())


def server_error_view(request: HttpRequest) -> HttpResponse:
    """Django's 500 (an error outside a DRF view: a middleware, the admin, ``/health``). A
    database that cannot be reached now is 503 with ``Retry-After`` (on the CampaignAPI 109,
    as its views answer), since retrying shortly is the right thing for a client to do; any
    other error is 500, as JSON on the API paths. Never a stack trace."""
    path = request.path_info.lstrip("/")
    unavailable = database_unavailable(sys.exc_info()[1])
    if path.startswith(CAMPAIGN_API):
        code = Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS if unavailable else Code.EXCEPTION
        response: HttpResponse = JsonResponse(envelope(code), status=code.http_status)
    elif path.startswith("api/v1/") or path == "health":
        detail = "The database is unavailable for a moment." if unavailable else "Internal error."
        response = JsonResponse({"detail": detail}, status=503 if unavailable else 500)
    elif unavailable:
        response = HttpResponse(
            "The database is unavailable for a moment; retry shortly.",
            content_type="text/plain; charset=utf-8",
            status=503,
        )
    else:
        return defaults.server_error(request)
    if unavailable:
        for name, value in RETRY_AFTER.items():
            response.headers[name] = value
    return response
