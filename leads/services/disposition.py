"""Setting a disposition on a lead and running its actions (campaignapi.md §6).

One service for every door: ``updateLeadFast``, the dialer's call outcome and the admin. It
works in two steps around the caller's versioned lead write (``lead_version.lead_write``):

1. ``disposition_plan`` (before the write) folds the disposition's own properties (priority,
   final) and its *local* actions — ``close``, ``callback``, ``set_priority``, and the action a
   ``retry_limit`` has reached — into the values the caller is about to write, so the whole
   update is one write and one version bump.
2. ``DispositionPlan.finish`` (after the write, same transaction) records the disposition in the
   lead's history (and, for a dialer call, its call record), puts numbers on the DNC list
   (``dnc``), inserts copies (``copy_lead``, through the insert service so its checks apply)
   and stores the ``webhook``/``email`` deliveries (Noojee's URL action payload,
   ``leads.services.calls``). The
   deliveries are queued to Celery with ``transaction.on_commit``: nothing leaves the server for
   a write that rolls back, and a failing webhook never undoes the lead update.

Actions run in their ``position`` order. ``retry_limit`` counts the times this disposition has
been set on the lead, this one included: on the Nth time and after, its ``then`` action runs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from campaigner.action_specs import ActionKind
from campaigner.models import Allocation, Campaign
from campaigner.sql import call_target_of, execute_prepared, fetch_one
from leads import lead_input, sql
from leads.models import ActionDelivery, DispositionRecord, DncEntry, Door, Lead, LeadPhone
from leads.services.calls import CallDetails, call_record_new, noojee_payload, payload_lead
from leads.services.delivery import deliveries_queue_on_commit
from leads.services.lead_insert import NewOrigin, lead_insert_batch
from leads.sql import ActionRow, FoundDisposition

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class DispositionContext:
    """Who set the disposition and how.

    ``callback_given``: the caller set a callback date itself, so a ``callback`` action leaves
    it. ``dialed_number``: the number that was called (the dialer's hand-out); a ``dnc`` action
    for the "dialed" number falls back to the lead's checked-out number, then to its first
    unblocked number. ``call``: the disposition ends a call of the dialer, whose record
    ``finish`` stores.
    """

    source: str
    agent: str = ""
    notes: str = ""
    dialed_number: str = ""
    callback_given: bool = False
    call: CallDetails | None = None  # the dialer's call (its record is written); None: no call


@dataclass
class DispositionPlan:
    lead_id: int
    disposition: FoundDisposition
    context: DispositionContext
    now: dt.datetime
    log: list[str] = field(default_factory=list)
    # Actions that need the written lead: (kind, params, the stored action for deliveries).
    deferred: list[tuple[str, dict[str, Any], ActionRow]] = field(default_factory=list)

    def finish(self) -> int:
        """Run the deferred actions on the written lead, record the disposition and, for a
        call, the call. Inside the write's transaction. Returns the id of the lead's new
        ``DispositionRecord``."""
        deliveries = []
        call = None
        if self.deferred or self.context.call is not None:
            lead = Lead.objects.select_related(
                "campaign__template__contact_hours", "allocation", "contact_hours"
            ).get(pk=self.lead_id)
            if self.context.call is not None:
                call = call_record_new(lead, self.disposition.id, self.context.call, self.now)
            payload: dict[str, Any] | None = None
            for kind, params, action in self.deferred:
                if kind == ActionKind.DNC:
                    self.log.append(_dnc(lead, params["numbers"], self.context.dialed_number))
                elif kind == ActionKind.COPY_LEAD:
                    self.log.append(_copy(lead, params))
                else:
                    payload = payload or noojee_payload(
                        payload_lead(lead, lead.allocation.name),
                        self.disposition.name,
                        self.now,
                        call,
                    )
                    deliveries.append(_delivery(kind, params, action, lead, payload))
                    self.log.append(f"{kind}: queued")
        row: list[Any] = [
            self.lead_id, self.disposition.id, self.context.source, self.context.agent,
            self.context.dialed_number, self.context.notes, Jsonb(self.log), self.now,
        ]  # fmt: skip
        with connection.cursor() as cursor:  # SQL: every disposition set writes one
            execute_prepared(cursor, sql.DISPOSITION_RECORD_INSERT, row)
            record_id: int = cursor.fetchone()[0]
        if call is not None:
            call.record_id = record_id
            call.save()
        if deliveries:
            for delivery in deliveries:
                delivery.record_id = record_id
            ActionDelivery.objects.bulk_create(deliveries)
            deliveries_queue_on_commit([delivery.pk for delivery in deliveries])
        return record_id


def disposition_find(disposition_set_id: int | None, name: str) -> FoundDisposition | None:
    """The enabled disposition of the set called ``name`` (any case) with its actions, or
    ``None``. One SQL query (updates and outcomes run it on every call)."""
    if not name or disposition_set_id is None:
        return None
    return fetch_one(FoundDisposition.of_row, sql.DISPOSITION_FIND, [disposition_set_id, name])


def disposition_plan(
    lead_id: int,
    found: FoundDisposition,
    context: DispositionContext,
    values: dict[str, Any],
) -> DispositionPlan:
    """Fold the disposition and its local actions into ``values`` (column → value) for the
    caller's write of the lead ``lead_id``; return the plan whose ``finish`` the caller runs
    after it.

    Reads the lead's history for a ``retry_limit`` (one query); writes nothing.
    """
    disposition, actions = found, found.actions
    plan = DispositionPlan(lead_id, disposition, context, timezone.now())
    values["disposition_id"] = disposition.id
    if disposition.priority is not None:
        values["priority"] = disposition.priority
    if disposition.final:
        values["closed"] = True
        plan.log.append("final: closed")
    times = 0  # counted only when a retry_limit needs it (one query)
    if any(action.kind == ActionKind.RETRY_LIMIT for action in actions):
        times = (
            DispositionRecord.objects.filter(lead_id=lead_id, disposition_id=disposition.id).count()
            + 1
        )
    for action in actions:
        kind, params = action.kind, action.params
        if kind == ActionKind.RETRY_LIMIT:
            if times < params["count"]:
                plan.log.append(f"retry_limit: {times} of {params['count']}")
                continue
            then = dict(params["then"])
            kind = then.pop("kind")
            plan.log.append(f"retry_limit: {times} of {params['count']} reached, {kind}")
            params = then
        if kind == ActionKind.CLOSE:
            values["closed"] = True
            plan.log.append("close: closed")
        elif kind == ActionKind.CALLBACK:
            if context.callback_given:
                plan.log.append("callback: the caller's date kept")
            else:
                values["callback_at"] = plan.now + dt.timedelta(minutes=params["minutes"])
                plan.log.append(f"callback: in {params['minutes']} min")
        elif kind == ActionKind.SET_PRIORITY:
            values["priority"] = params["priority"]
            plan.log.append(f"set_priority: {params['priority']}")
        else:
            plan.deferred.append((kind, params, action))
    return plan


def _dnc(lead: Lead, which: str, dialed: str) -> str:
    phones = list(LeadPhone.objects.filter(lead=lead).order_by("id"))
    if which == "all":
        numbers = [phone.number for phone in phones]
    else:
        dialed = dialed or lead.checked_out_number
        if not dialed:
            dialed = next((phone.number for phone in phones if not phone.blocked), "")
        numbers = [dialed] if dialed else []
    for number in numbers:
        entry, created = DncEntry.objects.get_or_create(
            number=number, defaults={"source": "disposition", "note": f"lead {lead.pk}"}
        )
        if not created and entry.expires_on is not None:
            entry.expires_on = None  # a disposition's DNC does not expire
            entry.save(update_fields=["expires_on"])
    LeadPhone.objects.filter(lead=lead, number__in=numbers).update(blocked=True)
    return f"dnc: {', '.join(numbers) or 'no number'}"


def _copy(lead: Lead, params: dict[str, Any]) -> str:
    """Insert a copy of ``lead`` (its fields, priority, Contact Hours; the external id when the
    copy goes to another campaign) through the insert service, so its DNC and duplicate checks
    apply. A copy into the lead's own campaign skips the duplicate check (it is a duplicate by
    definition). A rejected copy is logged; it does not undo the update."""
    target_allocation = (
        Allocation.objects.select_related("campaign__template")
        .filter(
            name=params["allocation"],
            campaign__name=params["campaign"],
            campaign__template__name=params["template"],
        )
        .first()
    )
    if target_allocation is None:
        where = f"{params['template']} > {params['campaign']} > {params['allocation']}"
        return f"copy_lead: no allocation {where}"
    campaign: Campaign = target_allocation.campaign
    raw: dict[str, Any] = dict(lead.fields)
    raw[lead_input.PRIORITY] = lead.priority
    if lead.contact_hours is not None:
        raw[lead_input.CONTACT_HOURS] = lead.contact_hours.name
    same_campaign = campaign.pk == lead.campaign_id
    if lead.external_id and not same_campaign:
        raw[lead_input.EXTERNAL_ID] = lead.external_id
    target = call_target_of(target_allocation)
    origin = NewOrigin(Door.ACTION, f"lead {lead.pk}", "copy_lead")
    outcome = lead_insert_batch(
        target, [raw], origin=origin, allow_duplicates=same_campaign
    ).outcomes[0]
    if outcome.lead_id is None:
        return f"copy_lead: rejected {int(outcome.code)} {outcome.code.message}"
    return f"copy_lead: lead {outcome.lead_id} in {campaign.name}"


def render(text: str, values: dict[str, Any]) -> str:
    """``${fieldName}`` → the value (empty when the lead has no such field)."""

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1).strip())
        return "" if found is None else str(found)

    return _PLACEHOLDER.sub(value, text)


def _delivery(
    kind: str,
    params: dict[str, Any],
    action: ActionRow,
    lead: Lead,
    payload: dict[str, Any],
) -> ActionDelivery:
    if kind == ActionKind.WEBHOOK:
        content = {"url": params["url"], "body": payload}
    else:
        content = {
            "to": [address.strip() for address in params["to"].split(",")],
            "subject": render(params["subject"], payload),
            "body": render(params["body"], payload),
        }
    return ActionDelivery(
        kind=kind,
        lead=lead,
        action_id=action.id,
        payload=content,
        next_attempt_at=timezone.now(),
    )
