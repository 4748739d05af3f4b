"""An operator's edit at its own level (leads/services/lead_edit.py): the form's values, the
three-way merge after a concurrent change, and the one versioned write of what was chosen."""

from __future__ import annotations

from typing import Any

import pytest

from campaigner.contract import Refused
from campaigner.models import Disposition
from leads.models import DispositionRecord, DncEntry, Lead, LeadPhone
from leads.services.lead_edit import lead_edit, lead_merge, lead_values
from leads.services.lead_version import LeadConflict
from tests.factories import AllocationFactory, DispositionFactory, LeadFactory, LeadPhoneFactory

pytestmark = pytest.mark.django_db

FIELDS = ["Name", "FirstPhone", "SecondPhone"]


@pytest.fixture
def lead() -> Lead:
    lead = LeadFactory.create(fields={"Name": "Jane", "FirstPhone": "0383218199"})
    LeadPhoneFactory.create(lead=lead, field_name="FirstPhone", number="+61383218199")
    return lead


def numbers(lead: Lead) -> list[tuple[str, str, bool]]:
    rows = LeadPhone.objects.filter(lead=lead).order_by("field_name")
    return list(rows.values_list("field_name", "number", "blocked"))


def edit(lead: Lead, **changes: Any) -> int:
    values = {**lead_values(lead, FIELDS), **changes}
    return lead_edit(lead, lead.version, values, holder="op", agent="op")


def test_the_merge_takes_each_sides_change_and_flags_both_changed_differently() -> None:
    base = {"a": 1, "b": 1, "c": 1, "d": 1}
    stored = {"a": 1, "b": 2, "c": 3, "d": 4}
    yours = {"a": 5, "b": 1, "c": 3, "d": 6}
    merge = lead_merge(base, stored, yours)
    assert merge.values == {"a": 5, "b": 2, "c": 3, "d": 4}
    assert (merge.theirs, merge.conflicts, merge.needed) == (["b"], ["d"], True)
    assert lead_merge(base, base, yours).needed is False


def test_an_edit_writes_the_fields_and_the_normalised_numbers(lead: Lead) -> None:
    DncEntry.objects.create(number="+61390001234")
    version = edit(lead, **{"field:SecondPhone": " 03 9000 1234 ", "field:Name": "Janet"})
    lead.refresh_from_db()
    assert lead.version == version
    assert lead.fields == {
        "Name": "Janet",
        "FirstPhone": "0383218199",
        "SecondPhone": "03 9000 1234",
    }
    assert numbers(lead) == [
        ("FirstPhone", "+61383218199", False),
        ("SecondPhone", "+61390001234", True),  # on the DNC list: marked
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"field:FirstPhone": "not a phone"}, "field:FirstPhone"),
        ({"field:FirstPhone": ""}, "phones"),  # no number left
        ({"allocation_id": -1}, "allocation_id"),
    ],
)
def test_a_refused_edit_writes_nothing(lead: Lead, changes: dict[str, Any], field: str) -> None:
    if changes.get("allocation_id") == -1:
        changes = {"allocation_id": AllocationFactory.create().pk}  # of another campaign
    before = (lead.version, lead.fields, numbers(lead))
    with pytest.raises(Refused) as refused:
        edit(lead, **changes)
    assert refused.value.field == field
    lead.refresh_from_db()
    assert (lead.version, lead.fields, numbers(lead)) == before


def test_an_edit_of_a_lead_that_moved_on_is_a_conflict(lead: Lead) -> None:
    values = {**lead_values(lead, FIELDS), "field:Name": "Mine"}
    Lead.objects.filter(pk=lead.pk).update(version=lead.version + 1, fields={"Name": "Theirs"})
    with pytest.raises(LeadConflict):
        lead_edit(lead, lead.version, values, holder="op", agent="op")
    assert Lead.objects.get(pk=lead.pk).fields == {"Name": "Theirs"}


def test_a_disposition_chosen_in_the_form_is_recorded_as_the_admins(lead: Lead) -> None:
    done = Disposition.objects.create(
        disposition_set_id=lead.campaign.template.disposition_set_id, name="Done"
    )
    edit(lead, disposition_id=done.pk)
    record = DispositionRecord.objects.get(lead=lead)
    assert (record.disposition_id, record.source, record.agent) == (
        done.pk,
        DispositionRecord.Source.ADMIN,
        "op",
    )
    lead.refresh_from_db()
    elsewhere = DispositionFactory.create()  # of another disposition set
    with pytest.raises(Refused) as refused:
        edit(lead, disposition_id=elsewhere.pk)
    assert refused.value.field == "disposition_id"
    assert DispositionRecord.objects.filter(lead=lead).count() == 1
