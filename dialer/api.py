"""The dialer calls of the management API (domain.md §4), thin interfaces over
``dialer.services``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.campaignapi_schema import LeadFieldsField
from campaigner.api.tokens import ManagementApiView
from campaigner.contract import Refusal, Refused
from campaigner.selectors import campaign_ids_visible, campaigns_visible
from dialer.models import CampaignCache
from dialer.services import (
    dialer_cache_refresh,
    dialer_lead_next,
    dialer_outcome,
    lead_eligibility,
)
from leads.models import Lead
from leads.services.calls import CallDetails


def _body(request: Request) -> dict[str, Any]:
    data = request.data if request.body else {}
    if not isinstance(data, dict):
        raise ParseError("the body must be a JSON object")
    return data


def _valid(serializer: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The body checked by ``serializer`` (text without NUL or unpaired surrogates, the
    lengths): 400 naming each bad field otherwise."""
    checked = serializer(data=_body(request))
    checked.is_valid(raise_exception=True)
    return dict(checked.validated_data)


def _lead_visible(request: Request, lead_id: int) -> None:
    """404 unless the lead exists and its campaign is one the caller sees."""
    leads = Lead.objects.filter(pk=lead_id)
    visible = campaign_ids_visible(request.user)
    if visible is not None:
        leads = leads.filter(campaign__in=visible)
    if not leads.exists():
        raise Refused(Refusal.NOT_FOUND, f"no lead {lead_id}")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class NextLeadInputSerializer(serializers.Serializer):
    agent = serializers.CharField(required=False, allow_blank=True, max_length=150)


class OutcomeInputSerializer(serializers.Serializer):
    disposition = serializers.CharField(max_length=100)
    callbackDate = serializers.CharField(required=False, allow_blank=True, max_length=16)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    # The call's details, each optional: stored in the lead's call record.
    dialedNumber = serializers.CharField(
        required=False, allow_blank=True, max_length=32,
        help_text="The number dialed (default: the one handed out)",
    )  # fmt: skip
    callStartedAt = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the call started (default: now)"
    )
    durationSeconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=7 * 86400,
        help_text="The call's length in seconds",
    )  # fmt: skip
    uniqueCallId = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="The PBX's id of the call"
    )
    agent = serializers.CharField(
        required=False, allow_blank=True, max_length=150,
        help_text="Who took the call (default: who checked the lead out)",
    )  # fmt: skip

    def validate_callStartedAt(self, value: dt.datetime | None) -> dt.datetime | None:
        """A start the database stores and reads back: from 2000 on, at most a day ahead of
        the server's clock (a PBX's clock may be a little off, not years)."""
        earliest = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        if value is not None and not earliest <= value <= timezone.now() + dt.timedelta(days=1):
            raise serializers.ValidationError("must be from 2000 on and not over a day ahead")
        return value


class HandedLeadSerializer(serializers.Serializer):
    leadId = serializers.IntegerField()
    externalId = serializers.CharField(allow_null=True)
    allocationId = serializers.IntegerField()
    phone = serializers.CharField(help_text="The number to dial")
    fields = LeadFieldsField()  # type: ignore[assignment]
    version = serializers.IntegerField()
    checkedOutUntil = serializers.DateTimeField()


class OutcomeResultSerializer(serializers.Serializer):
    leadId = serializers.IntegerField()
    version = serializers.IntegerField()
    disposition = serializers.CharField(allow_null=True)
    closed = serializers.BooleanField()
    priority = serializers.IntegerField()
    callbackAt = serializers.DateTimeField(allow_null=True)
    checkedOut = serializers.BooleanField()


class CacheEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    leadId = serializers.IntegerField()


class CacheSerializer(serializers.Serializer):
    campaignId = serializers.IntegerField()
    refreshedAt = serializers.DateTimeField(allow_null=True)
    durationMs = serializers.FloatField(allow_null=True)
    size = serializers.IntegerField()
    entries = CacheEntrySerializer(many=True, help_text="In hand-out order")


class EligibilityReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["campaign_inactive", "allocation_stopped", "closed",
                                            "callback_in_future", "outside_contact_hours",
                                            "closed_date", "no_dialable_number",
                                            "checked_out"])  # fmt: skip
    detail = serializers.CharField()


class EligibilitySerializer(serializers.Serializer):
    eligible = serializers.BooleanField()
    reasons = EligibilityReasonSerializer(many=True)
    nextEligibleAt = serializers.DateTimeField(allow_null=True)


