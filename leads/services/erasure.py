"""Erasure of a person on request (the right to be forgotten), across every campaign the user
sees: ``person_erase`` by lead id, external id or phone number.

What it does, in one transaction, to every lead found (and everything that held their data):

- the lead is kept as an empty shell, so counts and references stay whole: no fields, no
  external id, no numbers, closed (never dialed again), its check-out ended;
- the values of its history are removed (which fields changed is kept, not what they were or
  became), as are the notes and dialed numbers of its disposition and call records and the
  payloads of its webhook and email deliveries (an undelivered one is failed, never sent);
- a tombstone of each of its numbers remains: ``ErasedNumber``, a keyed hash
  (``ERASURE_KEY``), not the number. A later insert or import of a lead whose every number is
  an erased one is refused with 104, as a DNC number is (a lead with other numbers too is
  inserted with the erased ones blocked, never dialed); the DNC list keeps no clear number;
- the erasure itself is a ``LeadChange`` of kind ``erase`` (who, when, through which door).

Not reached: an import's stored error report and a finished export's file keep the rows they
were made of; delete those jobs and imports' reports to remove them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigner.contract import Refusal, Refused
from leads.models import (
    ActionDelivery,
    CallRecord,
    DispositionRecord,
    ErasedNumber,
    Lead,
    LeadChange,
    LeadPhone,
    LeadWords,
)
from leads.selection import leads_visible
from leads.selectors import phone_normaliser_load
from leads.services.lead_version import ChangeBy


def number_digest(number: str) -> str:
    """The tombstone of a normalised number."""
    key = settings.ERASURE_KEY.encode()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def erasures_exist() -> bool:
    """Whether anyone was ever erased (until then an insert hashes nothing)."""
    return ErasedNumber.objects.exists()


def erased_among(cursor: Any, numbers: Iterable[str]) -> set[str]:
    """Which of ``numbers`` (normalised) belong to an erased person."""
    by_digest = {number_digest(n): n for n in numbers}
    if not by_digest:
        return set()
    cursor.execute(
        f"SELECT digest FROM {ErasedNumber._meta.db_table} WHERE digest = ANY(%s)",  # noqa: S608
        [list(by_digest)],
    )
    return {by_digest[row[0]] for row in cursor.fetchall()}


@dataclass(frozen=True)
class Erasure:
    leads: list[int]
    numbers: int  # tombstones made (numbers of the person, each once)


def person_erase(
    user: Any,
    *,
    by: ChangeBy,
    lead_id: int | None = None,
    external_id: str | None = None,
    phone: str | None = None,
) -> Erasure:
    """Erase the person named by any of ``lead_id``, ``external_id`` or ``phone`` from every
    campaign ``user`` sees (``Refused``: nothing named, not allowed, or no such person)."""
    if not user.has_perm("leads.delete_lead"):
        raise Refused(Refusal.FORBIDDEN, "erasing a person is a supervisor's")
    if lead_id is None and not external_id and not phone:
        raise Refused(Refusal.INVALID, "name the person: a lead id, an external id or a phone")
    leads = leads_visible(user)
    found: set[int] = set()
    numbers: set[str] = set()
    if lead_id is not None:
        found |= set(leads.filter(pk=lead_id).values_list("pk", flat=True))
    if external_id:
        found |= set(leads.filter(external_id=external_id).values_list("pk", flat=True))
    if phone:
        number = phone_normaliser_load()(phone)
        if number is None:
            raise Refused(Refusal.INVALID, f"{phone!r} is not a usable phone number", "phone")
        numbers.add(number)
        with_number = LeadPhone.objects.filter(number=number, lead__in=leads)
        found |= set(with_number.values_list("lead_id", flat=True))
    if not found:
        raise Refused(Refusal.NOT_FOUND, "no lead of that person")
    ids = sorted(found)
    with transaction.atomic():
        list(Lead.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
        numbers |= set(LeadPhone.objects.filter(lead_id__in=ids).values_list("number", flat=True))
        numbers |= set(
            Lead.objects.filter(pk__in=ids)
            .exclude(checked_out_number="")
            .values_list("checked_out_number", flat=True)
        )
        ErasedNumber.objects.bulk_create(
            [ErasedNumber(digest=number_digest(n)) for n in sorted(numbers)],
            ignore_conflicts=True,
        )
        _erase(ids, by)
    return Erasure(ids, len(numbers))


def _erase(ids: list[int], by: ChangeBy) -> None:
    now = timezone.now()
    Lead.objects.filter(pk__in=ids).update(
        fields={}, external_id=None, closed=True, callback_at=None, checked_out_by="",
        checked_out_until=None, checked_out_number="", updated_at=now,
        changed_via=by.via.value, changed_by=by.by[:150],
        version=F("version") + 1,
    )  # fmt: skip
    LeadPhone.objects.filter(lead_id__in=ids).delete()
    # The search's words of the person now, not at the words index's next refresh.
    LeadWords.objects.filter(lead_id__in=ids).delete()
    DispositionRecord.objects.filter(lead_id__in=ids).update(notes="", dialed_number="")
    CallRecord.objects.filter(lead_id__in=ids).update(dialed_number="", unique_call_id="")
    deliveries = ActionDelivery.objects.filter(lead_id__in=ids)
    deliveries.filter(
        status__in=[ActionDelivery.Status.PENDING, ActionDelivery.Status.RETRYING]
    ).update(status=ActionDelivery.Status.FAILED, last_error="the person was erased")
    deliveries.update(payload={})
    with connection.cursor() as cursor:
        # The history keeps which values changed, not what they were (the update just above
        # is in it too, with the values it removed).
        cursor.execute(
            f"UPDATE {LeadChange._meta.db_table} SET"  # noqa: S608
            " fields = (SELECT coalesce(jsonb_object_agg(k, '[null, null]'::jsonb), '{}')"
            "           FROM jsonb_object_keys(fields) AS k),"
            " system = system || (SELECT coalesce(jsonb_object_agg(k, '[null, null]'::jsonb),"
            "                     '{}') FROM jsonb_object_keys(system) AS k"
            "                     WHERE k IN ('externalId', 'checkedOutNumber', 'checkedOutBy'))"
            " WHERE lead_id = ANY(%s::bigint[])",
            [ids],
        )
    LeadChange.objects.bulk_create(
        LeadChange(lead_id=lead, kind=LeadChange.Kind.ERASE, at=now, via=by.via, by=by.by[:150])
        for lead in ids
    )
