"""The references of leads and their numbers, as the database enforces them for every writer
(migration leads 0011: triggers checking per statement, not foreign keys per row). Each
guarantee is attacked with raw SQL, one row and many at once, and the two that race (an
insert against a delete of what it refers to) are raced with real threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from psycopg.errors import ForeignKeyViolation

from leads.models import Lead, LeadPhone
from tests.concurrency import in_threads
from tests.factories import AllocationFactory, LeadFactory, LeadPhoneFactory

ALLOCATION = "lead_allocation_in_campaign"
PHONE = "lead_phone_of_a_lead"

LEAD_ROW = (
    "INSERT INTO leads_lead (campaign_id, allocation_id, fields, priority, closed, version,"
    " checked_out_by, created_at, updated_at)"
    " SELECT %s, %s, '{}', 10, false, 1, '', now(), now() FROM generate_series(1, %s)"
)
PHONE_ROW = (
    "INSERT INTO leads_leadphone (lead_id, campaign_id, field_name, number, blocked)"
    " SELECT %s, %s, 'F' || i, '04' || i, false FROM generate_series(1, %s) AS i"
)


def sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(constraint: str) -> Any:
    return pytest.raises(IntegrityError, match=constraint)


def committed() -> None:
    """The end of a transaction: the deferred checks run."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
class TestRawSql:
    def test_a_lead_needs_an_allocation_of_its_own_campaign(self) -> None:
        allocation, other = AllocationFactory(), AllocationFactory()
        for campaign, allocation_id, rows in [
            (allocation.campaign_id, other.pk, 1),  # another campaign's allocation
            (allocation.campaign_id, other.pk, 500),  # a batch of them
            (allocation.campaign_id, 999_999, 1),  # none at all
        ]:
            with refused(ALLOCATION), transaction.atomic():
                sql(LEAD_ROW, [campaign, allocation_id, rows])
        sql(LEAD_ROW, [allocation.campaign_id, allocation.pk, 500])
        assert Lead.objects.filter(allocation=allocation).count() == 500

    def test_one_wrong_lead_in_a_copy_fails_the_statement(self) -> None:
        allocation, other = AllocationFactory(), AllocationFactory()
        rows = [
            f"{allocation.campaign_id}\t{allocation.pk}\t{{}}\t10\tf\t1\t\t2026-01-01\t2026-01-01"
        ]
        rows *= 99
        rows.append(
            f"{allocation.campaign_id}\t{other.pk}\t{{}}\t10\tf\t1\t\t2026-01-01\t2026-01-01"
        )
        columns = "campaign_id, allocation_id, fields, priority, closed, version, checked_out_by,"
        columns += " created_at, updated_at"
        with pytest.raises(ForeignKeyViolation, match=ALLOCATION), transaction.atomic():
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY leads_lead ({columns}) FROM STDIN") as copy,
            ):
                copy.write("\n".join(rows) + "\n")
        assert not Lead.objects.exists()

    def test_a_lead_cannot_move_out_of_its_allocation_s_campaign(self) -> None:
        lead, other = LeadFactory(), AllocationFactory()
        with refused(ALLOCATION), transaction.atomic():
            sql("UPDATE leads_lead SET allocation_id = %s WHERE id = %s", [other.pk, lead.pk])
            committed()
        with transaction.atomic():  # both together, consistently: fine
            sql(
                "UPDATE leads_lead SET allocation_id = %s, campaign_id = %s WHERE id = %s",
                [other.pk, other.campaign_id, lead.pk],
            )
            committed()

    def test_an_allocation_with_leads_cannot_be_deleted_or_moved(self) -> None:
        lead = LeadFactory()
        elsewhere = AllocationFactory()
        for statement in (
            f"DELETE FROM campaigner_allocation WHERE id = {lead.allocation_id}",
            f"UPDATE campaigner_allocation SET campaign_id = {elsewhere.campaign_id}"
            f" WHERE id = {lead.allocation_id}",
        ):
            with refused(ALLOCATION), transaction.atomic():
                sql(statement)
                committed()
        assert Lead.objects.filter(pk=lead.pk, allocation_id=lead.allocation_id).exists()
        sql("DELETE FROM campaigner_allocation WHERE id = %s", [elsewhere.pk])  # no leads: fine

    def test_a_number_needs_an_existing_lead(self) -> None:
        lead = LeadFactory()
        for lead_id, rows in [(999_999, 1), (999_999, 300)]:
            with refused(PHONE), transaction.atomic():
                sql(PHONE_ROW, [lead_id, lead.campaign_id, rows])
        phone = LeadPhoneFactory(lead=lead)
        with refused(PHONE), transaction.atomic():
            sql("UPDATE leads_leadphone SET lead_id = 999999 WHERE id = %s", [phone.pk])
            committed()
        sql(PHONE_ROW, [lead.pk, lead.campaign_id, 300])
        assert LeadPhone.objects.filter(lead=lead).count() == 301

    def test_a_lead_with_numbers_cannot_be_deleted(self) -> None:
        phone = LeadPhoneFactory()
        for statement in (
            f"DELETE FROM leads_lead WHERE id = {phone.lead_id}",
            f"UPDATE leads_lead SET id = 999999 WHERE id = {phone.lead_id}",
        ):
            with refused(PHONE), transaction.atomic():
                sql(statement)
                committed()
        assert LeadPhone.objects.filter(pk=phone.pk, lead_id=phone.lead_id).exists()
        phone.lead.delete()  # the ORM deletes the numbers first
        assert not LeadPhone.objects.exists()


