"""The lead list's search by words (``LeadSelection.filter_search``, the admin's search box),
through an index that costs the insert path nothing.

**What a search finds**: the leads whose field values hold every word of the search, each as
the beginning of a word, in any case: "jan CIT" finds "Jane Citizen" (a first and a last name
in two fields), "citizen" finds "Citizen-Smith". Words are split as PostgreSQL's text search
splits them (configuration ``simple``: lower-cased, no stemming, no stop words).

**Why a table of its own**: a GIN index on the leads' words slowed the insert of 100,000 leads
by 30 % (47,000 → 33,000 leads/s). ``LeadWords`` holds each lead's words under a GIN index,
and only ``lead_words_refresh`` writes it (beat, every ``LEAD_WORDS_SECONDS``): the words of the
leads inserted since its last run, in id order, and of the leads changed since (their history,
``LeadChange``, written by the database with every change), and no words of the leads deleted.

**Why it is exact whatever its lag**: ``LeadWordsMark`` says how far the table is complete;
the search (``leads.selectors.lead_words_search``) takes the indexed words only of leads below
the marks and unchanged since, and makes the words of the rest (the newest leads, the leads
changed since) on the fly.
So a lead is found the moment its insert or change commits; the lag costs time, not results.
A mark only moves to an id that is final, one below which no transaction can still commit a
row: the highest ids are read at one run, the transaction horizon at the next, and the marks
move there once every transaction below that horizon has ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigner.locks import LockKey, advisory_xact_lock
from leads import sql
from leads.models import LeadWordsMark


@dataclass(frozen=True)
class WordsRefresh:
    leads: int  # rows written for new leads
    changed: int  # rows written or removed for changed leads
    leads_upto: int
    changes_upto: int


def lead_words_refresh(batch: int | None = None) -> WordsRefresh:
    """One step of keeping ``LeadWords`` complete: the words of the leads with final ids past
    the marks (at most ``batch`` ids, ``LEAD_WORDS_BATCH`` by default, of leads and as many of
    changes), then the marks moved past them; or the next ids to make final. One transaction,
    one refresh at a time. Idempotent: a row written twice is the same row."""
    batch = batch or settings.LEAD_WORDS_BATCH
    written = changed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_lock(LockKey.LEAD_WORDS_REFRESH, 0)
        cursor.execute(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint"
            " FROM pg_current_snapshot() s"
        )
        xmin, xmax = cursor.fetchone()
        mark, _ = LeadWordsMark.objects.select_for_update().get_or_create(pk=1)
        if mark.pending_leads is None or mark.pending_changes is None:
            # The highest ids now: any smaller one still to commit is held by a transaction
            # that has its id by the next run.
            cursor.execute(sql.WORDS_HIGHEST_IDS)
            mark.pending_leads, mark.pending_changes = cursor.fetchone()
        elif mark.pending_xmax is None:
            mark.pending_xmax = xmax
        elif xmin >= mark.pending_xmax:
            # Every transaction that held an id up to the pending ones has ended.
            upto = min(mark.pending_leads, mark.leads_upto + batch)
            cursor.execute(sql.WORDS_NEW, [mark.leads_upto, upto])
            written = cursor.rowcount
            changes_upto = min(mark.pending_changes, mark.changes_upto + batch)
            cursor.execute(sql.WORDS_GONE, [mark.changes_upto, changes_upto])
            changed = cursor.rowcount
            cursor.execute(sql.WORDS_CHANGED, [mark.changes_upto, changes_upto])
            changed += cursor.rowcount
            mark.leads_upto, mark.changes_upto = upto, changes_upto
            if (upto, changes_upto) == (mark.pending_leads, mark.pending_changes):
                mark.pending_leads = mark.pending_changes = mark.pending_xmax = None
        mark.refreshed_at = timezone.now()
        mark.save()
    return WordsRefresh(written, changed, mark.leads_upto, mark.changes_upto)


def lead_words_complete(within_s: float = 120) -> WordsRefresh:
    """Refresh until every lead and change committed before the call is in the words (tests,
    benchmarks, an operator after a restore); ``RuntimeError`` if a transaction held open
    elsewhere keeps them from catching up within ``within_s`` seconds."""
    with connection.cursor() as cursor:
        cursor.execute(sql.WORDS_HIGHEST_IDS)
        leads, changes = cursor.fetchone()
    deadline = time.monotonic() + within_s
    while True:
        done = lead_words_refresh()
        if done.leads_upto >= leads and done.changes_upto >= changes:
            return done
        if time.monotonic() > deadline:
            raise RuntimeError("the lead words did not catch up: a transaction held open?")
        if not (done.leads or done.changed):
            time.sleep(0.01)  # waiting for other transactions to end
