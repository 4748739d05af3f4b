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
from typing import Any, ClassVar, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigner.admin import TeamScopedAdmin, VisibleRelatedFilter
from campaigner.contract import Code, Refusal, Refused
from campaigner.models import Allocation, Campaign, CampaignTemplate
from campaigner.selectors import allocations_visible, campaigns_visible, templates_visible
from leads.models import (
    ActionDelivery,
    DeliveryAttempt,
    DispositionRecord,
    DncEntry,
    Lead,
    LeadImport,
    LeadPhone,
    PhonePattern,
)
from leads.selectors import phone_normaliser_load
from leads.services.delivery import action_delivery_retry
from leads.services.disposition import DispositionContext, disposition_plan
from leads.services.dnc import dnc_entry_put, dnc_upload
from leads.services.lead_import import lead_import_cancel, lead_import_create
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
class LeadAdmin(TeamScopedAdmin):
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
    template_path = "campaign__template"
    list_filter = (
        ("campaign", VisibleRelatedFilter),
        ("allocation", VisibleRelatedFilter),
        "closed",
        "disposition",
    )
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
class ActionDeliveryAdmin(TeamScopedAdmin):
    """Webhook and email outcomes (sent, retrying, failed), with a retry action."""

    template_path = "lead__campaign__template"

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


class DncEntryForm(forms.ModelForm):
    """A number as a person types it (``08 9381 2222``): normalised with the phone rules, as
    the API and uploads do, so that it blocks the leads it should."""

    class Meta:
        model = DncEntry
        fields = ("number", "expires_on", "note")
        labels: ClassVar = {"number": "Phone number", "expires_on": "Expires on"}
        help_texts: ClassVar = {
            "number": "As written anywhere; it is normalised with the phone rules.",
            "expires_on": "Empty: never.",
        }

    def clean_number(self) -> str:
        value: str = self.cleaned_data["number"]
        number = phone_normaliser_load()(value)
        if number is None:
            raise forms.ValidationError(f"{value!r} is not a usable phone number.")
        # A new entry is normalised once, by dnc_entry_put (rules need not be idempotent).
        return value if self.instance.pk is None else number

    def validate_unique(self) -> None:
        if self.instance.pk is not None:  # a new entry of a listed number updates that one
            super().validate_unique()


