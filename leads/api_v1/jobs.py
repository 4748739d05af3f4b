"""Bulk jobs over ``/api/v1/jobs/``: thin interfaces over ``leads.services.lead_job``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.campaignapi_schema import LeadFieldsField
from campaigner.api.management import ManagementSerializer, ManagementViewSet, ordering
from campaigner.contract import Refusal, Refused
from leads.models import LeadJob
from leads.selection import SELECTION_KEYS
from leads.services.lead_job import (
    jobs_visible,
    lead_job_cancel,
    lead_job_create,
    lead_job_csv,
    lead_job_preview,
)

_SELECTION_HELP = (
    "The leads, as the lead list's filter parameters take them (campaign, allocation,"
    f" {', '.join(k for k in SELECTION_KEYS if k not in ('campaign', 'allocation'))});"
    " a job works in one campaign: name it, or the import (leadImport)"
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string"}, {"type": "integer"}, {"type": "boolean"},
                {"type": "array", "items": {"type": "integer"}},
            ]
        },
        "description": _SELECTION_HELP,
    }
)  # fmt: skip
class SelectionField(serializers.DictField):
    """A job's selection: filter name → value (text, a number, true/false, a list of ids)."""


class LeadJobSerializer(serializers.ModelSerializer):
    dryRun = serializers.BooleanField(source="dry_run")
    total = serializers.IntegerField(help_text="Leads selected when it started")
    processed = serializers.IntegerField(help_text="Leads gone over so far (committed)")
    changed = serializers.IntegerField(
        help_text="Leads changed (a dry run: that would be changed); exported rows"
    )
    skipped = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Leads left alone, by reason: 'checked out', 'already so', 'edited since the"
        " import'",
    )
    selection = SelectionField(read_only=True)
    params = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    samples = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Some of the skipped leads' ids, by reason",
    )
    cancelRequested = serializers.BooleanField(source="cancel_requested")
    createdBy = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    class Meta:
        model = LeadJob
        fields = (
            "id", "kind", "status", "campaign", "selection", "params", "dryRun", "total",
            "processed", "changed", "skipped", "samples", "cancelRequested", "error",
            "createdBy", "createdAt", "startedAt", "finishedAt",
        )  # fmt: skip
        read_only_fields = fields


class LeadJobInputSerializer(ManagementSerializer):
    kind = serializers.ChoiceField(choices=LeadJob.Kind.choices)
    selection = SelectionField()
    params = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        default=dict,
        help_text="move: {allocation: id}; priority: {priority: 0-100}; the others: none",
    )
    dryRun = serializers.BooleanField(
        default=False, help_text="Report what would change, write nothing"
    )


class PreviewLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    externalId = serializers.CharField(source="external_id", allow_null=True)
    allocation = serializers.IntegerField(source="allocation_id")
    priority = serializers.IntegerField()
    closed = serializers.BooleanField()
    fields = LeadFieldsField()  # type: ignore[assignment]


class LeadJobPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Leads the job would go over now")
    sample = PreviewLeadSerializer(many=True)


class LeadJobFilter(filters.FilterSet):
    ordering = ordering(("createdAt", "created_at"))

    class Meta:
        model = LeadJob
        fields = ("campaign", "kind", "status")


class LeadJobApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagementViewSet):
    """Bulk jobs over leads (scoped by campaign): ``preview`` the selection, ``POST`` a job
    (202; a Celery worker runs it in chunks), poll it for progress, ``cancel`` it (after the
    current chunk), download an export's ``file.csv``. Deleting kinds (``delete``,
    ``undo_import``) are a supervisor's."""

    queryset = LeadJob.objects.none()
    serializer_class = LeadJobSerializer
    filterset_class = LeadJobFilter
    action_permissions = {
        "preview": ["leads.view_lead"],
        "cancel": ["leads.change_leadjob"],
        "file_csv": [],
    }

    def get_queryset(self) -> QuerySet[LeadJob]:
        return jobs_visible(self.request.user)

    def _input(self, request: Request) -> dict[str, Any]:
        checked = LeadJobInputSerializer(data=request.data, context={"request": request})
        checked.is_valid(raise_exception=True)
        return dict(checked.validated_data)

    @extend_schema(request=LeadJobInputSerializer, responses={202: LeadJobSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._input(request)
        job = lead_job_create(
            request.user, data["kind"], data["selection"], data["params"], dry_run=data["dryRun"]
        )
        return Response(self.get_serializer(job).data, status=202)

    @extend_schema(request=LeadJobInputSerializer, responses={200: LeadJobPreviewSerializer})
    @action(detail=False, methods=["post"], filterset_class=None)
    def preview(self, request: Request) -> Response:
        """How many leads the job would go over now, and the first ten. Writes nothing."""
        data = self._input(request)
        preview = lead_job_preview(request.user, data["kind"], data["selection"])
        return Response(LeadJobPreviewSerializer(preview).data)

    @extend_schema(request=None, responses={200: LeadJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(lead_job_cancel(self.get_object())).data)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                {"type": "string"},
                description="The exported leads: the template's fields, njExternalLeadId,"
                " njPriority, njCallBackDate, njContactHours (the import reads these), then"
                " leadId, allocation, disposition, closed, version, createdAt and number:<field>",
            )
        },
    )
    @action(detail=True, methods=["get"], url_path=r"file\.csv", url_name="file-csv")
    def file_csv(self, request: Request, pk: str) -> StreamingHttpResponse:
        job = self.get_object()
        if job.kind != LeadJob.Kind.EXPORT or job.status != LeadJob.Status.DONE:
            raise Refused(Refusal.INVALID, "only a finished export has a file", "kind")
        response = StreamingHttpResponse(lead_job_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-export.csv"'
        return response
