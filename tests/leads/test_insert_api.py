"""The insert calls, exact to campaignapi.md §4-§5: every code with its body and status, and the
rows that exist afterwards."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client, override_settings

from campaigner.models import ContactHours
from leads.models import DncEntry, Lead, LeadPhone, PhonePattern
from tests.campaignapi import BASE, GLOBAL_KEY, Api, make_api
from tests.factories import AllocationFactory, ApiKeyFactory, CampaignFactory, TemplateFactory
from tests.snapshot import database_rows

# The CampaignAPI's write calls refuse to start inside a transaction (``run_limited``), so the
# test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

JANE = {"Name": "Jane Smith", "FirstPhone": "0383218199"}


def data_rows() -> dict[str, Any]:
    """Every row but the API keys, whose last use is recorded even when a call is refused."""
    return database_rows(exclude=frozenset({"campaigner_apikey"}))


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def without_detail(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("detail", "ignoredFields")}


# --- success and the rows it leaves -------------------------------------------------------


def test_insert_lead_fast_stores_the_lead(api: Api) -> None:
    response = api.post(
        "insertLeadFast",
        {**JANE, "SecondPhone": "(03) 9000-1234", "City": "Abbotsford", "Unknown": "x",
         "njExternalLeadId": 9856, "njPriority": "5", "njDisposition": "Sale"},
    )  # fmt: skip

    assert response.status_code == 200
    lead = Lead.objects.get()
    assert response.json() == {
        "code": 0, "message": "OK", "leadId": lead.pk, "version": 1,
        "ignoredFields": ["Unknown", "njDisposition"],
    }  # fmt: skip
    assert lead.fields == {
        "Name": "Jane Smith", "FirstPhone": "0383218199", "SecondPhone": "(03) 9000-1234",
        "City": "Abbotsford",
    }  # fmt: skip
    assert lead.external_id == "9856"
    assert lead.priority == 5
    assert lead.callback_at is None
    assert lead.disposition is None
    assert lead.version == 1
    assert lead.allocation == api.allocation and lead.campaign == api.campaign
    assert lead.contact_hours == api.template.contact_hours
    assert sorted(lead.phones.values_list("field_name", "number", "blocked")) == [
        ("FirstPhone", "+61383218199", False), ("SecondPhone", "+61390001234", False),
    ]  # fmt: skip


def test_a_one_element_array_is_tolerated(api: Api) -> None:
    response = api.post("insertLeadFast", [JANE])
    assert response.status_code == 200
    assert Lead.objects.count() == 1


def test_default_priority_is_10(api: Api) -> None:
    api.post("insertLeadFast", JANE)
    assert Lead.objects.get().priority == 10


def test_key_in_header_is_accepted_and_the_query_parameter_wins(api: Api) -> None:
    ok = api.post("insertLeadFast", JANE, apiKey=None, headers={"X-Api-Key": GLOBAL_KEY})
    assert ok.status_code == 200
    refused = api.post(
        "insertLeadFast", {"FirstPhone": "0383218111"}, apiKey="wrong",
        headers={"X-Api-Key": GLOBAL_KEY},
    )  # fmt: skip
    assert (refused.status_code, refused.json()) == (401, error(-1, "INVALID_API_KEY"))
    api.key.refresh_from_db()
    assert api.key.last_used_at is not None


def test_callback_date_is_read_in_the_leads_contact_hours(api: Api) -> None:
    ContactHours.objects.create(name="Perth", timezone="Australia/Perth")
    api.post("insertLeadFast", {**JANE, "njCallBackDate": "2026/07/01 09:00"})
    api.post(
        "insertLeadFast",
        {
            "FirstPhone": "0383218111",
            "njCallBackDate": "2026/07/01 09:00",
            "njContactHours": "Perth",
        },
    )
    melbourne, perth = Lead.objects.order_by("id")
    assert melbourne.callback_at == dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)  # UTC+10
    assert perth.callback_at == dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)  # UTC+8
    assert perth.contact_hours.name == "Perth"


def test_daylight_saving_is_applied_to_callback_dates(api: Api) -> None:
    api.post("insertLeadFast", {**JANE, "njCallBackDate": "2026/12/01 09:00"})
    assert Lead.objects.get().callback_at == dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)


# --- each code of insertLeadFast, exact body ----------------------------------------------


@pytest.mark.parametrize(
    ("lead", "code", "message"),
    [
        ({**JANE, "City": {"nested": 1}}, 150, "MALFORMED_REQUEST"),
        ({**JANE, "City": [1]}, 150, "MALFORMED_REQUEST"),
        ({**JANE, "City": "nul\u0000byte"}, 150, "MALFORMED_REQUEST"),
        ({**JANE, "City": "lone \ud800 surrogate"}, 150, "MALFORMED_REQUEST"),  # not UTF-8
        ({**JANE, "\udc00": "x"}, 150, "MALFORMED_REQUEST"),
        ({**JANE, "njExternalLeadId": "x" * 256}, 150, "MALFORMED_REQUEST"),
        ({"njExternalLeadId": "x" * 256, "City": "<No Change>"}, 150, "MALFORMED_REQUEST"),
        ({**JANE, "SecondPhone": "<No Change>"}, 108, "IMPORT_BUT_NOCHANGE_SPECIFIED"),
        ({**JANE, "City": "  <NO CHANGE> "}, 108, "IMPORT_BUT_NOCHANGE_SPECIFIED"),
        ({**JANE, "njCallBackDate": "2026-07-01 09:00"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njCallBackDate": "2026/02/30 09:00"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njCallBackDate": "2026/07/01 24:00"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njCallBackDate": "2026/7/1 09:00"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njCallBackDate": "2026/07/01 9:00 pm"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njCallBackDate": 20260701}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        # 02:30 on the first Sunday of October does not exist in Melbourne.
        ({**JANE, "njCallBackDate": "2026/10/04 02:30"}, 114, "INVALID_CALLBACK_DATE_FORMAT"),
        ({**JANE, "njContactHours": "Nowhere"}, 111, "INVALID_TIMEZONE_SPECIFIED"),
        ({**JANE, "njPriority": 101}, 151, "INVALID_PRIORITY"),
        ({**JANE, "njPriority": -1}, 151, "INVALID_PRIORITY"),
        ({**JANE, "njPriority": "high"}, 151, "INVALID_PRIORITY"),
        ({**JANE, "njPriority": 5.5}, 151, "INVALID_PRIORITY"),
        ({**JANE, "njPriority": True}, 151, "INVALID_PRIORITY"),
        ({"Name": "No phone"}, 102, "NO_PHONE_FIELDS"),
        ({"Name": "Bad", "FirstPhone": "12345"}, 102, "NO_PHONE_FIELDS"),
        ({"Name": "Bad", "FirstPhone": "call me", "SecondPhone": ""}, 102, "NO_PHONE_FIELDS"),
        ({"Name": "Bad", "FirstPhone": "03 8321 81991234567"}, 102, "NO_PHONE_FIELDS"),
        ({"Name": "Not a phone field", "City": "0383218199"}, 102, "NO_PHONE_FIELDS"),
    ],
)
def test_a_rejected_lead_gets_its_code_and_writes_nothing(
    api: Api, lead: dict[str, Any], code: int, message: str
) -> None:
    before = data_rows()
    response = api.post("insertLeadFast", lead)

    assert response.status_code == 400
    assert without_detail(response.json()) == error(code, message)
    assert "ignoredFields" in response.json()
    assert data_rows() == before


def test_taken_external_id_is_112(api: Api) -> None:
    api.post("insertLeadFast", {**JANE, "njExternalLeadId": "A1"})
    response = api.post("insertLeadFast", {"FirstPhone": "0383218111", "njExternalLeadId": "A1"})
    assert (response.status_code, without_detail(response.json())) == (
        400, error(112, "DUPLICATE_EXTERNAL_ID"),
    )  # fmt: skip
    # Another campaign is another scope.
    other = AllocationFactory(campaign=CampaignFactory(template=api.template))
    ok = api.post(
        "insertLeadFast", {"FirstPhone": "0383218111", "njExternalLeadId": "A1"},
        fCampaignId=other.campaign.pk, fAllocationId=other.pk,
    )  # fmt: skip
    assert ok.status_code == 200


def test_dnc_is_104_when_every_number_is_blocked(api: Api) -> None:
    DncEntry.objects.create(number="+61383218199")
    DncEntry.objects.create(number="+61390001234")
    response = api.post("insertLeadFast", {**JANE, "SecondPhone": "03 9000 1234"})
    assert (response.status_code, without_detail(response.json())) == (400, error(104, "DNC"))
    assert not Lead.objects.exists()


def test_partial_dnc_is_accepted_with_the_number_blocked(api: Api) -> None:
    DncEntry.objects.create(number="+61383218199")
    response = api.post("insertLeadFast", {**JANE, "SecondPhone": "03 9000 1234"})
    assert response.status_code == 200
    assert sorted(LeadPhone.objects.values_list("number", "blocked")) == [
        ("+61383218199", True), ("+61390001234", False),
    ]  # fmt: skip


def test_expired_dnc_entries_do_not_block(api: Api) -> None:
    DncEntry.objects.create(number="+61383218199", expires_on=dt.date(2020, 1, 1))
    DncEntry.objects.create(number="+61390001234", expires_on=dt.date(2999, 1, 1))
    assert api.post("insertLeadFast", JANE).status_code == 200
    blocked = api.post("insertLeadFast", {"FirstPhone": "0390001234"})
    assert blocked.json()["code"] == 104


def test_phone_variants_are_duplicates(api: Api) -> None:
    assert api.post("insertLeadFast", {"FirstPhone": "03 8321 8199"}).status_code == 200
    for variant in ("0383218199", "03-8321-8199", "(03) 8321.8199"):
        response = api.post("insertLeadFast", {"FirstPhone": variant})
        assert (response.status_code, without_detail(response.json())) == (
            400, error(105, "DUPLICATE"),
        ), variant  # fmt: skip
    # A number of a closed lead still counts, and so does a second phone field.
    Lead.objects.update(closed=True)
    response = api.post("insertLeadFast", {"FirstPhone": "0399999999", "SecondPhone": "0383218199"})
    assert response.json()["code"] == 105
    assert Lead.objects.count() == 1


# The same number in Arabic-Indic and fullwidth digits: the number the DNC list holds.
OTHER_SCRIPTS = ["٠٣٨٣٢١٨١٩٩", "０３ ８３２１ ８１９９"]


@pytest.mark.parametrize("typed", OTHER_SCRIPTS)
def test_digits_of_another_script_are_checked_against_dnc(api: Api, typed: str) -> None:
    DncEntry.objects.create(number="+61383218199")
    response = api.post("insertLeadFast", {"FirstPhone": typed})
    assert (response.status_code, response.json()["code"]) == (400, 104)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("typed", OTHER_SCRIPTS)
def test_digits_of_another_script_are_the_same_number_for_duplicates(api: Api, typed: str) -> None:
    assert api.post("insertLeadFast", {"FirstPhone": "03 8321 8199"}).status_code == 200
    assert api.post("insertLeadFast", {"FirstPhone": typed}).json()["code"] == 105
    body = api.post("insertLeadsFast", [{"FirstPhone": typed}, {"FirstPhone": "0383218199"}])
    assert [r["code"] for r in body.json()["results"]] == [105, 105]
    assert list(LeadPhone.objects.values_list("number", flat=True)) == ["+61383218199"]


@pytest.mark.parametrize("flag", ["true", "TRUE", "True"])
def test_allow_duplicates_true_in_any_case_skips_the_duplicate_check(api: Api, flag: str) -> None:
    api.post("insertLeadFast", JANE)
    assert api.post("insertLeadFast", JANE, allowDuplicates=flag).status_code == 200
    assert Lead.objects.count() == 2


@pytest.mark.parametrize("flag", ["yes", "1", "false", ""])
def test_allow_duplicates_anything_else_keeps_the_check(api: Api, flag: str) -> None:
    api.post("insertLeadFast", JANE)
    assert api.post("insertLeadFast", JANE, allowDuplicates=flag).json()["code"] == 105


def test_phone_pattern_rules_rewrite_before_checks(api: Api) -> None:
    PhonePattern.objects.create(name="AU", pattern=r"^\+61(\d{9})$", replacement=r"0\1")
    api.post("insertLeadFast", {"FirstPhone": "+61 3 8321 8199"})
    assert LeadPhone.objects.get().number == "+61383218199"
    assert api.post("insertLeadFast", JANE).json()["code"] == 105


def test_check_order_of_one_lead(api: Api) -> None:
    """§4.3: the first failing check wins."""
    DncEntry.objects.create(number="+61383218199")
    api.post("insertLeadFast", {"FirstPhone": "0390000000", "njExternalLeadId": "taken"})
    steps: list[tuple[dict[str, Any], int]] = [
        ({"PostCode": {}}, 150),
        ({"City": "<No Change>"}, 108),
        ({"njCallBackDate": "tomorrow"}, 114),
        ({"njContactHours": "Nowhere"}, 111),
        ({"njPriority": 500}, 151),
        ({"FirstPhone": "x"}, 102),
        ({"njExternalLeadId": "taken"}, 112),
        ({}, 104),
    ]
    for i in range(len(steps)):
        lead: dict[str, Any] = {"FirstPhone": "0383218199"}
        for patch, _ in steps[i:]:
            lead.update(patch)
        assert api.post("insertLeadFast", lead).json()["code"] == steps[i][1], steps[i]
    # DNC (104) comes before duplicates (105).
    lead_with_dup_and_dnc = {"FirstPhone": "0383218199", "SecondPhone": "0390000000"}
    assert api.post("insertLeadFast", lead_with_dup_and_dnc).json()["code"] == 105
    DncEntry.objects.create(number="+61390000000")
    assert api.post("insertLeadFast", lead_with_dup_and_dnc).json()["code"] == 104


# --- call-level codes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        ({"apiKey": None}, 401, error(-1, "INVALID_API_KEY")),
        ({"apiKey": "nope"}, 401, error(-1, "INVALID_API_KEY")),
        ({"fTemplateId": None}, 400, error(116, "TEMPLATE_ID_REQUIRED")),
        ({"fTemplateId": "abc"}, 400, error(116, "TEMPLATE_ID_REQUIRED")),
        ({"fTemplateId": "-3"}, 400, error(116, "TEMPLATE_ID_REQUIRED")),
        ({"fTemplateId": 999999}, 400, error(116, "TEMPLATE_ID_REQUIRED")),
        ({"fCampaignId": None}, 400, error(117, "CAMPAIGN_ID_REQUIRED")),
        ({"fCampaignId": "1e3"}, 400, error(117, "CAMPAIGN_ID_REQUIRED")),
        ({"fCampaignId": 999999}, 400, error(117, "CAMPAIGN_ID_REQUIRED")),
        ({"fAllocationId": None}, 400, error(115, "ALLOCATION_ID_REQUIRED")),
        ({"fAllocationId": ""}, 400, error(115, "ALLOCATION_ID_REQUIRED")),
        ({"fAllocationId": 999999}, 400, error(115, "ALLOCATION_ID_REQUIRED")),
    ],
)
@pytest.mark.parametrize(
    "method", ["insertLeadFast", "insertLeadsFast", "insertLead", "insertLeads"]
)
def test_call_level_errors(
    api: Api, method: str, params: dict[str, Any], status: int, body: dict[str, Any]
) -> None:
    response = api.post(method, [JANE], **params)
    assert response.status_code == status
    assert without_detail(response.json()) == body
    assert not Lead.objects.exists()


def test_ids_must_belong_together(api: Api) -> None:
    other_template = TemplateFactory()
    other_campaign = CampaignFactory(template=api.template)
    other_allocation = AllocationFactory(campaign=other_campaign)
    cases = [
        ({"fTemplateId": other_template.pk}, 117),  # campaign not of this template
        ({"fAllocationId": other_allocation.pk}, 115),  # allocation of another campaign
    ]
    for params, code in cases:
        assert api.post("insertLeadFast", JANE, **params).json()["code"] == code


def test_a_revoked_key_is_refused(api: Api) -> None:
    api.key.revoked = True
    api.key.save()
    response = api.post("insertLeadFast", JANE)
    assert (response.status_code, response.json()) == (401, error(-1, "INVALID_API_KEY"))


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("insertLeadFast", "not json"),
        ("insertLeadFast", "[]"),
        ("insertLeadFast", "[{}, {}]"),
        ("insertLeadFast", "42"),
        ("insertLeadFast", '{"FirstPhone": NaN}'),
        ("insertLeadsFast", '{"FirstPhone": "0383218199"}'),
        ("insertLeadsFast", '[{"FirstPhone": "0383218199"}, 7]'),
        ("insertLeadsFast", '[{"FirstPhone": "0383218199"}'),
        ("insertLeadsFast", ""),
        ("insertLeads", "null"),
        ("insertLead", "[1]"),
    ],
)
def test_malformed_bodies_are_150(api: Api, method: str, body: str) -> None:
    response = api.post(method, body, raw=True)
    assert response.status_code == 400
    assert without_detail(response.json()) == error(150, "MALFORMED_REQUEST")
    assert not Lead.objects.exists()


@override_settings(CAMPAIGNAPI_MAX_BODY_MB=1)
def test_an_oversized_body_is_413_before_it_is_parsed(api: Api) -> None:
    big = "[" + ",".join(['{"Name": "' + "x" * 1000 + '"}'] * 1100) + "]"
    assert len(big) > 2**20
    response = api.post("insertLeadsFast", big, raw=True)
    assert response.status_code == 413
    assert without_detail(response.json()) == error(152, "PAYLOAD_TOO_LARGE")
    # Size is checked before shape: oversized garbage is still 152.
    assert api.post("insertLeadsFast", "x" * (2**20 + 1), raw=True).json()["code"] == 152
    # Exactly at the limit is allowed through to the shape check.
    assert api.post("insertLeadsFast", " " * (2**20 - 2) + "[]", raw=True).status_code == 200


def test_ids_are_checked_before_the_body(api: Api) -> None:
    response = api.post("insertLeadFast", "garbage", raw=True, fTemplateId="x")
    assert response.json()["code"] == 116
    response = api.post("insertLeadFast", "garbage", raw=True, apiKey="nope", fTemplateId="x")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "number",
    [
        123456789012345678901234567890,
        9223372036854775807,  # the largest signed 64-bit integer
        -9223372036854775809,  # one below the smallest
        18446744073709551616,  # one above the largest unsigned 64-bit integer
    ],
)
def test_integers_beyond_64_bits_are_valid_json_and_kept_exactly(api: Api, number: int) -> None:
    body = f'[{{"FirstPhone": "0383218199", "PostCode": {number}}}]'
    response = api.post("insertLeadsFast", body, raw=True)
    assert response.status_code == 200
    stored = Lead.objects.get().fields["PostCode"]
    assert stored == number
    assert type(stored) is int


def test_unknown_and_miscased_methods_are_404(api: Api) -> None:
    # A client that sends no CSRF token, as every API client: the contract's 404, not
    # Django's HTML 403 page. (The vendor's own page has the typo insertLeadsinsertLeadFast.)
    api.client = Client(enforce_csrf_checks=True)
    for method in ("insertLeadsSlow", "insertleadfast", "InsertLeadFast",
                   "insertLeadsinsertLeadFast", "insertLeadFast%00"):  # fmt: skip
        response = api.post(method, JANE)
        assert response.status_code == 404, method
        body = response.json()
        assert (body["code"], body["message"]) == (404, "UNKNOWN_METHOD"), method
    assert not Lead.objects.exists()


@pytest.mark.parametrize("verb", ["options", "put", "patch", "delete"])
def test_other_http_methods_are_405_in_the_envelope(api: Api, verb: str) -> None:
    query = "&".join(f"{k}={v}" for k, v in api.ids().items())
    for method in ("insertLeadFast", "getCampaignTemplateList"):
        response = getattr(api.client, verb)(f"{BASE}{method}?{query}")
        assert response.status_code == 405, method
        assert response.json()["code"] == 150, method
    assert not Lead.objects.exists()


def test_get_on_an_insert_call_is_refused(api: Api) -> None:
    response = api.client.get(f"{BASE}insertLeadFast", api.ids())
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"


def test_an_unexpected_failure_is_500_code_103_json(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("leads.services.lead_insert._classify", explode)
    response = api.post("insertLeadFast", JANE)
    assert response.status_code == 500
    assert response.json() == error(103, "EXCEPTION")
    assert b"secret internals" not in response.content


# --- multi-lead calls -----------------------------------------------------------------------

SEED_BATCH = (
    '[{"Name":"Jane Smith","StreetAddress":"Suite 8/10 Hoddle St", "City": "Abbotsford", '
    '"State":"Vic", "PostCode":"3064", "FirstPhone":"0383218199"} , {"Name":"John Smith",'
    '"StreetAddress":"Suite 9/10 Main St", "City": "Yarravile", "State":"Vic", "PostCode":"3000",'
    ' "FirstPhone":"0383218100"}]'
)


def test_the_vendor_sample_batch_succeeds_verbatim(api: Api) -> None:
    response = api.post("insertLeadsFast", SEED_BATCH, raw=True, allowDuplicates="true")

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0
    assert body["message"] == (
        "Imported 2 Updated 0 Rejected 0 leads.\n\nErrors (If any):\n"
        " Name,StreetAddress,City,State,PostCode,FirstPhone,Error Reason,\nOK"
    )
    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))
    assert body["imported"] == 2 and body["rejected"] == 0 and body["updated"] == 0
    assert body["results"] == [
        {"index": 0, "code": 0, "message": "OK", "leadId": ids[0]},
        {"index": 1, "code": 0, "message": "OK", "leadId": ids[1]},
    ]


def test_the_vendor_single_lead_sample_succeeds_verbatim(api: Api) -> None:
    body = (
        '{"Name":"Jane Smith","StreetAddress":"Suite 8/10 Hoddle St", "City": "Abbotsford" , '
        '"State":"Vic", "PostCode":"3064", "FirstPhone":"0383218199"}'
    )
    response = api.post("insertLeadFast", body, raw=True)
    assert response.status_code == 200
    assert response.json()["code"] == 0


def test_an_empty_batch(api: Api) -> None:
    body = api.post("insertLeadsFast", []).json()
    assert body["message"] == (
        "Imported 0 Updated 0 Rejected 0 leads.\n\nErrors (If any):\n Error Reason,\nOK"
    )
    assert body["results"] == []


def test_a_mixed_batch_gives_the_exact_summary(api: Api) -> None:
    DncEntry.objects.create(number="+61390000001")
    api.post("insertLeadFast", {"FirstPhone": "0390000002", "njExternalLeadId": "old"})
    batch = [
        {"Name": "Ann", "FirstPhone": "0383218101", "njExternalLeadId": "a"},
        {"Name": "Bob, Jr", "FirstPhone": "0390000001", "njExternalLeadId": "b"},  # DNC
        {"Name": 'Cat "C"', "FirstPhone": "03 8321 8101", "Extra": True},  # dup of Ann
        {"Name": "Dan\nDee", "FirstPhone": "0383218104", "njExternalLeadId": "a"},  # dup ext id
        {"FirstPhone": "12", "PostCode": 3064, "njPriority": None},  # unusable number
        {"Name": "Eve", "FirstPhone": "0383218105", "njExternalLeadId": "b"},  # b was rejected
        {"Name": "Fay", "FirstPhone": "0390000002"},  # dup of the existing lead
        {"Name": "Gus", "SecondPhone": "0383218107", "njPriority": 7.0},
        {"Name": "Hal", "FirstPhone": "0383218108", "njCallBackDate": "2026/13/01 10:00"},
        {"Name": "Ivy", "FirstPhone": "0383218109", "njExternalLeadId": "old"},
    ]
    response = api.post("insertLeadsFast", batch)

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == (
        "Imported 3 Updated 0 Rejected 7 leads.\n\nErrors (If any):\n"
        " Name,FirstPhone,njExternalLeadId,Extra,PostCode,njPriority,SecondPhone,njCallBackDate,"
        "Error Reason,\n"
        '"Bob, Jr",0390000001,b,,,,,,DNC,\n'
        '"Cat ""C""",03 8321 8101,,true,,,,,DUPLICATE,\n'
        '"Dan\nDee",0383218104,a,,,,,,DUPLICATE_EXTERNAL_ID,\n'
        ",12,,,3064,,,,NO_PHONE_FIELDS,\n"
        "Fay,0390000002,,,,,,,DUPLICATE,\n"
        "Hal,0383218108,,,,,,2026/13/01 10:00,INVALID_CALLBACK_DATE_FORMAT,\n"
        "Ivy,0383218109,old,,,,,,DUPLICATE_EXTERNAL_ID,\n"
        "OK"
    )
    assert [r["code"] for r in body["results"]] == [0, 104, 105, 112, 102, 0, 105, 0, 114, 112]
    assert (body["imported"], body["updated"], body["rejected"]) == (3, 0, 7)
    inserted = {r["index"]: r["leadId"] for r in body["results"] if r["code"] == 0}
    assert set(inserted) == {0, 5, 7}
    stored = {lead.pk: lead for lead in Lead.objects.filter(pk__in=inserted.values())}
    assert stored[inserted[0]].fields == {"Name": "Ann", "FirstPhone": "0383218101"}
    assert stored[inserted[5]].external_id == "b"
    assert stored[inserted[7]].priority == 7
    assert Lead.objects.count() == 4


