"""Manual import of a CSV file of leads into one allocation (domain.md §5.3).

``lead_import_create`` checks an uploaded file and stores it in PostgreSQL (so any worker on
any host can run the import); ``lead_import_run`` (a Celery task) reads it back **streaming**
and feeds its rows, ``LEAD_IMPORT_CHUNK_ROWS`` at a time, through ``lead_insert_batch``: the
same checks, codes and order as ``insertLeadsFast``, rows of earlier chunks already in the
campaign.

The file, as this module reads it:
- UTF-8 (a BOM is skipped), RFC 4180 CSV, a header row. The import's mapping says which
  template field or system field (``njExternalLeadId``, ``njCallBackDate``, ``njPriority``,
  ``njContactHours``) each column fills, or none (the column is then listed as ignored);
  ``mapping_guess`` proposes it (the template's last mapping, the exact name, a known
  spelling). A draft import waits for its mapping; a dry run of it checks every row in one
  transaction that is rolled back, its counts written on a connection of its own.
- A row is the lead ``{column: cell}`` of its used columns, **an empty cell being no value**
  (as if the key were absent: an empty ``njPriority`` is the default, not 151). Blank lines
  are skipped. A row with more or fewer cells than the header is rejected (150) with a reason.
- Refused before anything is stored (``Refused(INVALID)`` on ``file``): over
  ``LEAD_IMPORT_MAX_MB``, empty, not UTF-8, not CSV (bad quoting, a cell over 128 KiB), a
  header naming a column twice, no phone field of the template in the header, no rows.

Guarantees:
- Each chunk's leads, rejections and the import's progress commit in one transaction
  (``lead_insert_batch(write_in_batch_transaction=…)``): after a crash the import says exactly
  what was committed, and a resumed run goes on after it, so no row is written twice.
- While it runs the worker holds the campaign (``campaign_import_hold``): CampaignAPI inserts
  into it wait within their queue bound, then get 109; other campaigns are not affected.
- One runner at a time: the run holds the ``LEAD_IMPORT_RUN`` session lock. An import that
  should be running but whose lock is free has lost its worker; ``lead_imports_recover``
  (beat, every minute) queues it again, and the run resumes from ``processed``. After
  ``MAX_RUNS`` starts it is marked ``failed`` instead, so a file that kills workers cannot loop.
- Cancel takes effect between chunks: the committed chunks stay, nothing after them is written.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

from celery import current_app
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from campaigner.contract import Code, Refusal, Refused
from campaigner.locks import LockKey, session_try_lock
from campaigner.memory import cyclic_gc_paused
from campaigner.models import Allocation, Campaign, CampaignTemplate
from campaigner.ratelimit import campaign_import_hold
from campaigner.sql import CallTarget, call_target_of
from leads import lead_input, sql
from leads.models import (
    Door,
    ImportMapping,
    LeadImport,
    LeadImportFile,
    LeadImportReport,
    LeadJob,
    LeadOrigin,
)
from leads.services.lead_insert import LeadOutcome, OutcomesCallback, lead_insert_batch

logger = logging.getLogger(__name__)

# The Celery task that runs an import (leads/tasks.py registers it under this name), queued by
# name as SEND_TASK of leads.services.delivery is.
RUN_TASK = "leads.tasks.lead_import_run_task"
FILE_PIECE = 1024 * 1024  # bytes per stored piece of the file
MAX_RUNS = 3  # starts of one import (the first and two resumptions after a lost worker)
RECOVER_AFTER_S = 60  # a queued import not picked up for this long is queued again
SYSTEM_COLUMNS = (
    lead_input.EXTERNAL_ID,
    lead_input.CALLBACK_DATE,
    lead_input.PRIORITY,
    lead_input.CONTACT_HOURS,
)
SAMPLE_ROWS = 5  # rows of the file kept to show its mapping
SAMPLE_CELL = 200  # characters of a sample cell kept
# The rejected row of a file line that does not match the header.
_CELL_COUNT_CODE = Code.MALFORMED_REQUEST


# --- the file ---------------------------------------------------------------------------------


def _records(text: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, cells) for every record of a CSV text, blank lines left out.
    Raises ``csv.Error`` (bad quoting, a cell over the field size limit) and
    ``UnicodeDecodeError``."""
    reader = csv.reader(text, strict=True)
    line = 1
    try:
        for cells in reader:
            if cells:
                yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise csv.Error(f"at line {line}: {exc}") from None


