"""The CampaignAPI wire contract (campaignapi.md §5) and the errors services raise, with no web
framework imported: services, tasks and management commands use this module; only
``campaigner.api.errors`` turns these errors into HTTP answers.

- ``Code``: every code, its message (the vendor's, misspellings included:
  ``INVALID_DISPOSTION``) and its HTTP status.
- ``CampaignApiError``: a call, or one lead of a batch, failed with a contract code. A multi-lead
  call records it per lead; a single-lead call answers it as the envelope
  ``{"code": N, "message": "…"}`` (plus ``detail`` and any ``extra`` keys).
- ``Refused`` with a ``Refusal``: a service of the management API (the dialer calls) cannot do
  what was asked, and says why; the view's exception handler picks the HTTP status.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any


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
    # [ref] Safe retries (campaigner.idempotency): an Idempotency-Key sent again with another
    # request, or while the first call with it is still running.
    IDEMPOTENCY_KEY_REUSED = 153
    IDEMPOTENCY_KEY_IN_FLIGHT = 154
    # [ref] A path under the CampaignAPI base that names no method (names are case-sensitive).
    UNKNOWN_METHOD = 404
    INVALID_API_KEY = -1

    @property
    def message(self) -> str:
        return "OK" if self is Code.OK else self.name

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 400)

    @property
    def when(self) -> str:
        """When a call answers it, in a few words (the docs and the OpenAPI schema)."""
        return _WHEN[self]


_HTTP_STATUS = {
    Code.OK: 200,
    Code.EXCEPTION: 500,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.IDEMPOTENCY_KEY_REUSED: 422,
    Code.IDEMPOTENCY_KEY_IN_FLIGHT: 409,
    Code.UNKNOWN_METHOD: 404,
    Code.INVALID_API_KEY: 401,
}


_WHEN = {
    Code.OK: "done",
    Code.COULDNT_FIND_THE_LEAD: "update: no lead of the campaign has that external id",
    Code.NO_PHONE_FIELDS: "no usable phone number (insert), or no phone field in the body (update)",
    Code.EXCEPTION: "unexpected server failure (never a stack trace)",
    Code.DNC: "every usable number of the lead is on the DNC list",
    Code.DUPLICATE: "a number is already used by a lead of the campaign or an earlier lead of "
    "the batch",
    Code.INVALID_DISPOSTION: "update: unknown or disabled disposition",
    Code.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED: "update: disposition absent or <No Change> "
    "and the lead has none",
    Code.IMPORT_BUT_NOCHANGE_SPECIFIED: "insert: a value is <No Change>",
    Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS: "the call could not start within its queue "
    "bound; nothing was written",
    Code.LEAD_NOT_UPDATED_DUE_TO_CONFLICT: "update: the lead changed meanwhile, or is checked "
    "out; nothing was written",
    Code.INVALID_TIMEZONE_SPECIFIED: "unknown Contact Hours name",
    Code.DUPLICATE_EXTERNAL_ID: "insert: the external id is already used in the campaign",
    Code.EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED: "update: no external id",
    Code.INVALID_CALLBACK_DATE_FORMAT: "callback date not yyyy/MM/dd HH:mm, or not a real date",
    Code.ALLOCATION_ID_REQUIRED: "allocation id missing, invalid or not of the campaign",
    Code.TEMPLATE_ID_REQUIRED: "template id missing or invalid",
    Code.CAMPAIGN_ID_REQUIRED: "campaign id missing, invalid or not of the template",
    Code.MALFORMED_REQUEST: "the body is not JSON of the expected shape",
    Code.INVALID_PRIORITY: "priority not a whole number 0-100",
    Code.PAYLOAD_TOO_LARGE: "the body is over the size limit",
    Code.IDEMPOTENCY_KEY_REUSED: "the Idempotency-Key was used for another request; nothing "
    "was written",
    Code.IDEMPOTENCY_KEY_IN_FLIGHT: "a call with the Idempotency-Key is still running; "
    "nothing was written, send it again (Retry-After)",
    Code.UNKNOWN_METHOD: "no such method (names are case-sensitive)",
    Code.INVALID_API_KEY: "missing, unknown or revoked API key",
}


class CampaignApiError(Exception):
    """A call (or one lead) failed with a contract code. ``detail`` is human-readable extra;
    ``extra`` are more keys of the envelope, ``headers`` of the answer (``Retry-After``)."""

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
    """The answer's body: ``{"code": N, "message": "…"}``, ``detail`` when given, then ``extra``."""
    body: dict[str, Any] = {"code": int(code), "message": code.message}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


# The header of an answer given again for a call sent again with its Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"


class KeyReused(Exception):
    """An ``Idempotency-Key`` came back with another request than the one it first answered
    (``request``: that one's method and path). Nothing was written."""

    def __init__(self, request: str) -> None:
        super().__init__(f"the key was first used for another request: {request}")
        self.request = request


class KeyInFlight(Exception):
    """Another call with the ``Idempotency-Key`` was still running past
    ``IDEMPOTENCY_WAIT_S``. Nothing of this call was written; it may be sent again."""


class Refusal(StrEnum):
    """Why a service refused; the interface maps each to its status (an HTTP view, a CLI)."""

    NOT_FOUND = "not_found"
    NOT_CHECKED_OUT = "not_checked_out"
    CONFLICT = "conflict"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"  # the caller sees it but may not change it (campaigner.selectors)


class Refused(Exception):
    """A service cannot do what was asked; ``reason`` says why, ``detail`` says it to a person.
    Nothing was written."""

    def __init__(self, reason: Refusal, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field = field  # the input key at fault, where one is
