"""Integrity rules that the database itself enforces, whatever code path writes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from campaigner.models import Disposition, TemplateField
from leads.models import Lead
from tests.factories import (
    AllocationFactory,
    CampaignFactory,
    DispositionSetFactory,
    LeadFactory,
    TemplateFactory,
)

pytestmark = pytest.mark.django_db


def test_external_id_is_unique_within_a_campaign() -> None:
    first = LeadFactory(external_id="9856")
    with (
        pytest.raises(IntegrityError, match="lead_external_id_unique_in_campaign"),
        transaction.atomic(),
    ):
        LeadFactory(allocation=first.allocation, external_id="9856")
    # Another allocation of the same campaign is the same scope.
    other_allocation = AllocationFactory(campaign=first.campaign)
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(allocation=other_allocation, external_id="9856")


def test_external_id_may_repeat_across_campaigns_and_be_absent_many_times() -> None:
    first = LeadFactory(external_id="9856")
    LeadFactory(external_id="9856")  # a different campaign
    LeadFactory(allocation=first.allocation, external_id=None)
    LeadFactory(allocation=first.allocation, external_id=None)


def test_priority_above_100_is_refused() -> None:
    with pytest.raises(IntegrityError, match="lead_priority_range"):
        LeadFactory(priority=101)


def test_template_field_names_are_unique_and_not_system_names() -> None:
    template = TemplateFactory()
    with pytest.raises(IntegrityError, match="template_field_name_unique"), transaction.atomic():
        TemplateField.objects.create(template=template, name="Name")
    with pytest.raises(IntegrityError, match="template_field_not_system_name"):
        TemplateField.objects.create(template=template, name="njSomething")


def test_disposition_names_are_unique_regardless_of_case() -> None:
    dispositions = DispositionSetFactory()
    Disposition.objects.create(disposition_set=dispositions, name="No Answer")
    with pytest.raises(IntegrityError, match="disposition_name_unique_ci"):
        Disposition.objects.create(disposition_set=dispositions, name="NO ANSWER")


def test_allocation_names_are_unique_within_a_campaign() -> None:
    campaign = CampaignFactory()
    AllocationFactory(campaign=campaign, name="Web")
    AllocationFactory(name="Web")  # another campaign
    with pytest.raises(IntegrityError, match="allocation_name_unique_in_campaign"):
        AllocationFactory(campaign=campaign, name="Web")


def _check_deferred_constraints() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_lead_allocation_must_belong_to_the_lead_campaign() -> None:
    lead = LeadFactory()
    other = AllocationFactory()  # of another campaign
    with (
        pytest.raises(IntegrityError, match="lead_allocation_in_campaign"),
        transaction.atomic(),
    ):
        Lead.objects.filter(pk=lead.pk).update(allocation=other)
        _check_deferred_constraints()
    with (
        pytest.raises(IntegrityError, match="lead_allocation_in_campaign"),
        transaction.atomic(),
    ):
        Lead.objects.filter(pk=lead.pk).update(campaign=other.campaign)
        _check_deferred_constraints()
    # The same allocation's campaign and another allocation of the lead's campaign are fine.
    sibling = AllocationFactory(campaign=lead.campaign)
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(allocation=sibling)
        _check_deferred_constraints()
    assert Lead.objects.get(pk=lead.pk).allocation == sibling


def test_an_allocation_with_leads_cannot_be_deleted_behind_the_orm() -> None:
    lead = LeadFactory()
    with pytest.raises(IntegrityError, match="lead_allocation_in_campaign"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM campaigner_allocation WHERE id = %s", [lead.allocation_id])
        _check_deferred_constraints()
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_an_inserted_lead_updates_three_indexes_and_a_campaign_has_one_to_query_by() -> None:
    """Every index costs each inserted lead; the unique (campaign, external id) index, not
    partial, also serves the queries by campaign. The fourth, on the origin, is a BRIN index:
    a summary per range of pages, not an entry per lead."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", ["leads_lead"])
        assert {row[0] for row in cursor.fetchall()} == {
            "leads_lead_pkey",
            "lead_dialer_order",
            "lead_external_id_unique_in_campaign",
            "lead_origin_brin",
        }
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM leads_lead WHERE campaign_id = 1")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lead_external_id_unique_in_campaign" in plan
