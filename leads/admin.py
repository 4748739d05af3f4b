"""Admin for leads, their disposition history and deliveries, and the DNC list.

Lead editing (domain.md §5.4) with the row version:
- opening a lead only reads it. When the operator starts editing, the page asks for the hold
  (``hold_view``: a check-out to ``admin:<username>`` for ``DIALER_CHECKOUT_SECONDS``, so a
  concurrent CampaignAPI update gets 110 and the dialer skips the lead), extends it while they
  edit, and releases it when they leave (``release_view``); the save releases it too;
- the form (``leads.lead_form``) carries the values it was opened at. On save they, the values
  stored now and the operator's are merged value by value (``lead_merge``): when another write
  changed a value the form holds, the merge screen shows stored and yours side by side and the
  operator picks; a check-out or release alone is no conflict. The next save is against the
  version the screen was built from, so a further change gives the merge screen again;
- the save is ``lead_edit``: phone fields normalised and their number rows rewritten, a new
  disposition with its actions, one conditional, version-bumping write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join

from campaigner.admin import TeamScopedAdmin, VisibleRelatedFilter
from campaigner.contract import Code, Refused
from campaigner.models import Allocation, Campaign, CampaignTemplate
from campaigner.selectors import (
    allocations_visible,
    campaign_ids_visible,
    campaigns_visible,
    templates_visible,
)
from campaigner.sql import call_target_of
from leads.lead_form import LeadEditForm, encode, lead_zone
from leads.models import (
    ActionDelivery,
    DeliveryAttempt,
    DncEntry,
    Door,
    Lead,
    LeadImport,
    LeadJob,
    NumberFinding,
    PhonePattern,
)
from leads.selection import LeadSelection
from leads.selectors import lead_history, name_fields, phone_normaliser_load
from leads.services.delivery import action_delivery_retry
from leads.services.dnc import dnc_entry_change, dnc_entry_put, dnc_upload
from leads.services.lead_edit import (
    Merge,
    lead_edit,
    lead_hold,
    lead_merge,
    lead_release,
    lead_values,
)
from leads.services.lead_import import (
    lead_import_cancel,
    lead_import_create,
    lead_import_start,
    mapping_targets,
)
from leads.services.lead_job import lead_job_cancel, lead_job_create, lead_job_preview
from leads.services.lead_version import ChangeBy, LeadConflict, checked_out_by_other
from leads.sql import DIAL_STATES, OPEN_CONTACT_HOURS, dial_state
from leads.templatetags.phones import phone


def _holder(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


class ImportFilter(admin.SimpleListFilter):
    """The leads an import inserted (their origin): the user's latest imports to pick from."""

    title = "inserted by import"
    parameter_name = "lead_import"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        imports = LeadImport.objects.filter(imported__gt=0).order_by("-id")
        visible = campaign_ids_visible(request.user)
        if visible is not None:
            imports = imports.filter(campaign__in=visible)
        return [(i.pk, f"#{i.pk} {i.file_name}") for i in imports[:20]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(origin__lead_import_id=int(value))
        return queryset


class DialStateFilter(admin.SimpleListFilter):
    """Where the leads stand for the dialer now, as the dashboard counts them (one SQL
    expression, ``leads.sql.dial_state``, for both)."""

    title = "dialer state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(DIAL_STATES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        state = self.value()
        if state not in DIAL_STATES:
            return queryset
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(OPEN_CONTACT_HOURS, [now])
            open_ids = ",".join(str(int(row[0])) for row in cursor.fetchall())
        lead = Lead._meta.db_table
        expression = dial_state(
            lead,
            active=f"(SELECT c.active FROM {Campaign._meta.db_table} c"  # noqa: S608
            f" WHERE c.id = {lead}.campaign_id)",
            started=f"(SELECT a.started FROM {Allocation._meta.db_table} a"  # noqa: S608
            f" WHERE a.id = {lead}.allocation_id)",
            default_hours=f"(SELECT t.contact_hours_id FROM {CampaignTemplate._meta.db_table} t"  # noqa: S608
            f" JOIN {Campaign._meta.db_table} c ON c.template_id = t.id"
            f" WHERE c.id = {lead}.campaign_id)",
            now="%s",
            open_hours=f"ARRAY[{open_ids}]::bigint[]",
        )
        params = [now] * expression.count("%s")
        # Only constants and the ids read above are in the text; the time is a parameter.
        annotated = queryset.annotate(dial_state=RawSQL(expression, params))  # noqa: S611
        return annotated.filter(dial_state=state)


class CallbackFilter(admin.SimpleListFilter):
    """When the open leads' callbacks are due."""

    title = "callback"
    parameter_name = "callback"
    RANGES = {
        "overdue": "due (passed)",
        "today": "later today",
        "week": "in the next 7 days",
        "later": "after 7 days",
        "none": "none",
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(self.RANGES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        now = timezone.now()
        day_end = now + dt.timedelta(days=1)
        ranges = {
            "overdue": Q(callback_at__lte=now),
            "today": Q(callback_at__gt=now, callback_at__lte=day_end),
            "week": Q(callback_at__gt=day_end, callback_at__lte=now + dt.timedelta(days=7)),
            "later": Q(callback_at__gt=now + dt.timedelta(days=7)),
            "none": Q(callback_at__isnull=True),
        }
        chosen = ranges.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(chosen, closed=False)


@admin.register(Lead)
class LeadAdmin(TeamScopedAdmin):
    """Leads of the user's teams: a list a person can read and search, and the lead form."""

    template_path = "campaign__template"
    list_display = ("id", "name", "numbers", "external_id", "campaign", "allocation",
                    "disposition", "closed", "callback_at")  # fmt: skip
    list_filter = (
        ("campaign", VisibleRelatedFilter),
        ("allocation", VisibleRelatedFilter),
        DialStateFilter,
        CallbackFilter,
        "closed",
        "disposition",
        ImportFilter,
    )
    search_fields = ("external_id",)
    search_help_text = "A phone number (however written), an external id, or any field's text."
    list_select_related = ("campaign", "allocation", "disposition")
    show_full_result_count = False  # COUNT(*) over millions of leads on every page is wasteful

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        # The template's fields (two queries a page) give each lead's name (``name``).
        return (
            super().get_queryset(request).prefetch_related("phones", "campaign__template__fields")
        )

    @admin.display(description="name")
    def name(self, lead: Lead) -> str:
        """The values of the template's name fields, in the template's order (the stored JSON
        keeps no order: its first value was the State or the email)."""
        names = name_fields(list(lead.campaign.template.fields.all()))
        shown = " ".join(str(lead.fields[n]) for n in names if lead.fields.get(n) not in (None, ""))
        return shown or "—"

    @admin.display(description="numbers")
    def numbers(self, lead: Lead) -> str:
        return ", ".join(phone(p.number) for p in lead.phones.all()) or "—"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        chosen = LeadSelection(user=request.user)
        return chosen.filter_search(queryset, "search", term), False

    # --- bulk work: every action opens a job (leads.services.lead_job) -------------------------

    actions = ("job_move", "job_reset", "job_priority", "job_clear_callbacks", "job_close",
               "job_export", "job_delete")  # fmt: skip

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # "Delete" is a job (any size, versioned, recorded)
        if not request.user.has_perm("leads.delete_lead"):
            found.pop("job_delete", None)
        if not request.user.has_perm("leads.add_leadjob"):
            found = {k: v for k, v in found.items() if not k.startswith("job_")}
        return found

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A lead is deleted by a job (versioned, in its history), as from the list."""
        query = urlencode({"kind": LeadJob.Kind.DELETE, "ids": object_id})
        return redirect(f"{reverse('admin:leads_leadjob_add')}?{query}")

    def _job(self, request: HttpRequest, queryset: QuerySet[Lead], kind: str) -> HttpResponse:
        """The job page for ``kind`` over the list's selection: every lead of the filtered
        list ("select all"), else the ticked ones."""
        if request.POST.get("select_across") == "1":
            selection = selection_of_changelist(request.GET)
        else:
            selection = {"ids": ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))}
        query = urlencode({"kind": kind, **selection})
        return redirect(f"{reverse('admin:leads_leadjob_add')}?{query}")

    @admin.action(description="Move selected leads to another allocation…")
    def job_move(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.MOVE)

    @admin.action(description="Reset selected leads to new…")
    def job_reset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.RESET)

    @admin.action(description="Set the priority of selected leads…")
    def job_priority(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.PRIORITY)

    @admin.action(description="Clear the callbacks of selected leads…")
    def job_clear_callbacks(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.CLEAR_CALLBACKS)

    @admin.action(description="Close selected leads…")
    def job_close(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.CLOSE)

    @admin.action(description="Export selected leads as CSV…")
    def job_export(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.EXPORT)

    @admin.action(description="Delete selected leads…")
    def job_delete(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._job(request, queryset, LeadJob.Kind.DELETE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads come in through the insert service (API, import)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The lead form (``leads.lead_form``), saved through ``lead_edit``; after a
        concurrent change of a value the form holds, the merge screen."""
        lead = self.get_object(request, object_id)
        if lead is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
                request, self.opts, object_id
            )
        if not self.has_view_permission(request, lead):
            raise PermissionDenied
        can_change = self.has_change_permission(request, lead)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            return self._save(request, lead)
        if can_change and checked_out_by_other(lead, _holder(request), timezone.now()):
            messages.warning(request, _checked_out_message(lead) + " Saving will fail until then.")
        form = LeadEditForm(lead)
        form.initial = self._data(form, lead_values(lead, form.names), lead)
        return self._page(request, lead, form, can_change)

    def _data(
        self, form: LeadEditForm, values: dict[str, Any], stored: Lead, base: Any = None
    ) -> dict[str, Any]:
        data = form.as_data(values)
        data.update(seen_version=stored.version, base=encode(base if base is not None else values))
        return data

    def _save(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        data = request.POST.copy()
        picks = data.getlist("merge_keys")
        unpicked = []
        for key in picks:
            pick = data.get(f"pick:{key}")
            if pick in ("stored", "yours"):
                data[key] = data.get(f"{pick}:{key}", "")
            else:
                unpicked.append(key)
        form = LeadEditForm(lead, data)
        if unpicked or not form.is_valid():
            if unpicked:
                names = ", ".join(str(form[k].label) for k in unpicked)
                form.add_error(None, f"Pick the stored value or yours for: {names}.")
            rows = [self._row(form, key, data) for key in picks]
            return self._page(request, lead, form, True, rows=rows, status=400)
        yours = form.values()
        for _ in range(3):  # a write that only checks the lead out meanwhile: merge again
            stored = lead_values(lead, form.names)  # read now
            merge = lead_merge(form.cleaned_data["base"], stored, yours)
            if merge.needed:
                return self._merge_page(request, lead, form, stored, yours, merge)
            try:
                lead_edit(
                    lead, lead.version, merge.values,
                    holder=_holder(request), agent=request.user.get_username(),
                )  # fmt: skip
            except Refused as refused:
                field = refused.field if refused.field in form.fields else None
                form.add_error(field, refused.detail)
                return self._page(request, lead, form, True, status=400)
            except LeadConflict:
                lead.refresh_from_db()
                if checked_out_by_other(lead, _holder(request), timezone.now()):
                    form.add_error(None, _checked_out_message(lead))
                    return self._page(request, lead, form, True, status=409)
                continue
            messages.success(request, f"Lead {lead.pk} saved.")
            return redirect("admin:leads_lead_changelist")
        form.add_error(None, "The lead keeps changing; open it again.")
        return self._page(request, lead, form, True, status=409)

    def _merge_page(  # noqa: PLR0917
        self,
        request: HttpRequest,
        lead: Lead,
        form: LeadEditForm,
        stored: dict[str, Any],
        yours: dict[str, Any],
        merge: Merge,
    ) -> HttpResponse:
        """The merge screen: the values only the other side changed are taken (their pick
        preset), the ones both changed wait for the operator's pick; the next save is
        against the version read now."""
        data = self._data(form, merge.values, lead, base=stored)
        keys = [key for key in stored if key in merge.theirs or key in merge.conflicts]
        for key in keys:
            data[f"stored:{key}"] = form.raw(key, stored[key])
            data[f"yours:{key}"] = form.raw(key, yours[key])
            if key in merge.theirs:
                data[f"pick:{key}"] = "stored"
        merged = LeadEditForm(lead)
        merged.initial = data
        rows = [self._row(merged, key, data, conflict=key in merge.conflicts) for key in keys]
        return self._page(request, lead, merged, True, rows=rows, status=409)

    def _row(
        self, form: LeadEditForm, key: str, data: Any, conflict: bool = True
    ) -> dict[str, Any]:
        stored, yours = data.get(f"stored:{key}", ""), data.get(f"yours:{key}", "")
        return {
            "key": key, "label": form[key].label, "conflict": conflict,
            "stored_raw": stored, "yours_raw": yours, "pick": data.get(f"pick:{key}", ""),
            "stored": form.shown(key, stored), "yours": form.shown(key, yours),
        }  # fmt: skip

    def _page(  # noqa: PLR0917
        self,
        request: HttpRequest,
        lead: Lead,
        form: LeadEditForm,
        can_change: bool,
        rows: list[dict[str, Any]] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        merge_keys = {row["key"] for row in rows or []}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Lead {lead.pk}",
            "opts": self.model._meta,
            "original": lead,
            "form": form,
            "inputs": [f for f in form.visible_fields() if f.name not in merge_keys],
            "rows": rows or [],
            "merge_notice": "This lead changed since you opened it (now version"
            f" {lead.version}). Pick, field by field, what to keep, and save again."
            if rows and not form.is_bound
            else "",
            "can_change": can_change,
            "phones": lead.phones.order_by("field_name"),
            "history": lead.dispositions.select_related("disposition").order_by("-id")[:50],
            "calls": lead.calls.select_related("disposition").order_by("-attempt")[:50],
            "calls_total": lead.calls.count(),
            "changes": lead_history(lead, form.zone),
            "zone": form.zone.key,
        }  # fmt: skip
        return TemplateResponse(request, "admin/leads/lead/edit.html", context, status=status)

    def get_urls(self) -> list[Any]:
        hold = path(
            "<int:lead_id>/hold/", self.admin_site.admin_view(self.hold_view),
            name="leads_lead_hold",
        )  # fmt: skip
        release = path(
            "<int:lead_id>/release/", self.admin_site.admin_view(self.release_view),
            name="leads_lead_release",
        )  # fmt: skip
        return [hold, release, *super().get_urls()]

    def _changeable(self, request: HttpRequest, lead_id: int) -> Lead:
        lead = self.get_object(request, str(lead_id))
        if lead is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, lead):
            raise PermissionDenied
        return lead

    def hold_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        """Take or extend the operator's hold (the page calls it when they start editing, and
        while they go on); JSON ``{held, heldBy, until, message}``."""
        lead = self._changeable(request, lead_id)
        by = ChangeBy(Door.ADMIN, request.user.get_username())
        hold = lead_hold(lead.pk, _holder(request), by)
        message = ""
        if not hold.held:
            lead.checked_out_by, lead.checked_out_until = hold.held_by, hold.until
            message = _checked_out_message(lead) + " Saving will fail until then."
        until = hold.until.isoformat() if hold.until else None
        return JsonResponse(
            {"held": hold.held, "heldBy": hold.held_by, "until": until, "message": message}
        )

    def release_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        """End the operator's hold (the page calls it when they leave without saving)."""
        lead = self._changeable(request, lead_id)
        lead_release(lead.pk, _holder(request), ChangeBy(Door.ADMIN, request.user.get_username()))
        return HttpResponse(status=204)


def _checked_out_message(lead: Lead) -> str:
    """Who holds the lead and until when, in the lead's zone (as the rest of its page)."""
    zone = lead_zone(lead)
    until = lead.checked_out_until.astimezone(zone) if lead.checked_out_until else None
    return (
        f"{lead.checked_out_by or 'Someone'} has this lead checked out until"
        f" {until:%H:%M:%S} ({zone.key})."
    )


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
    list_display = ("shown_number", "expires_on", "note", "source", "created_at")
    list_filter = ("source", "expires_on")
    search_fields = ("number", "note")
    change_list_template = "admin/leads/dncentry/change_list.html"

    @admin.display(description="number", ordering="number")
    def shown_number(self, entry: DncEntry) -> str:
        """As a person reads it, with the stored (E.164) form beside it."""
        shown = phone(entry.number)
        return entry.number if shown == entry.number else f"{shown} ({entry.number})"

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
            dnc_entry_change(obj)
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
                request,
                f"{phone(entry.number)} was listed already: its expiry and note are updated.",
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


@admin.register(NumberFinding)
class NumberFindingAdmin(admin.ModelAdmin):
    """What re-keying the stored numbers to E.164 revealed (migration leads.0013): numbers
    that were one line written differently. Read only; delete a finding once it is dealt with.
    A finding of a campaign is seen by the users who see the campaign."""

    list_display = ("kind", "campaign", "shown_number", "lead_links", "was_stored_as")
    list_filter = ("kind", ("campaign", VisibleRelatedFilter))
    search_fields = ("number",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[NumberFinding]:
        findings = super().get_queryset(request).select_related("campaign")
        visible = campaign_ids_visible(request.user)
        if visible is None:
            return findings
        return findings.filter(Q(campaign__isnull=True) | Q(campaign__in=visible))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="number", ordering="number")
    def shown_number(self, finding: NumberFinding) -> str:
        return f"{phone(finding.number)} ({finding.number})"

    @admin.display(description="leads")
    def lead_links(self, finding: NumberFinding) -> str:
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:leads_lead_change", args=[lead]), lead) for lead in finding.leads),
        )
        return links or "—"

    @admin.display(description="stored before as")
    def was_stored_as(self, finding: NumberFinding) -> str:
        return ", ".join(finding.spellings) or "—"


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
        help_text="CSV, UTF-8, with a header row. Next you choose the field each column fills "
        "(guessed from its name), and may make a dry run.",
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


class ImportMappingForm(forms.Form):
    """A draft import's mapping: for each column of the file (``column_<i>``), the field it
    fills or none; and, to import with columns left out, the confirmation that they are."""

    IGNORE = ""

    def __init__(self, lead_import: LeadImport, targets: list[str], *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.header = lead_import.header
        choices = [(self.IGNORE, "— not imported —"), *((name, name) for name in targets)]
        for i, column in enumerate(self.header):
            self.fields[f"column_{i}"] = forms.ChoiceField(
                label=column or f"(column {i + 1}, no name)",
                choices=choices,
                required=False,
                initial=lead_import.mapping.get(column, self.IGNORE),
            )
        self.fields["confirm_ignored"] = forms.BooleanField(
            required=False, label="Leave the columns mapped to nothing out of the import"
        )

    def mapping(self) -> dict[str, str]:
        return {column: self.cleaned_data[f"column_{i}"] for i, column in enumerate(self.header)}

    def columns(self) -> list[tuple[str, Any]]:
        return [(column, self[f"column_{i}"]) for i, column in enumerate(self.header)]


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
                        then="draft",
                    )  # fmt: skip
            except Refused as refused:
                form.add_error(
                    refused.field if refused.field in form.fields else None, refused.detail
                )
            else:
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
        if lead_import.status == LeadImport.Status.DRAFT:
            return self.mapping_view(request, lead_import)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Dry run of import' if lead_import.dry_run else 'Import'}"
            f" #{lead_import.pk}: {lead_import.file_name}",
            "opts": self.model._meta,
            "original": lead_import,
            "can_cancel": self.has_change_permission(request, lead_import),
            "codes": {str(int(code)): code.name for code in Code},
        }
        return TemplateResponse(request, "admin/leads/leadimport/progress.html", context)

    def mapping_view(self, request: HttpRequest, lead_import: LeadImport) -> HttpResponse:
        """A draft: its columns with the field each fills and its first rows; a dry run, or
        the import, with the mapping as chosen."""
        can_run = self.has_change_permission(request, lead_import)
        target = call_target_of(
            Allocation.objects.select_related("campaign__template").get(
                pk=lead_import.allocation_id
            )
        )
        form = ImportMappingForm(lead_import, mapping_targets(target), request.POST or None)
        if request.method == "POST" and not can_run:
            raise PermissionDenied
        if request.method == "POST" and form.is_valid():
            dry_run = "dry_run" in request.POST
            mapping = form.mapping()
            ignored = [column for column, field in mapping.items() if not field]
            if ignored and not dry_run and not form.cleaned_data["confirm_ignored"]:
                form.add_error(
                    "confirm_ignored",
                    f"Confirm that {', '.join(repr(c) for c in ignored)} are left out, or map"
                    " them to a field.",
                )
            else:
                try:
                    with transaction.atomic():
                        lead_import_start(lead_import, mapping=mapping, dry_run=dry_run)
                except Refused as refused:
                    form.add_error(None, refused.detail)
                else:
                    if not dry_run:
                        messages.success(
                            request, f"{lead_import.file_name}: {lead_import.rows:,} rows queued."
                        )
                    return redirect("admin:leads_leadimport_change", lead_import.pk)
        checked = lead_import.checked
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import #{lead_import.pk}: {lead_import.file_name}: its columns",
            "opts": self.model._meta,
            "original": lead_import,
            "form": form,
            "can_run": can_run,
            "checked": checked,
            "checked_codes": [
                (code, Code(int(code)).name, n)
                for code, n in sorted((checked or {}).get("rejectedByCode", {}).items())
            ],
        }
        return TemplateResponse(request, "admin/leads/leadimport/mapping.html", context)

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


