"""The manual import at its own level (leads/services/lead_import.py): the file is checked and
stored before anything is queued, a run writes its leads through ``lead_insert_batch`` with
its progress in the same transactions, and a second run of a finished import writes nothing.
``transaction=True``: a run commits chunk by chunk and refuses to run inside a transaction."""

from __future__ import annotations

import io

import pytest
from django.db import transaction

from campaigner.contract import Refused
from campaigner.models import Allocation
from leads.models import DEFAULT_PRIORITY, Lead, LeadImport
from leads.services import lead_import as lead_import_module
from leads.services.lead_import import lead_import_cancel, lead_import_create, lead_import_run
from tests.factories import AllocationFactory
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = (
    "Name,FirstPhone,njExternalLeadId,njPriority,Colour\n"
    "Jane,0383218199,crm-1,5,red\n"
    "John,not a phone,crm-2,,blue\n"
    "Jill,0390001234,crm-1,,green\n"  # the external id again: 112
    "Jack,0390005555,crm-3,,\n"
)


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The imports queued at commit (the broker is not needed for a service test)."""
    ids: list[int] = []
    monkeypatch.setattr(lead_import_module, "_queue", ids.append)
    return ids


def create(allocation: Allocation, content: str) -> LeadImport:
    data = content.encode()
    campaign = allocation.campaign
    with transaction.atomic():
        return lead_import_create(
            campaign.template,
            campaign,
            allocation,
            io.BytesIO(data),
            file_name="vendor.csv",
            size=len(data),
            allow_duplicates=False,
            user=None,
        )


def test_a_run_imports_the_good_rows_and_counts_the_rest_by_code(queued: list[int]) -> None:
    allocation = AllocationFactory.create()
    made = create(allocation, GOOD)
    assert queued == [made.pk]
    assert (made.rows, made.ignored_columns) == (4, ["Colour"])
    assert lead_import_run(made.pk) == "done"
    made.refresh_from_db()
    assert (made.processed, made.imported, made.rejected) == (4, 2, 2)
    assert made.rejected_by_code == {"102": 1, "112": 1}
    leads = Lead.objects.filter(allocation=allocation).order_by("external_id")
    assert list(leads.values_list("external_id", "priority", "fields")) == [
        ("crm-1", 5, {"Name": "Jane", "FirstPhone": "0383218199"}),
        ("crm-3", DEFAULT_PRIORITY, {"Name": "Jack", "FirstPhone": "0390005555"}),
    ]
    before = database_rows()
    assert lead_import_run(made.pk) == "done"  # finished: a second run writes nothing
    assert database_rows() == before


def test_a_file_without_a_phone_column_is_refused_before_anything_is_stored(
    queued: list[int],
) -> None:
    allocation = AllocationFactory.create()
    before = database_rows()
    with pytest.raises(Refused) as refused:
        create(allocation, "Name,Colour\nJane,red\n")
    assert refused.value.field == "mapping"
    assert database_rows() == before
    assert queued == []


def test_an_import_cancelled_before_it_runs_writes_no_lead(queued: list[int]) -> None:
    allocation = AllocationFactory.create()
    made = create(allocation, GOOD)
    lead_import_cancel(made)
    assert lead_import_run(made.pk) == "cancelled"
    assert not Lead.objects.filter(allocation=allocation).exists()


def test_a_run_inside_a_transaction_is_refused() -> None:
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        lead_import_run(1)
