"""Admin for the campaign configuration. Keys and tokens are generated here and their plain
value is shown exactly once, in the confirmation message after saving; only a hash is kept."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
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
from campaigner.selectors import scoped
from campaigner.services import api_key_create

# How each scoped model reaches its template (domain.md §5.1: a user sees the templates of
# their teams and what is under them; a superuser sees everything).
TEMPLATE_PATHS: dict[type[Model], str] = {
    CampaignTemplate: "",
    Campaign: "template",
    Allocation: "campaign__template",
}


class VisibleRelatedFilter(admin.RelatedFieldListFilter):
    """A list filter on a template, campaign or allocation that offers only those the user
    sees (the default would list every team's)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        model = field.related_model
        visible = scoped(model._default_manager.all(), request.user, TEMPLATE_PATHS[model])
        return [(obj.pk, str(obj)) for obj in visible]


class TeamScopedAdmin(admin.ModelAdmin):
    """An admin of a model under a template: lists, pages and the choices of its forms hold
    only what the user's teams see; anything else is "not found"."""

    template_path: str = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(super().get_queryset(request), request.user, self.template_path)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        model = db_field.related_model
        if model in TEMPLATE_PATHS:
            kwargs["queryset"] = scoped(
                model._default_manager.all(), request.user, TEMPLATE_PATHS[model]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
class CampaignTemplateAdmin(TeamScopedAdmin):
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
class CampaignAdmin(TeamScopedAdmin):
    template_path = "template"
    list_display = ("id", "name", "template", "active", "balance_mode")
    list_display_links = ("id", "name")
    list_filter = ("active", "balance_mode", ("template", VisibleRelatedFilter))
    search_fields = ("name", "template__name")
    inlines = (AllocationInline,)


@admin.register(Allocation)
class AllocationAdmin(TeamScopedAdmin):
    template_path = "campaign__template"
    list_display = ("id", "name", "campaign", "started", "weight")
    list_display_links = ("id", "name")
    list_filter = ("started", ("campaign", VisibleRelatedFilter))
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
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plain = api_key_create(obj.name, obj.team, obj.user)  # as POST /api/v1/api-keys/
        if obj.revoked:
            ApiKey.objects.filter(pk=key.pk).update(revoked=True)
        obj.pk, obj.key_hash, obj.key_prefix, obj.created_at = (
            key.pk,
            key.key_hash,
            key.key_prefix,
            key.created_at,
        )
        _show_once(request, f"API key {obj.name!r}", plain)

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
