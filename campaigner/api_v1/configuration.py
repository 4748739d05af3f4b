"""Contact Hours, disposition sets, templates, campaigns, allocations and API keys over
``/api/v1/`` (domain.md §5.2). Serializers check the shapes; the rules are in
``campaigner.services`` (the admin and provisioning call the same ones); scoping comes from
``campaigner.selectors``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.management import (
    CrudViewSet,
    ManagementModelSerializer,
    ManagementSerializer,
    ordering,
)
from campaigner.api_v1.fields import (
    ActionField,
    NameField,
    VisibleCampaignField,
    VisibleContactHoursField,
    VisibleDispositionSetField,
    VisibleTemplateField,
)
from campaigner.models import (
    WEEKDAYS,
    Allocation,
    ApiKey,
    BalanceMode,
    Campaign,
    CampaignTemplate,
    ContactHours,
    DispositionSet,
    FieldType,
    ZoneMode,
    hhmm_to_minutes,
    minutes_to_hhmm,
)
from campaigner.selectors import (
    allocations_visible,
    api_keys_visible,
    campaigns_visible,
    shared_visible,
    teams,
    templates_visible,
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
    disposition_set_delete,
    disposition_set_save,
    template_save,
)

# A name taken is the database's 409, not a serializer's 400.
NO_UNIQUE_CHECK: dict[str, Any] = {"validators": []}


def _actor(serializer: serializers.BaseSerializer[Any]) -> Any:
    return serializer.context["request"].user


# --- Contact Hours -------------------------------------------------------------------------


class ContactHoursWindowSerializer(ManagementSerializer):
    days = serializers.ListField(
        child=serializers.ChoiceField(choices=WEEKDAYS), min_length=1, max_length=7
    )
    start = serializers.CharField(help_text="HH:MM, local time")
    end = serializers.CharField(help_text="HH:MM, local time; 24:00 is the end of the day")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        minutes = {}
        for key in ("start", "end"):
            try:
                minutes[key] = hhmm_to_minutes(attrs[key])
            except ValueError as exc:
                raise serializers.ValidationError({key: [str(exc)]}) from None
        if minutes["start"] >= minutes["end"]:
            raise serializers.ValidationError({"end": ["must be after 'start'"]})
        return {**attrs, **{f"{k}_minute": v for k, v in minutes.items()}}


class ContactHoursSerializer(ManagementModelSerializer):
    windows = serializers.ListField(child=ContactHoursWindowSerializer(), required=False)
    closedDates = serializers.ListField(child=serializers.DateField(), required=False)
    zoneMode = serializers.ChoiceField(
        source="zone_mode", choices=ZoneMode.choices, required=False,
        help_text="Where the windows apply: 'hours' (this zone), 'number_strict' (the "
        "number's zone; open in all when it has several), 'number_or_hours' (the number's "
        "zone; this zone when it has several)",
    )  # fmt: skip

    class Meta:
        model = ContactHours
        fields = ("id", "name", "timezone", "zoneMode", "windows", "closedDates")
        extra_kwargs = {"name": NO_UNIQUE_CHECK}

    def to_representation(self, instance: ContactHours) -> dict[str, Any]:
        grouped: dict[tuple[int, int], list[str]] = {}
        for window in instance.windows.all():  # ordered by weekday, start (Meta)
            key = (window.start_minute, window.end_minute)
            grouped.setdefault(key, []).append(WEEKDAYS[window.weekday])
        return {
            "id": instance.pk,
            "name": instance.name,
            "timezone": instance.timezone,
            "zoneMode": instance.zone_mode,
            "windows": [
                {"days": days, "start": minutes_to_hhmm(s), "end": minutes_to_hhmm(e)}
                for (s, e), days in grouped.items()
            ],
            "closedDates": [d.isoformat() for d in (c.date for c in instance.closed_dates.all())],
        }

    def save_hours(self, instance: ContactHours) -> ContactHours:
        data = self.validated_data
        for key in ("name", "timezone", "zone_mode"):
            if key in data:
                setattr(instance, key, data[key])
        windows = None
        if "windows" in data:
            windows = [
                Window(WEEKDAYS.index(day), w["start_minute"], w["end_minute"])
                for w in data["windows"]
                for day in w["days"]
            ]
        return contact_hours_save(instance, windows, data.get("closedDates"), actor=_actor(self))

    def create(self, validated_data: dict[str, Any]) -> ContactHours:
        return self.save_hours(ContactHours())

    def update(self, instance: ContactHours, validated_data: dict[str, Any]) -> ContactHours:
        return self.save_hours(instance)


class ContactHoursFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    ordering = ordering(("name", "name"))

    class Meta:
        model = ContactHours
        fields = ("name",)


class SharedByUseViewSet(CrudViewSet):
    """Contact Hours and disposition sets: a user sees those their templates use or none does,
    and changes or deletes only those no other team's template uses (403 otherwise)."""

    def get_queryset(self) -> QuerySet[Any]:
        return shared_visible(self.queryset.all(), self.request.user)  # type: ignore[union-attr]

    delete: Any = None  # the service that deletes a row

    def perform_destroy(self, instance: Any) -> None:
        type(self).delete(instance, actor=self.request.user)


