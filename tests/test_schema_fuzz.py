"""schemathesis against a live gunicorn (#14): every operation of the checked-in OpenAPI schema,
with inputs that fit the schema and inputs that break it. Checks: never a 5xx, the status is
one the schema documents, and an answer's content type and body conform to the schema. The
CampaignAPI calls get the real key and ids on most draws, so that the leads are reached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.campaignapi import GLOBAL_KEY, make_api
from tests.campaigner.test_schema import CHECKED_IN
from tests.factories import ApiTokenFactory
from tests.live import gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "schema-fuzz-token-0000000"
EXAMPLES = 1500  # per mode; each is one HTTP call (~15 ms)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def server(tmp_path: Path, client: Any) -> Iterator[tuple[str, Any]]:
    api = make_api(client)
    ApiTokenFactory(plain=TOKEN, user__username="schemathesis", user__is_superuser=True)
    env = {
        "CAMPAIGNAPI_MIN_CALL_MS": "0",
        "CAMPAIGNAPI_BAD_KEY_LIMIT": "1000000",
        "CAMPAIGNAPI_MAX_BODY_MB": "4",
    }
    with gunicorn(tmp_path, "--workers", "2", "--threads", "2", **env) as (port, _):
        yield f"http://127.0.0.1:{port}", api


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_the_schema(server: tuple[str, Any], mode: Any) -> None:
    base, api = server
    schema = schemathesis.openapi.from_path(str(CHECKED_IN))
    real_ids = {
        "fTemplateId": api.template.pk,
        "fCampaignId": api.campaign.pk,
        "fAllocationId": api.allocation.pk,
    }
    seen: dict[str, set[int]] = {}

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=schema.as_strategy(generation_mode=mode), real=st.booleans())
    def run(case: Any, real: bool) -> None:
        if case.path.startswith("/servicemanager/") and real and isinstance(case.query, dict):
            case.query = {
                **case.query,
                "apiKey": GLOBAL_KEY,
                **{k: v for k, v in real_ids.items() if k in case.query},
            }
        response = case.call(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()
    operations = sum(len(item) for item in schema.raw_schema["paths"].values())
    print(
        f"{mode}: {EXAMPLES} cases over {len(seen)} of {operations} operations; statuses:",
        sorted({s for statuses in seen.values() for s in statuses}),
    )
    assert len(seen) >= operations * 0.8  # the run reached (nearly) every operation
