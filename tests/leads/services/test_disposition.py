"""The disposition service at its own level (leads/services/disposition.py), as every door
(``updateLeadFast``, the dialer's outcome, the admin) uses it: plan, versioned write, finish,
in one transaction. Plain ``django_db``: the tests run inside a transaction that is rolled back,
and ``django_capture_on_commit_callbacks`` shows what would be queued at commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from campaigner.models import Disposition, DispositionAction
from leads.models import ActionDelivery, DispositionRecord, DncEntry, Lead, LeadPhone
from leads.services.disposition import DispositionContext, disposition_find, disposition_plan
from leads.services.lead_version import lead_write
from leads.sql import FoundDisposition
from tests.factories import TESTS, AllocationFactory, CampaignFactory, LeadFactory, LeadPhoneFactory

pytestmark = pytest.mark.django_db

API = DispositionContext(source=DispositionRecord.Source.API)


@pytest.fixture
def lead() -> Lead:
    fields = {"Name": "Jane", "FirstPhone": "0383218199", "SecondPhone": "0390001234"}
    lead = LeadFactory.create(external_id="crm-1", fields=fields)
    LeadPhoneFactory(lead=lead, field_name="FirstPhone", number="+61383218199")
    LeadPhoneFactory(lead=lead, field_name="SecondPhone", number="+61390001234")
    return lead


def disposition(lead: Lead, name: str, *actions: dict[str, Any], **props: Any) -> FoundDisposition:
    made = Disposition.objects.create(
        disposition_set=lead.campaign.template.disposition_set, name=name, **props
    )
    for position, spec in enumerate(actions):
        kind = spec.pop("kind")
        DispositionAction.objects.create(
            disposition=made, position=position, kind=kind, params=spec
        )
    found = disposition_find(lead.campaign.template.disposition_set_id, name)
    assert found is not None
    return found


def set_disposition(
    lead: Lead, found: FoundDisposition, context: DispositionContext = API, **values: Any
) -> Lead:
    """What every door does: plan, versioned write, finish, one transaction."""
    lead.refresh_from_db()
    with transaction.atomic():
        plan = disposition_plan(lead.pk, found, context, values)
        lead_write(lead.pk, lead.version, values, by=TESTS)
        plan.finish()
    lead.refresh_from_db()
    return lead


def test_find_matches_any_case_skips_disabled_and_orders_actions(lead: Lead) -> None:
    found = disposition(lead, "Call Back", {"kind": "set_priority", "priority": 3},
                        {"kind": "close"})  # fmt: skip
    assert disposition_find(lead.campaign.template.disposition_set_id, "cALL bACK") == found
    assert [a.kind for a in found.actions] == ["set_priority", "close"]
    Disposition.objects.filter(pk=found.id).update(enabled=False)
    assert disposition_find(lead.campaign.template.disposition_set_id, "Call Back") is None
    assert disposition_find(lead.campaign.template.disposition_set_id, "Nope") is None
    assert disposition_find(None, "Call Back") is None


def test_properties_and_local_actions_are_one_write(lead: Lead) -> None:
    found = disposition(lead, "Hot", {"kind": "set_priority", "priority": 2},
                        {"kind": "callback", "minutes": 30}, priority=50)  # fmt: skip
    before = timezone.now()
    lead = set_disposition(lead, found)
    assert (lead.version, lead.priority, lead.disposition_id) == (2, 2, found.id)  # action wins
    assert lead.callback_at is not None
    assert before + dt.timedelta(minutes=30) <= lead.callback_at
    assert lead.callback_at <= timezone.now() + dt.timedelta(minutes=30)
    record = lead.dispositions.get()
    assert record.actions == ["set_priority: 2", "callback: in 30 min"]


def test_callback_action_keeps_the_callers_date(lead: Lead) -> None:
    found = disposition(lead, "Later", {"kind": "callback", "minutes": 5})
    given = timezone.now() + dt.timedelta(days=2)
    context = DispositionContext(source=DispositionRecord.Source.API, callback_given=True)
    lead = set_disposition(lead, found, context, callback_at=given)
    assert lead.callback_at == given


def test_final_closes(lead: Lead) -> None:
    lead = set_disposition(lead, disposition(lead, "Sale", final=True))
    assert lead.closed


def test_retry_limit_runs_its_action_from_the_nth_time(lead: Lead) -> None:
    found = disposition(lead, "No Answer", {"kind": "retry_limit", "count": 3,
                                            "then": {"kind": "close"}})  # fmt: skip
    assert not set_disposition(lead, found).closed
    assert not set_disposition(lead, found).closed
    lead = set_disposition(lead, found)
    assert lead.closed
    logs = list(lead.dispositions.order_by("id").values_list("actions", flat=True))
    assert logs[-1] == ["retry_limit: 3 of 3 reached, close", "close: closed"]


@pytest.mark.parametrize(
    ("numbers", "context", "expected"),
    [
        ("all", API, {"+61383218199", "+61390001234"}),
        ("dialed", DispositionContext(source="dialer", dialed_number="+61390001234"),
         {"+61390001234"}),
        ("dialed", API, {"+61383218199"}),  # nobody dialed: the first unblocked number
    ],
)  # fmt: skip
def test_dnc_action_lists_and_blocks_the_numbers(
    lead: Lead, numbers: str, context: DispositionContext, expected: set[str]
) -> None:
    DncEntry.objects.create(number="+61390001234", expires_on=timezone.now().date())
    set_disposition(lead, disposition(lead, "Remove", {"kind": "dnc", "numbers": numbers}), context)
    dnc = {e.number: e.expires_on for e in DncEntry.objects.filter(number__in=expected)}
    assert set(dnc) == expected and set(dnc.values()) == {None}  # no longer expires
    blocked = set(
        LeadPhone.objects.filter(lead=lead, blocked=True).values_list("number", flat=True)
    )
    assert blocked == expected


def test_copy_lead_goes_through_the_insert_rules(lead: Lead) -> None:
    other = AllocationFactory(campaign=CampaignFactory(template=lead.campaign.template))
    spec = {"kind": "copy_lead", "template": lead.campaign.template.name,
            "campaign": other.campaign.name, "allocation": other.name}  # fmt: skip
    lead = set_disposition(lead, disposition(lead, "Copy", dict(spec)))
    assert lead.dispositions.get().actions[0].startswith("copy_lead: lead ")
    copy = Lead.objects.get(allocation=other)
    assert (copy.external_id, copy.fields) == ("crm-1", lead.fields)
    # A second copy is a duplicate in that campaign: rejected, logged, the update stands.
    lead = set_disposition(lead, disposition(lead, "Copy again", dict(spec)))
    assert Lead.objects.filter(allocation=other).count() == 1
    assert lead.dispositions.latest("id").actions == [
        "copy_lead: rejected 112 DUPLICATE_EXTERNAL_ID"
    ]


def test_webhook_is_stored_in_the_write_and_queued_only_at_commit(
    lead: Lead, django_capture_on_commit_callbacks: Callable[..., Any], monkeypatch: Any
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(
        "leads.services.delivery.current_app.signature",
        lambda name, args: type("S", (), {"delay": lambda self: queued.append(args[0])})(),
    )
    found = disposition(lead, "Won", {"kind": "webhook", "url": "https://crm.example/hook",
                                      "secret": "s"})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        set_disposition(lead, found)
        assert queued == []  # not before the commit
    delivery = ActionDelivery.objects.get()
    assert queued == [delivery.pk]
    assert delivery.payload["body"]["njDisposition"] == "Won"
    assert delivery.payload["body"]["njExternalLeadId"] == "crm-1"


def test_a_write_that_rolls_back_leaves_no_trace(lead: Lead) -> None:
    webhook = {"kind": "webhook", "url": "https://crm.example/hook", "secret": "s"}
    found = disposition(lead, "Won", webhook, {"kind": "dnc", "numbers": "all"})
    with pytest.raises(RuntimeError), transaction.atomic():
        plan = disposition_plan(lead.pk, found, API, {})
        lead_write(lead.pk, lead.version, {}, by=TESTS)
        plan.finish()
        raise RuntimeError("the caller failed after finish")
    lead.refresh_from_db()
    assert (lead.version, lead.disposition_id) == (1, None)
    assert not ActionDelivery.objects.exists() and not DncEntry.objects.exists()
    assert not lead.dispositions.exists()
