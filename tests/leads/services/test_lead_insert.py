"""A multi-lead call over several chunks (``lead_insert.CHUNK_SIZE``): reading, probing (on a
second connection) and writing overlap, and the result must be exactly what one pass over the
whole batch gives, atomic and serialised like it."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.models import Allocation
from campaigner.sql import call_target_of
from leads.models import DncEntry, Lead, LeadPhone
from leads.services import lead_insert
from leads.services.lead_insert import lead_insert_batch
from tests.campaignapi import make_api
from tests.concurrency import in_threads
from tests.factories import TESTS_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = 3  # leads per chunk in these tests


@pytest.fixture
def allocation(client: Any) -> Allocation:
    return make_api(client).allocation


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lead_insert, "CHUNK_SIZE", SMALL)


def insert(allocation: Allocation, leads: list[dict[str, Any]], **options: Any) -> list[Any]:
    """Per-lead (code, whether it got an id) of one batch through the service."""
    target = call_target_of(allocation)
    result = lead_insert_batch(target, leads, origin=TESTS_ORIGIN, **options)
    return [(int(o.code), o.lead_id is not None) for o in result.outcomes]


def stored(allocation: Allocation) -> set[tuple[Any, ...]]:
    """The campaign's leads as (external id, name, numbers with their blocked flag)."""
    return {
        (
            lead.external_id,
            lead.fields.get("Name"),
            tuple(sorted((p.field_name, p.number, p.blocked) for p in lead.phones.all())),
        )
        for lead in Lead.objects.filter(campaign=allocation.campaign).prefetch_related("phones")
    }


def reset(allocation: Allocation, keep: set[int]) -> None:
    LeadPhone.objects.filter(campaign=allocation.campaign).exclude(lead_id__in=keep).delete()
    Lead.objects.filter(campaign=allocation.campaign).exclude(pk__in=keep).delete()


# Few numbers and ids, so that leads collide within a chunk, across chunks and with the leads
# already in the campaign; "x" is not a usable number.
NUMBERS = ["0390000001", "0390000002", "0390000003", "0390000004", "0490000001", "x"]
IDS = [None, "a", "b", "c", "taken"]
lead_strategy = st.fixed_dictionaries(
    {"FirstPhone": st.sampled_from(NUMBERS), "njExternalLeadId": st.sampled_from(IDS)},
    optional={"SecondPhone": st.sampled_from(NUMBERS)},
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batch=st.lists(lead_strategy, min_size=SMALL + 1, max_size=5 * SMALL),
    allow_duplicates=st.booleans(),
)
def test_chunked_batches_give_what_one_pass_gives(
    allocation: Allocation,
    monkeypatch: pytest.MonkeyPatch,
    batch: list[dict[str, Any]],
    allow_duplicates: bool,
) -> None:
    DncEntry.objects.get_or_create(number="+61490000001")
    existing = Lead.objects.filter(campaign=allocation.campaign, external_id="taken").first()
    if existing is None:
        insert(allocation, [{"FirstPhone": "0390000004", "njExternalLeadId": "taken"}])
    keep = set(Lead.objects.filter(campaign=allocation.campaign).values_list("pk", flat=True))
    for index, lead in enumerate(batch):
        lead["Name"] = f"lead {index}"

    monkeypatch.setattr(lead_insert, "CHUNK_SIZE", 10_000)
    one_pass = insert(allocation, batch, allow_duplicates=allow_duplicates)
    one_pass_rows = stored(allocation)
    reset(allocation, keep)

    monkeypatch.setattr(lead_insert, "CHUNK_SIZE", SMALL)
    monkeypatch.setattr(lead_insert, "FIRST_CHUNK_SIZE", 1)  # chunks of 1, 2, 3, 3, ...
    chunked = insert(allocation, batch, allow_duplicates=allow_duplicates)
    assert chunked == one_pass
    assert stored(allocation) == one_pass_rows
    reset(allocation, keep)