@contextlib.contextmanager
def _text(binary: IO[bytes]) -> Iterator[IO[str]]:
    """``binary`` read as UTF-8 text (a BOM skipped), left open afterwards."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()


@dataclass(frozen=True)
class _Columns:
    header: list[str]
    used: dict[int, str]  # cell index -> lead key
    ignored: list[str]


# --- the mapping: which field each column fills -------------------------------------------------

# Spellings of the system fields a vendor's header uses, squashed (see ``_squash``).
_SYSTEM_ALIASES = {
    lead_input.EXTERNAL_ID: {
        "externalid", "externalleadid", "njexternalleadid", "leadid", "leadref", "id",
        "customerid", "customerref", "crmid", "recordid", "reference", "ref", "refid",
        "vendorleadid", "sourceid", "accountid", "accountnumber",
    },
    lead_input.PRIORITY: {"priority", "njpriority", "leadpriority", "rank"},
    lead_input.CALLBACK_DATE: {
        "callback", "callbackdate", "njcallbackdate", "callbacktime", "callbackat",
        "callbackdatetime", "callbackon", "recall", "recalldate",
    },
    lead_input.CONTACT_HOURS: {"contacthours", "njcontacthours", "callhours", "hours"},
}  # fmt: skip
# A column spelled so fills the template's first phone field.
_PHONE_ALIASES = {
    "phone", "phonenumber", "phoneno", "number", "telephone", "tel", "mobile", "mobilenumber",
    "cell", "cellphone", "contactnumber", "msisdn",
}  # fmt: skip


def _squash(name: str) -> str:
    """A column or field name without case, spaces or punctuation ("Phone No." -> "phoneno")."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def mapping_key(column: str) -> str:
    """How a template's saved mapping names a column: trimmed and case-folded."""
    return column.strip().casefold()


def mapping_targets(target: CallTarget) -> list[str]:
    """What a column can fill: the template's fields, then the system fields."""
    return sorted(target.field_names) + list(SYSTEM_COLUMNS)


def mapping_guess(header: list[str], target: CallTarget) -> dict[str, str]:
    """The mapping offered for a file: each column's field ("" for none), from the template's
    saved mapping, else its exact name, else a known spelling (``Phone No.``, ``Customer
    ID``, ``Call back``). No field is filled twice: the first column to claim it keeps it."""
    saved = (
        ImportMapping.objects.filter(template_id=target.template_id)
        .values_list("columns", flat=True)
        .first()
        or {}
    )
    targets = set(mapping_targets(target))
    by_squash = {_squash(name): name for name in targets}
    for name, aliases in _SYSTEM_ALIASES.items():
        by_squash.update(dict.fromkeys(aliases - by_squash.keys(), name))
    if target.phone_fields:
        by_squash.update(dict.fromkeys(_PHONE_ALIASES - by_squash.keys(), target.phone_fields[0]))
    # Surer guesses first: a column named exactly as a field keeps it from an alias elsewhere.
    passes = (
        lambda column: saved.get(mapping_key(column)),
        lambda column: column.strip(),
        lambda column: by_squash.get(_squash(column)),
    )
    mapping: dict[str, str | None] = dict.fromkeys(header)
    for guess in passes:
        for column in header:
            field = guess(column)
            if mapping[column] is None and (
                field == "" or (field in targets and field not in mapping.values())
            ):
                mapping[column] = field
    return {column: field or "" for column, field in mapping.items()}


