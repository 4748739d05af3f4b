"""API keys, the DNC list, phone patterns, action deliveries and leads over ``/api/v1/``
(domain.md §5.2): thin interfaces over ``campaigner.services`` and ``leads.services``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, parsers, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.campaignapi_schema import SCALAR_SCHEMA, LeadFieldsField
from campaigner.api.management import (
    CrudViewSet,
    ManagementModelSerializer,
    ManagementSerializer,
    ManagementViewSet,
    ordering,
)
from campaigner.contract import Refusal, Refused
from campaigner.selectors import campaign_ids_visible
from leads.models import (
    ActionDelivery,
    CallRecord,
    DncEntry,
    Door,
    Lead,
    LeadChange,
    LeadOrigin,
    LeadPhone,
    PhonePattern,
)
from leads.phone import PhoneRuleError, compile_rule
from leads.selection import LeadSelection
from leads.selectors import phone_normaliser_load
from leads.services.delivery import action_delivery_retry
from leads.services.dnc import (
    MAX_CHECK,
    dnc_check,
    dnc_entry_change,
    dnc_entry_put,
    dnc_upload,
)
from leads.services.erasure import person_erase
from leads.services.lead_version import ChangeBy

# --- DNC -------------------------------------------------------------------------------------


class DncEntrySerializer(ManagementModelSerializer):
    phone = serializers.CharField(
        source="number", max_length=64, help_text="Normalised by the phone rules when written"
    )
    expires = serializers.DateField(source="expires_on", allow_null=True, required=False)
    note = serializers.CharField(allow_blank=True, required=False, max_length=10_000)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = DncEntry
        fields = ("id", "phone", "expires", "note", "createdAt")

    def validate_phone(self, value: str) -> str:
        if self.instance is None:
            # A new entry: dnc_entry_put normalises it, once (rules need not be idempotent).
            return value
        number = phone_normaliser_load()(value)
        if number is None:
            raise serializers.ValidationError(f"{value!r} is not a usable phone number")
        return number

    def update(self, instance: DncEntry, validated_data: dict[str, Any]) -> DncEntry:
        for key, value in validated_data.items():
            setattr(instance, key, value)
        return dnc_entry_change(instance)


class DncCheckInputSerializer(ManagementSerializer):
    phones = serializers.ListField(child=serializers.CharField(), max_length=MAX_CHECK)


class DncCheckResultSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="As sent")
    normalised = serializers.CharField(allow_null=True, help_text="null: not a usable number")
    blocked = serializers.BooleanField()
    expires = serializers.DateField(allow_null=True)


class DncCheckSerializer(serializers.Serializer):
    results = DncCheckResultSerializer(many=True)


class DncRejectedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    value = serializers.CharField()
    reason = serializers.CharField()


class DncUploadSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    rejected = DncRejectedLineSerializer(many=True)


class CsvParser(parsers.BaseParser):
    """A ``text/csv`` body, as bytes (``dnc_upload`` decodes it)."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        # One byte over the limit is enough to refuse it (DncApi.upload); no more is read.
        return stream.read(settings.DNC_UPLOAD_MAX_BYTES + 1) if stream is not None else b""


class DncFilter(filters.FilterSet):
    phone = filters.CharFilter(method="filter_phone", help_text="Normalised before matching")
    ordering = ordering(("phone", "number"), ("expires", "expires_on"), ("createdAt", "created_at"))

    class Meta:
        model = DncEntry
        fields = ("phone",)

    def filter_phone(self, queryset: QuerySet[DncEntry], name: str, value: str) -> Any:
        return queryset.filter(number=phone_normaliser_load()(value) or "")