class NextLeadApi(ManagementApiView):
    @extend_schema(
        summary="Hand out the campaign's next lead",
        description="Takes the first eligible lead of the campaign's dialer cache, checks it "
        "out for DIALER_CHECKOUT_SECONDS (to `agent`, if given) and answers it with the number "
        "to dial, in the form the PBX dials (PHONE_DIAL_FORMAT). Two callers never get the same "
        "lead. 204 when no lead is eligible now.",
        request=NextLeadInputSerializer,
        responses={200: HandedLeadSerializer, 204: None},
        tags=["dialer"],
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        get_object_or_404(campaigns_visible(request.user), pk=campaign_id)
        data = _valid(NextLeadInputSerializer, request)
        handed = dialer_lead_next(campaign_id, data.get("agent", ""))
        if handed is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "leadId": handed.lead_id,
                "externalId": handed.external_id,
                "allocationId": handed.allocation_id,
                "phone": handed.phone,
                "fields": handed.fields,
                "version": handed.version,
                "checkedOutUntil": _iso(handed.checked_out_until),
            }
        )


class OutcomeApi(ManagementApiView):
    @extend_schema(
        summary="Record a call's outcome on a checked-out lead",
        description="Sets the disposition (its actions run), an optional callback date "
        "(yyyy/MM/dd HH:mm in the lead's Contact Hours zone) and notes, stores the call's "
        "record (the details are optional) and releases the check-out. 400: unknown "
        "disposition, bad date or detail; 409: the lead is not checked out, or changed.",
        request=OutcomeInputSerializer,
        responses={200: OutcomeResultSerializer},
        tags=["dialer"],
    )
    def post(self, request: Request, lead_id: int) -> Response:
        _lead_visible(request, lead_id)
        data = _valid(OutcomeInputSerializer, request)
        call = CallDetails(
            dialed_number=data.get("dialedNumber") or "",
            started_at=data.get("callStartedAt"),
            duration_s=data.get("durationSeconds"),
            unique_call_id=data.get("uniqueCallId") or "",
            agent=data.get("agent") or "",
        )
        lead = dialer_outcome(
            lead_id, data["disposition"], data.get("callbackDate"), data.get("notes") or "", call
        )
        return Response(
            {
                "leadId": lead.pk,
                "version": lead.version,
                "disposition": lead.disposition.name if lead.disposition else None,
                "closed": lead.closed,
                "priority": lead.priority,
                "callbackAt": _iso(lead.callback_at),
                "checkedOut": False,
            }
        )


class RefreshApi(ManagementApiView):
    @extend_schema(
        summary="Rebuild the campaign's dialer cache now",
        description="Waits for a rebuild already running, then rebuilds (beat does this every "
        "DIALER_REFRESH_SECONDS).",
        request=None,
        responses=inline_serializer(
            "DialerRefresh",
            {"size": serializers.IntegerField(), "durationMs": serializers.FloatField(),
             "refreshedAt": serializers.DateTimeField()},
        ),
        tags=["dialer"],
    )  # fmt: skip
    def post(self, request: Request, campaign_id: int) -> Response:
        get_object_or_404(campaigns_visible(request.user), pk=campaign_id)
        result = dialer_cache_refresh(campaign_id, wait=True)
        assert result is not None  # wait=True always rebuilds
        return Response(
            {"size": result.size, "durationMs": round(result.duration_ms, 3),
             "refreshedAt": _iso(result.refreshed_at)}
        )  # fmt: skip


class CacheApi(ManagementApiView):
    @extend_schema(
        summary="The campaign's dialer cache, in hand-out order",
        responses={200: CacheSerializer},
        tags=["dialer"],
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(campaigns_visible(request.user), pk=campaign_id)
        cache = CampaignCache.objects.filter(campaign=campaign).first()
        entries = []
        if cache is not None:
            entries = [
                {"position": position, "leadId": lead_id}
                for position, lead_id in cache.entries.filter(generation=cache.generation)
                .order_by("position")
                .values_list("position", "lead_id")
            ]
        return Response(
            {
                "campaignId": campaign.pk,
                "refreshedAt": _iso(cache.refreshed_at) if cache else None,
                "durationMs": cache.duration_ms if cache else None,
                "size": len(entries),
                "entries": entries,
            }
        )


class EligibilityApi(ManagementApiView):
    @extend_schema(
        summary="Why a lead is or is not dialable now",
        description="Every dialer rule the lead fails now (Contact Hours read in the zones "
        "that apply to its number), and when it will next pass them all.",
        responses={200: EligibilitySerializer},
        tags=["leads"],
    )
    def get(self, request: Request, lead_id: int) -> Response:
        _lead_visible(request, lead_id)
        result = lead_eligibility(lead_id)
        return Response(
            {
                "eligible": result.eligible,
                "reasons": [{"code": r.code, "detail": r.detail} for r in result.reasons],
                "nextEligibleAt": _iso(result.next_eligible_at),
            }
        )