def _columns(
    header: list[str],
    target: CallTarget,
    mapping: dict[str, str] | None,
    *,
    complete: bool = True,
) -> _Columns:
    """The file's columns as ``mapping`` (``None``: by their names) fills them; ``Refused`` if
    the header or the mapping cannot be used (``complete``: if no column is mapped to a phone
    field; a draft's mapping may be unfinished)."""
    seen: set[str] = set()
    for column in header:
        if "\x00" in column:  # PostgreSQL text and jsonb cannot hold NUL
            raise Refused(Refusal.INVALID, "a column name holds a NUL character", "file")
        if column.strip() in seen:
            raise Refused(Refusal.INVALID, f"the column {column.strip()!r} appears twice", "file")
        seen.add(column.strip())
    if mapping is None:
        known = target.field_names | set(SYSTEM_COLUMNS)
        mapping = {column: column.strip() if column.strip() in known else "" for column in header}
    unknown_columns = [column for column in mapping if column not in header]
    if unknown_columns:
        raise Refused(
            Refusal.INVALID,
            f"the mapping names columns the file does not have: {_names(unknown_columns)}",
            "mapping",
        )
    targets = set(mapping_targets(target))
    filled: dict[str, str] = {}
    for column, field in mapping.items():
        if not isinstance(field, str) or (field and field not in targets):
            raise Refused(
                Refusal.INVALID,
                f"the column {column!r} is mapped to {field!r}, which is neither a field of the"
                " template nor a system field",
                "mapping",
            )
        if field and field in filled:
            raise Refused(
                Refusal.INVALID,
                f"the columns {filled[field]!r} and {column!r} are both mapped to {field!r}",
                "mapping",
            )
        if field:
            filled[field] = column
    if complete and not filled.keys() & set(target.phone_fields):
        phones = _names(target.phone_fields) or "(none)"
        raise Refused(
            Refusal.INVALID,
            f"no column is mapped to a phone field of the template (its phone fields: {phones})",
            "mapping",
        )
    return _Columns(
        header=header,
        used={i: mapping[column] for i, column in enumerate(header) if mapping.get(column)},
        ignored=[column for column in header if not mapping.get(column)],
    )


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _inspect(upload: IO[bytes]) -> tuple[list[str], list[list[str]], int]:
    """The file's header, its first rows (``SAMPLE_ROWS``) and its number of rows; ``Refused``
    if it is not a CSV file with a header and rows."""
    upload.seek(0)
    rows, line, sample = 0, 0, list[list[str]]()
    try:
        with _text(upload) as text:
            records = _records(text)
            first = next(records, None)
            if first is None:
                raise Refused(Refusal.INVALID, "the file is empty", "file")
            for start, cells in records:
                rows, line = rows + 1, start
                if len(sample) < SAMPLE_ROWS:
                    # PostgreSQL cannot store NUL, which becomes U+FFFD
                    sample.append([c[:SAMPLE_CELL].replace("\x00", "\ufffd") for c in cells])
    except UnicodeDecodeError:
        where = f"after line {line}" if line else "in its first line"
        raise Refused(Refusal.INVALID, f"the file is not UTF-8 text ({where})", "file") from None
    except csv.Error as exc:
        raise Refused(Refusal.INVALID, f"the file is not CSV {exc}", "file") from None
    if not rows:
        raise Refused(Refusal.INVALID, "the file has a header but no rows", "file")
    return first[1], sample, rows


def _store(lead_import: LeadImport, upload: IO[bytes]) -> None:
    upload.seek(0)
    seq = 0
    with connection.cursor() as cursor:
        while piece := upload.read(FILE_PIECE):
            cursor.execute(
                sql.IMPORT_FILE_PIECE_ADD,
                [lead_import.pk, seq, piece],
            )
            seq += 1


class _StoredFile(io.RawIOBase):
    """The stored file of an import, read piece by piece (one piece in memory at a time) on a
    connection of its own: the file is read ahead while a chunk's transaction is still writing
    on the default one."""

    def __init__(self, import_id: int) -> None:
        self.import_id, self.seq, self.rest = import_id, 0, memoryview(b"")
        self.db = connections.create_connection(DEFAULT_DB_ALIAS)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.rest:
            with self.db.cursor() as cursor:
                cursor.execute(
                    sql.IMPORT_FILE_PIECE,
                    [self.import_id, self.seq],
                )
                row = cursor.fetchone()
            if row is None:
                return 0
            self.rest, self.seq = memoryview(bytes(row[0])), self.seq + 1
        size = min(len(buffer), len(self.rest))
        buffer[:size] = self.rest[:size]
        self.rest = self.rest[size:]
        return size

    def close(self) -> None:
        self.db.close()
        super().close()


