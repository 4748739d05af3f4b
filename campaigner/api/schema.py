"""How the OpenAPI schema (drf-spectacular) names the paths: as domain.md §5.1 writes them.
A collection keeps its trailing slash (``/api/v1/templates/``); an item and an action have none
(``/api/v1/templates/{id}``, ``/api/v1/allocations/{id}/start``). The server accepts either
spelling of each; the schema gives one."""

from __future__ import annotations

from typing import Any

API_V1 = "/api/v1/"


def paths_as_served(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    out = []
    for path, regex, method, view in endpoints:
        below = path[len(API_V1) :] if path.startswith(API_V1) else ""
        out.append((path.rstrip("/") if below.count("/") > 1 else path, regex, method, view))
    return out


MANAGEMENT_ERROR = {
    "type": "object",
    "description": "An error of the management API: detail always; reason for a refusal "
    "(conflict, not_found, not_checked_out, invalid); errors (400) names every offending key, "
    "nested keys as windows.0.start, the body as a whole as body.",
    "properties": {
        "detail": {"type": "string"},
        "reason": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail"],
}
_ERRORS = {
    "400": "Invalid input: every offending key is named in errors",
    "401": "No token, or a bad one",
    "403": "A write without the model permission",
    "404": "No such thing, or one the caller's teams do not see",
    "409": "The write would break a rule of the data (a name taken, still in use, not checked "
    "out); nothing was written",
}
_WRITE_ERRORS = {
    "409": _ERRORS["409"] + "; or a call with the Idempotency-Key is still running "
    "(reason key_in_flight, Retry-After)",
    "422": "The Idempotency-Key was sent with another request (reason key_reused); nothing "
    "was written",
}
_REF = {"$ref": "#/components/schemas/ManagementError"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Makes a retry safe: the same request sent again with this key gets the "
    "first answer (Idempotent-Replayed: true) and changes nothing. Kept 24 h, per user",
}


def management_errors(result: dict[str, Any], generator: Any, request: Any, public: Any) -> Any:
    """Every ``/api/v1/`` operation answers its errors in one shape, and every write takes an
    ``Idempotency-Key``; the schema says so."""
    result.setdefault("components", {}).setdefault("schemas", {})["ManagementError"] = (
        MANAGEMENT_ERROR
    )
    for path, item in result.get("paths", {}).items():
        if not path.startswith(API_V1):
            continue
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            errors = _ERRORS
            if method in ("post", "patch", "delete"):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                errors = {**_ERRORS, **_WRITE_ERRORS}
            for status, text in errors.items():
                responses.setdefault(
                    status, {"description": text, "content": {"application/json": {"schema": _REF}}}
                )
    return result
