"""Bulk jobs over leads: move, reset, set priority, clear callbacks, close, delete, undo an
import, export (``LeadJob``). One engine, the manual import's (``lead_import``) shape:

- ``lead_job_preview``: how many leads the filter selects, and a sample, before anything runs.
- ``lead_job_create`` stores the job (its filter, its parameters checked) and queues
  ``lead_job_run`` (a Celery task). ``dry_run`` jobs classify every lead exactly as the run
  would, and write nothing but their report.
- The run takes the leads in id order, ``LEAD_JOB_CHUNK`` at a time. Each chunk is one
  transaction: its leads locked (``FOR UPDATE``: only this chunk's, never a whole allocation),
  classified, written, and the job's progress (``processed``, ``last_lead_id``, the counts)
  committed with them. A run that resumes after a lost worker goes on after ``last_lead_id``,
  so nothing is applied twice; a cancel takes effect between chunks.
- Every change is a versioned write, as ``lead_version.lead_write`` makes it: version + 1,
  the job named as the writer (the lead's history records it), and never over a check-out:
  a lead checked out by an agent or user is skipped and reported (``skipped``), as is one the
  job would not change (already closed, already in the allocation).
- Deletions (``delete``, ``undo_import``) remove the lead with its numbers, disposition and call
  records, and record a ``delete`` entry in its history. ``undo_import`` deletes only the
  import's leads still at version 1 (never written since); the others are reported as
  ``edited`` and left.
- ``export`` writes the selected leads as CSV (``lead_job_csv``), one stored piece per chunk,
  so a worker's memory is bounded by the chunk: the template's fields in order, then the
  system fields the import reads (so the file imports back as the same leads), then columns the
  import ignores (``leadId``, ``allocation``, ``disposition``, ``closed``, the numbers as
  stored).

A job sees and touches only the leads of the campaigns its user sees.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from psycopg import sql as pgsql

from campaigner.contract import Refusal, Refused
from campaigner.locks import LockKey, session_try_lock
from campaigner.models import Allocation, Campaign, ContactHours, Disposition, TemplateField
from campaigner.selectors import campaign_ids_visible
from leads import lead_input
from leads.models import (
    ActionDelivery,
    CallRecord,
    DispositionRecord,
    Door,
    Lead,
    LeadChange,
    LeadImport,
    LeadJob,
    LeadJobFile,
    LeadPhone,
)
from leads.selection import SELECTION_KEYS, lead_selection
from leads.services.lead_import import recount_after_writes, runs_lost

logger = logging.getLogger(__name__)

RUN_TASK = "leads.tasks.lead_job_run_task"
MAX_RUNS = 3
SAMPLES = 20  # lead ids kept per reason in a job's report
PREVIEW_SAMPLE = 10

Kind = LeadJob.Kind
# Reasons a lead is left alone.
CHECKED_OUT = "checked out"
UNCHANGED = "already so"
EDITED = "edited since the import"

# What each writing kind sets, and when a lead would change (else UNCHANGED). Parameters by
# name: allocation, priority.
_SETS: dict[str, tuple[str, str]] = {
    Kind.MOVE: ("allocation_id = %(allocation)s", "l.allocation_id <> %(allocation)s"),
    Kind.RESET: (
        "disposition_id = NULL, callback_at = NULL, closed = false",
        "(l.disposition_id IS NOT NULL OR l.callback_at IS NOT NULL OR l.closed)",
    ),
    Kind.PRIORITY: ("priority = %(priority)s", "l.priority <> %(priority)s"),
    Kind.CLEAR_CALLBACKS: ("callback_at = NULL", "l.callback_at IS NOT NULL"),
    Kind.CLOSE: ("closed = true", "NOT l.closed"),
    Kind.DELETE: ("", "true"),
    Kind.UNDO_IMPORT: ("", "l.version = 1"),
}
_DELETING = frozenset({Kind.DELETE, Kind.UNDO_IMPORT})

LEAD = Lead._meta.db_table


@dataclass(frozen=True)
class Preview:
    campaign_id: int
    count: int
    sample: list[Lead]


# --- creating ---------------------------------------------------------------------------------


def _selection(kind: str, selection: dict[str, Any]) -> dict[str, Any]:
    """The filter as stored: only the lead list's parameters, as text; an undo is its import's."""
    if not isinstance(selection, dict):
        raise Refused(Refusal.INVALID, "the selection must be an object of filters", "selection")
    chosen = {k: _text(v) for k, v in selection.items() if v not in (None, "")}
    if kind == Kind.UNDO_IMPORT and "leadImport" not in chosen:
        raise Refused(Refusal.INVALID, "an undo names its import (leadImport)", "selection")
    unknown = sorted(set(chosen) - set(SELECTION_KEYS))
    if unknown:
        raise Refused(Refusal.INVALID, f"not a lead filter: {', '.join(unknown)}", "selection")
    return chosen


def _text(value: Any) -> str:
    """A filter value as the lead list's query string has it (``true``, ``1,2,3``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _campaign(user: Any, selection: dict[str, Any]) -> Campaign:
    """The one campaign a job works in: the filter's, or its import's; one the user sees."""
    campaign_id: Any = selection.get("campaign")
    if campaign_id is None and "ids" in selection:
        ids = [_int(i, "ids") for i in selection["ids"].split(",") if i.strip()]
        campaign_ids = set(Lead.objects.filter(pk__in=ids).values_list("campaign_id", flat=True))
        if len(campaign_ids) > 1:
            raise Refused(Refusal.INVALID, "a job works in one campaign: pick leads of one", "ids")
        campaign_id = next(iter(campaign_ids), None)
    if campaign_id is None and "leadImport" in selection:
        campaign_id = (
            LeadImport.objects.filter(pk=_int(selection["leadImport"], "leadImport"))
            .values_list("campaign_id", flat=True)
            .first()
        )
    if campaign_id is None:
        raise Refused(Refusal.INVALID, "a job works in one campaign: filter by it", "selection")
    campaigns = Campaign.objects.select_related("template__contact_hours")
    visible = campaign_ids_visible(user)
    if visible is not None:
        campaigns = campaigns.filter(pk__in=visible)
    campaign = campaigns.filter(pk=_int(campaign_id, "campaign")).first()
    if campaign is None:
        raise Refused(Refusal.INVALID, f"no campaign {campaign_id}", "selection")
    return campaign


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Refused(Refusal.INVALID, f"{name} must be a whole number", "selection") from None


