"""Admin for leads, their disposition history and deliveries, and the DNC list.

Lead editing uses the row version (campaignapi.md §4.6, domain.md §5):
- opening a lead for editing checks it out to the operator (``admin:<username>``) for
  ``DIALER_CHECKOUT_SECONDS``, so a concurrent CampaignAPI update gets 110 and the dialer skips
  it; the save releases it;
- the form carries the version it was opened at; if the lead changed since, the save is refused
  and the form shows, field by field, the stored value next to the operator's (the merge
  screen). Saving again, with the values the operator picked, writes over the new version;
- the save goes through ``lead_write`` (one conditional UPDATE), and a changed disposition goes
  through the disposition service, so its actions fire as for the API and the dialer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from leads.models import (
    ActionDelivery,
    DeliveryAttempt,
    DispositionRecord,
    DncEntry,
    Lead,
    LeadPhone,
    PhonePattern,
)
from leads.services.delivery import action_delivery_retry
from leads.services.disposition import DispositionContext, disposition_plan
from leads.services.lead_version import LeadConflict, checked_out_by_other, lead_write
from leads.sql import FoundDisposition

# The lead fields an operator may change, and their columns (the campaign and the bookkeeping
# are read-only).
COLUMNS = {"allocation": "allocation_id", "fields": "fields", "external_id": "external_id",
           "priority": "priority", "callback_at": "callback_at",
           "contact_hours": "contact_hours_id", "disposition": "disposition_id",
           "closed": "closed"}  # fmt: skip
EDITABLE = tuple(COLUMNS)


def _holder(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


class LeadPhoneInline(admin.TabularInline):
    model = LeadPhone
    extra = 0
    fields = ("field_name", "number", "blocked")
    readonly_fields = ("field_name", "number")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DispositionRecordInline(admin.TabularInline):
    model = DispositionRecord
    extra = 0
    fields = ("created_at", "disposition", "source", "agent", "dialed_number", "notes", "actions")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LeadForm(forms.ModelForm):
    seen_version = forms.IntegerField(widget=forms.HiddenInput)
    holder = ""  # the operator's check-out name; LeadAdmin.get_form sets it per request

    class Meta:
        model = Lead
        fields = EDITABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["seen_version"].initial = self.instance.version
        else:
            self.fields["seen_version"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not self.instance.pk or "seen_version" not in cleaned:
            return cleaned
        stored = Lead.objects.get(pk=self.instance.pk)
        allocation = cleaned.get("allocation")
        if allocation is not None and allocation.campaign_id != stored.campaign_id:
            self.add_error("allocation", "Choose an allocation of the lead's own campaign.")
        if checked_out_by_other(stored, self.holder, timezone.now()):
            assert stored.checked_out_until is not None
            raise forms.ValidationError(
                f"{stored.checked_out_by} has this lead checked out until"
                f" {timezone.localtime(stored.checked_out_until):%H:%M:%S}; save after that.",
                code="checked_out",
            )
        if stored.version != cleaned["seen_version"]:
            # The merge screen: the operator's value next to the stored one, field by field.
            # The next save is against the version the operator has now seen.
            data = cast(QueryDict, self.data).copy()
            data["seen_version"] = str(stored.version)
            self.data = data
            rows = format_html_join(
                "",
                "<li>{}: stored <b>{}</b>, yours <b>{}</b></li>",
                (
                    (name, getattr(stored, name), cleaned.get(name))
                    for name in EDITABLE
                    if name in cleaned and getattr(stored, name) != cleaned.get(name)
                ),
            )
            raise forms.ValidationError(
                format_html(
                    "This lead changed since you opened it (version {} → {}). Keep or change "
                    "your values and save again to write over it.<ul>{}</ul>",
                    cleaned["seen_version"],
                    stored.version,
                    rows,
                ),
                code="conflict",
            )
        return cleaned


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadForm
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
    readonly_fields = (
        "campaign",
        "version",
        "created_at",
        "updated_at",
        "checked_out_by",
        "checked_out_until",
    )
    raw_id_fields = ("allocation", "disposition", "contact_hours")
    inlines = (LeadPhoneInline, DispositionRecordInline)
    list_select_related = ("campaign", "allocation", "disposition")
    show_full_result_count = False  # COUNT(*) over millions of leads on every page is wasteful

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads come in through the insert service (API, import)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"holder": _holder(request)})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "GET":
            self._check_out(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def _check_out(self, request: HttpRequest, object_id: str) -> None:
        lead = Lead.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if lead is None:
            return
        now = timezone.now()
        if checked_out_by_other(lead, _holder(request), now):
            messages.warning(
                request,
                f"{lead.checked_out_by} has this lead checked out until "
                f"{timezone.localtime(lead.checked_out_until):%H:%M:%S}; saving will fail.",
            )
            return
        until = now + dt.timedelta(seconds=settings.DIALER_CHECKOUT_SECONDS)
        values = {"checked_out_by": _holder(request), "checked_out_until": until}
        try:
            lead_write(lead.pk, lead.version, values, holder=_holder(request), now=now)
        except LeadConflict:
            pass  # changed under us: the form shows the newer version anyway

    def save_model(self, request: HttpRequest, obj: Lead, form: LeadForm, change: bool) -> None:
        values: dict[str, Any] = {
            COLUMNS[name]: getattr(obj, COLUMNS[name])
            for name in form.changed_data
            if name in COLUMNS
        }
        values.update(checked_out_by="", checked_out_until=None)  # the save releases it
        # The admin runs the whole save (this, then the inlines) in one transaction.
        plan = None
        if "disposition" in form.changed_data and obj.disposition is not None:
            context = DispositionContext(
                source=DispositionRecord.Source.ADMIN,
                agent=request.user.get_username(),
                callback_given="callback_at" in form.changed_data,
            )
            found = FoundDisposition.of(obj.disposition)
            plan = disposition_plan(obj.pk, found, context, values)
        try:
            lead_write(obj.pk, form.cleaned_data["seen_version"], values, holder=_holder(request))
        except LeadConflict:
            # clean() checked version and check-out; only a write in the last milliseconds
            # gets here. Roll back the admin's whole save, the inlines' too.
            messages.error(request, "The lead changed while saving; nothing was saved.")
            transaction.set_rollback(True)
            return
        if plan is not None:
            plan.finish()
        obj.refresh_from_db()


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = ("number", "created_at", "ok", "http_status", "error", "duration_ms")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ActionDelivery)
class ActionDeliveryAdmin(admin.ModelAdmin):
    """Webhook and email outcomes (sent, retrying, failed), with a retry action."""

    list_display = ("id", "kind", "status", "attempts", "last_http_status", "next_attempt_at",
                    "lead", "created_at")  # fmt: skip
    list_filter = ("status", "kind")
    search_fields = ("=id", "=lead__id", "last_error")
    readonly_fields = ("kind", "lead", "record", "action", "payload", "status", "attempts",
                       "last_http_status", "last_error", "next_attempt_at", "delivered_at",
                       "created_at", "updated_at")  # fmt: skip
    inlines = (DeliveryAttemptInline,)
    actions = ("retry_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry the selected deliveries now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[ActionDelivery]) -> None:
        retried = sum(action_delivery_retry(delivery) for delivery in queryset)
        messages.success(request, f"{retried} delivery(ies) queued again.")


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