def test_chunks_start_small_and_double_up_to_the_chunk_size() -> None:
    chunks = list(lead_insert._chunks(100_000))
    assert [stop - start for start, stop in chunks[:6]] == [1000, 2000, 4000, 8000, 10_000, 10_000]
    assert chunks[0][0] == 0 and chunks[-1][1] == 100_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize("where", ["own transaction", "caller's transaction", "one chunk"])
def test_the_outcomes_are_handed_over_once_decided_and_before_the_commit(
    allocation: Allocation, small_chunks: None, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "one chunk":
        monkeypatch.setattr(lead_insert, "CHUNK_SIZE", 100)
    insert(allocation, [{"FirstPhone": "0390000001"}])
    batch = [{"FirstPhone": f"039000000{n}"} for n in range(10)]
    handed: list[tuple[list[tuple[int, bool]], bool]] = []

    def outcomes_known(outcomes: Any) -> None:
        codes = [(int(o.code), o.lead_id is not None) for o in outcomes]
        handed.append((codes, connection.in_atomic_block))

    target = call_target_of(allocation)
    if where == "caller's transaction":
        with transaction.atomic():
            result = lead_insert_batch(
                target, batch, origin=TESTS_ORIGIN, outcomes_known=outcomes_known
            )
    else:
        result = lead_insert_batch(
            target, batch, origin=TESTS_ORIGIN, outcomes_known=outcomes_known
        )

    assert handed == [([(int(o.code), o.lead_id is not None) for o in result.outcomes], True)]
    assert handed[0][0] == [(0, True), (105, False)] + [(0, True)] * 8
    assert Lead.objects.count() == 10


def test_a_failure_where_the_outcomes_are_handed_over_fails_the_batch(
    allocation: Allocation, small_chunks: None
) -> None:
    def outcomes_known(outcomes: Any) -> None:
        raise RuntimeError("answer failed")

    target = call_target_of(allocation)
    batch = [{"FirstPhone": f"039000000{n}"} for n in range(10)]
    with pytest.raises(RuntimeError, match="answer failed"):
        lead_insert_batch(target, batch, origin=TESTS_ORIGIN, outcomes_known=outcomes_known)
    assert not Lead.objects.exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("lead-write")]


