"""The CampaignAPI lead write calls (campaignapi.md §4), under the CampaignAPI base path."""

from django.urls import path

from leads import api

urlpatterns = [
    path("insertLeadFast", api.InsertLeadFastApi.as_view()),
    path("insertLeadsFast", api.InsertLeadsFastApi.as_view()),
    path("insertLead", api.InsertLeadApi.as_view()),
    path("insertLeads", api.InsertLeadsApi.as_view()),
    path("updateLeadFast", api.UpdateLeadFastApi.as_view()),
    path("updateLead", api.UpdateLeadApi.as_view()),
]
