"""The one exception handler of every DRF view (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): it
maps the services' errors (``campaigner.contract``) to HTTP answers, so no view builds an error
body by hand.

- On a CampaignAPI view (``contract_envelope = True``): ``CampaignApiError`` becomes its
  envelope with the table's status; anything unexpected is logged with its traceback and
  answered 500 code 103, never a stack trace.
- On a management API view: ``Refused`` becomes ``{"detail", "reason"}`` with the status of its
  reason; DRF's own errors keep DRF's answers.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from campaigner.contract import CampaignApiError, Code, Refusal, Refused, envelope

logger = logging.getLogger(__name__)

REFUSAL_STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.NOT_CHECKED_OUT: 409,
    Refusal.CONFLICT: 409,
    Refusal.INVALID: 400,
}


def error_response(error: CampaignApiError) -> Response:
    return Response(
        envelope(error.code, error.detail, **error.extra),
        status=error.code.http_status,
        headers=error.headers or None,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    view = context.get("view")
    if getattr(view, "contract_envelope", False):
        if isinstance(exc, CampaignApiError):
            return error_response(exc)
        if isinstance(exc, MethodNotAllowed):
            return Response(envelope(Code.MALFORMED_REQUEST, str(exc.detail)), status=405)
        logger.exception("unexpected error in %s", type(view).__name__)
        return Response(envelope(Code.EXCEPTION), status=500)
    if isinstance(exc, Refused):
        return Response(
            {"detail": exc.detail, "reason": str(exc.reason)}, status=REFUSAL_STATUS[exc.reason]
        )
    return drf_exception_handler(exc, context)
