"""Admin for the campaign configuration. Keys and tokens are generated here and their plain
value is shown exactly once, in the confirmation message after saving; only a hash is kept."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from campaigner.models import (
    Allocation,
    ApiKey,
    ApiToken,
    Campaign,
    CampaignTemplate,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
    Disposition,
    DispositionAction,
    DispositionSet,
    KeyFailure,
    TemplateField,
    new_secret,
)


class ContactHoursWindowInline(admin.TabularInline):
    model = ContactHoursWindow
    extra = 0


class ContactHoursClosedDateInline(admin.TabularInline):
    model = ContactHoursClosedDate
    extra = 0


@admin.register(ContactHours)
class ContactHoursAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone")
    search_fields = ("name", "timezone")
    inlines = (ContactHoursWindowInline, ContactHoursClosedDateInline)


class DispositionInline(admin.TabularInline):
    model = Disposition
    extra = 0
    show_change_link = True


@admin.register(DispositionSet)
class DispositionSetAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    inlines = (DispositionInline,)


class DispositionActionInline(admin.TabularInline):
    model = DispositionAction
    extra = 0


@admin.register(Disposition)
class DispositionAdmin(admin.ModelAdmin):
    list_display = ("name", "disposition_set", "enabled", "final", "priority", "callback_required")
    list_filter = ("disposition_set", "enabled", "final")
    search_fields = ("name",)
    inlines = (DispositionActionInline,)


class TemplateFieldInline(admin.TabularInline):
    model = TemplateField
    extra = 0


class CampaignInline(admin.TabularInline):
    model = Campaign
    extra = 0
    show_change_link = True


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "contact_hours", "disposition_set")
    list_display_links = ("id", "name")
    search_fields = ("name",)
    list_filter = ("teams",)
    filter_horizontal = ("teams",)
    inlines = (TemplateFieldInline, CampaignInline)


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "template", "active", "balance_mode")
    list_display_links = ("id", "name")
    list_filter = ("active", "balance_mode", "template")
    search_fields = ("name", "template__name")
    inlines = (AllocationInline,)


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "campaign", "started", "weight")
    list_display_links = ("id", "name")
    list_filter = ("started", "campaign")
    search_fields = ("name", "campaign__name")
    actions = ("start", "stop")

    @admin.action(description="Start the selected allocations")
    def start(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self.message_user(request, f"Started {queryset.update(started=True)} allocation(s).")

    @admin.action(description="Stop the selected allocations")
    def stop(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self.message_user(request, f"Stopped {queryset.update(started=False)} allocation(s).")


def _show_once(request: HttpRequest, what: str, plain: str) -> None:
    messages.warning(
        request, f"{what}: {plain} — copy it now; it is stored hashed and will not be shown again."
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "key_prefix", "team", "user", "revoked", "created_at", "last_used_at")
    list_filter = ("revoked", "team")
    search_fields = ("name", "key_prefix")
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ("revoke",)

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: ModelForm[Any], change: bool
    ) -> None:
        if not change:
            plain = new_secret()
            obj.set_key(plain)
            _show_once(request, f"API key {obj.name!r}", plain)
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        self.message_user(request, f"Revoked {queryset.update(revoked=True)} key(s).")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "token_prefix", "created_at", "last_used_at")
    search_fields = ("user__username", "name", "token_prefix")
    readonly_fields = ("token_prefix", "created_at", "last_used_at")

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm[Any], change: bool
    ) -> None:
        if not change:
            plain = new_secret()
            obj.set_token(plain)
            _show_once(request, f"Token {obj.name!r} of {obj.user}", plain)
        super().save_model(request, obj, form, change)


@admin.register(KeyFailure)
class KeyFailureAdmin(admin.ModelAdmin):
    """Addresses that sent wrong API keys; deleting one lifts its lock-out at once."""

    list_display = ("address", "failures", "window_started_at", "locked_until")
    readonly_fields = ("address", "failures", "window_started_at", "locked_until")
    ordering = ("-locked_until",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
