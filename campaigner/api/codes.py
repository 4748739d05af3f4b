"""The CampaignAPI wire contract in one place (campaignapi.md §5).

Services raise ``CampaignApiError(Code.X)``; ``campaignapi_exception_handler`` turns it (and any
unexpected exception) into the envelope ``{"code": N, "message": "…"}`` with the HTTP status of
the table. No view builds an error body by hand. Messages are the vendor's, misspellings
included (``INVALID_DISPOSTION``).
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class Code(IntEnum):
    OK = 0
    COULDNT_FIND_THE_LEAD = 101
    NO_PHONE_FIELDS = 102
    EXCEPTION = 103
    DNC = 104
    DUPLICATE = 105
    INVALID_DISPOSTION = 106
    DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED = 107
    IMPORT_BUT_NOCHANGE_SPECIFIED = 108
    TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS = 109
    LEAD_NOT_UPDATED_DUE_TO_CONFLICT = 110
    INVALID_TIMEZONE_SPECIFIED = 111
    DUPLICATE_EXTERNAL_ID = 112
    EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED = 113
    INVALID_CALLBACK_DATE_FORMAT = 114
    ALLOCATION_ID_REQUIRED = 115
    TEMPLATE_ID_REQUIRED = 116
    CAMPAIGN_ID_REQUIRED = 117
    MALFORMED_REQUEST = 150
    INVALID_PRIORITY = 151
    PAYLOAD_TOO_LARGE = 152
    INVALID_API_KEY = -1

    @property
    def message(self) -> str:
        return "OK" if self is Code.OK else self.name

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 400)


_HTTP_STATUS = {
    Code.OK: 200,
    Code.EXCEPTION: 500,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.INVALID_API_KEY: 401,
}


class CampaignApiError(Exception):
    """A call (or one lead) failed with a contract code. ``detail`` is human-readable extra."""

    def __init__(
        self,
        code: Code,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{int(code)} {code.message}: {detail or ''}")
        self.code = code
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


def envelope(code: Code, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": int(code), "message": code.message}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def error_response(error: CampaignApiError) -> Response:
    return Response(
        envelope(error.code, error.detail, **error.extra),
        status=error.code.http_status,
        headers=error.headers or None,
    )


def campaignapi_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler of every CampaignAPI view: contract errors become their envelope;
    anything else is logged with its traceback and answered 500 code 103, never a stack trace."""
    if isinstance(exc, CampaignApiError):
        return error_response(exc)
    if isinstance(exc, MethodNotAllowed):
        return Response(envelope(Code.MALFORMED_REQUEST, str(exc.detail)), status=405)
    view = context.get("view")
    logger.exception("unexpected error in %s", type(view).__name__ if view else "CampaignAPI")
    return Response(envelope(Code.EXCEPTION), status=500)