# --- creating, cancelling ---------------------------------------------------------------------


def lead_import_create(
    template: CampaignTemplate,
    campaign: Campaign,
    allocation: Allocation,
    upload: IO[bytes],
    *,
    file_name: str,
    size: int,
    allow_duplicates: bool,
    user: Any,
    mapping: dict[str, str] | None = None,
    then: Literal["run", "dry_run", "draft"] = "run",
) -> LeadImport:
    """Check the target and the file and store the file, with its mapping: the guess
    (``mapping_guess``) where ``mapping`` names no field for a column. ``then``: queue the
    import (on commit), queue a dry run of it, or leave it a draft whose mapping is chosen
    next. Must run in a transaction; ``Refused(INVALID)`` leaves nothing behind."""
    if campaign.template_id != template.pk:
        raise Refused(Refusal.INVALID, "the campaign is not one of the template's", "campaign")
    if allocation.campaign_id != campaign.pk:
        raise Refused(Refusal.INVALID, "the allocation is not one of the campaign's", "allocation")
    limit = settings.LEAD_IMPORT_MAX_BYTES
    if size > limit:
        raise Refused(Refusal.INVALID, f"the file is larger than {limit:,} bytes", "file")
    if size == 0:
        raise Refused(Refusal.INVALID, "the file is empty", "file")
    allocation = Allocation.objects.select_related("campaign__template__contact_hours").get(
        pk=allocation.pk
    )
    header, sample, rows = _inspect(upload)
    target = call_target_of(allocation)
    chosen = {**mapping_guess(header, target), **(mapping or {})}
    _columns(header, target, chosen, complete=then != "draft")
    lead_import = LeadImport.objects.create(
        campaign_id=allocation.campaign_id,
        allocation=allocation,
        allow_duplicates=allow_duplicates,
        file_name=file_name[:255],
        file_size=size,
        header=header,
        sample=sample,
        mapping=chosen,
        rows=rows,
        status=LeadImport.Status.DRAFT,
        created_by=user if getattr(user, "pk", None) else None,
    )
    _origin(lead_import)
    _store(lead_import, upload)
    if then != "draft":
        lead_import_start(lead_import, dry_run=then == "dry_run")
    return lead_import


def lead_import_start(
    lead_import: LeadImport, *, mapping: dict[str, str] | None = None, dry_run: bool = False
) -> LeadImport:
    """Queue a draft import (on commit), or a dry run of it: the same rows, checks and counts,
    nothing written. ``mapping`` (every column, or some of them over the draft's) is checked,
    kept with the import and saved as the template's, offered for its next file. Must run in
    a transaction; ``Refused(INVALID)`` changes nothing."""
    # The import's row only: a join here would lock its allocation's row too.
    locked = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
    if locked.status != LeadImport.Status.DRAFT:
        raise Refused(
            Refusal.INVALID, f"the import is {locked.status}, not a draft to run", "status"
        )
    allocation = Allocation.objects.select_related("campaign__template__contact_hours").get(
        pk=locked.allocation_id
    )
    target = call_target_of(allocation)
    chosen = {**locked.mapping, **(mapping or {})}
    columns = _columns(locked.header, target, chosen)
    ImportMapping.objects.update_or_create(
        template_id=target.template_id,
        defaults={"columns": {mapping_key(column): field for column, field in chosen.items()}},
    )
    if not dry_run:  # the import's own counts and report start from nothing
        LeadImportReport.objects.filter(lead_import=locked).delete()
    LeadImport.objects.filter(pk=locked.pk).update(
        mapping=chosen,
        ignored_columns=columns.ignored,
        dry_run=dry_run,
        status=LeadImport.Status.QUEUED,
        runs=0,
        cancel_requested=False,
        processed=0,
        imported=0,
        rejected=0,
        rejected_by_code={},
        error="",
        started_at=None,
    )
    # A broker that is down does not fail the call: the sweeper queues the import later.
    transaction.on_commit(lambda: _queue(locked.pk), robust=True)
    lead_import.refresh_from_db()
    return lead_import