def test_in_batch_duplicates_with_allow_duplicates(api: Api) -> None:
    batch = [
        {"FirstPhone": "0383218101", "njExternalLeadId": "x"},
        {"FirstPhone": "0383218101", "njExternalLeadId": "x"},
        {"FirstPhone": "0383218101"},
    ]
    codes = [
        r["code"]
        for r in api.post("insertLeadsFast", batch, allowDuplicates="true").json()["results"]
    ]
    assert codes == [0, 112, 0]


def test_a_malformed_value_rejects_only_its_lead_in_a_batch(api: Api) -> None:
    batch = [{"FirstPhone": "0383218101", "City": {"a": 1}}, {"FirstPhone": "0383218102"}]
    body = api.post("insertLeads", batch).json()
    assert [r["code"] for r in body["results"]] == [150, 0]
    assert body["message"].endswith('\n0383218101,"{""a"":1}",MALFORMED_REQUEST,\nOK')


def test_deprecated_insert_lead_answers_with_a_summary(api: Api) -> None:
    ok = api.post("insertLead", JANE)
    assert ok.status_code == 200
    header = "Errors (If any):\n Name,FirstPhone,Error Reason,\n"
    assert ok.json()["message"] == f"Imported 1 Updated 0 Rejected 0 leads.\n\n{header}OK"
    duplicate = api.post("insertLead", JANE)
    assert duplicate.status_code == 200
    assert duplicate.json()["code"] == 0
    assert duplicate.json()["message"] == (
        f"Imported 0 Updated 0 Rejected 1 leads.\n\n{header}Jane Smith,0383218199,DUPLICATE,\nOK"
    )