def _check_phones(data: Any) -> list[str]:
    """The ``phones`` of a check, checked by hand: a serializer per item costs more than the
    check itself at 100,000 numbers."""
    if not isinstance(data, dict) or set(data) != {"phones"}:
        raise ParseError('the body must be {"phones": ["…", …]}')
    phones = data["phones"]
    if not isinstance(phones, list) or len(phones) > MAX_CHECK:
        raise Refused(Refusal.INVALID, f"a list of at most {MAX_CHECK:,} numbers", "phones")
    for i, phone in enumerate(phones):
        if not isinstance(phone, str) or len(phone) > 64:
            raise Refused(
                Refusal.INVALID, "each number must be text of at most 64 characters", f"phones.{i}"
            )
    return phones


class DncApi(CrudViewSet):
    """The do-not-call list (shared configuration). ``POST`` of a number already listed
    changes its expiry and note (200, not a second entry)."""

    queryset = DncEntry.objects.order_by("id")
    serializer_class = DncEntrySerializer
    filterset_class = DncFilter
    action_permissions = {
        "check": [],
        "upload": ["leads.add_dncentry", "leads.change_dncentry"],
    }

    @extend_schema(responses={201: DncEntrySerializer, 200: DncEntrySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = self.get_serializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        entry, added = dnc_entry_put(
            data["number"], data.get("expires_on"), data.get("note", ""), source="api"
        )
        return Response(self.get_serializer(entry).data, status=201 if added else 200)

    @extend_schema(request=DncCheckInputSerializer, responses={200: DncCheckSerializer})
    @action(detail=False, methods=["post"])
    def check(self, request: Request) -> Response:
        results = dnc_check(_check_phones(request.data))
        return Response(
            {
                "results": [
                    {
                        "phone": r.phone,
                        "normalised": r.normalised,
                        "blocked": r.blocked,
                        "expires": r.expires.isoformat() if r.expires else None,
                    }
                    for r in results
                ]
            }
        )

    @extend_schema(
        request={
            "text/csv": {"type": "string"},
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        responses={200: DncUploadSerializer},
    )
    @action(detail=False, methods=["post"], parser_classes=(CsvParser, parsers.MultiPartParser))
    def upload(self, request: Request) -> Response:
        data: Any = request.data
        content: bytes = b""  # an empty body: DRF parses nothing
        if isinstance(data, bytes):
            content = data
        elif data:
            upload = data.get("file")
            if upload is None or isinstance(upload, str):
                raise Refused(
                    Refusal.INVALID, "send the CSV as a text/csv body or a multipart 'file'", "file"
                )
            content = upload.read(settings.DNC_UPLOAD_MAX_BYTES + 1)
        result = dnc_upload(content, source="upload")
        return Response(
            {"added": result.added, "updated": result.updated, "rejected": result.rejected}
        )


# --- phone patterns --------------------------------------------------------------------------


class PhonePatternSerializer(ManagementModelSerializer):
    class Meta:
        model = PhonePattern
        fields = ("id", "name", "position", "pattern", "replacement", "enabled")
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        pattern = attrs.get("pattern", getattr(self.instance, "pattern", ""))
        replacement = attrs.get("replacement", getattr(self.instance, "replacement", ""))
        try:
            compile_rule(pattern, replacement)
        except PhoneRuleError as exc:
            raise serializers.ValidationError({"pattern": [str(exc)]}) from None
        return attrs


class PhonePatternApi(CrudViewSet):
    """Rewrite rules applied to every number, in ``position`` order, before the DNC and
    duplicate checks (shared configuration)."""

    queryset = PhonePattern.objects.order_by("id")
    serializer_class = PhonePatternSerializer
    filterset_fields = ("enabled",)


# --- deliveries ------------------------------------------------------------------------------


class DeliverySerializer(serializers.ModelSerializer):
    lastHttpStatus = serializers.IntegerField(source="last_http_status", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = ActionDelivery
        fields = (
            "id",
            "lead",
            "kind",
            "status",
            "attempts",
            "lastHttpStatus",
            "lastError",
            "nextAttemptAt",
            "deliveredAt",
            "createdAt",
        )
        read_only_fields = fields


class DeliveryApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagementViewSet):
    """Webhook and email deliveries of disposition actions (read only), with ``retry``."""

    queryset = ActionDelivery.objects.none()  # the model, for permissions and the schema

    serializer_class = DeliverySerializer
    filterset_fields = ("status", "lead")
    action_permissions = {"retry": ["leads.change_actiondelivery"]}

    def get_queryset(self) -> QuerySet[ActionDelivery]:
        deliveries = ActionDelivery.objects.order_by("id")
        visible = campaign_ids_visible(self.request.user)
        return deliveries if visible is None else deliveries.filter(lead__campaign__in=visible)

    @extend_schema(request=None, responses={200: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        delivery = self.get_object()
        action_delivery_retry(delivery)
        delivery.refresh_from_db()
        return Response(self.get_serializer(delivery).data)


# --- leads -----------------------------------------------------------------------------------


class LeadPhoneSerializer(serializers.ModelSerializer):
    field = serializers.CharField(source="field_name")

    class Meta:
        model = LeadPhone
        fields = ("field", "number", "blocked")


class LeadOriginSerializer(serializers.ModelSerializer):
    leadImport = serializers.IntegerField(source="lead_import_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    description = serializers.CharField(source="__str__")

    class Meta:
        model = LeadOrigin
        fields = ("id", "via", "by", "call", "leadImport", "createdAt", "description")
        read_only_fields = fields


class LeadSerializer(serializers.ModelSerializer):
    externalId = serializers.CharField(source="external_id", allow_null=True)
    fields = LeadFieldsField()  # type: ignore[assignment]
    phones = LeadPhoneSerializer(many=True)
    callbackDate = serializers.DateTimeField(source="callback_at", allow_null=True)
    contactHours = serializers.IntegerField(source="contact_hours_id", allow_null=True)
    disposition = serializers.CharField(source="disposition.name", allow_null=True, default=None)
    # null, like checkedOutUntil, when nobody holds the lead
    checkedOutBy = serializers.CharField(source="checked_out_by", allow_null=True)
    dialAttempts = serializers.IntegerField(
        source="dial_attempts", help_text="The dialer's calls to the lead (its call records)"
    )
    checkedOutUntil = serializers.DateTimeField(source="checked_out_until", allow_null=True)
    origin = LeadOriginSerializer(allow_null=True, help_text="What inserted the lead")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Lead
        fields = (
            "id",
            "campaign",
            "allocation",
            "externalId",
            "fields",
            "phones",
            "priority",
            "callbackDate",
            "contactHours",
            "disposition",
            "closed",
            "version",
            "checkedOutBy",
            "checkedOutUntil",
            "dialAttempts",
            "origin",
            "createdAt",
            "updatedAt",
        )
        read_only_fields = fields

    def to_representation(self, instance: Lead) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not data["checkedOutBy"]:
            data["checkedOutBy"] = None
        return data


class CallRecordSerializer(serializers.ModelSerializer):
    allocation = serializers.IntegerField(source="allocation_id", allow_null=True)
    disposition = serializers.CharField(source="disposition.name")
    calledAt = serializers.DateTimeField(source="called_at")
    durationSeconds = serializers.IntegerField(source="duration_s", allow_null=True)
    dialedNumber = serializers.CharField(source="dialed_number")
    uniqueCallId = serializers.CharField(source="unique_call_id")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = CallRecord
        fields = (
            "id", "attempt", "allocation", "disposition", "calledAt", "durationSeconds",
            "dialedNumber", "uniqueCallId", "agent", "createdAt",
        )  # fmt: skip
        read_only_fields = fields


class LeadFilter(LeadSelection):
    ordering = ordering(
        ("priority", "priority"), ("createdAt", "created_at"), ("callbackDate", "callback_at")
    )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "array", "minItems": 2, "maxItems": 2, "items": SCALAR_SCHEMA,
            "description": "[old, new]; null: no value",
        },
    }
)  # fmt: skip
class ChangesField(serializers.DictField):
    """Changed values, name → [old, new] (read only)."""


class LeadChangeSerializer(serializers.ModelSerializer):
    versionBefore = serializers.IntegerField(source="version_before", allow_null=True)
    versionAfter = serializers.IntegerField(source="version_after", allow_null=True)
    fields = ChangesField(  # type: ignore[assignment]
        help_text="Template fields changed: name -> [old, new] (null: no value)"
    )
    system = ChangesField(
        help_text="System values changed: allocation, externalId, priority, callbackDate,"
        " contactHours, disposition, closed, checkedOutBy, checkedOutUntil, checkedOutNumber"
        " -> [old, new]"
    )

    class Meta:
        model = LeadChange
        fields = ("id", "kind", "at", "via", "by", "versionBefore", "versionAfter", "fields",
                  "system")  # fmt: skip
        read_only_fields = fields


class EraseInputSerializer(ManagementSerializer):
    leadId = serializers.IntegerField(required=False, min_value=1)
    externalId = serializers.CharField(required=False, max_length=255)
    phone = serializers.CharField(required=False, max_length=64)


class ErasureSerializer(serializers.Serializer):
    leads = serializers.ListField(child=serializers.IntegerField(), help_text="The leads erased")
    numbers = serializers.IntegerField(help_text="The person's numbers, now only tombstones")


class LeadApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagementViewSet):
    """Leads, read and searched (scoped). Writes go through the CampaignAPI, the dialer or the
    admin."""

    queryset = Lead.objects.none()  # the model, for permissions and the schema

    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    action_permissions = {"erase": ["leads.delete_lead"]}

    def get_queryset(self) -> QuerySet[Lead]:
        last_call = CallRecord.objects.filter(lead=OuterRef("pk")).order_by("-attempt")
        leads = (
            Lead.objects.select_related("disposition", "origin")
            .prefetch_related(Prefetch("phones", queryset=LeadPhone.objects.order_by("id")))
            .annotate(dial_attempts=Coalesce(Subquery(last_call.values("attempt")[:1]), 0))
            .order_by("id")
        )
        visible = campaign_ids_visible(self.request.user)
        return leads if visible is None else leads.filter(campaign__in=visible)

    @extend_schema(request=EraseInputSerializer, responses={200: ErasureSerializer}, filters=False)
    @action(detail=False, methods=["post"], filterset_class=None)
    def erase(self, request: Request) -> Response:
        """Erase a person (by lead id, external id or phone) from every campaign you see: the
        leads emptied and closed, their history's values removed, their numbers kept only as
        hashes, so a later insert or import of them is refused (104). A supervisor's."""
        checked = EraseInputSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        erasure = person_erase(
            request.user,
            by=ChangeBy(Door.MANAGEMENT_API, request.user.get_username()),
            lead_id=data.get("leadId"),
            external_id=data.get("externalId"),
            phone=data.get("phone"),
        )
        return Response(ErasureSerializer(erasure).data)

    @extend_schema(responses={200: LeadChangeSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request: Request, pk: str) -> Response:
        """Every change to the lead, oldest first, paginated: when, through which door, by whom,
        the versions and the values changed (its insert is the lead's ``origin``)."""
        lead = self.get_object()
        page = self.paginate_queryset(LeadChange.objects.filter(lead_id=lead.pk).order_by("id"))
        return self.get_paginated_response(LeadChangeSerializer(page, many=True).data)

    @extend_schema(responses={200: CallRecordSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None)
    def calls(self, request: Request, pk: str) -> Response:
        """The lead's calls (its call records), newest first, paginated."""
        lead = self.get_object()
        records = lead.calls.select_related("disposition").order_by("-called_at", "-id")
        page = self.paginate_queryset(records)
        return self.get_paginated_response(CallRecordSerializer(page, many=True).data)