def _params(kind: str, campaign: Campaign, params: dict[str, Any]) -> dict[str, Any]:
    """What the kind needs, checked: ``allocation`` (move), ``priority`` (set priority)."""
    params = params if isinstance(params, dict) else {}
    if kind == Kind.MOVE:
        raw: Any = params.get("allocation")
        try:
            allocation = Allocation.objects.filter(pk=int(raw), campaign=campaign).first()
        except (TypeError, ValueError):
            allocation = None
        if allocation is None:
            raise Refused(Refusal.INVALID, "choose an allocation of the campaign", "allocation")
        return {"allocation": allocation.pk}
    if kind == Kind.PRIORITY:
        try:
            priority = lead_input.priority(params.get("priority"))
        except Exception:
            priority = None
        if priority is None:
            raise Refused(Refusal.INVALID, "a priority from 0 to 100", "priority")
        return {"priority": priority}
    return {}


def _kind(kind: Any) -> str:
    if kind not in Kind.values:
        raise Refused(Refusal.INVALID, f"kind must be one of {', '.join(Kind.values)}", "kind")
    return str(kind)


def _checked(user: Any, kind: Any, selection: Any) -> tuple[str, dict[str, Any], Campaign]:
    """The kind, the selection as stored and its campaign, checked."""
    kind = _kind(kind)
    if kind in _DELETING and not user.has_perm("leads.delete_lead"):
        raise Refused(Refusal.FORBIDDEN, "deleting leads is a supervisor's", "kind")
    chosen = _selection(kind, selection)
    campaign = _campaign(user, chosen)
    lead_selection(user, chosen)  # its values checked now, not when the worker runs it
    return kind, chosen, campaign


def lead_job_preview(user: Any, kind: Any, selection: Any) -> Preview:
    """How many leads a job would go over, and the first few, before it is created (its
    parameters are chosen after)."""
    kind, chosen, campaign = _checked(user, kind, selection)
    leads = lead_selection(user, chosen).filter(campaign=campaign)
    sample = list(leads.select_related("allocation").order_by("id")[:PREVIEW_SAMPLE])
    return Preview(campaign.pk, leads.count(), sample)


