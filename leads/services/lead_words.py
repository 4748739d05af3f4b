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
``lead_words_search`` takes the indexed words only of leads below the marks and unchanged
since, and makes the words of the rest (the newest leads, the leads changed since) on the fly.
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
from campaigner.sql import execute_prepared
from leads.models import Lead, LeadChange, LeadWords, LeadWordsMark

_WORDS = "jsonb_to_tsvector('simple', {}, '[\"string\", \"numeric\"]')"
_LEAD, _CHANGE, _TABLE = Lead._meta.db_table, LeadChange._meta.db_table, LeadWords._meta.db_table

# The search as a text search query: each of its words as a prefix, all of them; NULL when it
# has none (only punctuation).
_QUERY = (
    "SELECT string_agg(quote_literal(lexeme) || ':*', ' & ') FROM unnest(to_tsvector('simple', %s))"
)

_UPSERT = f"""
    INSERT INTO {_TABLE} (lead_id, campaign_id, words)
    SELECT l.id, l.campaign_id, {_WORDS.format("l.fields")} FROM {_LEAD} l {{where}}
    ON CONFLICT (lead_id) DO UPDATE SET
        campaign_id = EXCLUDED.campaign_id, words = EXCLUDED.words"""  # noqa: S608
_NEW = _UPSERT.format(where="WHERE l.id > %s AND l.id <= %s")
_CHANGED_IDS = f"SELECT DISTINCT lead_id FROM {_CHANGE} WHERE id > %s AND id <= %s"  # noqa: S608
_CHANGED = _UPSERT.format(where=f"WHERE l.id IN ({_CHANGED_IDS})")
_GONE = f"""
    DELETE FROM {_TABLE} w WHERE w.lead_id IN ({_CHANGED_IDS})
    AND NOT EXISTS (SELECT 1 FROM {_LEAD} l WHERE l.id = w.lead_id)"""  # noqa: S608

# The indexed words of the leads below the leads mark and unchanged since the changes mark; the
# words of the rest made on the fly: the leads past the mark (a range of the primary key) and
# those changed since (looked up by id). Three parts, so that each is an index's.
_MATCHES = f"campaign_id = ANY(%(campaigns)s) AND {_WORDS.format('fields')} @@ %(query)s::tsquery"
_SEARCH = f"""
    SELECT w.lead_id FROM {_TABLE} w
    WHERE w.words @@ %(query)s::tsquery AND w.campaign_id = ANY(%(campaigns)s)
      AND w.lead_id <= %(leads)s
      AND NOT EXISTS (SELECT 1 FROM {_CHANGE} c
                      WHERE c.lead_id = w.lead_id AND c.id > %(changes)s)
    UNION ALL
    SELECT id FROM {_LEAD} WHERE id > %(leads)s AND {_MATCHES}
    UNION ALL
    SELECT id FROM {_LEAD}
    WHERE id IN (SELECT lead_id FROM {_CHANGE} WHERE id > %(changes)s) AND id <= %(leads)s
      AND {_MATCHES}
    LIMIT %(most)s"""  # noqa: S608


def lead_words_search(term: str, campaign_ids: list[int], most: int) -> list[int]:
    """The ids of at most ``most`` leads of ``campaign_ids`` whose words begin with every word
    of ``term`` (none when ``term`` has no word). Two round trips; the index does the work for
    every lead but those inserted or changed since the last refresh."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _QUERY, [term])
        query = cursor.fetchone()[0]
        if not query:
            return []
        mark = LeadWordsMark.objects.filter(pk=1).values_list("leads_upto", "changes_upto")
        leads, changes = mark.first() or (0, 0)
        params = {"query": query, "campaigns": campaign_ids, "leads": leads,
                  "changes": changes, "most": most}  # fmt: skip
        cursor.execute(_SEARCH, params)
        return [row[0] for row in cursor.fetchall()]


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
            cursor.execute(
                f"SELECT (SELECT coalesce(max(id), 0) FROM {_LEAD}),"  # noqa: S608
                f" (SELECT coalesce(max(id), 0) FROM {_CHANGE})"
            )
            mark.pending_leads, mark.pending_changes = cursor.fetchone()
        elif mark.pending_xmax is None:
            mark.pending_xmax = xmax
        elif xmin >= mark.pending_xmax:
            # Every transaction that held an id up to the pending ones has ended.
            upto = min(mark.pending_leads, mark.leads_upto + batch)
            cursor.execute(_NEW, [mark.leads_upto, upto])
            written = cursor.rowcount
            changes_upto = min(mark.pending_changes, mark.changes_upto + batch)
            cursor.execute(_GONE, [mark.changes_upto, changes_upto])
            changed = cursor.rowcount
            cursor.execute(_CHANGED, [mark.changes_upto, changes_upto])
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
        cursor.execute(
            f"SELECT (SELECT coalesce(max(id), 0) FROM {_LEAD}),"  # noqa: S608
            f" (SELECT coalesce(max(id), 0) FROM {_CHANGE})"
        )
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