@admin.register(DncEntry)
class DncEntryAdmin(admin.ModelAdmin):
    form = DncEntryForm
    list_display = ("number", "expires_on", "note", "source", "created_at")
    list_filter = ("source", "expires_on")
    search_fields = ("number", "note")
    change_list_template = "admin/leads/dncentry/change_list.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DncEntry], search_term: str
    ) -> tuple[QuerySet[DncEntry], bool]:
        """A number however it is written finds its entry; other text searches the notes."""
        number = phone_normaliser_load()(search_term) if search_term else None
        if number is not None:
            return queryset.filter(number=number), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: DncEntry, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        entry, added = dnc_entry_put(obj.number, obj.expires_on, obj.note, source="admin")
        obj.pk, obj.number, obj.created_at, obj.source = (
            entry.pk,
            entry.number,
            entry.created_at,
            entry.source,
        )
        if not added:
            messages.info(
                request, f"{entry.number} was listed already: its expiry and note are updated."
            )

    def get_urls(self) -> list[Any]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view), name="leads_dncentry_upload"
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """A DNC file, through the service of ``/api/v1/dnc/upload``; the result on the page."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = DncUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["file"].read(settings.DNC_UPLOAD_MAX_BYTES + 1)
            try:
                if len(content) > settings.DNC_UPLOAD_MAX_BYTES:
                    limit = settings.DNC_UPLOAD_MAX_BYTES
                    raise Refused(Refusal.INVALID, f"the file is larger than {limit:,} bytes")
                with transaction.atomic():
                    result = dnc_upload(content, source="upload")
            except Refused as refused:
                form.add_error("file", refused.detail)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a DNC list",
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/leads/dncentry/upload.html", context)


@admin.register(PhonePattern)
class PhonePatternAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "pattern", "replacement", "enabled")
    list_editable = ("position", "enabled")
    list_filter = ("enabled",)
    search_fields = ("name", "pattern")


# --- manual import and DNC upload (domain.md §5.3, §5.4) -------------------------------------


class _NarrowedSelect(forms.Select):
    """A select whose options carry their parent's id (``data-parent``), so the page can show
    only the campaigns of the chosen template and the allocations of the chosen campaign."""

    def __init__(self, parent: str) -> None:
        super().__init__(attrs={"data-narrowed-by": parent})
        self.parent = parent

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        instance = getattr(option["value"], "instance", None)
        if instance is not None:
            option["attrs"]["data-parent"] = getattr(instance, f"{self.parent}_id")
        return option


class LeadImportForm(forms.Form):
    template = forms.ModelChoiceField(queryset=CampaignTemplate.objects.none())
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), widget=_NarrowedSelect("template")
    )
    allocation = forms.ModelChoiceField(
        queryset=Allocation.objects.none(), widget=_NarrowedSelect("campaign")
    )
    file = forms.FileField(
        allow_empty_file=True,
        help_text="CSV, UTF-8, with a header row naming template fields (njExternalLeadId, "
        "njCallBackDate, njPriority, njContactHours too). Other columns are ignored.",
    )
    allow_duplicates = forms.BooleanField(
        required=False, help_text="Accept numbers already used in the campaign."
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = cast(dict[str, Any], self.fields)
        fields["template"].queryset = templates_visible(user).order_by("name")
        fields["campaign"].queryset = campaigns_visible(user).order_by("name")
        fields["allocation"].queryset = allocations_visible(user).order_by("name")


@admin.register(LeadImport)
class LeadImportAdmin(TeamScopedAdmin):
    """Past imports (read only); "add" is the import page, an item its live progress."""

    template_path = "campaign__template"
    list_display = ("id", "file_name", "campaign", "allocation", "status", "rows", "processed",
                    "imported", "rejected", "created_by", "created_at")  # fmt: skip
    list_filter = ("status", ("campaign", VisibleRelatedFilter))
    list_select_related = ("campaign", "allocation__campaign", "created_by")
    search_fields = ("file_name",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a running import would pull its file from under its worker.
        return super().has_delete_permission(request, obj) and (obj is None or obj.finished)

    def get_urls(self) -> list[Any]:
        cancel = path(
            "<int:import_id>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="leads_leadimport_cancel",
        )
        return [cancel, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = LeadImportForm(request.user, request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                with transaction.atomic():
                    lead_import = lead_import_create(
                        data["template"], data["campaign"], data["allocation"], upload,
                        file_name=upload.name or "upload.csv", size=upload.size,
                        allow_duplicates=data["allow_duplicates"], user=request.user,
                    )  # fmt: skip
            except Refused as refused:
                form.add_error(
                    refused.field if refused.field in form.fields else None, refused.detail
                )
            else:
                messages.success(
                    request, f"{lead_import.file_name}: {lead_import.rows:,} rows queued."
                )
                return redirect("admin:leads_leadimport_change", lead_import.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import leads",
            "opts": self.model._meta,
            "form": form,
            "max_mb": settings.LEAD_IMPORT_MAX_BYTES // (1024 * 1024),
        }
        return TemplateResponse(request, "admin/leads/leadimport/import.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        lead_import = self.get_object(request, object_id)
        if lead_import is None or not self.has_view_permission(request, lead_import):
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import #{lead_import.pk}: {lead_import.file_name}",
            "opts": self.model._meta,
            "original": lead_import,
            "can_cancel": self.has_change_permission(request, lead_import),
            "codes": {str(int(code)): code.name for code in Code},
        }
        return TemplateResponse(request, "admin/leads/leadimport/progress.html", context)

    def cancel_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        lead_import = self.get_object(request, str(import_id))
        if lead_import is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, lead_import):
            raise PermissionDenied
        lead_import = lead_import_cancel(lead_import)
        messages.info(
            request, f"Import #{lead_import.pk}: cancel requested ({lead_import.status})."
        )
        return redirect("admin:leads_leadimport_change", lead_import.pk)


class DncUploadForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,
        help_text="CSV with a header row: 'phone', and optionally 'expires' (YYYY-MM-DD) and "
        "'note'. A number already listed gets the new expiry and note.",
    )
