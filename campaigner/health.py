"""``/health``: can this process reach the database and the broker? (domain.md §6)

200 when both answer, 503 otherwise, so a load balancer takes the process out of rotation.
Each check is bounded (about 2 s) so the endpoint itself never hangs.

Other apps add informational checks with ``register_check`` (the dialer reports its cache
freshness): they appear in the body and in ``warnings`` but do not fail the web process, which
serves the CampaignAPI fine while, say, beat is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from campaigner.api.tokens import staff_user
from campaigner.celery import app as celery_app

CHECK_TIMEOUT_S = 2

_informational: dict[str, Callable[[], dict[str, Any]]] = {}


def register_check(name: str, check: Callable[[], dict[str, Any]]) -> None:
    """Add an informational check: ``check()`` returns ``{"ok": bool, …}``."""
    _informational[name] = check


def database_status() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the reason goes in the body
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "latencyMs": round((time.monotonic() - started) * 1000, 1)}


def broker_status() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_S)
            transport = conn.transport_cls
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "ok": True,
        "transport": str(transport),
        "latencyMs": round((time.monotonic() - started) * 1000, 1),
    }


@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}`` for anyone (a load
    balancer); a staff user (admin session or bearer token) also gets every check's detail,
    which names campaigns and servers."""
    return health_answer(detail=staff_user(request))


def health_answer(detail: bool) -> JsonResponse:
    """The health answer; with ``detail``, every check's (for staff only)."""
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(check["ok"] for check in checks.values())
    status, state = (200, "ok") if healthy else (503, "unavailable")
    if not detail:
        return JsonResponse({"status": state}, status=status)
    body: dict[str, Any] = {"status": state, **checks}
    if checks["database"]["ok"]:
        for name, check in _informational.items():
            try:
                body[name] = check()
            except Exception as exc:
                body[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        body["warnings"] = [name for name in _informational if not body[name]["ok"]]
    return JsonResponse(body, status=status)