class ContactHoursApi(SharedByUseViewSet):
    """Contact Hours: when leads may be called (shared by the templates that use them)."""

    queryset = ContactHours.objects.prefetch_related("windows", "closed_dates").order_by("id")
    delete = staticmethod(contact_hours_delete)
    serializer_class = ContactHoursSerializer
    filterset_class = ContactHoursFilter


# --- Disposition sets ------------------------------------------------------------------------


class DispositionItemSerializer(ManagementSerializer):
    id = serializers.IntegerField(required=False, help_text="Omitted for a new disposition")
    name = serializers.CharField(max_length=100)
    enabled = serializers.BooleanField(default=True)
    priority = serializers.IntegerField(min_value=0, max_value=100, allow_null=True, default=None)
    final = serializers.BooleanField(default=False)
    callbackRequired = serializers.BooleanField(default=False)
    contact = serializers.BooleanField(
        default=False, help_text="The call reached the person (the dashboard's contact rate)"
    )
    actions = serializers.ListField(child=ActionField(), default=list, max_length=50)


class DispositionSetSerializer(ManagementModelSerializer):
    dispositions = serializers.ListField(
        child=DispositionItemSerializer(), required=False, max_length=1000
    )

    class Meta:
        model = DispositionSet
        fields = ("id", "name", "dispositions")
        extra_kwargs = {"name": NO_UNIQUE_CHECK}

    def to_representation(self, instance: DispositionSet) -> dict[str, Any]:
        action = ActionField()
        action.bind("actions", self)
        items = [
            {
                "id": d.pk,
                "name": d.name,
                "enabled": d.enabled,
                "priority": d.priority,
                "final": d.final,
                "callbackRequired": d.callback_required,
                "contact": d.contact,
                "actions": [action.to_representation((a.kind, a.params)) for a in d.actions.all()],
            }
            for d in instance.dispositions.all()
        ]
        return {"id": instance.pk, "name": instance.name, "dispositions": items}

    def save_set(self, instance: DispositionSet) -> DispositionSet:
        data = self.validated_data
        if "name" in data:
            instance.name = data["name"]
        specs = None
        if "dispositions" in data:
            specs = [
                # d.get: a PATCH skips the nested defaults
                DispositionSpec(
                    name=d["name"],
                    id=d.get("id"),
                    enabled=d.get("enabled", True),
                    priority=d.get("priority"),
                    final=d.get("final", False),
                    callback_required=d.get("callbackRequired", False),
                    contact=d.get("contact", False),
                    actions=d.get("actions", []),
                )
                for d in data["dispositions"]
            ]
        return disposition_set_save(instance, specs, actor=_actor(self))

    def create(self, validated_data: dict[str, Any]) -> DispositionSet:
        return self.save_set(DispositionSet())

    def update(self, instance: DispositionSet, validated_data: dict[str, Any]) -> DispositionSet:
        return self.save_set(instance)


class DispositionSetFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    ordering = ordering(("name", "name"))

    class Meta:
        model = DispositionSet
        fields = ("name",)


class DispositionSetApi(SharedByUseViewSet):
    """Disposition sets with their dispositions and actions, written as one list (shared by
    the templates that use them)."""

    queryset = DispositionSet.objects.prefetch_related("dispositions__actions").order_by("id")
    delete = staticmethod(disposition_set_delete)
    serializer_class = DispositionSetSerializer
    filterset_class = DispositionSetFilter