def test_the_probes_use_a_second_connection_and_the_writes_a_second_thread(
    allocation: Allocation, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    seen: dict[str, list[tuple[int, int]]] = {"_probe": [], "_write": []}  # (thread, backend)

    def recording(name: str) -> Any:
        original = getattr(lead_insert, name)

        def record(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            seen[name].append((threading.get_ident(), cursor.connection.info.backend_pid))
            return original(cursor, *args, **kwargs)

        return record

    for name in seen:
        monkeypatch.setattr(lead_insert, name, recording(name))
    before = backends()
    codes = insert(allocation, [{"FirstPhone": f"039000000{n}"} for n in range(10)])
    assert codes == [(0, True)] * 10
    assert len(seen["_probe"]) == len(seen["_write"]) == 4  # chunks of 3, 3, 3, 1
    ours = (threading.get_ident(), connection.connection.info.backend_pid)
    probe_threads, probe_pids = ({x[i] for x in seen["_probe"]} for i in (0, 1))
    write_threads, write_pids = ({x[i] for x in seen["_write"]} for i in (0, 1))
    assert probe_threads == {ours[0]} and len(probe_pids) == 1 and ours[1] not in probe_pids
    assert len(write_threads) == 1 and ours[0] not in write_threads and write_pids == {ours[1]}
    # The probe connection is closed: its backend leaves (PostgreSQL lets it exit after the
    # close returns, so this waits for it, briefly, rather than counting too early).
    deadline = time.monotonic() + 10
    while backends() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends() == before


def test_inside_a_callers_transaction_the_probes_see_its_uncommitted_rows(
    allocation: Allocation, small_chunks: None
) -> None:
    with transaction.atomic():
        assert insert(allocation, [{"FirstPhone": "0390000001", "njExternalLeadId": "a"}]) == [
            (0, True)
        ]
        batch = [{"FirstPhone": f"039100000{n}"} for n in range(5)]
        batch += [
            {"FirstPhone": "0390000001"},
            {"FirstPhone": "0390000009", "njExternalLeadId": "a"},
        ]
        codes = insert(allocation, batch)
    assert codes == [(0, True)] * 5 + [(105, False), (112, False)]
    assert Lead.objects.count() == 6


@pytest.mark.parametrize("where", ["reading", "probing", "writing"])
def test_a_failure_in_any_stage_leaves_nothing_of_the_batch(
    allocation: Allocation, small_chunks: None, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    insert(allocation, [{"FirstPhone": "0390000000"}])
    # Fail in the third chunk: one lead read per call, one probe and one write per chunk.
    function, fail_at = {
        "reading": ("_read", 2 * SMALL + 1),
        "probing": ("_probe", 3),
        "writing": ("_write", 3),
    }[where]
    original = getattr(lead_insert, function)
    calls = 0

    def fail_in_the_third_chunk(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == fail_at:
            raise RuntimeError(f"{where} failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(lead_insert, function, fail_in_the_third_chunk)
    batch = [{"FirstPhone": f"04{n:08d}"} for n in range(4 * SMALL)]
    with pytest.raises(RuntimeError, match=f"{where} failed"):
        insert(allocation, batch)
    assert calls == fail_at
    assert Lead.objects.count() == 1
    assert LeadPhone.objects.count() == 1
    # The writer has stopped (the transaction was never used by two threads at once).
    assert not [t for t in threading.enumerate() if t.name.startswith("lead-write")]
    # The transaction and the insert lock are gone: the same batch goes through now.
    monkeypatch.setattr(lead_insert, function, original)
    assert insert(allocation, batch) == [(0, True)] * len(batch)


def test_racing_chunked_batches_insert_each_number_once(
    allocation: Allocation, small_chunks: None
) -> None:
    """Four batches of 5 chunks share half their numbers; each number ends up once."""
    shared = [{"FirstPhone": f"04000000{n:02d}"} for n in range(8)]

    def batch(i: int) -> list[dict[str, Any]]:
        return shared + [{"FirstPhone": f"05{i:02d}0000{n:02d}"} for n in range(7)]

    results = in_threads(4, lambda i: insert(allocation, batch(i)), together=True)

    assert sum(code == (0, True) for result in results for code in result) == 8 + 4 * 7
    numbers = list(LeadPhone.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 8 + 4 * 7


awkward_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
) | st.sampled_from(["\\", "\\N", "a\tb", "a\nb", "a\rb", "\\\\t", '"quoted"', "é😀"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names=st.lists(awkward_text, min_size=SMALL + 1, max_size=3 * SMALL), chunked=st.booleans())
def test_any_text_is_stored_as_sent(
    allocation: Allocation, monkeypatch: pytest.MonkeyPatch, names: list[str], chunked: bool
) -> None:
    """The rows are written as COPY text made by the service: backslashes, tabs, newlines,
    "\\N" and non-ASCII text must arrive unchanged, in the fields and the external id."""
    monkeypatch.setattr(lead_insert, "CHUNK_SIZE", SMALL if chunked else 10_000)
    batch = [
        {"FirstPhone": f"0392{index:06d}", "Name": name, "njExternalLeadId": f"{name}|{index}"}
        for index, name in enumerate(names)
    ]
    assert insert(allocation, batch) == [(0, True)] * len(batch)
    stored_leads = Lead.objects.filter(campaign=allocation.campaign).order_by("id")
    assert [(lead.fields["Name"], lead.external_id) for lead in stored_leads] == [
        (lead["Name"], lead["njExternalLeadId"].strip() or None) for lead in batch
    ]
    reset(allocation, set())
