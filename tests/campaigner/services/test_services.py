"""The configuration services at their own level (campaigner/services.py): a save writes only
what differs and says so in ``Changes`` (so a second provisioning run changes no row), the
multi-row services run inside their caller's transaction, and the rules hold whoever calls.
The same rules tried through every door are in tests/campaigner/test_config_doors.py."""

from __future__ import annotations

import pytest
from django.db import transaction

from campaigner.contract import Refusal, Refused
from campaigner.models import ApiKey, CampaignTemplate, ContactHours
from campaigner.services import (
    Changes,
    FieldSpec,
    Window,
    api_key_create,
    api_key_revoke,
    contact_hours_save,
    save_changed,
    template_save,
)
from tests.factories import ContactHoursFactory, LeadFactory, TeamFactory, UserFactory
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

FIELDS = [FieldSpec("Name", "text", False), FieldSpec("Phone", "phone", True)]


@pytest.fixture
def admin() -> object:
    return UserFactory.create(is_superuser=True, is_staff=True)


def test_a_save_writes_only_what_differs_and_counts_it() -> None:
    hours = ContactHoursFactory.create(name="Day", timezone="Australia/Perth")
    changes = Changes()
    assert save_changed(hours, changes) is False
    assert changes.summary() == "Nothing to change: the database already matches."
    hours.timezone = "Australia/Sydney"
    assert save_changed(hours, changes) is True
    assert changes.summary() == "Updated 1 contact hours."
    assert ContactHours.objects.get(pk=hours.pk).timezone == "Australia/Sydney"


def test_windows_are_made_exactly_these_and_a_second_save_changes_nothing(admin: object) -> None:
    hours = ContactHours(name="Week", timezone="Australia/Melbourne")
    windows = [Window(day, 9 * 60, 17 * 60) for day in range(5)]
    with transaction.atomic():
        contact_hours_save(hours, windows + windows[:1], [], actor=admin)
    assert hours.windows.count() == 5
    again = Changes()
    with transaction.atomic():
        contact_hours_save(hours, windows, [], actor=admin, changes=again)
    assert again.changed == 0


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (Window(7, 0, 60), "windows"),
        (Window(0, 600, 540), "windows"),
        (Window(0, 0, 1441), "windows"),
    ],
)
def test_a_bad_window_is_refused_and_nothing_is_written(
    admin: object, window: Window, field: str
) -> None:
    hours = ContactHoursFactory.create()
    before = database_rows()
    with pytest.raises(Refused) as refused, transaction.atomic():
        contact_hours_save(hours, [window], actor=admin)
    assert (refused.value.reason, refused.value.field) == (Refusal.INVALID, field)
    assert database_rows() == before


@pytest.mark.django_db(transaction=True)
def test_the_multi_row_services_refuse_to_run_outside_a_transaction(admin: object) -> None:
    with pytest.raises(RuntimeError, match="caller's transaction"):
        contact_hours_save(ContactHours(name="x", timezone="UTC"), actor=admin)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ([FieldSpec("NJNAME", "text", False), *FIELDS], "fields.0.name"),
        ([FieldSpec("Name", "text", False)], "fields"),
        ([*FIELDS, FieldSpec("Name", "text", False)], "fields.2.name"),
    ],
)
def test_template_fields_refused_write_nothing(
    admin: object, fields: list[FieldSpec], field: str
) -> None:
    before = database_rows()
    with pytest.raises(Refused) as refused, transaction.atomic():
        template_save(CampaignTemplate(name="T"), fields, actor=admin)
    assert refused.value.field == field
    assert database_rows() == before


def test_a_field_leads_hold_values_for_cannot_be_removed(admin: object) -> None:
    lead = LeadFactory.create(fields={"Name": "Jane", "FirstPhone": "0383218199"})
    template = lead.campaign.template
    keep = [FieldSpec("FirstPhone", "phone", True), FieldSpec("SecondPhone", "phone", True)]
    before = database_rows()
    with pytest.raises(Refused) as refused, transaction.atomic():
        template_save(template, keep, actor=admin)  # drops Name, which the lead holds
    assert refused.value.reason == Refusal.CONFLICT
    assert database_rows() == before
    changes = Changes()
    with transaction.atomic():
        template_save(
            template, [FieldSpec("Name", "text", False), *keep], actor=admin, changes=changes
        )
    assert changes.summary() == "Updated 2 template fields."  # display types set; none deleted


def test_a_key_is_shown_once_stored_hashed_and_revoked_once(admin: object) -> None:
    key, plain = api_key_create("CRM-A", actor=admin)
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.key_hash and plain != stored.key_hash and plain.startswith(stored.key_prefix)
    assert api_key_revoke(stored, actor=admin) is True
    assert api_key_revoke(stored, actor=admin) is False
    assert ApiKey.objects.get(pk=key.pk).revoked is True


def test_an_operator_gives_a_key_only_a_team_of_their_own() -> None:
    mine, theirs = TeamFactory.create(name="Mine"), TeamFactory.create(name="Theirs")
    operator = UserFactory.create()
    operator.groups.add(mine)
    with pytest.raises(Refused) as refused:
        api_key_create("X", team=theirs, actor=operator)
    assert refused.value.field == "team"
    with pytest.raises(Refused):
        api_key_create("Y", actor=operator)  # a key of no team sees every team
    key, _ = api_key_create("Z", team=mine, actor=operator)
    assert key.team_id == mine.pk
    assert not ApiKey.objects.filter(name__in=["X", "Y"]).exists()


def test_a_field_shown_as_a_phone_is_a_phone_field(admin: object) -> None:
    """The setup trap: display type Phone with "is phone" unticked saved a field that was then
    no phone field (never normalised, checked or dialed)."""
    fields = [FieldSpec("Name", "text", False), FieldSpec("Mobile", "phone", False)]
    with transaction.atomic():
        template = template_save(CampaignTemplate(name="T"), fields, actor=admin)
    assert list(template.fields.values_list("name", "is_phone")) == [
        ("Name", False), ("Mobile", True),
    ]  # fmt: skip
