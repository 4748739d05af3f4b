"""How the CampaignAPI calls appear in the OpenAPI schema: their query parameters, bodies and
answers, and for each HTTP status the codes a call can answer with it (from the one table,
``campaigner.contract.Code``). A client generator gets a working client of the vendor API.

``campaign_api_schema(...)`` decorates a view's method (drf-spectacular's ``extend_schema``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers

from campaigner.contract import Code

# Codes every call may answer besides its own.
_EVERY_CALL = (Code.INVALID_API_KEY, Code.EXCEPTION)
_IDS = (Code.TEMPLATE_ID_REQUIRED, Code.CAMPAIGN_ID_REQUIRED, Code.ALLOCATION_ID_REQUIRED)
_BODY = (Code.MALFORMED_REQUEST, Code.PAYLOAD_TOO_LARGE, Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS)
LEAD_CODES = (
    Code.MALFORMED_REQUEST,
    Code.IMPORT_BUT_NOCHANGE_SPECIFIED,
    Code.INVALID_CALLBACK_DATE_FORMAT,
    Code.INVALID_TIMEZONE_SPECIFIED,
    Code.INVALID_PRIORITY,
    Code.NO_PHONE_FIELDS,
    Code.DUPLICATE_EXTERNAL_ID,
    Code.DNC,
    Code.DUPLICATE,
)
# Safe retries (campaigner.api.idempotent): a key sent again with another request, or while
# its first call runs.
_KEYED = (Code.IDEMPOTENCY_KEY_REUSED, Code.IDEMPOTENCY_KEY_IN_FLIGHT)
BATCH_CODES = (*_IDS, *_BODY, *_KEYED)  # a batch's own; its leads' are in the summary
INSERT_CODES = (*BATCH_CODES, *LEAD_CODES)
UPDATE_CODES = (
    *_IDS,
    *_BODY,
    *_KEYED,
    Code.MALFORMED_REQUEST,
    Code.INVALID_CALLBACK_DATE_FORMAT,
    Code.INVALID_TIMEZONE_SPECIFIED,
    Code.INVALID_PRIORITY,
    Code.NO_PHONE_FIELDS,
    Code.EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED,
    Code.COULDNT_FIND_THE_LEAD,
    Code.INVALID_DISPOSTION,
    Code.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
    Code.DNC,
    Code.LEAD_NOT_UPDATED_DUE_TO_CONFLICT,
)


class CampaignApiAnswerSerializer(serializers.Serializer):
    """The envelope: every answer has ``code`` and ``message``."""

    code = serializers.IntegerField(help_text="0 = done; see the codes of each status")
    message = serializers.CharField(help_text="The code's name, e.g. DUPLICATE")
    detail = serializers.CharField(required=False, help_text="Why, for a person")
    leadId = serializers.IntegerField(required=False, help_text="The lead written (code 0)")
    version = serializers.IntegerField(required=False, help_text="Its row version (code 0)")
    ignoredFields = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Keys of the body that are not fields of the template",
    )


class CampaignApiLeadResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The lead's position in the body, from 0")
    code = serializers.IntegerField()
    message = serializers.CharField()
    leadId = serializers.IntegerField(required=False, help_text="When inserted (code 0)")


class CampaignApiImportSummarySerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="0 whenever the call's parameters were valid")
    message = serializers.CharField(
        help_text="The vendor's import summary: 'Imported <i> Updated <u> Rejected <r> "
        "leads.\\n\\nErrors (If any):\\n <keys>,Error Reason,\\n<rejected rows>OK'"
    )
    imported = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Always 0: an insert never updates")
    rejected = serializers.IntegerField()
    results = CampaignApiLeadResultSerializer(many=True, help_text="One per lead, in order")


class CampaignApiEntitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CampaignApiEntityListSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["CampaignTemplate", "Campaign", "Allocation", "Disposition", "Field"]
    )
    code = serializers.IntegerField(help_text="0")
    message = serializers.CharField(help_text="OK")
    entities = CampaignApiEntitySerializer(
        many=True, help_text="Ordered by id (getFieldList: in the template's order)"
    )


FIELD_DEFN_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "One Zapier dynamic field per template field, in the template's order",
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["unicode"]},
            "key": {"type": "string", "description": "The field's name"},
            "required": {"type": "boolean", "enum": [False]},
            "label": {"type": "string", "description": "The field's name"},
            "help_text": {"type": "string", "description": "The field's name"},
        },
    },
}


class CampaignApiCallRecordListSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="'CallRecord'")
    code = serializers.IntegerField(help_text="0")
    message = serializers.CharField(help_text="OK")
    more = serializers.BooleanField(help_text="Whether records past this page remain")
    entities = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Newest first. Each: njLeadId, njExternalLeadId, njCallDate (yyyy/MM/dd "
        "HH:mm:ss in the lead's Contact Hours zone), njDisposition, njCallDuration (seconds), "
        "njDialAttempts (this call's number among the lead's calls), njDialedNumber, "
        "njUniqueCallId, njAgent, njCampaignName, njAllocationName and the lead's fields; "
        "every value a string",
    )


LEAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A lead: the template's field names with their values (string, number, "
    "boolean or null; an object or array is code 150), and the system fields. Keys that are "
    "no field of the template are ignored and listed back in ignoredFields.",
    "properties": {
        "njExternalLeadId": {
            "type": "string",
            "description": "The caller's reference, "
            "unique in the campaign; required by the updates",
        },
        "njCallBackDate": {
            "type": "string",
            "example": "2027/01/16 14:30",
            "description": "yyyy/MM/dd HH:mm in the lead's Contact Hours zone",
        },
        "njPriority": {
            "oneOf": [{"type": "integer", "minimum": 0, "maximum": 100}, {"type": "string"}],
            "description": "0-100, lower is dialed first (default 10)",
        },
        "njContactHours": {"type": "string", "description": "A Contact Hours name"},
        "njDisposition": {
            "type": "string",
            "description": "Updates: a disposition's name; its actions run",
        },
        "njVersion": {
            "type": "integer",
            "description": "Updates: the version last seen (else 110)",
        },
    },
    "additionalProperties": {
        "nullable": True,
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    },
}
LEADS_SCHEMA = {"type": "array", "items": LEAD_SCHEMA}

API_KEY_PARAMETER = OpenApiParameter(
    "apiKey",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="The API key (or send it in the X-Api-Key header)",
)


def _id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        required=True,
        description=f"The {what}'s id",
    )


IDS = [
    _id("fTemplateId", "template"),
    _id("fCampaignId", "campaign"),
    _id("fAllocationId", "allocation"),
]
ALLOW_DUPLICATES = OpenApiParameter(
    "allowDuplicates",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="'true' (any case) turns the duplicate-phone check off",
)
EXTERNAL_ID = OpenApiParameter(
    "njExternalLeadId",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="The lead's external id (updateLead: first; updateLeadFast: if the body has none)",
)
IDEMPOTENCY = [
    OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="Makes a retry safe: the same call sent again with this key is answered "
        "as the first time (Idempotent-Replayed: true) and writes nothing. 1-255 printable "
        "ASCII characters, e.g. a UUID per lead; kept 24 h",
    ),
    OpenApiParameter(
        "idempotencyKey",
        OpenApiTypes.STR,
        description="The Idempotency-Key, for clients that cannot set headers",
    ),
]
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The version the lead must still be at (else 110)",
)


def _codes_text(codes: Sequence[Code]) -> str:
    return "\n".join(f"- `{int(c)}` {c.message}: {c.when}" for c in codes)


def campaign_api_schema(
    *,
    summary: str,
    success: Any,
    codes: Sequence[Code],
    parameters: Sequence[OpenApiParameter] = (),
    body: Any = None,
    summary_codes: Sequence[Code] = (),
) -> Callable[[Any], Any]:
    """The schema of one call: ``codes`` are those it answers as the envelope (grouped here by
    HTTP status); ``summary_codes`` those its import summary can list per lead."""
    by_status: dict[int, list[Code]] = {}
    for code in dict.fromkeys((*codes, *_EVERY_CALL)):  # each once, in order
        by_status.setdefault(code.http_status, []).append(code)
    success_text = "Done:\n" + _codes_text((Code.OK,))
    if summary_codes:
        success_text = (
            "The import summary, also when leads were rejected; per lead:\n"
            + _codes_text((Code.OK, *summary_codes))
        )
    responses: dict[int, Any] = {200: OpenApiResponse(success, description=success_text)}
    for status, status_codes in sorted(by_status.items()):
        responses[status] = OpenApiResponse(
            CampaignApiAnswerSerializer, description=_codes_text(status_codes)
        )
    return extend_schema(
        summary=summary,
        tags=["CampaignAPI"],
        parameters=[API_KEY_PARAMETER, *parameters],
        request={"application/json": body} if body is not None else None,
        responses=responses,
        auth=[{"apiKeyQuery": []}, {"apiKeyHeader": []}],  # type: ignore[list-item]
    )


def insert_schema(summary: str) -> Callable[[Any], Any]:
    return campaign_api_schema(
        summary=summary,
        success=CampaignApiAnswerSerializer,
        codes=INSERT_CODES,
        parameters=[*IDS, ALLOW_DUPLICATES, *IDEMPOTENCY],
        body=LEAD_SCHEMA,
    )


def summary_insert_schema(summary: str, *, batch: bool) -> Callable[[Any], Any]:
    return campaign_api_schema(
        summary=summary,
        success=CampaignApiImportSummarySerializer,
        codes=BATCH_CODES,
        summary_codes=LEAD_CODES,
        parameters=[*IDS, ALLOW_DUPLICATES, *IDEMPOTENCY],
        body=LEADS_SCHEMA if batch else LEAD_SCHEMA,
    )


def update_schema(summary: str) -> Callable[[Any], Any]:
    return campaign_api_schema(
        summary=summary,
        success=CampaignApiAnswerSerializer,
        codes=UPDATE_CODES,
        parameters=[*IDS, EXTERNAL_ID, IF_MATCH, *IDEMPOTENCY],
        body=LEAD_SCHEMA,
    )


class CampaignApiSchema(AutoSchema):
    """Operation ids are the vendor's method names (``insertLeadsFast``), so a generated
    client's functions are named as Noojee's documentation names the calls; the POST form of
    a read call gets ``Post`` after it."""

    def get_operation_id(self) -> str:
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        both = hasattr(self.view, "get") and hasattr(self.view, "post")
        return f"{name}Post" if both and self.method == "POST" else name


SCALAR_SCHEMA: dict[str, Any] = {
    "nullable": True,
    "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
}


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": SCALAR_SCHEMA,
        "description": "The template's fields with the lead's values",
    }
)
class LeadFieldsField(serializers.DictField):
    """A lead's template field values, read-only (as stored: string, number, bool or null)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.JSONField(), read_only=True, **kwargs)
