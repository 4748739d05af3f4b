"""The insert probes look each key up in an index, whatever the table and key counts.

A join of 10,000 keys against the 1,000,000-number DNC list once got a merge join that read the
whole index on three cores (~200 ms per chunk instead of ~10 ms). The plans are checked here on
tables large enough, and analysed, for the planner to have a real choice.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from leads import sql
from leads.models import DncEntry, Lead, LeadPhone
from leads.services.lead_insert import array_literal
from tests.campaignapi import make_api

pytestmark = pytest.mark.django_db

ROWS = 50_000
KEYS = 10_000


def plan_nodes(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
    nodes, todo = [], [plan["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


@pytest.fixture
def big_tables(client: Any) -> int:
    campaign = make_api(client).allocation.campaign
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DncEntry._meta.db_table} (number, source, note, created_at)"
            " SELECT '04' || lpad(i::text, 8, '0'), 'test', '', now()"
            " FROM generate_series(1, %s) i",
            [ROWS],
        )
        cursor.execute(
            f"INSERT INTO {Lead._meta.db_table} (campaign_id, allocation_id, fields, external_id,"
            " priority, closed, version, checked_out_by, created_at, updated_at)"
            " SELECT %s, a.id, '{}', 'ext-' || i, 0, false, 1, '', now(), now()"
            " FROM generate_series(1, %s) i, (SELECT min(id) AS id FROM campaigner_allocation"
            "  WHERE campaign_id = %s) a",
            [campaign.pk, ROWS, campaign.pk],
        )
        cursor.execute(
            f"INSERT INTO {LeadPhone._meta.db_table} (lead_id, campaign_id, field_name, number,"
            " blocked) SELECT id, campaign_id, 'FirstPhone', '03' || lpad(id::text, 8, '0'),"
            f" false FROM {Lead._meta.db_table} WHERE campaign_id = %s",
            [campaign.pk],
        )
        cursor.execute(
            f"ANALYZE {DncEntry._meta.db_table}, {Lead._meta.db_table}, {LeadPhone._meta.db_table}"
        )
    return campaign.pk


@pytest.mark.parametrize(
    ("model", "statement", "with_campaign"),
    [
        (Lead, sql.PROBE_EXTERNAL_IDS, True),
        (DncEntry, sql.PROBE_DNC, False),
        (LeadPhone, sql.PROBE_NUMBERS, True),
    ],
)
def test_each_key_is_an_index_lookup(
    big_tables: int, model: type, statement: str, with_campaign: bool
) -> None:
    keys = array_literal({f"04{i * 3:08d}" for i in range(KEYS)} | {f"ext-{i}" for i in range(9)})
    params: list[Any] = [keys, big_tables] if with_campaign else [keys]
    nodes = plan_nodes(statement, params)
    kinds = {node["Node Type"] for node in nodes}
    assert not kinds & {"Merge Join", "Hash Join", "Gather", "Seq Scan", "Bitmap Heap Scan"}
    on_table = [n for n in nodes if n.get("Relation Name") == model._meta.db_table]
    assert on_table
    assert {n["Node Type"] for n in on_table} <= {"Index Scan", "Index Only Scan"}
