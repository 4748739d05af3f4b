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
        if path.startswith(API_V1) and path.endswith("/") and path[len(API_V1) :].count("/") > 1:
            path = path.rstrip("/")
        out.append((path, regex, method, view))
    return out
