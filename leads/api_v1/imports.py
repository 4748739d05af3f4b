"""Manual imports over ``/api/v1/imports/`` (domain.md §5.3): thin interfaces over
``leads.services.lead_import``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, parsers, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.management import ManagementSerializer, ManagementViewSet, ordering
from campaigner.api_v1.fields import (
    VisibleAllocationField,
    VisibleCampaignField,
    VisibleTemplateField,
)
from campaigner.contract import Refusal, Refused
from campaigner.selectors import campaign_ids_visible
from leads.models import LeadImport
from leads.services.lead_import import (
    lead_import_cancel,
    lead_import_create,
    lead_import_errors_csv,
    lead_import_start,
)

# Multipart framing around the file: a request over the limit by more than this is refused
# before its body is read.
_MULTIPART_SLACK = 1024 * 1024


class ImportCheckedSerializer(serializers.Serializer[dict[str, Any]]):
    imported = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejectedByCode = serializers.DictField(child=serializers.IntegerField())
    finishedAt = serializers.DateTimeField()


class LeadImportSerializer(serializers.ModelSerializer):
    template = serializers.IntegerField(source="campaign.template_id")
    allowDuplicates = serializers.BooleanField(source="allow_duplicates")
    fileName = serializers.CharField(source="file_name")
    fileSize = serializers.IntegerField(source="file_size", help_text="Bytes")
    rows = serializers.IntegerField(help_text="Data rows in the file (the header not counted)")
    processed = serializers.IntegerField(help_text="Rows done so far (committed)")
    imported = serializers.IntegerField(help_text="Rows written as leads")
    rejected = serializers.IntegerField(help_text="Rows not written (see errors.csv)")
    rejectedByCode = serializers.DictField(
        source="rejected_by_code",
        child=serializers.IntegerField(),
        help_text='Rejected rows by CampaignAPI code, e.g. {"105": 12}',
    )
    header = serializers.ListField(child=serializers.CharField(), help_text="The file's columns")
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="Each column of the file: the template or system field it fills, "
        '"" for none (ignored)',
    )
    ignoredColumns = serializers.ListField(
        source="ignored_columns",
        child=serializers.CharField(),
        help_text="The columns mapped to no field, not imported",
    )
    sample = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The file's first rows, as cells",
    )
    dryRun = serializers.BooleanField(
        source="dry_run", help_text="The run queued or running is a dry run: it writes nothing"
    )
    checked = ImportCheckedSerializer(
        allow_null=True,
        help_text="The last dry run's result: what the import would do (null: none made)",
    )
    cancelRequested = serializers.BooleanField(source="cancel_requested")
    createdBy = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    error = serializers.CharField(help_text="Why a failed import stopped")

    class Meta:
        model = LeadImport
        fields = (
            "id", "status", "template", "campaign", "allocation", "allowDuplicates", "fileName",
            "fileSize", "rows", "processed", "imported", "rejected", "rejectedByCode", "header",
            "mapping", "ignoredColumns", "sample", "dryRun", "checked", "cancelRequested",
            "createdBy", "createdAt", "startedAt", "finishedAt", "error",
        )  # fmt: skip
        read_only_fields = fields


class LeadImportInputSerializer(ManagementSerializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="The CSV file (UTF-8, a header row)"
    )
    template = VisibleTemplateField()
    campaign = VisibleCampaignField()
    allocation = VisibleAllocationField()
    allowDuplicates = serializers.BooleanField(default=False)
    mapping = serializers.JSONField(
        binary=True,
        required=False,
        help_text='A JSON object {column: field or ""} for some or all columns; the others get '
        "the guess (the template's last mapping, the field of the same name, a known spelling "
        "such as 'Customer ID' or 'Phone No.'), shown in the answer",
    )
    dryRun = serializers.BooleanField(
        default=False,
        help_text="Check every row as the import would, write nothing: the import is then a "
        "draft with the result in `checked`, run for real with `run`",
    )
    draft = serializers.BooleanField(
        default=False, help_text="Store the file and its guessed mapping, run nothing yet"
    )

    def validate_mapping(self, value: Any) -> dict[str, str]:
        return _mapping(value)


def _mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(column, str) and isinstance(field, str) for column, field in value.items()
    ):
        raise serializers.ValidationError('a JSON object {column: field or ""}')
    return value


class LeadImportRunSerializer(ManagementSerializer):
    mapping = serializers.JSONField(
        required=False, help_text='{column: field or ""} over the draft\'s mapping'
    )
    dryRun = serializers.BooleanField(default=False)

    def validate_mapping(self, value: Any) -> dict[str, str]:
        return _mapping(value)


class LeadImportFilter(filters.FilterSet):
    ordering = ordering(("createdAt", "created_at"))

    class Meta:
        model = LeadImport
        fields = ("campaign", "allocation", "status")


class LeadImportApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagementViewSet):
    """Manual imports of CSV lead files (scoped by campaign). ``POST`` a multipart file to
    start one (202), with the mapping of its columns to fields if their names are not the
    fields'; or to make a dry run (or a draft) of it first, then ``run`` it. Poll the item
    for its progress; ``cancel`` stops it after the current chunk; ``errors.csv`` is the
    report of the rejected rows."""

    queryset = LeadImport.objects.none()  # the model, for permissions and the schema
    serializer_class = LeadImportSerializer
    filterset_class = LeadImportFilter
    parser_classes = (*ManagementViewSet.parser_classes, parsers.MultiPartParser)
    action_permissions = {
        "errors_csv": [],
        "cancel": ["leads.change_leadimport"],
        "run": ["leads.add_leadimport"],
    }

    def get_queryset(self) -> QuerySet[LeadImport]:
        imports = LeadImport.objects.select_related("campaign", "created_by").order_by("-id")
        visible = campaign_ids_visible(self.request.user)
        return imports if visible is None else imports.filter(campaign__in=visible)

    @extend_schema(
        request={"multipart/form-data": LeadImportInputSerializer},
        responses={202: LeadImportSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.LEAD_IMPORT_MAX_BYTES + _MULTIPART_SLACK:
            limit = settings.LEAD_IMPORT_MAX_BYTES
            raise Refused(Refusal.INVALID, f"the file is larger than {limit:,} bytes", "file")
        checked = LeadImportInputSerializer(data=request.data, context={"request": request})
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        upload = data["file"]
        lead_import = lead_import_create(
            data["template"],
            data["campaign"],
            data["allocation"],
            upload,
            file_name=upload.name or "upload.csv",
            size=upload.size,
            allow_duplicates=data["allowDuplicates"],
            user=request.user,
            mapping=data.get("mapping"),
            then="draft" if data["draft"] else "dry_run" if data["dryRun"] else "run",
        )
        return Response(self.get_serializer(lead_import).data, status=202)

    @extend_schema(request=LeadImportRunSerializer, responses={202: LeadImportSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        """Run a draft import, or make a dry run of it, with its mapping changed as given."""
        lead_import = self.get_object()
        checked = LeadImportRunSerializer(data=request.data, context={"request": request})
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        started = lead_import_start(
            lead_import, mapping=data.get("mapping"), dry_run=data["dryRun"]
        )
        return Response(self.get_serializer(started).data, status=202)

    @extend_schema(request=None, responses={200: LeadImportSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(lead_import_cancel(self.get_object())).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "spreadsheet",
                bool,
                description="true: a cell beginning with =, +, -, @, a tab or a carriage return "
                "gets a leading ' so a spreadsheet shows it as text, not a formula (the report "
                "as sent, without it, can be corrected and imported again)",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                {"type": "string"},
                description="line, code, reason, then the row's cells under the file's header",
            )
        },
    )
    @action(detail=True, methods=["get"], url_path=r"errors\.csv", url_name="errors-csv")
    def errors_csv(self, request: Request, pk: str) -> StreamingHttpResponse:
        lead_import = self.get_object()
        spreadsheet = request.query_params.get("spreadsheet", "").lower() in ("1", "true")
        response = StreamingHttpResponse(
            lead_import_errors_csv(lead_import, spreadsheet=spreadsheet),
            content_type="text/csv; charset=utf-8",
        )
        name = f"import-{lead_import.pk}-errors{'-spreadsheet' if spreadsheet else ''}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