def lead_job_create(
    user: Any, kind: Any, selection: Any, params: Any = None, *, dry_run: bool = False
) -> LeadJob:
    """Store a job and queue it; ``Refused`` naming what is wrong, nothing stored."""
    kind, chosen, campaign = _checked(user, kind, selection)
    checked = _params(kind, campaign, params or {})
    with transaction.atomic():
        job = LeadJob.objects.create(
            kind=kind,
            campaign=campaign,
            selection=chosen,
            params=checked,
            dry_run=dry_run and kind != Kind.EXPORT,
            created_by=user if getattr(user, "pk", None) else None,
        )
        transaction.on_commit(lambda: _queue(job.pk), robust=True)
    return job


def _queue(job_id: int) -> None:
    current_app.signature(RUN_TASK, args=(job_id,)).delay()


def lead_job_cancel(job: LeadJob) -> LeadJob:
    """Cancel: a queued job at once; a running one after its current chunk."""
    LeadJob.objects.filter(pk=job.pk, status=LeadJob.Status.QUEUED).update(
        status=LeadJob.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    LeadJob.objects.filter(pk=job.pk, status=LeadJob.Status.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


# --- running ----------------------------------------------------------------------------------


def lead_job_run(job_id: int) -> str:
    """Run (or resume) a job; returns its status afterwards. A failing chunk marks the job
    ``failed`` with the reason (the chunks before it stay committed)."""
    if connection.in_atomic_block:
        raise RuntimeError("a job commits chunk by chunk; run it outside a transaction")
    with session_try_lock(LockKey.LEAD_JOB_RUN, job_id) as mine:
        if not mine:
            return "running elsewhere"
        job = LeadJob.objects.select_related("created_by", "campaign__template").filter(pk=job_id)
        found = job.first()
        if found is None or found.finished:
            return found.status if found else "gone"
        if found.cancel_requested:
            return _finish(found, LeadJob.Status.CANCELLED)
        if found.runs >= MAX_RUNS:
            return _finish(
                found,
                LeadJob.Status.FAILED,
                f"its worker stopped {found.runs} times (after lead {found.last_lead_id})",
            )
        LeadJob.objects.filter(pk=job_id).update(runs=F("runs") + 1)
        try:
            status = _run(found)
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            return _finish(found, LeadJob.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        return _finish(found, status)


def _run(job: LeadJob) -> str:
    if job.created_by is None:
        raise RuntimeError("its user was removed")
    leads = lead_selection(job.created_by, job.selection).filter(campaign_id=job.campaign_id)
    now = timezone.now()
    if job.status == LeadJob.Status.QUEUED:
        LeadJob.objects.filter(pk=job.pk).update(
            status=LeadJob.Status.RUNNING, started_at=now, total=leads.count()
        )
    chunk = _export_chunk(job) if job.kind == Kind.EXPORT else _write_chunk(job)
    report = _Report(job)
    last = job.last_lead_id
    while True:
        if LeadJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
            return LeadJob.Status.CANCELLED
        with transaction.atomic():
            ids = list(
                leads.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[: settings.LEAD_JOB_CHUNK]
            )
            if not ids:
                return LeadJob.Status.DONE
            changed, skipped = chunk(ids)
            last = ids[-1]
            report.add(len(ids), changed, skipped, last)


class _Report:
    """A job's counts, written with each chunk."""

    def __init__(self, job: LeadJob) -> None:
        self.job = job
        self.skipped = Counter(job.skipped)
        self.samples: dict[str, list[int]] = {k: list(v) for k, v in job.samples.items()}

    def add(self, processed: int, changed: int, skipped: dict[str, list[int]], last: int) -> None:
        for reason, ids in skipped.items():
            self.skipped[reason] += len(ids)
            kept = self.samples.setdefault(reason, [])
            kept.extend(ids[: max(0, SAMPLES - len(kept))])
        LeadJob.objects.filter(pk=self.job.pk).update(
            processed=F("processed") + processed,
            changed=F("changed") + changed,
            skipped=dict(self.skipped),
            samples=self.samples,
            last_lead_id=last,
        )


def _finish(job: LeadJob, status: str, error: str = "") -> str:
    LeadJob.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=timezone.now())
    if job.kind != Kind.EXPORT and not job.dry_run:
        recount_after_writes(job.campaign_id)
    return status


def _held(now_param: str) -> str:
    return f"(l.checked_out_until IS NOT NULL AND l.checked_out_until > {now_param})"


def _write_chunk(job: LeadJob) -> Callable[[list[int]], tuple[int, dict[str, list[int]]]]:
    """The step of a writing job: lock the chunk's leads, classify each (checked out, would not
    change, edited since its import), write the rest (unless a dry run)."""
    sets, would_change = _SETS[job.kind]
    by = f"job {job.pk}"

    def chunk(ids: list[int]) -> tuple[int, dict[str, list[int]]]:
        params = {**job.params, "ids": ids, "now": timezone.now(), "by": by}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT l.id, {_held('%(now)s')}, {would_change} FROM {LEAD} l"  # noqa: S608
                " WHERE l.id = ANY(%(ids)s::bigint[]) ORDER BY l.id FOR UPDATE",
                params,
            )
            rows = cursor.fetchall()
            skipped: dict[str, list[int]] = {}
            writes = []
            for lead_id, held, changes in rows:
                if held:
                    skipped.setdefault(CHECKED_OUT, []).append(lead_id)
                elif not changes:
                    reason = EDITED if job.kind == Kind.UNDO_IMPORT else UNCHANGED
                    skipped.setdefault(reason, []).append(lead_id)
                else:
                    writes.append(lead_id)
            if job.dry_run or not writes:
                return len(writes), skipped
            if job.kind in _DELETING:
                leads_delete(cursor, writes, Door.JOB, by)
            else:
                cursor.execute(
                    f"UPDATE {LEAD} SET {sets}, version = version + 1,"  # noqa: S608
                    " updated_at = %(now)s, changed_via = %(via)s, changed_by = %(by)s"
                    " WHERE id = ANY(%(ids)s::bigint[])",
                    {**params, "ids": writes, "via": Door.JOB.value},
                )
        return len(writes), skipped

    return chunk


def leads_delete(cursor: Any, ids: list[int], via: Door, by: str) -> None:
    """Delete the leads ``ids`` (locked by the caller) with their numbers, disposition and call
    records (their deliveries kept, no longer naming them), each recorded in its history."""
    tables = {
        "call": CallRecord._meta.db_table,
        "delivery": ActionDelivery._meta.db_table,
        "record": DispositionRecord._meta.db_table,
        "phone": LeadPhone._meta.db_table,
        "change": LeadChange._meta.db_table,
    }
    cursor.execute(f"DELETE FROM {tables['call']} WHERE lead_id = ANY(%s::bigint[])", [ids])  # noqa: S608
    cursor.execute(
        f"UPDATE {tables['delivery']} SET lead_id = NULL, record_id = NULL"  # noqa: S608
        " WHERE lead_id = ANY(%s::bigint[])",
        [ids],
    )
    cursor.execute(f"DELETE FROM {tables['record']} WHERE lead_id = ANY(%s::bigint[])", [ids])  # noqa: S608
    cursor.execute(f"DELETE FROM {tables['phone']} WHERE lead_id = ANY(%s::bigint[])", [ids])  # noqa: S608
    cursor.execute(
        f"WITH gone AS (DELETE FROM {LEAD} WHERE id = ANY(%s::bigint[]) RETURNING id, version)"  # noqa: S608
        f" INSERT INTO {tables['change']} (lead_id, kind, at, via, by, version_before,"
        "  version_after, fields, system)"
        " SELECT id, 'delete', statement_timestamp(), %s, %s, version, NULL, '{}', '{}'"
        " FROM gone",
        [ids, via.value, by[:150]],
    )


# --- export -----------------------------------------------------------------------------------

EXPORT_SYSTEM = (
    lead_input.EXTERNAL_ID,
    lead_input.PRIORITY,
    lead_input.CALLBACK_DATE,
    lead_input.CONTACT_HOURS,
)
EXPORT_INFO = ("leadId", "allocation", "disposition", "closed", "version", "createdAt")


def export_header(job: LeadJob) -> list[str]:
    names = _field_names(job)
    phones = _phone_fields(job)
    return [*names, *EXPORT_SYSTEM, *EXPORT_INFO, *(f"number:{name}" for name in phones)]


def _field_names(job: LeadJob) -> list[str]:
    fields = TemplateField.objects.filter(template_id=job.campaign.template_id)
    return list(fields.order_by("position", "id").values_list("name", flat=True))


def _phone_fields(job: LeadJob) -> list[str]:
    fields = TemplateField.objects.filter(template_id=job.campaign.template_id, is_phone=True)
    return list(fields.order_by("position", "id").values_list("name", flat=True))


def _export_query(job: LeadJob) -> pgsql.Composed:
    """COPY of a chunk's leads (``%s``: their ids) as CSV, in PostgreSQL: each cell made by the
    server, no row passing through Python objects. A callback date is written as the import
    reads it: ``yyyy/MM/dd HH:mm`` in the lead's zone."""
    template = job.campaign.template
    hours = template.contact_hours
    default_zone = hours.timezone if hours is not None else None
    zone = pgsql.Literal(default_zone or settings.TIME_ZONE)
    cells: list[pgsql.Composable] = [
        pgsql.SQL("l.fields ->> {}").format(pgsql.Literal(name)) for name in _field_names(job)
    ]
    cells += [
        pgsql.SQL("l.external_id"),
        pgsql.SQL("l.priority"),
        pgsql.SQL(
            "to_char(l.callback_at AT TIME ZONE coalesce(h.timezone, {}), 'YYYY/MM/DD HH24:MI')"
        ).format(zone),
        pgsql.SQL("h.name"),
        pgsql.SQL("l.id"),
        pgsql.SQL("a.name"),
        pgsql.SQL("d.name"),
        pgsql.SQL("CASE WHEN l.closed THEN 'true' ELSE 'false' END"),
        pgsql.SQL("l.version"),
        pgsql.SQL("to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ]
    cells += [
        pgsql.SQL(
            "(SELECT p.number FROM {} p WHERE p.lead_id = l.id AND p.field_name = {})"
        ).format(pgsql.Identifier(LeadPhone._meta.db_table), pgsql.Literal(name))
        for name in _phone_fields(job)
    ]
    return pgsql.SQL(
        "COPY (SELECT {} FROM {} l JOIN {} a ON a.id = l.allocation_id"
        " LEFT JOIN {} h ON h.id = l.contact_hours_id LEFT JOIN {} d ON d.id = l.disposition_id"
        " WHERE l.id = ANY(%s::bigint[]) ORDER BY l.id) TO STDOUT WITH (FORMAT csv)"
    ).format(
        pgsql.SQL(", ").join(cells),
        pgsql.Identifier(LEAD),
        pgsql.Identifier(Allocation._meta.db_table),
        pgsql.Identifier(ContactHours._meta.db_table),
        pgsql.Identifier(Disposition._meta.db_table),
    )


def _export_chunk(job: LeadJob) -> Callable[[list[int]], tuple[int, dict[str, list[int]]]]:
    """The step of an export: the chunk's rows as one stored piece of the file (its first
    piece, the header, written with the first chunk)."""
    query = _export_query(job)
    seq = LeadJobFile.objects.filter(job=job).count()

    def chunk(ids: list[int]) -> tuple[int, dict[str, list[int]]]:
        nonlocal seq
        pieces: list[bytes] = []
        if seq == 0:
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(export_header(job))
            pieces.append(header.getvalue().encode())
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(query, [ids]) as copy:
            pieces.extend(bytes(block) for block in copy)
        LeadJobFile.objects.create(job=job, seq=seq, data=b"".join(pieces))
        seq += 1
        return len(ids), {}

    return chunk


def lead_job_csv(job: LeadJob) -> Iterator[bytes]:
    """An export's file, piece by piece (one query per piece: the download's memory is one
    chunk's)."""
    pieces = LeadJobFile.objects.filter(job=job).order_by("seq").values_list("seq", flat=True)
    for seq in list(pieces):
        data = LeadJobFile.objects.filter(job=job, seq=seq).values_list("data", flat=True).get()
        yield bytes(data)


# --- the sweeper ------------------------------------------------------------------------------


def lead_jobs_recover(queue: Callable[[int], None] | None = None) -> list[int]:
    """Queue again every job that should be running but has no runner (as imports are)."""
    lost = runs_lost(LeadJob, LockKey.LEAD_JOB_RUN)
    for job_id in lost:
        (queue or _queue)(job_id)
    return lost


def jobs_visible(user: Any) -> QuerySet[LeadJob]:
    jobs = LeadJob.objects.select_related("campaign", "created_by").order_by("-id")
    visible = campaign_ids_visible(user)
    return jobs if visible is None else jobs.filter(campaign__in=visible)