def test_inserting_into_a_stopped_allocation_of_an_inactive_campaign_is_allowed(api: Api) -> None:
    api.campaign.active = False
    api.campaign.save()
    api.allocation.started = False
    api.allocation.save()
    assert api.post("insertLeadFast", JANE).status_code == 200


# --- team keys ------------------------------------------------------------------------------


def test_a_team_key_cannot_see_or_write_outside_its_teams(api: Api) -> None:
    from django.contrib.auth.models import Group

    sales = Group.objects.create(name="Sales")
    ApiKeyFactory(name="sales", plain="sales-key-000000000000000", team=sales)
    # The template is not assigned to Sales: to the team key it does not exist.
    response = api.post("insertLeadFast", JANE, apiKey="sales-key-000000000000000")
    assert without_detail(response.json()) == error(116, "TEMPLATE_ID_REQUIRED")
    assert not Lead.objects.exists()

    api.template.teams.add(sales)
    assert api.post("insertLeadFast", JANE, apiKey="sales-key-000000000000000").status_code == 200


@override_settings(CAMPAIGNAPI_MAX_BODY_MB=1)
def test_a_chunked_body_without_content_length_is_read_within_the_limit(api: Api) -> None:
    import io

    from django.test import RequestFactory

    from campaigner.api.base import body_read, json_parse
    from campaigner.contract import CampaignApiError

    def chunked(body: bytes) -> Any:
        request = RequestFactory().post("/", data=b"", content_type="application/json")
        request.META.pop("CONTENT_LENGTH", None)
        request.META["wsgi.input"] = io.BytesIO(body)
        request.META["wsgi.input_terminated"] = True
        return request

    body = body_read(chunked(b'[{"FirstPhone": "0383218199"}]'))
    assert json_parse(body) == [{"FirstPhone": "0383218199"}]
    with pytest.raises(CampaignApiError) as raised:
        body_read(chunked(b"[" + b" " * 2**20 + b"]"))
    assert raised.value.code == 152
