"""Admin of the dialer cache (domain.md §4-§5): contents, position, last rebuild time and
duration per campaign, and "rebuild now"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse

from campaigner.admin import TeamScopedAdmin
from dialer.models import CacheEntry, CampaignCache
from dialer.services import dialer_cache_refresh

# The admin's home page: the dashboard of the active campaigns above the usual app list.
admin.site.index_template = "admin/dialer/index.html"

# The change page shows the head of the cache; the rest is in GET …/cache of the API.
SHOWN_ENTRIES = 100


class CacheEntryInline(admin.TabularInline):
    model = CacheEntry
    verbose_name_plural = "cache entries (the head of the current generation)"
    fields = ("position", "lead")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CacheEntry]:
        # The head of the current generation (older ones are being cleaned up).
        return (
            super()
            .get_queryset(request)
            .filter(generation=F("cache__generation"), position__lte=SHOWN_ENTRIES)
        )


@admin.register(CampaignCache)
class CampaignCacheAdmin(TeamScopedAdmin):
    template_path = "campaign__template"
    """Read only: a cache is what its rebuild made. "Rebuild now" needs the change
    permission."""

    list_display = ("campaign", "size", "refreshed_at", "rebuild_time")
    readonly_fields = ("campaign", "generation", "size", "refreshed_at", "rebuild_time")
    exclude = ("duration_ms",)
    inlines = (CacheEntryInline,)
    actions = ("rebuild_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the next rebuild would make it again

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        pass  # nothing on the page is editable; a forged POST changes nothing

    @admin.display(description="rebuild time")
    def rebuild_time(self, cache: CampaignCache) -> str:
        return f"{cache.duration_ms:.1f} ms"

    @admin.action(description="Rebuild the selected caches now", permissions=["change"])
    def rebuild_now(self, request: HttpRequest, queryset: QuerySet[CampaignCache]) -> None:
        for cache in queryset:
            result = dialer_cache_refresh(cache.pk, wait=True)
            assert result is not None
            messages.success(
                request,
                f"{cache.campaign}: {result.size} leads in {result.duration_ms:.1f} ms",
            )
