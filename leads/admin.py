"""Admin for leads and the DNC list. Lead editing with the version check and the merge screen
comes with the updates issue; until then an admin save still bumps the row version."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F
from django.forms import ModelForm
from django.http import HttpRequest

from leads.models import DncEntry, Lead, LeadPhone, PhonePattern


class LeadPhoneInline(admin.TabularInline):
    model = LeadPhone
    extra = 0
    fields = ("field_name", "number", "blocked")
    readonly_fields = ("field_name", "number")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "external_id",
        "campaign",
        "allocation",
        "priority",
        "callback_at",
        "disposition",
        "closed",
        "version",
    )
    list_filter = ("campaign", "allocation", "closed", "disposition")
    search_fields = ("=id", "external_id", "phones__number")
    readonly_fields = ("version", "created_at", "updated_at", "checked_out_by", "checked_out_until")
    raw_id_fields = ("campaign", "allocation", "disposition", "contact_hours")
    inlines = (LeadPhoneInline,)
    list_select_related = ("campaign", "allocation", "disposition")
    show_full_result_count = False  # COUNT(*) over millions of leads on every page is wasteful

    def save_model(
        self, request: HttpRequest, obj: Lead, form: ModelForm[Any], change: bool
    ) -> None:
        if change:
            obj.version = F("version") + 1
        super().save_model(request, obj, form, change)


@admin.register(DncEntry)
class DncEntryAdmin(admin.ModelAdmin):
    list_display = ("number", "expires_on", "source", "created_at")
    list_filter = ("source", "expires_on")
    search_fields = ("number", "note")


@admin.register(PhonePattern)
class PhonePatternAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "pattern", "replacement", "enabled")
    list_editable = ("position", "enabled")
    list_filter = ("enabled",)
    search_fields = ("name", "pattern")