def _origin(lead_import: LeadImport) -> int:
    """The origin every lead of the import names (made with the import; for an import stored
    before origins existed, on its next run)."""
    user = lead_import.created_by
    origin, _ = LeadOrigin.objects.get_or_create(
        lead_import=lead_import,
        defaults={
            "via": Door.IMPORT,
            "by": user.get_username() if user else "",
            "call": f"import {lead_import.pk} of {lead_import.file_name}"[:100],
        },
    )
    return origin.pk


# The dialer's tasks that rebuild one campaign's cache and recount the dashboard's figures
# (dialer/tasks.py).
CACHE_REFRESH_TASK = "dialer.tasks.dialer_cache_refresh_task"
STATS_REFRESH_TASK = "dialer.tasks.campaign_stats_refresh_task"


def _queue(import_id: int) -> None:
    current_app.signature(RUN_TASK, args=(import_id,)).delay()


def lead_import_cancel(lead_import: LeadImport) -> LeadImport:
    """Cancel: a draft or a queued import at once (a queued dry run returns to its draft); a
    running one after its current chunk. A finished one is left as it is."""
    Status = LeadImport.Status
    now = timezone.now()
    mine = LeadImport.objects.filter(pk=lead_import.pk)
    back_to_draft = mine.filter(status=Status.QUEUED, dry_run=True).update(status=Status.DRAFT)
    if not back_to_draft and mine.filter(status__in=[Status.DRAFT, Status.QUEUED]).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=now
    ):
        LeadImportFile.objects.filter(lead_import_id=lead_import.pk).delete()
    LeadImport.objects.filter(pk=lead_import.pk, status=Status.RUNNING).update(
        cancel_requested=True
    )
    lead_import.refresh_from_db()
    return lead_import


# --- running ----------------------------------------------------------------------------------


def _finish(lead_import: LeadImport, status: str, error: str = "") -> None:
    import_id = lead_import.pk
    if lead_import.dry_run:
        # Back to its draft, with what the import would do, or why the dry run stopped.
        counts = LeadImport.objects.filter(pk=import_id).values(
            "imported", "rejected", "rejected_by_code"
        )[0]
        checked = status == LeadImport.Status.DONE
        LeadImport.objects.filter(pk=import_id).update(
            status=LeadImport.Status.DRAFT,
            error=error,
            cancel_requested=False,
            checked={
                "imported": counts["imported"],
                "rejected": counts["rejected"],
                "rejectedByCode": counts["rejected_by_code"],
                "finishedAt": timezone.now().isoformat(),
            }
            if checked
            else None,
        )
        return
    LeadImport.objects.filter(pk=import_id).update(
        status=status, error=error, finished_at=timezone.now()
    )
    if status != LeadImport.Status.FAILED:  # a failed import keeps its file for a resume
        LeadImportFile.objects.filter(lead_import_id=import_id).delete()
    imported = LeadImport.objects.filter(pk=import_id, imported__gt=0)
    campaign_id = imported.values_list("campaign_id", flat=True).first()
    if campaign_id is not None:
        recount_after_writes(campaign_id)


def recount_after_writes(campaign_id: int) -> None:
    """After an import or a bulk job into a campaign: its dialer cache rebuilt and the
    dashboard's figures recounted now (on commit), rather than at beat's next round (up to
    DIALER_REFRESH_SECONDS, DASHBOARD_REFRESH_SECONDS). Queued by name: the dialer app imports
    this one. A broker that is down leaves them to beat."""

    def queue() -> None:
        current_app.signature(CACHE_REFRESH_TASK, args=(campaign_id,)).delay()
        current_app.signature(STATS_REFRESH_TASK).delay()

    transaction.on_commit(queue, robust=True)


