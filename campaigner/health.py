"""``/health``: can this process reach the database and the broker? (domain.md §6)

200 when both answer, 503 otherwise, so a load balancer takes the process out of rotation.
Each check is bounded (about 2 s) so the endpoint itself never hangs.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from campaigner.celery import app as celery_app

CHECK_TIMEOUT_S = 2


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
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