# The lead list's own filter parameters, as the job's selection names them.
_CHANGELIST_SELECTION = {
    "campaign__id__exact": "campaign",
    "allocation__id__exact": "allocation",
    "closed__exact": "closed",
    "disposition__id__exact": "dispositionId",
    "lead_import": "leadImport",
    "q": "search",
}


def selection_of_changelist(params: Any) -> dict[str, str]:
    """The selection of the lead list as filtered (its query string)."""
    selection = {}
    for param, key in _CHANGELIST_SELECTION.items():
        value = params.get(param, "").strip()
        if value:
            selection[key] = (
                {"1": "true", "0": "false"}.get(value, value) if key == "closed" else value
            )
    return selection


class LeadJobForm(forms.Form):
    """What a job needs besides its selection: the allocation of a move, the priority to set,
    and whether it is a dry run."""

    allocation = forms.ModelChoiceField(queryset=Allocation.objects.none(), required=False)
    priority = forms.IntegerField(min_value=0, max_value=100, required=False)
    dry_run = forms.BooleanField(
        required=False, help_text="Report what would change and write nothing"
    )

    def __init__(self, kind: str, campaign: Campaign | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kind == LeadJob.Kind.MOVE and campaign is not None:
            cast(
                forms.ModelChoiceField, self.fields["allocation"]
            ).queryset = campaign.allocations.order_by("name")
            self.fields["allocation"].required = True
        else:
            del self.fields["allocation"]
        if kind == LeadJob.Kind.PRIORITY:
            self.fields["priority"].required = True
        else:
            del self.fields["priority"]
        if kind == LeadJob.Kind.EXPORT:
            del self.fields["dry_run"]

    def params(self) -> dict[str, Any]:
        data = self.cleaned_data
        params: dict[str, Any] = {}
        if data.get("allocation") is not None:
            params["allocation"] = data["allocation"].pk
        if data.get("priority") is not None:
            params["priority"] = data["priority"]
        return params


@admin.register(LeadJob)
class LeadJobAdmin(TeamScopedAdmin):
    """Bulk jobs: "add" is the job page a lead list action opens (the selection's count and a
    sample, the kind's parameters, dry run), an item its live progress and cancel."""

    template_path = "campaign__template"
    list_display = ("id", "kind", "campaign", "dry_run", "status", "total", "processed",
                    "changed", "created_by", "created_at")  # fmt: skip
    list_filter = ("status", "kind", ("campaign", VisibleRelatedFilter))
    list_select_related = ("campaign", "created_by")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("leads.change_leadjob")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.finished)

    def get_urls(self) -> list[Any]:
        cancel = path(
            "<int:job_id>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="leads_leadjob_cancel",
        )
        return [cancel, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        kind = request.GET.get("kind", "")
        selection = {k: v for k, v in request.GET.items() if k != "kind"}
        error = ""
        preview = None
        try:
            preview = lead_job_preview(request.user, kind, selection)
            campaign = Campaign.objects.get(pk=preview.campaign_id)
        except Refused as refused:
            error, campaign = refused.detail, None
        form = LeadJobForm(kind, campaign, request.POST if request.method == "POST" else None)
        if request.method == "POST" and preview is not None and form.is_valid():
            try:
                job = lead_job_create(
                    request.user, kind, selection, form.params(),
                    dry_run=form.cleaned_data.get("dry_run", False),
                )  # fmt: skip
            except Refused as refused:
                form.add_error(None, refused.detail)
            else:
                messages.success(request, f"Job #{job.pk} queued: {job.get_kind_display()}.")
                return redirect("admin:leads_leadjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": LeadJob.Kind(kind).label.capitalize() if kind in LeadJob.Kind else "Job",
            "opts": self.model._meta,
            "form": form,
            "error": error,
            "preview": preview,
            "campaign": campaign,
            "selection": selection,
            "deleting": kind in (LeadJob.Kind.DELETE, LeadJob.Kind.UNDO_IMPORT),
        }
        return TemplateResponse(request, "admin/leads/leadjob/new.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is None or not self.has_view_permission(request, job):
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "title": f"Job #{job.pk}: {job.get_kind_display()}",
            "opts": self.model._meta,
            "original": job,
            "can_cancel": self.has_change_permission(request, job),
        }
        return TemplateResponse(request, "admin/leads/leadjob/progress.html", context)

    def cancel_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self.get_object(request, str(job_id))
        if job is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, job):
            raise PermissionDenied
        job = lead_job_cancel(job)
        messages.info(request, f"Job #{job.pk}: cancel requested ({job.status}).")
        return redirect("admin:leads_leadjob_change", job.pk)


class DncUploadForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,
        help_text="CSV with a header row: 'phone', and optionally 'expires' (YYYY-MM-DD) and "
        "'note'. A number already listed gets the new expiry and note.",
    )
