"""The CampaignAPI calls that reach leads: the lead write calls (campaignapi.md §4), thin
interfaces over ``lead_insert_batch`` and ``lead_update``, and the call record list (§3).

Order of checks for a call (§4): API key → template, campaign, allocation ids → body size →
body shape → the rate-limit queue (``run_limited``) → the leads. Single-lead calls answer
with the lead's own code; the multi-lead calls (and the deprecated ``insertLead``) answer 200
with the vendor's import summary.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from campaigner.api.auth import (
    allocation_get,
    allocation_of_call,
    api_key_authenticate,
    campaign_get,
    parse_id,
    template_get,
)
from campaigner.api.base import CampaignApiView, body_read, json_parse
from campaigner.api.campaignapi_schema import (
    CampaignApiCallRecordListSerializer,
    campaign_api_schema,
    insert_schema,
    summary_insert_schema,
    update_schema,
)
from campaigner.api.errors import error_response
from campaigner.api.idempotent import Keep, answer_once, campaignapi_call
from campaigner.api.views import call_param, list_envelope
from campaigner.contract import CampaignApiError, Code, envelope
from campaigner.memory import cyclic_gc_paused
from campaigner.ratelimit import run_limited
from leads import lead_input
from leads.models import CallRecord, Door
from leads.services.calls import noojee_payload, payload_lead
from leads.services.lead_insert import (
    CallTarget,
    LeadOutcome,
    NewOrigin,
    ignored_fields,
    lead_insert_batch,
)
from leads.services.lead_update import (
    UpdateResult,
    lead_update,
    update_ignored_fields,
    version_parse,
)
from leads.summary import import_summary


def _insert_once(
    request: Request,
    target: CallTarget,
    leads: list[dict[str, Any]],
    body: bytes,
    *,
    bulk: bool,
    answer: Callable[[list[LeadOutcome]], Response],
) -> Response:
    """Insert ``leads`` under the rate limit and answer ``answer(outcomes)``, once per
    ``Idempotency-Key`` (``campaigner.api.idempotent``). The answer is made as soon as every
    outcome is known (a large batch's last chunks are still being written), and a keyed call
    keeps it in the batch's transaction."""
    allow_duplicates = _allow_duplicates(request)
    # The leads' origin: this call (the path's last part, e.g. insertLeadsFast) with the key.
    origin = NewOrigin(Door.CAMPAIGN_API, target.key_name, request.path.rstrip("/").rsplit("/")[-1])

    def run(keep: Keep | None) -> Response:
        made: list[Response] = []
        run_limited(
            lambda: lead_insert_batch(
                target,
                leads,
                origin=origin,
                allow_duplicates=allow_duplicates,
                outcomes_known=lambda outcomes: made.append(answer(outcomes)),
                write_in_batch_transaction=(lambda _: keep(made[0])) if keep else None,
            ),
            bulk=bulk,
            campaign_id=target.campaign_id,
        )
        return made[0]

    return answer_once(campaignapi_call(request, target.key_id, body), run)


def _call_target(request: Request) -> CallTarget:
    """The caller's key checked, then the call's ids (one query when all are right)."""
    params = request.query_params
    return allocation_of_call(
        request, params.get("fTemplateId"), params.get("fCampaignId"), params.get("fAllocationId")
    )


def _allow_duplicates(request: Request) -> bool:
    return request.query_params.get("allowDuplicates", "").strip().lower() == "true"


def _one_lead(body: Any) -> dict[str, Any]:
    """One lead object; a one-element array holding one is tolerated [ref]."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        raise CampaignApiError(Code.MALFORMED_REQUEST, "the body must be one JSON lead object")
    return body


def _many_leads(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(lead, dict) for lead in body):
        raise CampaignApiError(Code.MALFORMED_REQUEST, "the body must be a JSON array of objects")
    return body


def _summary_response(leads: list[dict[str, Any]], outcomes: list[LeadOutcome]) -> Response:
    wire = {code: (int(code), code.message) for code in Code}  # looked up once, not per lead
    results: list[dict[str, Any]] = []
    append = results.append  # 100,000 entries for a large batch: each step here counts
    imported = 0
    for index, outcome in enumerate(outcomes):
        number, message = wire[outcome.code]
        if outcome.lead_id is None:
            append({"index": index, "code": number, "message": message})
        else:
            append({"index": index, "code": number, "message": message, "leadId": outcome.lead_id})
        imported += number == 0
    return Response(
        {
            "code": int(Code.OK),
            "message": import_summary(leads, outcomes),
            "imported": imported,
            "updated": 0,
            "rejected": len(results) - imported,
            "results": results,
        }
    )


@insert_schema("Insert one lead")
class InsertLeadFastApi(CampaignApiView):
    """``insertLeadFast``: one lead, its own code (200 or 400)."""

    rate_limited = True

    def post(self, request: Request) -> Response:
        target = _call_target(request)
        body = body_read(request)
        lead = _one_lead(json_parse(body))
        ignored = ignored_fields(target, lead)

        def answer(outcomes: list[LeadOutcome]) -> Response:
            outcome = outcomes[0]
            if outcome.code is not Code.OK:
                extra = {"ignoredFields": ignored}
                return error_response(CampaignApiError(outcome.code, outcome.detail, extra=extra))
            return Response(
                envelope(Code.OK, leadId=outcome.lead_id, version=1, ignoredFields=ignored)
            )

        return _insert_once(request, target, [lead], body, bulk=False, answer=answer)


class _SummaryInsertApi(CampaignApiView):
    rate_limited = True
    single: ClassVar[bool]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """The whole call, the answer's rendering included, with the cyclic collector paused
        (``campaigner.memory``): a large batch keeps a million objects alive meanwhile."""
        with cyclic_gc_paused():
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            return response

    def post(self, request: Request) -> Response:
        target = _call_target(request)
        body = body_read(request)
        parsed = json_parse(body)
        leads = [_one_lead(parsed)] if self.single else _many_leads(parsed)
        return _insert_once(
            request, target, leads, body, bulk=not self.single,
            answer=lambda outcomes: _summary_response(leads, outcomes),
        )  # fmt: skip


@summary_insert_schema("Insert a batch of leads", batch=True)
class InsertLeadsFastApi(_SummaryInsertApi):
    """``insertLeadsFast``: a JSON array of leads, the import summary."""

    single = False


@summary_insert_schema("Insert a batch of leads (deprecated)", batch=True)
class InsertLeadsApi(_SummaryInsertApi):
    """``insertLeads`` (deprecated): as ``insertLeadsFast``."""

    single = False


@summary_insert_schema(
    "Insert one lead, answered with the import summary (deprecated)", batch=False
)
class InsertLeadApi(_SummaryInsertApi):
    """``insertLead`` (deprecated): one lead, answered with the import summary."""

    single = True


class _UpdateApi(CampaignApiView):
    """An update (§4.6): one lead, its own code; success carries ``leadId`` and ``version``."""

    rate_limited = True

    url_id_first: ClassVar[bool]

    def post(self, request: Request) -> Response:
        target = _call_target(request)
        body = body_read(request)
        lead = _one_lead(json_parse(body))
        url_id = request.query_params.get(lead_input.EXTERNAL_ID)
        fallback = url_id
        if self.url_id_first and not lead_input.is_blank(url_id):
            lead, fallback = {**lead, lead_input.EXTERNAL_ID: url_id}, None
        ignored = update_ignored_fields(target, lead)

        def answer(result: UpdateResult) -> Response:
            return Response(
                envelope(
                    Code.OK, leadId=result.lead_id, version=result.version, ignoredFields=ignored
                )
            )

        def run(keep: Keep | None) -> Response:
            made: list[Response] = []

            def before_commit(result: UpdateResult) -> None:
                made.append(answer(result))
                if keep is not None:
                    keep(made[0])

            try:
                if_match = version_parse(request.headers.get("If-Match"))
                run_limited(
                    lambda: lead_update(
                        target, lead, external_id_fallback=fallback, if_match=if_match,
                        before_commit=before_commit,
                    ),
                    bulk=False,
                )  # fmt: skip
            except CampaignApiError as rejected:
                # A rejection of the lead lists the ignored keys; the queue's 109 is not about
                # it.
                if rejected.code is not Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS:
                    rejected.extra["ignoredFields"] = ignored
                raise
            return made[0]

        return answer_once(campaignapi_call(request, target.key_id, body), run)


@update_schema("Update a lead found by its external id")
class UpdateLeadFastApi(_UpdateApi):
    """``updateLeadFast``: the external id from the body, the URL parameter as a fallback."""

    url_id_first = False


@update_schema("Update a lead found by its external id (deprecated)")
class UpdateLeadApi(_UpdateApi):
    """``updateLead`` (deprecated): the external id from the URL parameter, the body's as a
    fallback."""

    url_id_first = True


# --- getCallRecordList (§3) ----------------------------------------------------------------------

RECORDS_PAGE = 500  # [ours] the default page; fLimit may ask for up to RECORDS_MAX_PAGE
RECORDS_MAX_PAGE = 5000
_RANGE_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


def _whole(request: Request, name: str, default: int, least: int, most: int) -> int:
    raw = call_param(request, name)
    if lead_input.is_blank(raw):
        return default
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) < 12 and least <= int(text) <= most):
        raise CampaignApiError(
            Code.MALFORMED_REQUEST, f"{name} must be a whole number {least}-{most}"
        )
    return int(text)


def _moment(request: Request, name: str, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    raw = call_param(request, name)
    if lead_input.is_blank(raw):
        return None
    for pattern in _RANGE_FORMATS:
        try:
            moment = dt.datetime.strptime(str(raw).strip(), pattern).replace(tzinfo=zone)
            moment.astimezone(dt.UTC)  # year 1 in a zone east of UTC is before year 1 in UTC
        except (ValueError, OverflowError):
            continue
        return moment
    raise CampaignApiError(
        Code.MALFORMED_REQUEST, f"{name} must be yyyy/MM/dd HH:mm or yyyy/MM/dd HH:mm:ss"
    )


def _disposition_ids(raw: str | None) -> list[int] | None:
    if lead_input.is_blank(raw):
        return None
    ids = [parse_id(part) for part in str(raw).split(",") if part.strip()]
    if not all(ids):
        raise CampaignApiError(
            Code.MALFORMED_REQUEST, "fDispositions must be disposition ids separated by commas"
        )
    return [i for i in ids if i is not None]


def _text(name: str, description: str, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(name, str, required=required, description=description)


_RECORD_CODES = (
    Code.TEMPLATE_ID_REQUIRED,
    Code.CAMPAIGN_ID_REQUIRED,
    Code.ALLOCATION_ID_REQUIRED,
    Code.MALFORMED_REQUEST,
)
_RECORD_PARAMETERS = [
    _text("fTemplateId", "The template's id", required=True),
    _text("fCampaignId", "The campaign's id (or campaignId)", required=True),
    _text("fAllocationId", "Only this allocation's calls (or allocationId)"),
    _text("fDispositions", "Disposition ids, comma separated (none: every disposition)"),
    _text("fStartDate", "Calls started from (yyyy/MM/dd HH:mm[:ss], the template's zone)"),
    _text("fEndDate", "Calls started before (yyyy/MM/dd HH:mm[:ss], the template's zone)"),
    _text("fLimit", f"Records per page, 1-{RECORDS_MAX_PAGE} (default {RECORDS_PAGE})"),
    _text("fOffset", "Records of the newest-first order to skip (default 0)"),
]


@campaign_api_schema(
    summary="The call records of a campaign with the given dispositions, newest first",
    success=CampaignApiCallRecordListSerializer,
    codes=(*_RECORD_CODES,),
    parameters=_RECORD_PARAMETERS,
)
class CallRecordListApi(CampaignApiView):
    """``getCallRecordList``: the key, the template (116), the campaign of the template (117,
    ``fCampaignId`` or ``campaignId``), optionally one of its allocations (115, ``fAllocationId``
    or ``allocationId``); then the filters: ``fDispositions`` (ids, comma separated; none: every
    disposition), ``fStartDate``/``fEndDate`` (``yyyy/MM/dd HH:mm[:ss]`` in the template's
    Contact Hours zone; the call's start, from inclusive, to exclusive), and the page: ``fLimit``
    records (500 by default, at most 5,000) after skipping ``fOffset``; ``more`` says whether
    records remain past it. [ours]: the range, the page and ``more``."""

    def get(self, request: Request) -> Response:
        key = api_key_authenticate(request)
        template = template_get(key, call_param(request, "fTemplateId"))
        campaign = campaign_get(key, call_param(request, "fCampaignId", "campaignId"), template)
        raw_allocation = call_param(request, "fAllocationId", "allocationId")
        records = CallRecord.objects.filter(campaign=campaign)
        if not lead_input.is_blank(raw_allocation):
            records = records.filter(allocation=allocation_get(campaign, raw_allocation))
        dispositions = _disposition_ids(call_param(request, "fDispositions"))
        if dispositions is not None:
            records = records.filter(disposition_id__in=dispositions)
        hours = campaign.template.contact_hours
        zone = lead_input.zone(hours.timezone if hours else None)
        start, end = _moment(request, "fStartDate", zone), _moment(request, "fEndDate", zone)
        if start is not None:
            records = records.filter(called_at__gte=start)
        if end is not None:
            records = records.filter(called_at__lt=end)
        limit = _whole(request, "fLimit", RECORDS_PAGE, 1, RECORDS_MAX_PAGE)
        offset = _whole(request, "fOffset", 0, 0, 10**9)
        page = list(
            records.select_related(
                "lead__contact_hours", "lead__campaign__template__contact_hours", "allocation",
                "disposition",
            ).order_by("-called_at", "-id")[offset : offset + limit + 1]
        )  # fmt: skip
        entities = [_record_entity(record) for record in page[:limit]]
        return Response(list_envelope("CallRecord", entities, more=len(page) > limit))

    post = get


def _record_entity(record: CallRecord) -> Any:
    allocation = record.allocation.name if record.allocation else ""
    about = payload_lead(record.lead, allocation)
    entity = noojee_payload(about, record.disposition.name, record.called_at, record)
    del entity["njAction"]
    entity["njAgent"] = record.agent
    return entity
