"""A property-based fuzz of the live server (hardening, #13): hostile CampaignAPI and dialer
requests from hypothesis against a real gunicorn. Never a 5xx; every CampaignAPI answer is the
JSON envelope; a refused request leaves the database exactly as it was."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.campaignapi import BASE, GLOBAL_KEY, SAMPLE_FIELDS, make_api
from tests.factories import ApiTokenFactory, DispositionFactory
from tests.live import gunicorn, raw_exchange

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "fuzz-token-00000000000000"
METHODS = [
    "insertLeadFast",
    "insertLeadsFast",
    "insertLead",
    "insertLeads",
    "updateLeadFast",
    "updateLead",
    "getCampaignTemplateList",
    "getCampaignList",
    "getAllocationList",
]
ODD_METHODS = ["InsertLeadFast", "x", "insertLeadFast%00", "insertLeadsinsertLeadFast"]
KEYS = [*SAMPLE_FIELDS, "njExternalLeadId", "njCallBackDate", "njPriority", "njContactHours",
        "njDisposition", "njVersion", "Extra"]  # fmt: skip

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "<No Change>", "<NO CHANGE>", "\x00", "\ud800", "٠٣٨٣٢١٨١٩٩",
                     "０３８３２１８１９９", "03 8321 8199", "+61383218199", "0001/01/01 00:00",
                     "9999/12/31 23:59", "2026/02/30 09:00", "2026/10/04 02:30", "Sale",
                     "Melbourne business", "1e400", "x" * 300]),
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 100, 101, -1, 10**19, 2**63]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)  # fmt: skip
leads = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=8)
bodies = st.one_of(
    leads.map(json.dumps),
    st.lists(leads, max_size=4).map(json.dumps),
    st.sampled_from(["", "[", "{}", "null", "[1]", '"x"', "[" * 1000 + "]" * 1000, "{" * 3000,
                     '{"Name": 1e400}', '{"Name": NaN}', "\xff\xfe"]),
    st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
)  # fmt: skip
# Most draws pass the doors (key, ids, verb), so that most of the run reaches the leads.
ids = st.one_of(st.sampled_from(["valid"] * 6 + ["", "0", "-1", "x", "١", "99999999999999999999"]),
                st.text(max_size=6))  # fmt: skip


def fingerprint() -> tuple[Any, ...]:
    """Every row a refused request must leave alone (keys' last use excepted)."""
    with connection.cursor() as cursor:
        digest = "md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))"
        cursor.execute(
            f"SELECT (SELECT {digest} FROM leads_lead t), (SELECT {digest} FROM leads_leadphone t),"
            " (SELECT count(*) FROM leads_dncentry),"
            " (SELECT count(*) FROM leads_dispositionrecord),"
            " (SELECT count(*) FROM leads_actiondelivery)"
        )
        return tuple(cursor.fetchone())


@pytest.fixture
def server(tmp_path: Path, client: Any) -> Iterator[tuple[int, Any]]:
    api = make_api(client)
    DispositionFactory(disposition_set=api.template.disposition_set, name="Sale")
    ApiTokenFactory(plain=TOKEN, user__username="fuzzer", user__is_superuser=True)
    env = {"CAMPAIGNAPI_MIN_CALL_MS": "0", "CAMPAIGNAPI_MAX_BODY_MB": "1",
           "CAMPAIGNAPI_BAD_KEY_LIMIT": "1000000",  # its wrong keys must not lock it out
           "CAMPAIGNAPI_CONCURRENCY": "4"}  # fmt: skip
    with gunicorn(tmp_path, "--workers", "1", "--threads", "4", **env) as (port, _):
        yield port, api


def request(port: int, verb: str, path: str, body: str, headers: dict[str, str]) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(verb, path, body=body.encode("utf-8", "surrogatepass"), headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def test_campaignapi_never_fails_and_refusals_write_nothing(server: tuple[int, Any]) -> None:
    port, api = server
    real = {"fTemplateId": api.template.pk, "fCampaignId": api.campaign.pk,
            "fAllocationId": api.allocation.pk}  # fmt: skip
    seen: dict[int, int] = {}

    @settings(
        max_examples=2500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(method=st.sampled_from(METHODS * 3 + ODD_METHODS),
           verb=st.sampled_from(["POST"] * 12 + ["GET", "OPTIONS", "PUT", "DELETE"]),
           query=st.dictionaries(st.sampled_from(["fTemplateId", "fCampaignId", "fAllocationId",
                                                  "allowDuplicates", "njExternalLeadId"]), ids),
           key=st.sampled_from(["query"] * 4 + ["header", "none", "bad"]), body=bodies)  # fmt: skip
    def one(method: str, verb: str, query: dict[str, str], key: str, body: str) -> None:
        params = {k: str(real[k]) if v == "valid" and k in real else v for k, v in query.items()}
        for name, value in real.items():
            params.setdefault(name, str(value))
        headers = {"Content-Type": "application/json"}
        if key == "query":
            params["apiKey"] = GLOBAL_KEY
        elif key == "header":
            headers["X-Api-Key"] = GLOBAL_KEY
        elif key == "bad":
            params["apiKey"] = "nope-" + "k" * 50
        path = BASE + method + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
        before = fingerprint()
        status, kind, raw = request(port, verb, path, body, headers)
        assert status < 500, (status, raw[:300])
        assert kind == "application/json", (status, kind)
        answer = json.loads(raw)
        assert isinstance(answer["code"], int) and isinstance(answer["message"], str)
        seen[answer["code"]] = seen.get(answer["code"], 0) + 1
        if answer["code"] != 0 or method.startswith("get"):  # refused, or a read call
            assert fingerprint() == before, (method, status, answer)

    one()
    # The run reached deep into the checks, not only the doors.
    assert {0, 150, 116, -1, 404}.issubset(seen), seen


def test_dialer_calls_never_fail(server: tuple[int, Any]) -> None:
    port, api = server
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    campaign = f"dialer/campaigns/{api.campaign.pk}"
    paths = [f"{campaign}/next-lead", f"{campaign}/refresh", f"{campaign}/cache",
             "dialer/campaigns/x/cache", "dialer/leads/1/outcome", "dialer/leads/999999/outcome",
             "leads/1/eligibility", "leads/99999999999999999999/eligibility"]  # fmt: skip

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(paths),
           verb=st.sampled_from(["POST", "GET", "PUT"]),
           body=st.one_of(bodies, st.fixed_dictionaries(
               {"agent": values, "disposition": values, "callbackDate": values, "notes": values}
           ).map(json.dumps)))  # fmt: skip
    def one(path: str, verb: str, body: str) -> None:
        status, _, raw = request(port, verb, "/api/v1/" + path, body, auth)
        assert status < 500, (path, status, raw[:300])

    api.post("insertLeadFast", {"FirstPhone": "0383218199", "njExternalLeadId": "f"})
    one()


# Keys of the management API's bodies and of their nested items, with some that are not.
CONFIG_KEYS = ["name", "timezone", "windows", "closedDates", "dispositions", "fields", "teams",
               "contactHours", "dispositionSet", "template", "campaign", "active", "team",
               "user", "revoked", "phone", "expires", "note", "phones", "days", "start", "end",
               "id", "enabled", "priority", "final", "callbackRequired", "contact", "actions",
               "kind", "displayType", "\udfff", "\x00", "x"]  # fmt: skip
config_keys = st.sampled_from(CONFIG_KEYS) | st.text(max_size=4)
nested = st.recursive(scalars | st.sampled_from(["mon", "09:00", "24:00", "webhook"]),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(config_keys, inner, max_size=4), max_leaves=12)  # fmt: skip
config_bodies = st.dictionaries(config_keys, nested, max_size=5)


def chunked(body: bytes, broken: bool) -> bytes:
    """``body`` as one chunk, or framing no server can read (a chunk size that is no number)."""
    if broken:
        return b"zz\r\n" + body[:8] + b"\r\n0\r\n\r\n"
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def test_management_writes_never_fail(server: tuple[int, Any]) -> None:
    """Nested items missing keys in a PATCH, over 1,000 parameters, keys holding unpaired
    surrogates or NUL, chunked bodies with broken framing: never a 5xx, always JSON."""
    port, api = server
    template = api.template
    paths = [f"contact-hours/{template.contact_hours_id}", f"templates/{template.pk}",
             f"disposition-sets/{template.disposition_set_id}", "contact-hours/",
             "disposition-sets/", "templates/", f"campaigns/{api.campaign.pk}", "api-keys/",
             "dnc/", "dnc/check", f"allocations/{api.allocation.pk}"]  # fmt: skip
    seen: dict[int, int] = {}

    @settings(
        max_examples=600,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(paths), verb=st.sampled_from(["POST", "PATCH"]),
           body=config_bodies, many=st.booleans(),
           framing=st.sampled_from(["length", "chunked", "broken"]))  # fmt: skip
    def one(path: str, verb: str, body: dict[str, Any], many: bool, framing: str) -> None:
        query = "?" + "&".join(f"p{i}=1" for i in range(1001)) if many else ""
        data = json.dumps(body).encode()  # ASCII: surrogates and NUL travel as escapes
        head = (f"{verb} /api/v1/{path}{query} HTTP/1.1\r\nHost: localhost\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                "Connection: close\r\n")  # fmt: skip
        if framing == "length":
            request = f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data
        else:
            framed = chunked(data, framing == "broken")
            request = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + framed
        status, headers, raw = raw_exchange(port, request)
        assert status < 500, (path, status, raw[:300])
        assert headers.get("content-type") == "application/json", (path, status, raw[:300])
        json.loads(raw)
        seen[status] = seen.get(status, 0) + 1

    one()
    assert {200, 400}.issubset(seen), seen  # some writes went through, most were refused
