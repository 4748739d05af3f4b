"""The DNC service at its own level (leads/services/dnc.py): one normalised entry per number,
its first source kept, the check in one query per chunk, the upload all or nothing per file
and line by line within it. The leads' blocked marks follow the list (database triggers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaigner.contract import Refused
from campaigner.services import Changes
from dialer.services import dialable_number
from leads.models import DncEntry
from leads.services import dnc
from leads.services.dnc import dnc_check, dnc_entry_change, dnc_entry_put, dnc_upload
from tests.factories import LeadPhoneFactory

pytestmark = pytest.mark.django_db


def entries() -> list[tuple[str, dt.date | None, str, str]]:
    rows = DncEntry.objects.order_by("number")
    return list(rows.values_list("number", "expires_on", "note", "source"))


def test_a_put_lists_the_number_once_whatever_its_spelling() -> None:
    changes = Changes()
    entry, added = dnc_entry_put("03 8321 8199", None, "asked", "api", changes=changes)
    assert (entry.number, added) == ("+61383218199", True)
    again, added = dnc_entry_put("+61 (3) 8321-8199", None, "asked", "admin", changes=changes)
    assert (again.pk, added) == (entry.pk, False)
    assert changes.summary() == "Created 1 dnc entries."  # the second put changed nothing
    dnc_entry_put("0383218199", dt.date(2031, 1, 1), "until 2031", "upload")
    assert entries() == [("+61383218199", dt.date(2031, 1, 1), "until 2031", "api")]


def test_an_unusable_number_is_refused_on_phone() -> None:
    with pytest.raises(Refused) as refused:
        dnc_entry_put("call me maybe", None, "", "api")
    assert refused.value.field == "phone"
    assert entries() == []


def test_a_listed_number_is_never_dialed_and_an_expired_one_is_again() -> None:
    phone = LeadPhoneFactory.create(number="+61383218199")
    assert dialable_number(phone.lead_id) == "+61383218199"
    dnc_entry_put("03 8321 8199", None, "", "api")
    assert dialable_number(phone.lead_id) is None
    entry = DncEntry.objects.get()
    entry.expires_on = dt.date(2000, 1, 1)
    entry.source = "admin"
    dnc_entry_change(entry)
    assert entries() == [("+61383218199", dt.date(2000, 1, 1), "", "api")]  # first source kept
    assert dialable_number(phone.lead_id) == "+61383218199"


def test_the_check_answers_in_the_order_asked_in_one_query_per_chunk(
    django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dnc_entry_put("0383218199", None, "", "api")
    dnc_entry_put("0390001234", dt.date(2000, 1, 1), "", "api")  # expired
    asked = ["+61383218199", "nonsense", "0390001234", "03 8321 8199"]
    monkeypatch.setattr(dnc, "CHECK_CHUNK", 1)
    with django_assert_num_queries(1 + 2):  # the phone rules, then one per distinct number
        checks = dnc_check(asked)
    assert [(c.phone, c.normalised, c.blocked) for c in checks] == [
        ("+61383218199", "+61383218199", True),
        ("nonsense", None, False),
        ("0390001234", "+61390001234", False),
        ("03 8321 8199", "+61383218199", True),
    ]


def test_an_upload_adds_updates_and_rejects_line_by_line() -> None:
    dnc_entry_put("0383218199", None, "first", "api")
    data = (
        "\ufeffPhone,Expires,Note\n"
        "0383218199,2031-01-01,renewed\n"
        "0390001234,,new\n"
        "not a number,,x\n"
        "0390005555,31/01/2031,bad date\n"
        "0390006666,,short,extra\n"
        "\n"
        "0390001234,,last wins\n"
    ).encode()
    result = dnc_upload(data, "upload")
    assert (result.added, result.updated) == (1, 1)
    assert [(r["line"], r["value"]) for r in result.rejected] == [
        (4, "not a number"),
        (5, "0390005555"),
        (6, "0390006666"),
    ]
    assert entries() == [
        ("+61383218199", dt.date(2031, 1, 1), "renewed", "api"),
        ("+61390001234", None, "last wins", "upload"),
    ]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"number\n0383218199\n", "no 'phone' column"),
        (b"phone\n\xff\xfe\n", "not UTF-8"),
        (b"phone\n" + b"1" * 200_000 + b"\n", "not CSV"),
    ],
)
def test_an_unreadable_file_is_refused_and_writes_nothing(data: bytes, says: str) -> None:
    with pytest.raises(Refused) as refused:
        dnc_upload(data, "upload")
    assert refused.value.field == "file" and says in str(refused.value)
    assert entries() == []