def lead_import_run(import_id: int) -> str:
    """Run (or resume) an import or a dry run; returns its status afterwards. Never raises for
    a bad row or a failed chunk: the import is marked ``failed`` with the reason instead (a
    dry run returns to its draft with it)."""
    if connection.in_atomic_block:
        raise RuntimeError("an import commits chunk by chunk; run it outside a transaction")
    with session_try_lock(LockKey.LEAD_IMPORT_RUN, import_id) as mine:
        if not mine:
            return "running elsewhere"
        lead_import = LeadImport.objects.filter(pk=import_id).first()
        if lead_import is None:
            return "gone"
        if lead_import.status not in (LeadImport.Status.QUEUED, LeadImport.Status.RUNNING):
            return lead_import.status  # finished, or a draft (a task queued twice)
        if lead_import.cancel_requested:
            _finish(lead_import, LeadImport.Status.CANCELLED)
            return LeadImport.Status.CANCELLED
        if lead_import.runs >= MAX_RUNS:
            done = (
                "nothing is written" if lead_import.dry_run else "the rows before that are imported"
            )
            _finish(
                lead_import,
                LeadImport.Status.FAILED,
                f"its worker stopped {lead_import.runs} times (last at row"
                f" {lead_import.processed:,}); {done}",
            )
            return LeadImport.Status.FAILED
        LeadImport.objects.filter(pk=import_id).update(runs=F("runs") + 1)
        with campaign_import_hold(lead_import.campaign_id):
            status, error = _run_held(lead_import)
        _finish(lead_import, status, error)
        lead_import.refresh_from_db(fields=["status"])
        return lead_import.status


def _run_held(lead_import: LeadImport) -> tuple[str, str]:
    now = timezone.now()
    if lead_import.dry_run:  # a dry run wrote nothing before: it starts over
        LeadImportReport.objects.filter(lead_import=lead_import).delete()
        LeadImport.objects.filter(pk=lead_import.pk).update(
            processed=0, imported=0, rejected=0, rejected_by_code={}
        )
        lead_import.processed, lead_import.rejected_by_code = 0, {}
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.RUNNING, started_at=lead_import.started_at or now
    )
    try:
        allocation = Allocation.objects.select_related("campaign__template__contact_hours").get(
            pk=lead_import.allocation_id
        )
        target = call_target_of(allocation)
        if lead_import.dry_run:
            with _rolled_back(), _ProgressAside() as aside:
                progress = _Progress(lead_import, _origin(lead_import), aside.cursor)
                return _run_chunks(lead_import, target, progress)
        return _run_chunks(lead_import, target, _Progress(lead_import, _origin(lead_import)))
    except Exception as exc:
        logger.exception("import %s failed", lead_import.pk)
        return LeadImport.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]


def _run_chunks(
    lead_import: LeadImport, target: CallTarget, progress: _Progress
) -> tuple[str, str]:
    mapping = lead_import.mapping or None  # none: an import stored before mappings, by name
    with (
        cyclic_gc_paused(),
        _read_chunks(lead_import.pk, target, mapping, lead_import.processed) as chunks,
    ):
        chunk = next(chunks, None)
        while chunk is not None:
            if _cancel_requested(lead_import.pk):
                return LeadImport.Status.CANCELLED, ""
            ahead = _ReadAhead(chunks)
            progress.run(target, chunk, outcomes_known=ahead)
            chunk = ahead.chunk()
    return LeadImport.Status.DONE, ""


@contextlib.contextmanager
def _rolled_back() -> Iterator[None]:
    """One transaction around a dry run's every chunk, rolled back at its end: each chunk is
    checked against the leads of the chunks before it, exactly as the import would be, and
    none is ever committed (the campaign's insert lock is held meanwhile, as by the import)."""
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


class _ProgressAside:
    """A connection of its own, in autocommit, for a dry run's progress and report: they are
    seen as it goes, while its leads are never committed."""

    def __enter__(self) -> _ProgressAside:
        self.db = connections.create_connection(DEFAULT_DB_ALIAS)
        self.db.ensure_connection()
        self.cursor = self.db.cursor()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cursor.close()
        self.db.close()


@dataclass
class _Chunk:
    """The next rows of the file, as the insert service takes them."""

    size: int  # rows of the file
    leads: list[dict[str, str]]  # of the rows that match the header
    rows: list[tuple[int, list[str]]]  # (line, cells) of each of those leads
    misshapen: list[tuple[int, list[str], LeadOutcome]]  # rows that do not, rejected