# --- Templates ------------------------------------------------------------------------------


class TemplateFieldSerializer(ManagementSerializer):
    name = serializers.CharField(max_length=100)
    displayType = serializers.ChoiceField(choices=FieldType.choices, required=False)
    phone = serializers.BooleanField(default=False)
    inName = serializers.BooleanField(
        default=False, help_text="Part of the lead's name in lists (the fields ticked, in order)"
    )


class TemplateSerializer(ManagementModelSerializer):
    contactHours = VisibleContactHoursField(source="contact_hours", allow_null=True, required=False)
    dispositionSet = VisibleDispositionSetField(
        source="disposition_set", allow_null=True, required=False
    )
    teams = NameField(many=True, slug_field="name", queryset=Group.objects.all(), required=False)
    fields = serializers.ListField(  # type: ignore[assignment]
        child=TemplateFieldSerializer(), min_length=1, max_length=500
    )

    class Meta:
        model = CampaignTemplate
        fields = ("id", "name", "contactHours", "dispositionSet", "teams", "fields")
        extra_kwargs = {"name": NO_UNIQUE_CHECK}

    def to_representation(self, instance: CampaignTemplate) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "name": instance.name,
            "contactHours": instance.contact_hours_id,
            "dispositionSet": instance.disposition_set_id,
            "teams": sorted(g.name for g in instance.teams.all()),
            "fields": [
                {
                    "name": f.name,
                    "displayType": f.display_type,
                    "phone": f.is_phone,
                    "inName": f.in_name,
                }
                for f in instance.fields.all()
            ],
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            attrs.setdefault("teams", [])  # template_save says whose teams it needs
        return attrs

    def save_template(self, instance: CampaignTemplate) -> CampaignTemplate:
        data = self.validated_data
        for key in ("name", "contact_hours", "disposition_set"):
            if key in data:
                setattr(instance, key, data[key])
        fields = None
        if "fields" in data:
            fields = [
                FieldSpec(
                    f["name"],
                    f.get("displayType") or (FieldType.PHONE if f.get("phone") else FieldType.TEXT),
                    f.get("phone", False),
                    f.get("inName", False),
                )
                for f in data["fields"]
            ]
        return template_save(instance, fields, data.get("teams"), actor=_actor(self))

    def create(self, validated_data: dict[str, Any]) -> CampaignTemplate:
        return self.save_template(CampaignTemplate())

    def update(self, instance: CampaignTemplate, validated: dict[str, Any]) -> CampaignTemplate:
        return self.save_template(instance)


class TemplateFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    team = filters.CharFilter(field_name="teams__name")
    ordering = ordering(("name", "name"))

    class Meta:
        model = CampaignTemplate
        fields = ("name", "team")


class TemplateApi(CrudViewSet):
    """Campaign templates with their fields, in order (scoped to the caller's teams)."""

    queryset = CampaignTemplate.objects.none()  # the model, for permissions and the schema

    serializer_class = TemplateSerializer
    filterset_class = TemplateFilter

    def get_queryset(self) -> QuerySet[CampaignTemplate]:
        return (
            templates_visible(self.request.user).prefetch_related("teams", "fields").order_by("id")
        )


# --- Campaigns and allocations --------------------------------------------------------------


class CampaignSerializer(ManagementModelSerializer):
    template = VisibleTemplateField()
    balanceMode = serializers.ChoiceField(
        source="balance_mode", choices=BalanceMode.choices, default=BalanceMode.PRIORITY
    )

    class Meta:
        model = Campaign
        fields = ("id", "name", "template", "active", "balanceMode")
        extra_kwargs = {"name": NO_UNIQUE_CHECK}

    def create(self, validated_data: dict[str, Any]) -> Campaign:
        return campaign_save(Campaign(**validated_data))

    def update(self, instance: Campaign, validated_data: dict[str, Any]) -> Campaign:
        for key, value in validated_data.items():
            setattr(instance, key, value)
        return campaign_save(instance)


class CampaignFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    ordering = ordering(("name", "name"))

    class Meta:
        model = Campaign
        fields = ("name", "template", "active")


