"""Admin for the campaign configuration. Keys and tokens are generated here and their plain
value is shown exactly once, in the confirmation message after saving; only a hash is kept.

Every write goes through ``campaigner.services`` (``ServiceBackedAdmin``): the page and its
inlines are forms, the rules are the services', the same ones the management API and
provisioning call."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import nested_admin
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponseRedirect

from campaigner.action_specs import ActionKind, ActionSpecError, validate_action
from campaigner.contract import Refused
from campaigner.models import (
    MINUTES_PER_DAY,
    WEEKDAYS,
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
    hhmm_to_minutes,
    minutes_to_hhmm,
    new_secret,
)
from campaigner.roles import ROLES
from campaigner.selectors import (
    api_keys_visible,
    scoped,
    sees_everything,
    shared_visible,
    shared_writable,
    shared_writable_by,
    teams,
    teams_of,
)
from campaigner.services import (
    DispositionSpec,
    FieldSpec,
    Window,
    allocation_delete,
    allocation_save,
    api_key_create,
    api_key_revoke,
    api_key_save,
    campaign_delete,
    campaign_save,
    contact_hours_delete,
    contact_hours_save,
    disposition_delete,
    disposition_save,
    disposition_set_delete,
    disposition_set_save,
    template_save,
)

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


class ServiceBackedAdmin(admin.ModelAdmin):
    """An admin whose writes are the services': ``write`` saves the page's row, ``remove``
    deletes one, ``write_related`` the many-to-many values (default: Django's) and
    ``save_formset`` each inline (overridden where the model has children). Django still works
    out what changed for the history (``formset.save(commit=False)``) but never writes a row
    itself.

    A ``Refused`` is shown on the page as an error, the admin's transaction for the request is
    rolled back (the row written before an inline was refused goes too), and no history entry
    or success message is written."""

    def write(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def remove(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def write_related(self, request: HttpRequest, form: Any) -> None:
        form.save_m2m()

    @contextmanager
    def refusals(self, request: HttpRequest) -> Iterator[None]:
        try:
            with transaction.atomic():
                yield
        except Refused as refused:
            messages.error(request, refused.detail)
            if connection.in_atomic_block:
                transaction.set_rollback(True)
            request._refused = True  # type: ignore[attr-defined]

    @staticmethod
    def refused(request: HttpRequest) -> bool:
        return bool(getattr(request, "_refused", False))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with self.refusals(request):
            self.write(request, obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not self.refused(request):
            with self.refusals(request):
                self.write_related(request, form)
                for formset in formsets:
                    self.save_formset(request, form, formset, change=change)
        for formset in formsets:  # the history's reading of what a refused save did: nothing
            if self.refused(request) or not hasattr(formset, "new_objects"):
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with self.refusals(request):
            self.remove(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with self.refusals(request):
            for obj in queryset:
                self.remove(request, obj)

    def message_user(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        level = kwargs.get("level", args[0] if args else messages.INFO)
        if not (self.refused(request) and level in (messages.SUCCESS, messages.INFO)):
            super().message_user(request, message, *args, **kwargs)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_change(request, obj, message)

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> Any:
        if self.refused(request):
            return None
        return super().log_deletion(request, obj, object_repr)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        if self.refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        if self.refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> Any:
        if self.refused(request):
            return HttpResponseRedirect(request.path.rsplit("delete/", 1)[0])
        return super().response_delete(request, obj_display, obj_id)


def kept_forms(formset: Any) -> list[Any]:
    """The inline's forms that stay: filled in and not ticked for deletion, in the order of
    their ``position`` where they have one (else as shown)."""
    kept = [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
    return sorted(kept, key=lambda f: f.cleaned_data.get("position") or 0)


def save_each(formset: Any, save: Any, delete: Any) -> None:
    """An inline of rows that are saved one by one (a template's campaigns, a campaign's
    allocations), after ``formset.save(commit=False)``: each through its services."""
    for obj in formset.deleted_objects:
        delete(obj)
    for f in kept_forms(formset):
        if f.has_changed():
            save(f.instance)


class ContactHoursWindowForm(forms.ModelForm):
    """A window as a person writes it: a day, and start and end as ``HH:MM`` local time (the
    provisioning and API format), never bare minutes."""

    start = forms.CharField(max_length=5, help_text="HH:MM", widget=forms.TextInput({"size": 5}))
    end = forms.CharField(
        max_length=5, help_text="HH:MM; 24:00 is the end of the day",
        widget=forms.TextInput({"size": 5}),
    )  # fmt: skip
    # The same hours on other days too (saved as a window each), as the API's "days": [...].
    also_on = forms.TypedMultipleChoiceField(
        choices=[(i, day) for i, day in enumerate(WEEKDAYS)], coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple, label="Also on",
        help_text="The same hours on these days too",
    )  # fmt: skip

    class Meta:
        model = ContactHoursWindow
        fields = ("weekday",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["start"] = minutes_to_hhmm(self.instance.start_minute)
            self.initial["end"] = minutes_to_hhmm(self.instance.end_minute)

    def _minutes(self, key: str) -> int:
        try:
            return hhmm_to_minutes(self.cleaned_data[key].strip())
        except ValueError as exc:
            raise forms.ValidationError(f"{key.capitalize()} {exc}.") from None

    def clean_start(self) -> int:
        minutes = self._minutes("start")
        if minutes >= MINUTES_PER_DAY:
            raise forms.ValidationError("A window starts before 24:00.")
        return minutes

    def clean_end(self) -> int:
        return self._minutes("end")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None:
            if start >= end:
                raise forms.ValidationError("The start must be before the end.")
            self.instance.start_minute, self.instance.end_minute = start, end
        return cleaned


class ContactHoursWindowInline(admin.TabularInline):
    model = ContactHoursWindow
    form = ContactHoursWindowForm
    extra = 0


class ContactHoursClosedDateInline(admin.TabularInline):
    model = ContactHoursClosedDate
    extra = 0


class SharedByUseAdmin(ServiceBackedAdmin):
    """Contact Hours, disposition sets and dispositions (``campaigner.selectors``): a user
    sees those their templates use or none does, and may change or delete only those no other
    team's template uses (the page is read only otherwise)."""

    set_path = ""  # how a row reaches its Contact Hours or disposition set

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request)
        if not self.set_path:
            return cast(QuerySet[Any], shared_visible(rows, request.user))
        parent = rows.model._meta.get_field(self.set_path).related_model
        visible = shared_visible(parent._default_manager.all(), request.user)
        return rows.filter(**{f"{self.set_path}__in": visible})

    def _may_write(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None:
            return True
        shared = getattr(obj, self.set_path) if self.set_path else obj
        return shared_writable_by(shared, request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)


class ContactHoursForm(forms.ModelForm):
    """The zone chosen from the IANA zones, not typed (a typo is no zone at all)."""

    timezone = forms.ChoiceField(
        choices=lambda: [("", "—"), *((z, z) for z in sorted(zoneinfo.available_timezones()))],
        help_text="The zone its windows and closed dates are read in",
    )

    class Meta:
        model = ContactHours
        fields = ("name", "timezone", "zone_mode")


@admin.register(ContactHours)
class ContactHoursAdmin(SharedByUseAdmin):
    form = ContactHoursForm
    list_display = ("name", "timezone", "zone_mode")
    search_fields = ("name", "timezone")
    inlines = (ContactHoursWindowInline, ContactHoursClosedDateInline)

    def write(self, request: HttpRequest, obj: ContactHours) -> None:
        contact_hours_save(obj, actor=request.user)

    def remove(self, request: HttpRequest, obj: ContactHours) -> None:
        contact_hours_delete(obj, actor=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The windows and closed dates are written by ``contact_hours_save``."""
        formset.save(commit=False)  # what changed, for the history; the service writes it
        kept = kept_forms(formset)
        if formset.model is ContactHoursWindow:
            windows = [
                Window(day, f.cleaned_data["start"], f.cleaned_data["end"])
                for f in kept
                for day in sorted({f.cleaned_data["weekday"], *f.cleaned_data["also_on"]})
            ]
            contact_hours_save(form.instance, windows=windows, actor=request.user)
        else:
            dates = [f.cleaned_data["date"] for f in kept]
            contact_hours_save(form.instance, closed_dates=dates, actor=request.user)


# The inputs each action kind takes (a retry_limit's other inputs are its "then" action's).
ACTION_INPUTS: dict[str, tuple[str, ...]] = {
    ActionKind.CLOSE: (),
    ActionKind.CALLBACK: ("minutes",),
    ActionKind.SET_PRIORITY: ("priority",),
    ActionKind.DNC: ("numbers",),
    ActionKind.COPY_LEAD: ("target",),
    ActionKind.WEBHOOK: ("url", "secret"),
    ActionKind.EMAIL: ("to", "subject", "body"),
    ActionKind.RETRY_LIMIT: ("count", "then_kind"),
}


class DispositionActionForm(forms.ModelForm):
    """An action as a small form of its kind's own inputs (the page shows only those), checked
    by ``validate_action``, the one check of an action's shape, and stored as its params."""

    minutes = forms.IntegerField(required=False, min_value=1, help_text="Call back after")
    priority = forms.IntegerField(required=False, min_value=0, max_value=100)
    numbers = forms.ChoiceField(
        required=False, choices=[("dialed", "the number dialed"), ("all", "all its numbers")]
    )
    target = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Copy to allocation"
    )
    url = forms.URLField(required=False, label="Webhook URL", assume_scheme="https")
    secret = forms.CharField(required=False, help_text="Signs each webhook call")
    to = forms.CharField(required=False, help_text="Addresses, comma separated")
    subject = forms.CharField(required=False)
    body = forms.CharField(required=False, widget=forms.Textarea({"rows": 3}))
    count = forms.IntegerField(required=False, min_value=1, help_text="Times before 'then'")
    then_kind = forms.ChoiceField(
        required=False,
        label="Then",
        choices=[("", "—"), *((k, label) for k, label in ActionKind.choices if k != "retry_limit")],
        help_text="The action run once the count is reached (its inputs are on this form)",
    )

    user: Any = None  # whose allocations are offered as copy targets (set per request)

    class Meta:
        model = DispositionAction
        fields = ("position", "kind")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = Allocation.objects.all()
        if self.user is not None:
            targets = scoped(targets, self.user, "campaign__template")
        targets = targets.select_related("campaign__template").order_by(
            "campaign__template__name", "campaign__name", "name"
        )
        cast(Any, self.fields["target"]).choices = [
            ("", "—"),
            *((a.pk, f"{a.campaign.template} / {a.campaign} / {a.name}") for a in targets),
        ]
        params = dict(self.instance.params or {})
        if self.instance.kind == ActionKind.RETRY_LIMIT:
            then = dict(params.pop("then", {}) or {})
            self.initial["then_kind"] = then.pop("kind", "")
            params.update(then)
        if {"template", "campaign", "allocation"} <= set(params):
            found = Allocation.objects.filter(
                name=params["allocation"], campaign__name=params["campaign"],
                campaign__template__name=params["template"],
            ).first()  # fmt: skip
            self.initial["target"] = found.pk if found else None
        for key in ("minutes", "priority", "numbers", "url", "secret", "to", "subject", "body",
                    "count"):  # fmt: skip
            if key in params:
                self.initial[key] = params[key]

    def _spec(self, kind: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": kind}
        for key in ACTION_INPUTS.get(kind, ()):
            value = self.cleaned_data.get(key)
            if key == "target":
                allocation = (
                    Allocation.objects.select_related("campaign__template")
                    .filter(pk=int(value))
                    .first()
                    if value is not None
                    else None
                )
                if allocation is not None:
                    campaign = allocation.campaign
                    spec.update(
                        template=campaign.template.name,
                        campaign=campaign.name,
                        allocation=allocation.name,
                    )
            elif key != "then_kind" and value not in (None, ""):
                spec[key] = value
        return spec

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        spec = self._spec(kind)
        if kind == ActionKind.RETRY_LIMIT:
            spec["then"] = self._spec(cleaned.get("then_kind") or "")
        try:
            _, params = validate_action(spec)
        except ActionSpecError as exc:
            raise forms.ValidationError(str(exc)) from None
        self.instance.params = params
        return cleaned

    def _update_errors(self, errors: Any) -> None:
        # The model's own check of ``params`` is the one clean() ran above and reported.
        error_dict = getattr(errors, "error_dict", None)
        if error_dict is not None:
            error_dict.pop("params", None)
            if not error_dict:
                return
        super()._update_errors(errors)  # type: ignore[misc]


class _ActionForms:
    """A disposition's actions as forms of their kind's inputs (``DispositionActionForm``)."""

    model = DispositionAction
    form: Any = DispositionActionForm
    extra = 0

    class Media:
        js = ("campaigner/action_inputs.js",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        formset.form = type(formset.form.__name__, (formset.form,), {"user": request.user})
        return formset


class DispositionActionInline(_ActionForms, admin.StackedInline):
    """On a disposition's own page."""


class _WithTheSet:
    """A nested inline of a disposition set's page, editable only where the set is (Django
    makes a read-only parent's inlines read only; the nested ones ask here)."""

    def _set_writable(self, request: HttpRequest, obj: Any) -> bool:
        shared = obj.disposition_set if isinstance(obj, Disposition) else obj
        return shared is None or shared.pk is None or shared_writable_by(shared, request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_add_permission(request, obj)  # type: ignore[misc]
        return bool(allowed) and self._set_writable(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)  # type: ignore[misc]
        return bool(allowed) and self._set_writable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return bool(allowed) and self._set_writable(request, obj)


class DispositionActionsInline(_WithTheSet, _ActionForms, nested_admin.NestedStackedInline):
    """Under each disposition on its set's page."""


class DispositionInline(_WithTheSet, nested_admin.NestedStackedInline):
    """A set's dispositions, each with its actions under it (``DispositionActionsInline``)."""

    model = Disposition
    extra = 0
    fields = (("name", "enabled", "final"), ("priority", "callback_required", "contact"))
    show_change_link = True
    inlines = (DispositionActionsInline,)


@admin.register(DispositionSet)
class DispositionSetAdmin(nested_admin.NestedModelAdminMixin, SharedByUseAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    inlines = (DispositionInline,)

    def write(self, request: HttpRequest, obj: DispositionSet) -> None:
        disposition_set_save(obj, actor=request.user)

    def remove(self, request: HttpRequest, obj: DispositionSet) -> None:
        disposition_set_delete(obj, actor=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The set's dispositions with their actions, as a list, by ``disposition_set_save``
        (a disposition left out is deleted unless leads name it). Each disposition's actions
        come with it (the nested forms under it), so their own formsets write nothing."""
        formset.save(commit=False)
        if formset.model is not Disposition:
            return
        specs = [
            DispositionSpec.of(f.instance, actions=_actions_under(f)) for f in kept_forms(formset)
        ]
        disposition_set_save(form.instance, specs, actor=request.user)


def _actions_of(formset: Any) -> list[tuple[str, dict[str, Any]]]:
    """A formset of actions' kept forms as ``DispositionSpec`` and ``disposition_save`` take
    them: (kind, params) pairs in order."""
    return [(f.instance.kind, f.instance.params) for f in kept_forms(formset)]


def _actions_under(form: Any) -> list[tuple[str, dict[str, Any]]] | None:
    """The actions of a disposition's form on the set's page; ``None`` (left as they are)
    where the page showed none of them (read only)."""
    nested = [f for f in getattr(form, "nested_formsets", ()) if f.model is DispositionAction]
    return _actions_of(nested[0]) if nested else None


@admin.register(Disposition)
class DispositionAdmin(SharedByUseAdmin):
    set_path = "disposition_set"
    list_display = (
        "name", "disposition_set", "enabled", "final", "contact", "priority", "callback_required"
    )  # fmt: skip
    list_filter = ("disposition_set", "enabled", "final")
    search_fields = ("name",)
    inlines = (DispositionActionInline,)

    def write(self, request: HttpRequest, obj: Disposition) -> None:
        disposition_save(obj, actor=request.user)

    def remove(self, request: HttpRequest, obj: Disposition) -> None:
        disposition_delete(obj, actor=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.save(commit=False)
        disposition_save(form.instance, _actions_of(formset), actor=request.user)


class TemplateFieldInline(admin.TabularInline):
    model = TemplateField
    extra = 0


class CampaignInline(admin.TabularInline):
    model = Campaign
    extra = 0
    show_change_link = True


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(ServiceBackedAdmin, TeamScopedAdmin):
    list_display = ("id", "name", "contact_hours", "disposition_set")
    list_display_links = ("id", "name")
    search_fields = ("name",)
    list_filter = ("teams",)
    filter_horizontal = ("teams",)
    inlines = (TemplateFieldInline, CampaignInline)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The choices a user may make (``template_save``'s rules): their own teams (never a
        role), and Contact Hours and disposition sets no other team's template uses; what the
        template has now stays offered."""
        form = super().get_form(request, obj, change, **kwargs)
        fields: Any = form.base_fields
        user = request.user
        if "teams" in fields:
            current = obj.teams.all() if obj else Group.objects.none()
            fields["teams"].queryset = (teams_of(user) | current).distinct().order_by("name")
        shared: tuple[tuple[str, Any], ...] = (
            ("contact_hours", ContactHours),
            ("disposition_set", DispositionSet),
        )
        for name, model in shared:
            if name in fields:
                kept = Q(pk=getattr(obj, f"{name}_id", None))
                mine = Q(pk__in=shared_writable(model.objects.all(), user).values("pk"))
                fields[name].queryset = model.objects.filter(mine | kept)
        return form

    def write(self, request: HttpRequest, obj: CampaignTemplate) -> None:
        template_save(obj, actor=request.user)

    def write_related(self, request: HttpRequest, form: Any) -> None:
        template_save(form.instance, teams=form.cleaned_data.get("teams"), actor=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The fields as a list, by ``template_save`` (its checks: a phone field, no ``nj``
        name, no field removed that leads hold values for); the campaigns one by one."""
        formset.save(commit=False)
        if formset.model is TemplateField:
            fields = [FieldSpec(f.instance.name, f.instance.display_type, f.instance.is_phone,
                                f.instance.in_name) for f in kept_forms(formset)]  # fmt: skip
            template_save(form.instance, fields=fields, actor=request.user)
            return
        save_each(formset, campaign_save, campaign_delete)


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(ServiceBackedAdmin, TeamScopedAdmin):
    template_path = "template"
    list_display = ("id", "name", "template", "active", "balance_mode")
    list_display_links = ("id", "name")
    list_filter = ("active", "balance_mode", ("template", VisibleRelatedFilter))
    search_fields = ("name", "template__name")
    inlines = (AllocationInline,)

    def write(self, request: HttpRequest, obj: Campaign) -> None:
        campaign_save(obj)

    def remove(self, request: HttpRequest, obj: Campaign) -> None:
        campaign_delete(obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.save(commit=False)
        save_each(formset, allocation_save, allocation_delete)


@admin.register(Allocation)
class AllocationAdmin(ServiceBackedAdmin, TeamScopedAdmin):
    template_path = "campaign__template"
    list_display = ("id", "name", "campaign", "started", "weight")
    list_display_links = ("id", "name")
    list_filter = ("started", ("campaign", VisibleRelatedFilter))
    search_fields = ("name", "campaign__name")
    actions = ("start", "stop")

    def write(self, request: HttpRequest, obj: Allocation) -> None:
        allocation_save(obj)

    def remove(self, request: HttpRequest, obj: Allocation) -> None:
        allocation_delete(obj)

    @admin.action(description="Start the selected allocations", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self._set_started(request, queryset, True)

    @admin.action(description="Stop the selected allocations", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self._set_started(request, queryset, False)

    def _set_started(
        self, request: HttpRequest, queryset: QuerySet[Allocation], started: bool
    ) -> None:
        with self.refusals(request):
            for allocation in queryset:
                allocation.started = started
                allocation_save(allocation)
        self.message_user(
            request, f"{'Started' if started else 'Stopped'} {queryset.count()} allocation(s)."
        )


def _show_once(request: HttpRequest, what: str, plain: str) -> None:
    messages.warning(
        request, f"{what}: {plain} — copy it now; it is stored hashed and will not be shown again."
    )


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceBackedAdmin):
    """Keys of the user's own teams only; a global key (no team) is a superuser's."""

    list_display = ("name", "key_prefix", "team", "user", "revoked", "created_at", "last_used_at")
    list_filter = ("revoked",)
    search_fields = ("name", "key_prefix")
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return api_keys_visible(request.user).select_related("team", "user")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The choices ``api_key_save`` allows: the user's teams (required unless a superuser),
        and members of them."""
        form = super().get_form(request, obj, change, **kwargs)
        fields: Any = form.base_fields
        user = request.user
        if "team" in fields:
            fields["team"].queryset = teams_of(user).order_by("name")
            fields["team"].required = not sees_everything(user)
        if "user" in fields and not sees_everything(user):
            members = fields["user"].queryset.filter(Q(groups__in=teams_of(user)) | Q(pk=user.pk))
            fields["user"].queryset = members.distinct()
        return form

    def write(self, request: HttpRequest, obj: ApiKey) -> None:
        if obj.pk is not None:
            api_key_save(obj, actor=request.user)
            return
        key, plain = api_key_create(obj.name, obj.team, obj.user, actor=request.user)
        if obj.revoked:
            api_key_revoke(key, actor=request.user)
        obj.pk, obj.key_hash, obj.key_prefix, obj.created_at = (
            key.pk,
            key.key_hash,
            key.key_prefix,
            key.created_at,
        )
        _show_once(request, f"API key {obj.name!r}", plain)

    def remove(self, request: HttpRequest, obj: ApiKey) -> None:
        obj.delete()  # a key's delete has no rule: it only stops working, as revoked

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        with self.refusals(request):
            revoked = sum(api_key_revoke(key, actor=request.user) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).")


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


class UserRolesTeamsForm(UserChangeForm):
    """A user's groups as the two things they are: the role (what they may do: Operator,
    Supervisor) and the teams (whose templates they see). Django's one "Groups" list mixed
    them, and a role named as a team grants nothing."""

    roles = forms.ModelMultipleChoiceField(
        queryset=Group.objects.filter(name__in=ROLES).order_by("name"), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the user may do in the admin (a role makes them staff)",
    )  # fmt: skip
    teams = forms.ModelMultipleChoiceField(
        queryset=teams().order_by("name"), required=False,
        widget=forms.CheckboxSelectMultiple, help_text="Whose templates and leads they see",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            groups = self.instance.groups.all()
            self.initial["roles"] = [g for g in groups if g.name in ROLES]
            self.initial["teams"] = [g for g in groups if g.name not in ROLES]


class RolesTeamsUserAdmin(UserAdmin):
    """Django's user admin with the groups split into roles and teams."""

    form = UserRolesTeamsForm
    list_display = ("username", "email", "is_staff", "is_superuser", "roles", "teams")
    fieldsets = tuple(
        (name, {**options, "fields": tuple(
            f for f in options["fields"] if f != "groups"
        ) + (("roles", "teams") if "user_permissions" in options["fields"] else ())})
        for name, options in UserAdmin.fieldsets or ()
    )  # fmt: skip

    @admin.display(description="roles")
    def roles(self, user: Any) -> str:
        return ", ".join(g.name for g in user.groups.all() if g.name in ROLES) or "—"

    @admin.display(description="teams")
    def teams(self, user: Any) -> str:
        return ", ".join(g.name for g in user.groups.all() if g.name not in ROLES) or "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("groups")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if "roles" in form.cleaned_data:
            form.instance.groups.set([*form.cleaned_data["roles"], *form.cleaned_data["teams"]])


admin.site.unregister(User)
admin.site.register(User, RolesTeamsUserAdmin)
