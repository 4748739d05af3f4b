"""The CampaignAPI calls that reach leads (campaignapi.md §3-§4), under its base path."""

from django.urls import path

from leads import api

urlpatterns = [
    path("insertLeadFast", api.InsertLeadFastApi.as_view()),
    path("insertLeadsFast", api.InsertLeadsFastApi.as_view()),
    path("insertLead", api.InsertLeadApi.as_view()),
    path("insertLeads", api.InsertLeadsApi.as_view()),
    path("updateLeadFast", api.UpdateLeadFastApi.as_view()),
    path("updateLead", api.UpdateLeadApi.as_view()),
    path("getCallRecordList", api.CallRecordListApi.as_view()),
]
