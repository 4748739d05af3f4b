"""The ``Idempotency-Key`` at the HTTP doors; the rule and its guarantee are in
``campaigner.idempotency``.

A write call may carry ``Idempotency-Key: <key>`` (on the CampaignAPI also ``?idempotencyKey=``,
for clients that cannot set headers): 1 to 255 printable ASCII characters, the caller's own
(per CampaignAPI key, per management API user). The first call with a key runs and its answer
is kept with its write. The same call sent again (same method, path, parameters and body) gets
the kept answer, byte for byte, with ``Idempotent-Replayed: true``, and runs nothing: no write,
no place in the rate limit's queue. Sent with another request, the key is refused: CampaignAPI
422 code 153, management API 422. A call sent while the first with its key is still running
waits for it and is answered as it was; past ``IDEMPOTENCY_WAIT_S`` it is refused, 409 (code
154) with ``Retry-After``, having written nothing.

- CampaignAPI: the views call ``campaignapi_call`` (``None`` without a key) and ``answer_once``,
  and hand the call's ``keep`` to the service, which runs it in its transaction.
- Management API (``/api/v1/``): ``IdempotentWrites``, a mixin of every view, runs a keyed
  write in one transaction and keeps its answer (2xx only) as that transaction's last step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.base import OrjsonRenderer
from campaigner.api.errors import error_response
from campaigner.contract import REPLAYED_HEADER, CampaignApiError, Code, KeyInFlight, KeyReused
from campaigner.idempotency import (
    Answer,
    AnsweredMeanwhile,
    answer_find,
    answer_keep,
    answer_keep_alone,
    fingerprint,
    key_valid,
)

HEADER = "Idempotency-Key"
PARAM = "idempotencyKey"
# Rejections a retry must be free to run again: nothing was written, and the next run may
# succeed (the queue was full, the lead changed meanwhile, the server failed).
_NOT_KEPT = {
    Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS,
    Code.LEAD_NOT_UPDATED_DUE_TO_CONFLICT,
    Code.EXCEPTION,
}


class KeyedCall:
    """One write call with a key: who (``scope``), the key, and what was asked
    (``fingerprint``, ``request``)."""

    def __init__(self, scope: str, key: str, digest: str, request: str) -> None:
        self.scope, self.key, self.fingerprint, self.request = scope, key, digest, request

    def kept(self) -> Response | None:
        """The answer kept for the key, as its replay (already rendered: its bytes as kept);
        ``KeyReused`` if it answered another request; ``None`` if none is kept."""
        answer = answer_find(self.scope, self.key)
        if answer is None:
            return None
        if answer.fingerprint != self.fingerprint:
            raise KeyReused(answer.request)
        response = Response(status=answer.status)
        response.content = answer.body  # marks it rendered
        if answer.content_type:
            response["Content-Type"] = answer.content_type
        else:  # a 204 has none
            del response["Content-Type"]
        response[REPLAYED_HEADER] = "true"
        return response

    def keep(self, response: Response) -> None:
        """Keep ``response`` (rendered here) in the caller's transaction: the write's."""
        answer_keep(self.scope, self.key, self._answer(response))

    def keep_alone(self, response: Response) -> None:
        """Keep the answer of a call that wrote nothing."""
        answer_keep_alone(self.scope, self.key, self._answer(response))

    def _answer(self, response: Response) -> Answer:
        if not getattr(response, "accepted_renderer", None):  # a CampaignAPI answer, made early
            response.accepted_renderer = OrjsonRenderer()
            response.accepted_media_type = OrjsonRenderer.media_type
            response.renderer_context = {}  # type: ignore[attr-defined]
        response.render()
        return Answer(
            self.fingerprint, self.request, response.status_code,
            response.get("Content-Type", ""), response.content,
        )  # fmt: skip


def _key(request: HttpRequest | Request, *, param: bool) -> str | None:
    key = request.headers.get(HEADER)
    if param:
        in_query = request.GET.get(PARAM)
        if key is not None and in_query is not None and in_query != key:
            raise CampaignApiError(
                Code.MALFORMED_REQUEST, f"the {HEADER} header and {PARAM} differ"
            )
        key = key if key is not None else in_query
    if key is not None and not key_valid(key):
        detail = f"{HEADER} must be 1 to 255 printable ASCII characters"
        if param:
            raise CampaignApiError(Code.MALFORMED_REQUEST, detail)
        raise ValidationError({HEADER: [detail]})
    return key


def _query(request: HttpRequest | Request, *leave_out: str) -> str:
    return urlencode(
        sorted((n, v) for n, values in request.GET.lists() if n not in leave_out for v in values)
    )


# --- the CampaignAPI -----------------------------------------------------------------------------


def campaignapi_call(request: Request, key_id: int | None, body: bytes) -> KeyedCall | None:
    """The call's key with its fingerprint: the method, the path, the parameters (the API key
    and the idempotency key left out), ``If-Match`` and the body's bytes; ``None`` without a
    key. A key not 1-255 printable ASCII characters, or two keys that differ, is 150."""
    key = _key(request, param=True)
    if key is None:
        return None
    digest = fingerprint(
        [request.method or "", request.path, _query(request, "apiKey", PARAM),
         request.headers.get("If-Match", ""), hashlib.sha256(body).digest()]
    )  # fmt: skip
    return KeyedCall(f"key:{key_id}", key, digest, f"{request.method} {request.path}")


Keep = Callable[[Response], None]


def answer_once(call: KeyedCall | None, run: Callable[[Keep | None], Response]) -> Response:
    """A CampaignAPI write call's answer, with its key honoured.

    ``run(keep)`` runs the call and returns its answer; when ``keep`` is given, the service
    must call it with that answer inside its write's transaction, after the writes. A
    rejection ``run`` raises is kept too (on its own: nothing was written), unless a retry
    must be free to run again (``_NOT_KEPT``). When the key has an answer, that is the answer.
    """
    if call is None:
        return run(None)
    replay = call.kept()
    if replay is None:
        try:
            return run(call.keep)
        except AnsweredMeanwhile:
            pass
        except CampaignApiError as rejected:
            if rejected.code in _NOT_KEPT:
                # A call with the key may have run meanwhile (the 110 of a lead it changed).
                if call.kept() is None:
                    raise
            else:
                response = error_response(rejected)
                try:
                    call.keep_alone(response)
                    return response
                except AnsweredMeanwhile:
                    pass
        replay = call.kept()
        assert replay is not None  # one was committed, and answers are never deleted early
    return replay


# --- the management API ----------------------------------------------------------------------


def _data_digest(data: Any) -> bytes:
    """A digest of a parsed body: a raw one (a CSV upload) as it is, a form with its files by
    content, JSON as its canonical text (the same data spelled otherwise is the same body)."""
    if isinstance(data, bytes):
        return data

    def default(value: Any) -> Any:
        if isinstance(value, UploadedFile):
            digest = hashlib.sha256()
            for chunk in value.chunks():
                digest.update(chunk)
            value.seek(0)  # the view reads it next
            return f"file:{value.name}:{digest.hexdigest()}"
        return f"{type(value).__name__}:{value!r}"

    if hasattr(data, "lists"):  # a form (QueryDict, MultiValueDict)
        data = sorted(data.lists())
    return json.dumps(data, sort_keys=True, default=default).encode()


class ReplayAnswer(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


class IdempotentWrites:
    """A mixin of the management API's views: a ``POST``/``PATCH``/``DELETE`` with an
    ``Idempotency-Key`` runs in one transaction whose last step keeps its 2xx answer; sent
    again, it is answered with that. ``atomic_writes``: every write runs in one transaction
    (an answer of 400 or more rolls it back), with a key or not."""

    atomic_writes = True
    keyed_call: KeyedCall | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # who, and may they
        self.keyed_call = None
        if request.method in SAFE_METHODS:
            return
        key = _key(request, param=False)
        if key is None:
            return
        digest = fingerprint(
            [request.method or "", request.path, _query(request), _data_digest(request.data)]
        )
        call = KeyedCall(f"user:{request.user.pk}", key, digest, f"{request.method} {request.path}")
        replay = call.kept()
        if replay is not None:
            raise ReplayAnswer(replay)
        self.keyed_call = call

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ReplayAnswer):
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        write = request.method not in SAFE_METHODS
        if not write or not (self.atomic_writes or HEADER in request.headers):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        call: KeyedCall | None = None
        try:
            with transaction.atomic():
                response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
                call, self.keyed_call = self.keyed_call, None
                if response.status_code >= 400:
                    # Nothing stays behind, whatever the view had written before it failed.
                    transaction.set_rollback(True)
                elif call is not None:
                    call.keep(response)  # an exception rolls the write back
                return response
        except AnsweredMeanwhile:
            assert call is not None
            try:
                replay = call.kept()
                assert replay is not None  # one was committed
                return self.finalize_response(self.request, replay)  # type: ignore[attr-defined]
            except KeyReused as reused:
                error: Exception = reused
        except KeyInFlight as in_flight:
            error = in_flight
        refusal = super().handle_exception(error)  # type: ignore[misc]
        return self.finalize_response(self.request, refusal)  # type: ignore[attr-defined]
