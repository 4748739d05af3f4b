"""The lead search by words (leads.services.lead_words): found through the words index, exact
whatever the index's lag (a lead is found the moment its insert or change commits, never by
words it no longer has), and the index's marks never pass a lead still being inserted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from campaigner.models import Disposition
from leads.models import Door, Lead, LeadChange, LeadWords, LeadWordsMark
from leads.selectors import lead_words_search
from leads.services.erasure import person_erase
from leads.services.lead_version import ChangeBy
from leads.services.lead_words import lead_words_complete, lead_words_refresh
from tests.campaignapi import Api, make_api
from tests.concurrency import held_elsewhere
from tests.factories import CampaignFactory

# The marks move only once every other transaction has ended: no test transaction around.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def insert(api: Api, name: str, phone: str, **more: Any) -> int:
    answer = api.post("insertLeadFast", {"Name": name, "FirstPhone": phone, **more}).json()
    assert answer["code"] == 0, answer
    return int(answer["leadId"])


def search(api: Api, term: str) -> set[int]:
    return set(lead_words_search(term, [api.campaign.pk], 100))


def test_every_word_begins_a_word_of_the_fields_in_any_case(api: Api) -> None:
    jane = insert(api, "Jane Citizen-Smith", "0383218199", City="Carlton North")
    john = insert(api, "John Citizen", "0390001234", City="Kew")
    for indexed in (False, True):
        if indexed:
            lead_words_complete()
            assert LeadWords.objects.count() == 2
        assert search(api, "jan CIT") == {jane}
        assert search(api, "citizen") == {jane, john}
        assert search(api, "smith carlton") == {jane}
        assert search(api, "CARL nor") == {jane}
        assert search(api, "ane") == set()  # a word's middle is not its beginning
        assert search(api, "jane kew") == set()
        assert search(api, "!!") == set()


def test_the_index_is_what_a_search_reads(api: Api) -> None:
    lead = insert(api, "Jane Citizen", "0383218199")
    lead_words_complete()
    # Words only the index has: the lead is found by them, so the search read the index.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_leadwords SET words = to_tsvector('simple', 'zebra') WHERE lead_id = %s",
            [lead],
        )
    assert search(api, "zebra") == {lead}
    assert search(api, "jane") == set()


def test_a_change_is_found_at_once_and_old_words_are_not(api: Api) -> None:
    lead = insert(api, "Jane Citizen", "0383218199", njExternalLeadId="crm-1")
    lead_words_complete()
    update = {"njExternalLeadId": "crm-1", "FirstPhone": "<No Change>", "Name": "Joan Baker"}
    Disposition.objects.create(disposition_set=api.template.disposition_set, name="Spoke")
    assert api.post("updateLeadFast", {**update, "njDisposition": "Spoke"}).json()["code"] == 0

    assert search(api, "joan baker") == {lead}  # before the index has it
    assert search(api, "jane") == set()  # its old words, still in the index, are not read
    lead_words_complete()
    assert search(api, "joan") == {lead} and search(api, "jane") == set()


def test_a_deleted_leads_words_go(api: Api) -> None:
    gone = insert(api, "Jane Citizen", "0383218199")
    kept = insert(api, "John Citizen", "0390001234")
    lead_words_complete()
    Lead.objects.filter(pk=gone).delete()
    LeadChange.objects.create(lead_id=gone, kind=LeadChange.Kind.DELETE, at=timezone.now())
    lead_words_complete()
    assert set(LeadWords.objects.values_list("lead_id", flat=True)) == {kept}
    assert search(api, "citizen") == {kept}


def test_only_the_campaigns_given_are_searched(api: Api) -> None:
    insert(api, "Jane Citizen", "0383218199")
    lead_words_complete()
    other = CampaignFactory(template=api.template)
    assert lead_words_search("jane", [other.pk], 100) == []


def test_the_marks_never_pass_a_lead_still_being_inserted(api: Api) -> None:
    """A lead whose insert has not committed when later ones have: the marks stop below it,
    and once it commits it is found (then indexed)."""
    held: list[int] = []

    def slow_insert(wait: Callable[[], None]) -> None:
        with transaction.atomic():
            lead = Lead.objects.create(
                campaign=api.campaign, allocation=api.allocation, fields={"Name": "Late Lee"}
            )
            held.append(lead.pk)
            wait()

    with held_elsewhere(slow_insert):
        later = insert(api, "Early Bird", "0383218199")
        for _ in range(6):
            lead_words_refresh()
        mark = LeadWordsMark.objects.get()
        assert mark.leads_upto < held[0] < later
        assert search(api, "early") == {later}  # found, past the mark
    assert search(api, "late lee") == {held[0]}
    lead_words_complete()
    assert LeadWords.objects.filter(lead_id=held[0]).exists()
    assert search(api, "late lee") == {held[0]}


def test_an_erased_persons_words_go_with_the_erasure(api: Api) -> None:
    lead = insert(api, "Jane Citizen", "0383218199")
    lead_words_complete()
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    person_erase(root, by=ChangeBy(Door.ADMIN, "root"), lead_id=lead)
    assert not LeadWords.objects.filter(lead_id=lead).exists()
    assert search(api, "jane") == set()
