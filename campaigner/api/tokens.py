"""Authentication of the management API (``/api/v1/…``, domain.md §5): a staff user's
``Authorization: Bearer <token>`` (tokens from the admin or provisioning, stored hashed), or the
admin session. Anything else is 401. Wrong tokens count against the client's address with
its wrong CampaignAPI keys (``campaigner.api.auth.wrong_secret_count``): past the limit the
address is locked out and every token it sends is 401 unchecked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed, ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.views import APIView

from campaigner.api.auth import client_address, locked_out, wrong_secret_count
from campaigner.api.idempotent import IdempotentWrites
from campaigner.models import ApiToken, hash_secret

LAST_USED_RESOLUTION = timedelta(seconds=60)


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Authorization: Bearer <token>")
        address = client_address(request)
        if locked_out(address):  # refused unchecked, so a right guess is refused too
            raise AuthenticationFailed("invalid token")
        try:
            token_hash = hash_secret(header[1].decode())
        except UnicodeDecodeError:
            token = None
        else:
            token = (
                ApiToken.objects.select_related("user")
                .filter(token_hash=token_hash, user__is_active=True, user__is_staff=True)
                .first()
            )
        if token is None:
            wrong_secret_count(address)  # counted with the address's wrong CampaignAPI keys
            raise AuthenticationFailed("invalid token")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes DRF answer 401 (with WWW-Authenticate), not 403


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The token in the OpenAPI schema (registered by being defined)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}


class JsonBodyParser(JSONParser):
    """DRF's JSON parser, with a body nested too deeply for the decoder a 400 like any other
    malformed body (DRF lets the ``RecursionError`` through as a 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None


class ManagementApiView(IdempotentWrites, APIView):
    """Base of every ``/api/v1/`` view: staff only, by bearer token or admin session. A write
    runs in one transaction only with an ``Idempotency-Key`` (the dialer's calls own theirs)."""

    atomic_writes = False

    parser_classes: tuple[type[BaseParser], ...] = (JsonBodyParser,)
    authentication_classes = (BearerTokenAuthentication, SessionAuthentication)
    permission_classes = (IsAdminUser,)


def staff_user(request: HttpRequest) -> bool:
    """Whether a plain Django view's caller is active staff, by the admin session or a bearer
    token. A bad token is simply not staff, and so is anyone while the database that would
    say who they are cannot be reached."""
    try:
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff:
            return True
        return BearerTokenAuthentication().authenticate(Request(request)) is not None
    except (AuthenticationFailed, DatabaseError, OSError):
        return False
