"""Admin for the campaign configuration. Keys and tokens are generated here and their plain
value is shown exactly once, in the confirmation message after saving; only a hash is kept."""

from __future__ import annotations

import zoneinfo
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db.models import Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponseRedirect

from campaigner.action_specs import ActionKind, ActionSpecError, validate_action
from campaigner.contract import Refused
from campaigner.models import (
    MINUTES_PER_DAY,
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
from campaigner.selectors import (
    api_keys_visible,
    scoped,
    sees_everything,
    shared_visible,
    shared_writable,
    shared_writable_by,
    teams_of,
)
from campaigner.services import Window, api_key_create, api_key_save, contact_hours_save

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


class ContactHoursWindowForm(forms.ModelForm):
    """A window as a person writes it: a day, and start and end as ``HH:MM`` local time (the
    provisioning and API format), never bare minutes."""

    start = forms.CharField(max_length=5, help_text="HH:MM", widget=forms.TextInput({"size": 5}))
    end = forms.CharField(
        max_length=5, help_text="HH:MM; 24:00 is the end of the day",
        widget=forms.TextInput({"size": 5}),
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


class SharedByUseAdmin(admin.ModelAdmin):
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

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The windows are written by ``contact_hours_save``, as the API's and provisioning's."""
        if formset.model is not ContactHoursWindow:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # what changed, for the history; the service writes it
        windows = [
            Window(f.cleaned_data["weekday"], f.cleaned_data["start"], f.cleaned_data["end"])
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        contact_hours_save(form.instance, windows=windows, actor=request.user)


class DispositionInline(admin.TabularInline):
    model = Disposition
    extra = 0
    show_change_link = True


@admin.register(DispositionSet)
class DispositionSetAdmin(SharedByUseAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    inlines = (DispositionInline,)


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


class DispositionActionInline(admin.StackedInline):
    model = DispositionAction
    form = DispositionActionForm
    extra = 0

    class Media:
        js = ("campaigner/action_inputs.js",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {"user": request.user})
        return formset


@admin.register(Disposition)
class DispositionAdmin(SharedByUseAdmin):
    set_path = "disposition_set"
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


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0


class ServiceBackedAdmin(TeamScopedAdmin):
    """An admin whose saves are a service's (``service_save(obj)``, set where the services can
    be imported: ``leads.admin``). The services check before they write, so a ``Refused`` is
    shown on the form's page with nothing written. Deletes need no service: a lead's campaign
    and allocation are protected, and the admin's delete page says what stands in the way."""

    service_save: Any = None

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self._through(request, type(self).service_save, obj)

    def _through(self, request: HttpRequest, service: Any, obj: Any) -> bool:
        try:
            service(obj)
        except Refused as refused:
            messages.error(request, refused.detail)
            request._refused = True  # type: ignore[attr-defined]
            return False
        return True

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not getattr(request, "_refused", False):
            super().save_related(request, form, formsets, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not getattr(request, "_refused", False):
            return super().log_addition(request, obj, message)
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not getattr(request, "_refused", False):
            return super().log_change(request, obj, message)
        return None

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        if getattr(request, "_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        if getattr(request, "_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


class CampaignAdmin(ServiceBackedAdmin):
    template_path = "template"
    list_display = ("id", "name", "template", "active", "balance_mode")
    list_display_links = ("id", "name")
    list_filter = ("active", "balance_mode", ("template", VisibleRelatedFilter))
    search_fields = ("name", "template__name")
    inlines = (AllocationInline,)


class AllocationAdmin(ServiceBackedAdmin):
    template_path = "campaign__template"
    list_display = ("id", "name", "campaign", "started", "weight")
    list_display_links = ("id", "name")
    list_filter = ("started", ("campaign", VisibleRelatedFilter))
    search_fields = ("name", "campaign__name")
    actions = ("start", "stop")

    @admin.action(description="Start the selected allocations", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self._set_started(request, queryset, True)

    @admin.action(description="Stop the selected allocations", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Allocation]) -> None:
        self._set_started(request, queryset, False)

    def _set_started(
        self, request: HttpRequest, queryset: QuerySet[Allocation], started: bool
    ) -> None:
        for allocation in queryset:
            allocation.started = started
            self._through(request, type(self).service_save, allocation)
        self.message_user(
            request, f"{'Started' if started else 'Stopped'} {queryset.count()} allocation(s)."
        )


def _show_once(request: HttpRequest, what: str, plain: str) -> None:
    messages.warning(
        request, f"{what}: {plain} — copy it now; it is stored hashed and will not be shown again."
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: ModelForm[Any], change: bool
    ) -> None:
        if change:
            api_key_save(obj, actor=request.user)
            return
        key, plain = api_key_create(obj.name, obj.team, obj.user, actor=request.user)
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