class CampaignApi(CrudViewSet):
    """Campaigns (scoped). ``DELETE`` only while the campaign has no leads."""

    queryset = Campaign.objects.none()  # the model, for permissions and the schema

    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_queryset(self) -> QuerySet[Campaign]:
        return campaigns_visible(self.request.user).order_by("id")

    def perform_destroy(self, instance: Campaign) -> None:
        campaign_delete(instance)


class AllocationSerializer(ManagementModelSerializer):
    campaign = VisibleCampaignField()
    weight = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)

    class Meta:
        model = Allocation
        fields = ("id", "name", "campaign", "started", "weight")
        validators: list[Any] = []  # (campaign, name) taken is the database's 409

    def create(self, validated_data: dict[str, Any]) -> Allocation:
        return allocation_save(Allocation(**validated_data))

    def update(self, instance: Allocation, validated_data: dict[str, Any]) -> Allocation:
        for key, value in validated_data.items():
            setattr(instance, key, value)
        return allocation_save(instance)


class AllocationFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    ordering = ordering(("name", "name"))

    class Meta:
        model = Allocation
        fields = ("name", "campaign", "started")


class AllocationApi(CrudViewSet):
    """Allocations (scoped), with ``start`` and ``stop``. ``DELETE`` only without leads."""

    queryset = Allocation.objects.none()  # the model, for permissions and the schema

    serializer_class = AllocationSerializer
    filterset_class = AllocationFilter
    action_permissions = {
        "start": ["campaigner.change_allocation"],
        "stop": ["campaigner.change_allocation"],
    }

    def get_queryset(self) -> QuerySet[Allocation]:
        return allocations_visible(self.request.user).order_by("id")

    def perform_destroy(self, instance: Allocation) -> None:
        allocation_delete(instance)

    def _set_started(self, started: bool) -> Response:
        allocation = self.get_object()
        allocation.started = started
        allocation_save(allocation)
        return Response(
            AllocationSerializer(allocation, context=self.get_serializer_context()).data
        )

    @extend_schema(request=None, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        return self._set_started(True)

    @extend_schema(request=None, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        return self._set_started(False)


# --- API keys --------------------------------------------------------------------------------


class ApiKeySerializer(ManagementModelSerializer):
    team = NameField(slug_field="name", queryset=teams(), allow_null=True, required=False)
    user = NameField(
        slug_field="username",
        allow_null=True,
        required=False,
        queryset=get_user_model().objects.all(),
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)
    prefix = serializers.CharField(
        source="key_prefix", read_only=True, help_text="The key's first characters, to recognise it"
    )

    class Meta:
        model = ApiKey
        fields: tuple[str, ...] = (
            "id", "name", "team", "user", "revoked", "createdAt", "lastUsedAt", "prefix"
        )  # fmt: skip
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}

    def update(self, instance: ApiKey, validated_data: dict[str, Any]) -> ApiKey:
        for key, value in validated_data.items():
            setattr(instance, key, value)
        return api_key_save(instance, actor=self.context["request"].user)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The plain key: shown this once only")

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "key")


class ApiKeyApi(CrudViewSet):
    """CampaignAPI keys, each of a team (a key of no team, global, is a superuser's): a user
    sees and writes the keys of their own teams only. The plain key is in the answer to
    ``POST`` only; it is stored hashed. Revoke with ``PATCH {"revoked": true}``."""

    queryset = ApiKey.objects.none()  # the model, for permissions and the schema
    serializer_class = ApiKeySerializer
    filterset_fields = ("revoked",)
    # Reading keys (names, prefixes, last use) needs the view permission, which Operators lack.
    action_permissions = {
        "list": ["campaigner.view_apikey"],
        "retrieve": ["campaigner.view_apikey"],
    }

    def get_queryset(self) -> QuerySet[ApiKey]:
        return api_keys_visible(self.request.user).select_related("team", "user").order_by("id")

    @extend_schema(responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = self.get_serializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        key, plain = api_key_create(
            data["name"], data.get("team"), data.get("user"), actor=request.user
        )
        if data.get("revoked"):
            api_key_revoke(key, actor=request.user)
        body = ApiKeyCreatedSerializer(key, context=self.get_serializer_context()).data
        return Response({**body, "key": plain}, status=status.HTTP_201_CREATED)