def _race(first: Any, second: Any) -> list[str]:
    """``first`` and ``second`` in two transactions on two connections: ``second`` starts while
    ``first`` is open, holding what it did, and tries to commit before ``first`` does (``first``
    waits up to 0.5 s for it: a ``second`` that waits on ``first``'s locks cannot). Each one's
    outcome: committed, or the constraint that refused it."""
    started, second_ended = threading.Event(), threading.Event()
    outcomes: list[str] = ["", ""]

    def run(i: int) -> None:
        try:
            with transaction.atomic():
                if i == 0:
                    first()
                    started.set()
                    second_ended.wait(0.5)
                else:
                    started.wait(10)
                    second()
            outcomes[i] = "committed"
        except IntegrityError as exc:
            outcomes[i] = str(exc).split(":")[0]
        finally:
            if i == 1:
                second_ended.set()

    in_threads(2, run)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_a_referenced_table_cannot_be_truncated_alone() -> None:
    """TRUNCATE fires no delete triggers; its own trigger refuses to leave references behind
    (outside the test's transaction: a truncate needs no pending trigger events)."""
    phone = LeadPhoneFactory()
    for statement, constraint in [
        ("TRUNCATE campaigner_allocation CASCADE", ALLOCATION),
        ("TRUNCATE leads_lead CASCADE", PHONE),
    ]:
        with refused(constraint), transaction.atomic():
            sql(statement)
    assert LeadPhone.objects.filter(pk=phone.pk).exists()
    sql("TRUNCATE leads_leadphone, leads_lead, campaigner_allocation CASCADE")  # all together
    assert not Lead.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestRaces:
    def test_an_insert_and_a_delete_of_its_allocation_never_both_commit(self) -> None:
        for insert_first in (True, False):
            allocation = AllocationFactory()

            def insert(allocation: Any = allocation) -> None:
                sql(LEAD_ROW, [allocation.campaign_id, allocation.pk, 200])

            def delete(allocation: Any = allocation) -> None:
                sql("DELETE FROM campaigner_allocation WHERE id = %s", [allocation.pk])

            outcomes = _race(insert, delete) if insert_first else _race(delete, insert)
            assert sorted(outcomes) == ["committed", ALLOCATION], outcomes
            leads = Lead.objects.filter(allocation_id=allocation.pk).count()
            exists = type(allocation).objects.filter(pk=allocation.pk).exists()
            assert (leads, exists) in [(200, True), (0, False)], (insert_first, leads, exists)

    def test_a_number_and_a_delete_of_its_lead_never_both_commit(self) -> None:
        for insert_first in (True, False):
            lead = LeadFactory()

            def insert(lead: Any = lead) -> None:
                sql(PHONE_ROW, [lead.pk, lead.campaign_id, 3])

            def delete(lead: Any = lead) -> None:
                sql("DELETE FROM leads_lead WHERE id = %s", [lead.pk])

            outcomes = _race(insert, delete) if insert_first else _race(delete, insert)
            assert sorted(outcomes) == ["committed", PHONE], outcomes
            phones = LeadPhone.objects.filter(lead_id=lead.pk).count()
            exists = Lead.objects.filter(pk=lead.pk).exists()
            assert (phones, exists) in [(3, True), (0, False)], (insert_first, phones, exists)