@contextlib.contextmanager
def _read_chunks(
    import_id: int, target: CallTarget, mapping: dict[str, str] | None, skip: int
) -> Iterator[Iterator[_Chunk]]:
    """The stored file's rows after the first ``skip`` (committed by an earlier run), in
    chunks of ``LEAD_IMPORT_CHUNK_ROWS``, as ``mapping`` reads them."""
    stored = _StoredFile(import_id)
    try:
        with _text(io.BufferedReader(stored, FILE_PIECE)) as text:
            yield _chunks_of(_records(text), target, mapping, skip)
    finally:
        stored.close()


def _chunks_of(
    records: Iterator[tuple[int, list[str]]],
    target: CallTarget,
    mapping: dict[str, str] | None,
    skip: int,
) -> Iterator[_Chunk]:
    columns = _columns(next(records)[1], target, mapping)
    width, used = len(columns.header), columns.used
    for chunk in _batches(records, skip):
        leads, rows, misshapen = [], [], []
        for line, cells in chunk:
            if len(cells) == width:
                leads.append(lead_of_row(cells, used))
                rows.append((line, cells))
            else:
                reason = f"{len(cells)} cells where the header has {width}"
                misshapen.append((line, cells, LeadOutcome(_CELL_COUNT_CODE, reason)))
        yield _Chunk(len(chunk), leads, rows, misshapen)


class _ReadAhead:
    """Reads the next chunk of the file when called: passed as a batch's ``outcomes_known``, the
    file is read and parsed while the batch's last rows are still being written. A failure to
    read is raised by ``chunk()``, after the batch has committed, not into it."""

    def __init__(self, chunks: Iterator[_Chunk]) -> None:
        self.chunks, self.done = chunks, False
        self.next: _Chunk | None = None
        self.error: Exception | None = None

    def __call__(self, outcomes: list[LeadOutcome]) -> None:
        try:
            self.next = next(self.chunks, None)
        except Exception as exc:
            self.error = exc
        self.done = True

    def chunk(self) -> _Chunk | None:
        if not self.done:  # ``outcomes_known`` was not called: read it now
            self(outcomes=[])
        if self.error is not None:
            raise self.error
        return self.next


def _cancel_requested(import_id: int) -> bool:
    return LeadImport.objects.filter(pk=import_id, cancel_requested=True).exists()


def _batches(
    records: Iterator[tuple[int, list[str]]], skip: int
) -> Iterator[list[tuple[int, list[str]]]]:
    """The data records in chunks of ``LEAD_IMPORT_CHUNK_ROWS``, after the first ``skip``
    (committed by an earlier run)."""
    size = settings.LEAD_IMPORT_CHUNK_ROWS
    records = itertools.islice(records, skip, None)
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def lead_of_row(cells: list[str], used: dict[int, str]) -> dict[str, str]:
    """The lead of a row: its used columns' non-empty cells."""
    return {name: cells[i] for i, name in used.items() if cells[i] != ""}


