from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigner.api import views as read_api
from campaigner.api.tokens import ManagementApiView
from campaigner.health import health_view
from campaigner.metrics import metrics_view
from dialer import api as dialer_api
from leads import api as lead_api

CAMPAIGN_API = "servicemanager/rest/CampaignAPI/"
_STAFF = {
    "authentication_classes": ManagementApiView.authentication_classes,
    "permission_classes": ManagementApiView.permission_classes,
}

urlpatterns = [
    path(CAMPAIGN_API + "getCampaignTemplateList", read_api.TemplateListApi.as_view()),
    path(CAMPAIGN_API + "getCampaignList", read_api.CampaignListApi.as_view()),
    path(CAMPAIGN_API + "getAllocationList", read_api.AllocationListApi.as_view()),
    path(CAMPAIGN_API + "insertLeadFast", lead_api.InsertLeadFastApi.as_view()),
    path(CAMPAIGN_API + "insertLeadsFast", lead_api.InsertLeadsFastApi.as_view()),
    path(CAMPAIGN_API + "insertLead", lead_api.InsertLeadApi.as_view()),
    path(CAMPAIGN_API + "insertLeads", lead_api.InsertLeadsApi.as_view()),
    path(CAMPAIGN_API + "updateLeadFast", lead_api.UpdateLeadFastApi.as_view()),
    path(CAMPAIGN_API + "updateLead", lead_api.UpdateLeadApi.as_view()),
    path(CAMPAIGN_API + "<path:method>", read_api.unknown_method_view),
    path("health", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/dialer/campaigns/<int:campaign_id>/next-lead", dialer_api.NextLeadApi.as_view()),
    path("api/v1/dialer/campaigns/<int:campaign_id>/refresh", dialer_api.RefreshApi.as_view()),
    path("api/v1/dialer/campaigns/<int:campaign_id>/cache", dialer_api.CacheApi.as_view()),
    path("api/v1/dialer/leads/<int:lead_id>/outcome", dialer_api.OutcomeApi.as_view()),
    path("api/v1/leads/<int:lead_id>/eligibility", dialer_api.EligibilityApi.as_view()),
    # The schema and its docs page are behind the same staff authentication as the API.
    path("api/v1/schema/", SpectacularAPIView.as_view(**_STAFF), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema", **_STAFF), name="docs"),
]
