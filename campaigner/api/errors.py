"""The one exception handler of every DRF view (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): it
maps the services' errors (``campaigner.contract``) to HTTP answers, so no view builds an error
body by hand.

- On a CampaignAPI view (``contract_envelope = True``): ``CampaignApiError`` becomes its
  envelope with the table's status; a request Django will not read (over 1,000 parameters)
  is 150; a database that cannot be reached (restarting, connection lost) is 109 with
  ``Retry-After``, as a full queue is: the call wrote nothing and may be sent again; anything
  else unexpected is logged with its traceback and answered 500 code 103, never a stack trace.
- On a management API view (domain.md §5.1), every error is ``{"detail": "…"}``, and a 400 also
  has ``"errors": {"<key>": ["…"]}`` naming every offending key (nested keys as
  ``windows.0.start``; a fault of the body as a whole under ``body``). A ``Refused`` gets the
  status of its reason and says it in ``"reason"``; a write the database refuses for a rule of
  the data (a name taken, a row still referred to) is 409. (The view's transaction then rolls
  back whatever the request had written: ``campaigner.api.management``.) A request Django
  will not read, or a body that cannot be read to its end, is 400 on ``body``; a database that
  cannot be reached is 503 with ``Retry-After``.
- On both, an ``Idempotency-Key`` sent with another request than its first is 422 (code 153),
  and one whose first call is still running is 409 (code 154) with ``Retry-After``
  (``campaigner.api.idempotent``).

Django's own 400 and 500 (outside DRF: a bad ``Host``, the admin) are in
``campaigner.http_errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import UnreadablePostError
from gunicorn.http.errors import ParseException as HttpParseError
from psycopg import errors as pg_errors
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from campaigner.contract import (
    CampaignApiError,
    Code,
    KeyInFlight,
    KeyReused,
    Refusal,
    Refused,
    envelope,
)

logger = logging.getLogger(__name__)

REFUSAL_STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.NOT_CHECKED_OUT: 409,
    Refusal.CONFLICT: 409,
    Refusal.INVALID: 400,
    Refusal.FORBIDDEN: 403,
}
BODY = "body"  # the key of an error that is about the body as a whole
# A database that cannot answer now (restarting, its connection lost, a statement cancelled):
# the transaction was rolled back, so the request can be sent again.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER = {"Retry-After": "1"}
UNREADABLE = "The request could not be read (too many parameters, or a broken body)."


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_UNAVAILABLE)


def error_response(error: CampaignApiError) -> Response:
    return Response(
        envelope(error.code, error.detail, **error.extra),
        status=error.code.http_status,
        headers=error.headers or None,
    )


def _key_error(exc: KeyReused | KeyInFlight) -> CampaignApiError:
    if isinstance(exc, KeyReused):
        detail = f"the key was first used for another request ({exc.request}); nothing was written"
        return CampaignApiError(Code.IDEMPOTENCY_KEY_REUSED, detail)
    detail = "a call with this Idempotency-Key is still running; nothing was written"
    return CampaignApiError(Code.IDEMPOTENCY_KEY_IN_FLIGHT, detail, headers=RETRY_AFTER)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    view = context.get("view")
    if isinstance(exc, KeyReused | KeyInFlight):  # campaigner.api.idempotent
        error = _key_error(exc)
        if getattr(view, "contract_envelope", False):
            return error_response(error)
        reason = "key_reused" if isinstance(exc, KeyReused) else "key_in_flight"
        body = {"detail": error.detail, "reason": reason}
        return Response(body, status=error.code.http_status, headers=error.headers or None)
    if getattr(view, "contract_envelope", False):
        if isinstance(exc, CampaignApiError):
            return error_response(exc)
        if isinstance(exc, exceptions.MethodNotAllowed):
            return Response(envelope(Code.MALFORMED_REQUEST, str(exc.detail)), status=405)
        if isinstance(exc, SuspiciousOperation):
            return error_response(CampaignApiError(Code.MALFORMED_REQUEST, UNREADABLE))
        if database_unavailable(exc):
            logger.warning("database unavailable in %s: %s", type(view).__name__, exc)
            busy = Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS
            detail = "the database is unavailable for a moment; nothing was written"
            return error_response(CampaignApiError(busy, detail, headers=RETRY_AFTER))
        logger.exception("unexpected error in %s", type(view).__name__)
        return Response(envelope(Code.EXCEPTION), status=500)
    return _management_response(exc, context)


def _management_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Refused):
        body: dict[str, Any] = {"detail": exc.detail, "reason": str(exc.reason)}
        if exc.reason == Refusal.INVALID:
            body["errors"] = {exc.field or BODY: [exc.detail]}
        return Response(body, status=REFUSAL_STATUS[exc.reason])
    if isinstance(exc, ProtectedError | RestrictedError):
        return Response({"detail": _still_used(exc), "reason": str(Refusal.CONFLICT)}, status=409)
    if isinstance(exc, IntegrityError):
        return Response({"detail": _integrity_detail(exc), "reason": str(Refusal.CONFLICT)}, 409)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        named = ", ".join(errors)
        return Response({"detail": f"Invalid input: {named}.", "errors": errors}, status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response({"detail": str(exc.detail), "errors": {BODY: [str(exc.detail)]}}, 400)
    if isinstance(exc, SuspiciousOperation | UnreadablePostError | HttpParseError):
        return Response({"detail": UNREADABLE, "errors": {BODY: [UNREADABLE]}}, status=400)
    if database_unavailable(exc):
        logger.warning("database unavailable in %s: %s", type(context.get("view")).__name__, exc)
        detail = "The database is unavailable for a moment; nothing was written. Retry shortly."
        return Response({"detail": detail, "reason": "unavailable"}, 503, headers=RETRY_AFTER)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unexpected error in %s", type(context.get("view")).__name__)
        response = Response({"detail": "Internal error; it has been logged."}, status=500)
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"a.0.b": ["…"]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = BODY if key == "non_field_errors" and not prefix else str(key)
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for i, value in enumerate(detail):
            if value:
                flat.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or BODY: [str(item) for item in items]}


def _still_used(exc: ProtectedError | RestrictedError) -> str:
    objects: Any = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
    used_by = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
    return f"It is still in use by {', '.join(used_by)}; remove those first."


def _integrity_detail(exc: IntegrityError) -> str:
    cause = exc.__cause__
    if isinstance(cause, pg_errors.UniqueViolation):
        key = getattr(getattr(cause, "diag", None), "message_detail", None) or ""
        return f"That value is already taken. {key}".strip()
    if isinstance(cause, pg_errors.ForeignKeyViolation):
        return "It is still in use, or it refers to something that does not exist."
    return "The database refused the write: it would break a rule of the data."
