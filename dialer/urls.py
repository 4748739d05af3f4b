"""The dialer calls of the management API (domain.md §4), under ``/api/v1/``."""

from django.urls import path

from dialer import api

urlpatterns = [
    path("dialer/campaigns/<int:campaign_id>/next-lead", api.NextLeadApi.as_view()),
    path("dialer/campaigns/<int:campaign_id>/refresh", api.RefreshApi.as_view()),
    path("dialer/campaigns/<int:campaign_id>/cache", api.CacheApi.as_view()),
    path("dialer/leads/<int:lead_id>/outcome", api.OutcomeApi.as_view()),
    path("leads/<int:lead_id>/eligibility", api.EligibilityApi.as_view()),
]
