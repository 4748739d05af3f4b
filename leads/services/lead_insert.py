"""``lead_insert_batch``: insert leads into one allocation, exactly as campaignapi.md §4.2-§4.5.

Every insert door (``insertLeadFast``, ``insertLeadsFast``, the deprecated calls, ``copy_lead``,
the manual import) goes through this one service; a single lead is a batch of one.

This module is the write hot path and deliberately bypasses the ORM. A 100,000-lead call must
not issue a query per lead, so the work of each chunk of ``CHUNK_SIZE`` leads is split in three:

1. **Read the leads in Python** (``lead_input``): shape, ``<No Change>``, callback date, Contact
   Hours, priority, phone numbers, external id. No database access.
2. **Probe the database with a constant number of statements**: one index probe each (an
   index lookup per key of ``unnest`` of the chunk's keys) for taken external ids, DNC numbers
   and numbers already in the campaign. Then one ordered pass in Python applies §4.3 steps 7,
   9, 10 with the batch's own accepted ids and numbers, so each lead is judged "as if the
   earlier ones were already in the campaign", and makes the COPY text of the survivors, with
   ids reserved from the lead sequence in one statement.
3. **Write the survivors with COPY** (leads, then their numbers).

A batch of one chunk (every single-lead call) runs these in turn, reading before any lock. A
larger batch writes each chunk while the next is read and looked up (``_insert_overlapped``),
on two connections: the writes are PostgreSQL's work alone, so they proceed while Python reads
and probes the next chunks.

Guarantees:
- All the writes are one transaction: the batch is written whole or not at all, also when a
  stage fails in the middle of a chunked batch.
- ``LockKey.CAMPAIGN_LEAD_INSERT`` on the campaign is held from before the lookups to commit, so
  two concurrent calls can never both insert the same number or external id into a campaign
  (READ COMMITTED: the lookups of the second holder run after the first has committed). The
  unique constraint on (campaign, external id) backs this up.
- Not idempotent: calling twice inserts twice, unless the duplicate checks reject the second.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from campaigner.contract import CampaignApiError, Code
from campaigner.locks import LockKey, advisory_xact_lock
from campaigner.metrics import LEADS_INSERTED
from campaigner.sql import CallTarget
from leads import lead_input, sql
from leads.models import DEFAULT_PRIORITY, Door, Lead, LeadOrigin
from leads.phone import PhoneNormaliser
from leads.selectors import phone_normaliser_load
from leads.services.erasure import erased_among, erasures_exist

# System fields an insert uses; any other key that is not a template field is ignored and
# reported back (njDisposition is ignored on insert, campaignapi.md §4.1).
_INSERT_SYSTEM_FIELDS = frozenset(
    {
        lead_input.EXTERNAL_ID,
        lead_input.CALLBACK_DATE,
        lead_input.PRIORITY,
        lead_input.CONTACT_HOURS,
    }
)


@dataclass(slots=True)
class LeadOutcome:
    code: Code
    detail: str | None = None
    lead_id: int | None = None


@dataclass(slots=True)
class _Candidate:
    index: int
    fields: dict[str, Any]
    external_id: str | None
    priority: int
    callback_at: dt.datetime | None
    contact_hours_id: int | None
    numbers: list[tuple[str, str]]  # (field name, normalised number)


@dataclass
class InsertBatchResult:
    outcomes: list[LeadOutcome]


@dataclass(frozen=True, slots=True)
class NewOrigin:
    """The origin of a batch's leads (``LeadOrigin``), written with its first lead: the door,
    who (an API key's name, a user) and the call (``insertLeadsFast``, ``copy_lead``)."""

    via: Door
    by: str
    call: str = ""
    lead_import_id: int | None = None


# A batch's origin: a new one, or the id of one already stored (an import's, made with it).
Origin = NewOrigin | int


def ignored_fields(target: CallTarget, lead: dict[str, Any]) -> list[str]:
    """Keys of ``lead`` an insert does not use (listed back on single-lead responses)."""
    return [k for k in lead if k not in target.field_names and k not in _INSERT_SYSTEM_FIELDS]


# Leads per step of a multi-lead call: its chunks are read, looked up and written one after
# another, and these stages overlap (see ``_insert_overlapped``). The first chunk is small and
# each next one twice as large, up to CHUNK_SIZE, so the writer, the slowest stage, starts
# early.
CHUNK_SIZE = 10_000
FIRST_CHUNK_SIZE = 1_000


# Called once with every lead's outcome, as soon as all are decided.
OutcomesCallback = Callable[[list[LeadOutcome]], None]


def lead_insert_batch(
    target: CallTarget,
    leads: Sequence[dict[str, Any]],
    *,
    origin: Origin,
    allow_duplicates: bool = False,
    outcomes_known: OutcomesCallback | None = None,
    write_in_batch_transaction: OutcomesCallback | None = None,
) -> InsertBatchResult:
    """Check each lead (§4.3 order) and insert those that pass, in one transaction.

    ``leads`` are the parsed JSON objects as the client sent them. Returns one outcome per lead,
    in order (code 0 with the new lead id, or the rejection code). Raises only on a server
    failure, in which case nothing was written. Every lead inserted names ``origin``.

    ``outcomes_known(outcomes)``, if given, is called once on this thread as soon as every
    outcome is decided, before the commit: for a large batch while its last chunks are still
    being written, so a caller can make its answer meanwhile. They hold if the batch then
    commits; an exception it raises fails the batch.

    ``write_in_batch_transaction(outcomes)``, if given, is called once on this thread inside the
    batch's transaction, after its writes and before its commit, so that what it writes on
    ``connection`` commits with the batch or not at all (the manual import's progress). A batch
    that wrote nothing gets a transaction of its own for it.
    """
    outcomes: list[LeadOutcome] = []  # appended by _read_chunk
    known = outcomes_known or (lambda outcomes: None)
    batch = _Batch(target, outcomes, allow_duplicates, origin)
    if len(leads) <= CHUNK_SIZE:
        # One chunk (every single-lead call): read before taking the lock; when no lead is
        # left to look up, there is no lock and no transaction at all.
        candidates = _read_chunk(batch, leads, 0, len(leads))
        if not candidates:
            known(outcomes)
            if write_in_batch_transaction is not None:
                with transaction.atomic():
                    write_in_batch_transaction(outcomes)
            return InsertBatchResult(outcomes)
        with transaction.atomic():
            advisory_xact_lock(LockKey.CAMPAIGN_LEAD_INSERT, target.campaign_id)
            with connection.connection.cursor() as cursor:
                taken = batch.probe(cursor, candidates)
                batch.write(cursor, batch.prepare(cursor, candidates, taken))
            known(outcomes)
            if write_in_batch_transaction is not None:
                write_in_batch_transaction(outcomes)
            batch.count_on_commit()
        return InsertBatchResult(outcomes)

    # Outermost transaction: the probes can use a connection of their own, as what they look
    # up is committed. Inside a caller's transaction they must see its uncommitted rows too.
    own_probe_connection = not connection.in_atomic_block
    with transaction.atomic():
        advisory_xact_lock(LockKey.CAMPAIGN_LEAD_INSERT, target.campaign_id)
        if own_probe_connection:
            # Our own transaction: its foreign keys can be checked after each chunk's COPY,
            # while later chunks are still read, rather than all at once at commit.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _insert_overlapped(batch, leads, own_probe_connection, known)
        if write_in_batch_transaction is not None:
            write_in_batch_transaction(outcomes)
        batch.count_on_commit()
    return InsertBatchResult(outcomes)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each chunk of a batch of ``total`` leads."""
    start, size = 0, min(FIRST_CHUNK_SIZE, CHUNK_SIZE)
    while start < total:
        yield start, min(start + size, total)
        start, size = start + size, min(size * 2, CHUNK_SIZE)


def _read_chunk(
    batch: _Batch, leads: Sequence[dict[str, Any]], start: int, stop: int
) -> list[_Candidate]:
    """Read leads[start:stop] and append their outcomes (``batch.outcomes`` holds the earlier
    ones; the other stages only ever touch those of chunks already read)."""
    candidates = []
    target, normalise = batch.target, batch.normalise
    for index in range(start, stop):
        outcome = LeadOutcome(Code.OK)
        batch.outcomes.append(outcome)
        try:
            candidates.append(_read(index, leads[index], target, normalise))
        except CampaignApiError as rejected:
            outcome.code, outcome.detail = rejected.code, rejected.detail
    return candidates


def _insert_overlapped(
    batch: _Batch,
    leads: Sequence[dict[str, Any]],
    own_probe_connection: bool,
    known: OutcomesCallback,
) -> None:
    """Read, look up and write the chunks of a batch, the writing side by side with the rest:
    while a writer thread writes chunk n on the transaction's connection, this thread reads
    chunk n+1, looks it up on a second connection, classifies it and makes its rows. Chunks are
    handled in order, so each lead is still judged after every earlier one.

    Reading and looking up take turns on this one thread rather than running on two: both are
    mostly Python, and side by side they only slowed each other down (the interpreter runs one
    thread at a time) and left the writer waiting for rows.

    Guarantees: the transaction's connection is only used by the writer meanwhile; the first
    failure, here or in the writer, stops the rest and is raised here only after the writer has
    stopped, so the caller's transaction rolls back whole. The probe connection sees only
    committed rows; the batch's own accepted ids and numbers are tracked by ``_Batch``, and the
    insert lock keeps other inserts into the campaign from committing meanwhile. Inside a
    caller's transaction the writer looks each chunk up too, on the transaction's connection.
    """
    target = batch.target
    target.hours_by_name, batch.normalise, batch.erasures  # noqa: B018 (loaded before the writer)
    pgconn = connection.connection
    probe_db = None
    if own_probe_connection:
        # A second connection set up as Django sets up its own (time zone included: the DNC
        # probe compares with CURRENT_DATE), in autocommit.
        probe_db = connections.create_connection(DEFAULT_DB_ALIAS)
        probe_db.ensure_connection()
    failed = threading.Event()

    def write(candidates: list[_Candidate], rows: _Rows | None) -> None:
        if failed.is_set():
            return
        try:
            with pgconn.cursor() as cursor:
                if rows is None:  # in a caller's transaction: all on its connection
                    rows = batch.prepare(cursor, candidates, batch.probe(cursor, candidates))
                batch.write(cursor, rows)
        except BaseException:
            failed.set()
            raise

    writes: list[Future[None]] = []
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="lead-write") as writer:
            try:
                for start, stop in _chunks(len(leads)):
                    if failed.is_set():
                        break
                    candidates = _read_chunk(batch, leads, start, stop)
                    rows = None
                    if probe_db is not None:
                        with probe_db.connection.cursor() as cursor:
                            taken = batch.probe(cursor, candidates)
                            rows = batch.prepare(cursor, candidates, taken)
                    writes.append(writer.submit(write, candidates, rows))
                if probe_db is not None and not failed.is_set():
                    known(batch.outcomes)  # while the writer catches up
            except BaseException:
                failed.set()
                raise  # leaving the with-block waits for the writer first
    finally:
        if probe_db is not None:
            probe_db.close()
    for written in writes:
        written.result()  # raises the writer's failure; later chunks skipped their work
    if failed.is_set():
        raise RuntimeError("a stage of the batch failed")  # never silently commit a part
    if probe_db is None:
        known(batch.outcomes)  # the writer decided them


@dataclass(slots=True)
class _Taken:
    """What a chunk's probes found already in the database."""

    external_ids: set[str]
    dnc: set[str]
    numbers: set[str]  # empty when duplicates are allowed


class _Batch:
    """The state of one batch: its outcomes, and the external ids and numbers of the leads it
    accepted so far (so each lead is judged as if the earlier ones were in the campaign)."""

    def __init__(
        self,
        target: CallTarget,
        outcomes: list[LeadOutcome],
        allow_duplicates: bool,
        origin: Origin,
    ) -> None:
        self.target, self.outcomes, self.allow_duplicates = target, outcomes, allow_duplicates
        # A new origin gets its id with the first lead ids, and its row with the first write.
        self.new_origin = origin if isinstance(origin, NewOrigin) else None
        self.origin_id = origin if isinstance(origin, int) else None
        self.origin_written = self.new_origin is None
        self.accepted_ids: set[str] = set()
        self.accepted_numbers: set[str] = set()
        self.inserted = 0

    @cached_property
    def normalise(self) -> PhoneNormaliser:
        return phone_normaliser_load()

    @cached_property
    def erasures(self) -> bool:
        return erasures_exist()

    def probe(self, cursor: psycopg.Cursor[Any], candidates: list[_Candidate]) -> _Taken:
        taken = _probe(cursor, self.target.campaign_id, candidates, self.allow_duplicates)
        if self.erasures:  # an erased person's numbers count as DNC ones (leads.services.erasure)
            taken.dnc |= erased_among(cursor, {n for c in candidates for _, n in c.numbers})
        return taken

    def prepare(
        self, cursor: psycopg.Cursor[Any], candidates: list[_Candidate], taken: _Taken
    ) -> _Rows:
        """Classify the chunk (in chunk order: it updates the accepted sets) and make the rows
        of what it accepts, with lead ids reserved on ``cursor``'s connection."""
        accepted = _classify(self, candidates, taken)
        lead_ids: list[int] = []
        if accepted:
            lead_ids, origin_id = _reserve_ids(cursor, len(accepted), self.origin_id is None)
            self.origin_id = self.origin_id or origin_id
        for candidate, lead_id in zip(accepted, lead_ids, strict=True):
            self.outcomes[candidate.index].lead_id = lead_id  # final once written and committed
        return _copy_rows(self.target, accepted, lead_ids, taken.dnc, self.origin_id)

    def write(self, cursor: psycopg.Cursor[Any], rows: _Rows) -> None:
        """Write a chunk's rows (``prepare``, in chunk order), with the batch's new origin
        before its first lead. Must hold the insert lock."""
        if rows.count:
            if not self.origin_written:
                origin = self.new_origin
                assert origin is not None
                cursor.execute(
                    sql.ORIGIN_ADD,
                    [self.origin_id, origin.via.value, origin.by[:150], origin.call,
                     origin.lead_import_id, timezone.now()],
                    prepare=True,
                )  # fmt: skip
                self.origin_written = True
            _write(cursor, rows)
            self.inserted += rows.count

    def count_on_commit(self) -> None:
        if self.inserted:
            transaction.on_commit(lambda: LEADS_INSERTED.inc(self.inserted))


def _read(
    index: int, raw: dict[str, Any], target: CallTarget, normalise: PhoneNormaliser
) -> _Candidate:
    """§4.3 steps 1-6 and the shape of the external id: everything that needs no database."""
    fields, no_change = lead_input.read_fields(raw, target.field_names)
    external_id = lead_input.external_id(raw.get(lead_input.EXTERNAL_ID))  # its length is shape
    if no_change is not None:
        raise CampaignApiError(
            Code.IMPORT_BUT_NOCHANGE_SPECIFIED, f"{no_change!r} is <No Change> on an insert"
        )
    callback = lead_input.callback_parts(raw.get(lead_input.CALLBACK_DATE))
    hours = target.default_hours
    hours_name = raw.get(lead_input.CONTACT_HOURS)
    if not lead_input.is_blank(hours_name):
        hours = target.hours_by_name.get(lead_input.json_spelling(hours_name).strip())
        if hours is None:
            raise CampaignApiError(
                Code.INVALID_TIMEZONE_SPECIFIED, f"unknown Contact Hours {hours_name!r}"
            )
    callback_at = None
    if callback is not None:
        zone = lead_input.zone(hours.timezone if hours else None)
        callback_at = lead_input.callback_at(callback, zone)
    priority = lead_input.priority(raw.get(lead_input.PRIORITY))
    numbers = []
    for name in target.phone_fields:
        value = raw.get(name)
        if value is not None:
            number = normalise(value)
            if number is not None:
                numbers.append((name, number))
    if not numbers:
        raise CampaignApiError(Code.NO_PHONE_FIELDS, "no usable phone number")
    return _Candidate(
        index=index,
        fields=fields,
        external_id=external_id,
        priority=DEFAULT_PRIORITY if priority is None else priority,
        callback_at=callback_at,
        contact_hours_id=hours.id if hours else None,
        numbers=numbers,
    )


def _probe(
    cursor: psycopg.Cursor[Any],
    campaign_id: int,
    candidates: list[_Candidate],
    allow_duplicates: bool,
) -> _Taken:
    """One index probe per check for all the candidates: their external ids taken in the
    campaign, their numbers on the DNC list, and (unless ``allow_duplicates``) their numbers
    already used in the campaign."""
    external_ids = array_literal({c.external_id for c in candidates if c.external_id is not None})
    numbers = array_literal({number for c in candidates for _, number in c.numbers})
    cursor.execute(sql.PROBE_EXTERNAL_IDS, [external_ids, campaign_id], prepare=True)
    taken = _Taken(external_ids={row[0] for row in cursor.fetchall()}, dnc=set(), numbers=set())
    cursor.execute(sql.PROBE_DNC, [numbers], prepare=True)
    taken.dnc = {row[0] for row in cursor.fetchall()}
    if not allow_duplicates:
        cursor.execute(sql.PROBE_NUMBERS, [numbers, campaign_id], prepare=True)
        taken.numbers = {row[0] for row in cursor.fetchall()}
    return taken


def _classify(batch: _Batch, candidates: list[_Candidate], taken: _Taken) -> list[_Candidate]:
    """§4.3 steps 7 (112), 9 (104) and 10 (105), in array order: against what the probes found
    and what the batch accepted before. Records each rejection; returns the accepted."""
    accepted = []
    accepted_ids, accepted_numbers = batch.accepted_ids, batch.accepted_numbers
    for candidate in candidates:
        outcome = batch.outcomes[candidate.index]
        external_id = candidate.external_id
        if external_id is not None and (
            external_id in taken.external_ids or external_id in accepted_ids
        ):
            outcome.code = Code.DUPLICATE_EXTERNAL_ID
            outcome.detail = f"external id {external_id!r} is already used in the campaign"
            continue
        if all(number in taken.dnc for _, number in candidate.numbers):
            outcome.code, outcome.detail = Code.DNC, "every number is on the DNC list"
            continue
        if not batch.allow_duplicates:
            duplicate = next(
                (n for _, n in candidate.numbers if n in taken.numbers or n in accepted_numbers),
                None,
            )
            if duplicate is not None:
                outcome.code = Code.DUPLICATE
                outcome.detail = f"the number {duplicate} is already used by a lead of the campaign"
                continue
            accepted_numbers.update(number for _, number in candidate.numbers)
        if external_id is not None:
            accepted_ids.add(external_id)
        accepted.append(candidate)
    return accepted


def array_literal(values: set[str]) -> str:
    """A PostgreSQL text[] literal. Sent as one string: letting the driver adapt a list of
    100,000 strings element by element costs over ten times as much as this."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def _dumps(fields: dict[str, Any]) -> str:
    try:
        return orjson.dumps(fields).decode()
    except TypeError:  # an integer beyond 64 bits; rare, so the slow encoder is fine
        return json.dumps(fields, ensure_ascii=False)


def _reserve_ids(
    cursor: psycopg.Cursor[Any], count: int, origin: bool
) -> tuple[list[int], int | None]:
    """``count`` new lead ids, and an origin id if ``origin``. The sequences are not
    transactional, so any connection will do."""
    cursor.execute(
        sql.RESERVE_LEAD_IDS,
        [Lead._meta.db_table, origin, LeadOrigin._meta.db_table, count],
        prepare=True,
    )
    lead_ids, origin_id = cursor.fetchone()  # type: ignore[misc]
    return lead_ids, origin_id


@dataclass(frozen=True, slots=True)
class _Rows:
    """A chunk's accepted leads and their numbers, as COPY text."""

    count: int
    leads: bytes
    phones: bytes


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    """A text value in COPY's text format (PostgreSQL docs, COPY, "Text Format")."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _copy_rows(
    target: CallTarget,
    accepted: list[_Candidate],
    lead_ids: list[int],
    dnc: set[str],
    origin_id: int | None,
) -> _Rows:
    """The COPY text of the accepted leads and their numbers (DNC ones marked blocked). Made
    ahead of the write, off the writer's thread, so that PostgreSQL never waits for Python."""
    now = timezone.now().isoformat()  # one timestamp per chunk
    campaign, allocation = target.campaign_id, target.allocation_id
    origin = "\\N" if origin_id is None else origin_id
    leads, phones = [], []
    for candidate, lead_id in zip(accepted, lead_ids, strict=True):
        callback = candidate.callback_at.isoformat() if candidate.callback_at else "\\N"
        hours = "\\N" if candidate.contact_hours_id is None else candidate.contact_hours_id
        # id, campaign, allocation, fields, external id, priority, callback, Contact Hours,
        # closed, version, checked out by, origin, created, updated (sql.LEAD_COLUMNS)
        leads.append(
            f"{lead_id}\t{campaign}\t{allocation}\t{_copy_text(_dumps(candidate.fields))}"
            f"\t{_copy_text(candidate.external_id)}\t{candidate.priority}\t{callback}"
            f"\t{hours}\tf\t1\t\t{origin}\t{now}\t{now}\n"
        )
        for name, number in candidate.numbers:  # sql.PHONE_COLUMNS
            blocked = "t" if number in dnc else "f"
            phones.append(
                f"{lead_id}\t{campaign}\t{_copy_text(name)}\t{_copy_text(number)}\t{blocked}\n"
            )
    return _Rows(len(accepted), "".join(leads).encode(), "".join(phones).encode())


def _write(cursor: psycopg.Cursor[Any], rows: _Rows) -> None:
    """COPY a chunk's leads, then their numbers."""
    with cursor.copy(sql.COPY_LEADS) as copy:
        copy.write(rows.leads)
    with cursor.copy(sql.COPY_PHONES) as copy:
        copy.write(rows.phones)
