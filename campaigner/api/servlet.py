"""CampaignAPI URLs read as the vendor's servlet container reads them (campaignapi.md §1).

- Adjacent slashes in the path are one: a client whose base URL ends in ``/`` calls
  ``//servicemanager/rest/CampaignAPI/…``, and Tomcat serves it.
- A query parameter given twice is read as its first value (``getParameter``), where Django's
  ``QueryDict.get`` would take the last.

Only the CampaignAPI's paths are read this way. The worker's classification of write calls
(``campaigner.ratelimit.limited_path``) reads a path through ``servlet_path`` too, so a path
means the same view there and here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, QueryDict

CAMPAIGN_API = "servicemanager/rest/CampaignAPI/"
_BASE = "/" + CAMPAIGN_API
_SLASHES = re.compile(r"//+")


def servlet_path(path: str) -> str:
    """``path`` with adjacent slashes collapsed when that makes it a CampaignAPI path."""
    if "//" in path:
        collapsed = _SLASHES.sub("/", path)
        if collapsed.startswith(_BASE):
            return collapsed
    return path


def first_values(query: QueryDict) -> QueryDict:
    """``query`` with each parameter's first value only."""
    first = QueryDict(mutable=True)
    for name, values in query.lists():
        first.setlist(name, values[:1])
    first._mutable = False
    return first


class ServletUrlsMiddleware:
    """Reads a CampaignAPI request's path and query string as ``servlet_path`` and
    ``first_values`` say, before anything else looks at them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = servlet_path(request.path_info)
        if path.startswith(_BASE):
            if path != request.path_info:
                request.path = request.path[: len(request.path) - len(request.path_info)] + path
                request.path_info = path
            request.GET = first_values(request.GET)  # type: ignore[assignment]
        return self.get_response(request)
