"""The root URLconf. Each app owns its ``urls.py``; they are included by name, so this module
imports neither ``leads`` nor ``dialer`` (dependencies point one way: dialer → leads →
campaigner)."""

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import include, path, re_path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigner.api import views as read_api
from campaigner.api.servlet import CAMPAIGN_API
from campaigner.api.tokens import ManagementApiView
from campaigner.health import health_view
from campaigner.metrics import metrics_view

_STAFF = {
    "authentication_classes": ManagementApiView.authentication_classes,
    "permission_classes": ManagementApiView.permission_classes,
}

_docs = SpectacularSwaggerView.as_view(url_name="schema", **_STAFF)


def docs_view(request: HttpRequest) -> HttpResponseBase:
    """The docs page. A person who is not signed in (no session, no token) is sent to the
    admin's login and brought back, rather than shown a bare 401."""
    if "HTTP_AUTHORIZATION" not in request.META and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    response: HttpResponseBase = _docs(request)
    return response


urlpatterns = [
    path(CAMPAIGN_API + "getCampaignTemplateList", read_api.TemplateListApi.as_view()),
    path(CAMPAIGN_API + "getCampaignList", read_api.CampaignListApi.as_view()),
    path(CAMPAIGN_API + "getAllocationList", read_api.AllocationListApi.as_view()),
    path(CAMPAIGN_API + "getDispositionList", read_api.DispositionListApi.as_view()),
    path(CAMPAIGN_API + "getFieldList", read_api.FieldListApi.as_view()),
    path(CAMPAIGN_API + "getFieldDefn", read_api.FieldDefnApi.as_view()),
    path(CAMPAIGN_API, include("leads.urls")),
    path(CAMPAIGN_API + "<path:method>", read_api.unknown_method_view),
    path("health", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("campaigner.api_v1.urls")),
    path("api/v1/", include("dialer.urls")),
    path("api/v1/", include("leads.api_v1.urls")),
    # The schema and its docs page are behind the same staff authentication as the API.
    path("api/v1/schema/", SpectacularAPIView.as_view(**_STAFF), name="schema"),
    path("api/v1/docs/", docs_view, name="docs"),
    re_path(r"^api/v1/", read_api.management_not_found_view),  # any other path, newlines too
]

# Django's own 400 (e.g. a bad Host header) answered in the API's shapes on the API's paths.
handler400 = "campaigner.http_errors.bad_request_view"
handler500 = "campaigner.http_errors.server_error_view"