class _Progress:
    """An import's counts, written with each chunk's leads (on ``aside``, a connection of its
    own, for a dry run)."""

    def __init__(self, lead_import: LeadImport, origin_id: int, aside: Any = None) -> None:
        self.lead_import, self.origin_id, self.aside = lead_import, origin_id, aside
        self.by_code = Counter({int(code): n for code, n in lead_import.rejected_by_code.items()})

    def run(self, target: CallTarget, chunk: _Chunk, outcomes_known: OutcomesCallback) -> None:
        """Insert a chunk's leads; its rejections and the new counts commit with them."""
        rows, misshapen = chunk.rows, chunk.misshapen

        def record(outcomes: list[LeadOutcome]) -> None:
            rejected = misshapen + [
                (line, cells, outcome)
                for (line, cells), outcome in zip(rows, outcomes, strict=True)
                if outcome.code is not Code.OK
            ]
            self._write(chunk.size, len(rows) - len(rejected) + len(misshapen), rejected)

        lead_insert_batch(
            target,
            chunk.leads,
            origin=self.origin_id,
            allow_duplicates=self.lead_import.allow_duplicates,
            outcomes_known=outcomes_known,
            write_in_batch_transaction=record,
        )

    def _write(
        self, processed: int, imported: int, rejected: list[tuple[int, list[str], LeadOutcome]]
    ) -> None:
        """In the chunk's transaction: its piece of the report and the import's new counts."""
        self.by_code.update(int(outcome.code) for _, _, outcome in rejected)
        with contextlib.ExitStack() as stack:
            cursor = self.aside or stack.enter_context(connection.cursor())
            if rejected:
                rejected.sort(key=lambda r: r[0])
                text = io.StringIO()
                writer = csv.writer(text)
                for line, cells, outcome in rejected:
                    writer.writerow(
                        [line, int(outcome.code), outcome.detail or outcome.code.name, *cells]
                    )
                # PostgreSQL cannot store NUL, which becomes U+FFFD
                report = text.getvalue().replace("\x00", "\ufffd")
                cursor.execute(
                    sql.IMPORT_REPORT_ADD,
                    [self.lead_import.pk, rejected[0][0], len(rejected), report],
                )
            by_code = {str(code): n for code, n in sorted(self.by_code.items())}
            cursor.execute(
                sql.IMPORT_PROGRESS,
                [processed, imported, len(rejected), json.dumps(by_code), self.lead_import.pk],
            )


# --- the report, the sweeper ------------------------------------------------------------------


def lead_import_errors_csv(lead_import: LeadImport, *, spreadsheet: bool = False) -> Iterator[str]:
    """The error report: ``line, code, reason``, then the rejected row's cells as sent under the
    file's own header; a header line, then one piece per chunk that rejected rows.

    As sent, it can be corrected and imported again; but a cell that begins with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return is a formula to a spreadsheet (a vendor's file may
    hold ``=HYPERLINK(…)``). With ``spreadsheet``, every such cell gets a leading ``'``, which
    a spreadsheet shows as text (OWASP's advice for CSV injection)."""
    header = io.StringIO()
    csv.writer(header).writerow(["line", "code", "reason", *lead_import.header])
    pieces = LeadImportReport.objects.filter(lead_import=lead_import).order_by("first_line")
    texts = itertools.chain([header.getvalue()], pieces.values_list("text", flat=True).iterator(1))
    yield from (_spreadsheet_safe(text) for text in texts) if spreadsheet else texts


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(text: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow(f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell for cell in row)
    return out.getvalue()


def lead_imports_recover(queue: Callable[[int], None] | None = None) -> list[int]:
    """Queue again every import that should be running but has no runner (its worker died, or
    its task was lost); returns their ids. The run resumes after its last committed chunk.
    Drafts left for ``LEAD_IMPORT_DRAFT_HOURS`` are discarded with their files."""
    stale = timezone.now() - dt.timedelta(hours=settings.LEAD_IMPORT_DRAFT_HOURS)
    for draft in LeadImport.objects.filter(status=LeadImport.Status.DRAFT, created_at__lt=stale):
        lead_import_cancel(draft)
    lost = runs_lost(LeadImport, LockKey.LEAD_IMPORT_RUN)
    for import_id in lost:
        (queue or _queue)(import_id)
    return lost


def runs_lost(model: type[LeadImport] | type[LeadJob], run_lock: LockKey) -> list[int]:
    """The ids of the imports or bulk jobs (``model``) that should be running but whose run
    lock (``run_lock``) is free: their worker died, or their task was lost. A queued one is
    given ``RECOVER_AFTER_S`` for its task to arrive."""
    stale = timezone.now() - dt.timedelta(seconds=RECOVER_AFTER_S)
    lost = []
    open_runs = model.objects.filter(
        status__in=[model.Status.QUEUED, model.Status.RUNNING]
    ).values_list("pk", "status", "created_at")
    for run_id, status, created_at in open_runs:
        if status == model.Status.QUEUED and created_at > stale:
            continue  # its task is most likely on its way
        with session_try_lock(run_lock, run_id) as free:
            if free:
                lost.append(run_id)
    return lost
