"""Configuration writes with rules that reach into the data (domain.md §5.2): Contact Hours
with their windows, disposition sets with their dispositions and actions, templates with their
fields, and the campaign and allocation rules that depend on leads. The management API and the
admin both call these; input shapes are checked by the interface, the rules here.

Every function runs inside the caller's transaction and raises ``Refused`` (nothing written,
because the interface rolls the transaction back) when a rule says no:
``CONFLICT`` for a rule of the data, ``INVALID`` with the offending key for a bad value that
only the data can tell (a ``copy_lead`` target that does not exist). A name already taken is
left to the database's unique constraints (``IntegrityError``), which also settles races.

The writes that can reach another team's configuration take the ``actor`` (the user; ``None``
for provisioning) and refuse, as ``campaigner.services`` does, what that user may not reach
(``campaigner.selectors``): ``INVALID`` on the key of something they cannot name,
``FORBIDDEN`` for a row shared with another team's templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group

from campaigner.action_specs import ActionKind
from campaigner.contract import Refusal, Refused
from campaigner.models import (
    Allocation,
    Campaign,
    CampaignTemplate,
    Disposition,
    DispositionAction,
    DispositionSet,
    TemplateField,
)
from campaigner.selectors import (
    allocations_visible,
    sees_everything,
    shared_writable_by,
    teams_of,
)
from campaigner.services import shared_write_check
from leads.models import DispositionRecord, Lead


@dataclass(frozen=True)
class DispositionSpec:
    name: str
    id: int | None = None
    enabled: bool = True
    priority: int | None = None
    final: bool = False
    callback_required: bool = False
    actions: Sequence[tuple[str, dict[str, Any]]] = field(default=())  # validate_action's


def disposition_set_save(
    disposition_set: DispositionSet,
    dispositions: Sequence[DispositionSpec] | None = None,
    *,
    actor: Any,
) -> DispositionSet:
    """Saves the set and, where given, makes its dispositions exactly the list, in its order:
    an entry with an ``id`` changes that disposition (which must be in this set), one without
    changes the disposition of that name (regardless of case) or adds one. A disposition left
    out is deleted, unless a lead or its history still names it (``CONFLICT``: disable it
    instead). Each disposition's actions become exactly the ones given; a ``copy_lead`` target
    must be an allocation the actor sees. ``FORBIDDEN`` if another team's template uses the
    set (its webhooks would send that team's leads)."""
    shared_write_check(disposition_set, actor)
    disposition_set.save()
    if dispositions is None:
        return disposition_set
    existing = {d.pk: d for d in disposition_set.dispositions.all()}
    by_name = {d.name.lower(): d for d in existing.values()}
    seen: set[str] = set()
    kept: list[Disposition] = []
    for i, spec in enumerate(dispositions):
        key = spec.name.lower()
        if key in seen:
            raise Refused(
                Refusal.INVALID,
                f"{spec.name!r} is listed twice (names are case-insensitive)",
                f"dispositions.{i}.name",
            )
        seen.add(key)
        if spec.id is not None:
            if spec.id not in existing:
                raise Refused(
                    Refusal.INVALID,
                    f"disposition {spec.id} is not in this set",
                    f"dispositions.{i}.id",
                )
            disposition = existing[spec.id]
        else:
            disposition = by_name.get(key) or Disposition(disposition_set=disposition_set)
        kept.append(disposition)
        for j, (kind, params) in enumerate(spec.actions):
            if kind == ActionKind.COPY_LEAD:
                _copy_target_check(params, f"dispositions.{i}.actions.{j}", actor)
        disposition.name, disposition.enabled, disposition.position = spec.name, spec.enabled, i
        disposition.priority, disposition.final = spec.priority, spec.final
        disposition.callback_required = spec.callback_required
    kept_ids = {d.pk for d in kept if d.pk is not None}
    _dispositions_delete([d for pk, d in existing.items() if pk not in kept_ids])
    for disposition, spec in zip(kept, dispositions, strict=True):
        # Two names swapped in one request meet the unique index half-way: IntegrityError.
        disposition.save()
        disposition.actions.all().delete()
        DispositionAction.objects.bulk_create(
            DispositionAction(disposition=disposition, position=j, kind=kind, params=params)
            for j, (kind, params) in enumerate(spec.actions)
        )
    return disposition_set


def _dispositions_delete(gone: list[Disposition]) -> None:
    for disposition in gone:
        used = (
            Lead.objects.filter(disposition=disposition).exists()
            or DispositionRecord.objects.filter(disposition=disposition).exists()
        )
        if used:
            raise Refused(
                Refusal.CONFLICT,
                f"disposition {disposition.name!r} is still set on "
                "leads or in their history; keep it with enabled false instead",
            )
        disposition.delete()


def _copy_target_check(params: dict[str, Any], where: str, actor: Any) -> None:
    # Another team's allocation is "not found", as it is to that user everywhere else.
    exists = (
        allocations_visible(actor)
        .filter(
            name=params["allocation"],
            campaign__name=params["campaign"],
            campaign__template__name=params["template"],
        )
        .exists()
    )
    if not exists:
        raise Refused(
            Refusal.INVALID,
            "copy_lead target not found: template "
            f"{params['template']!r}, campaign {params['campaign']!r}, allocation "
            f"{params['allocation']!r}",
            where,
        )


@dataclass(frozen=True)
class FieldSpec:
    name: str
    display_type: str
    phone: bool


def template_save(
    template: CampaignTemplate,
    fields: Sequence[FieldSpec] | None = None,
    teams: Iterable[Group] | None = None,
    *,
    actor: Any,
) -> CampaignTemplate:
    """Saves the template and, where given, its teams and its fields (in list order). A
    template needs a phone field; names starting with ``nj`` are the system fields'. Removing
    a field that a lead of the template still holds a value for is ``CONFLICT``.

    Who may (``INVALID`` on the key otherwise): the teams are teams, not roles, and for a user
    who is not a superuser one or more of their own (a template of no team of theirs would be
    invisible to them); Contact Hours and a disposition set given to the template must be ones
    the actor may change (no other team's template uses them), so one team cannot attach
    itself to, and so lock, another team's configuration."""
    _template_references_check(template, actor)
    if teams is not None:
        teams = list(teams)
        allowed = set(teams_of(actor).values_list("pk", flat=True))
        if any(team.pk not in allowed for team in teams) or not (teams or sees_everything(actor)):
            raise Refused(
                Refusal.INVALID,
                "name one or more teams"
                + ("" if sees_everything(actor) else " of your own")
                + " (a role is not a team)",
                "teams",
            )
    template.save()
    if teams is not None:
        template.teams.set(teams)
    if fields is None:
        return template
    names = [f.name for f in fields]
    for i, spec in enumerate(fields):
        if spec.name.lower().startswith("nj"):
            raise Refused(
                Refusal.INVALID,
                "names starting with 'nj' are reserved for system fields",
                f"fields.{i}.name",
            )
        if spec.name in names[:i]:
            raise Refused(Refusal.INVALID, f"{spec.name!r} is listed twice", f"fields.{i}.name")
    if not any(f.phone for f in fields):
        raise Refused(Refusal.INVALID, "a template needs at least one phone field", "fields")
    gone = template.fields.exclude(name__in=names)
    for name in gone.values_list("name", flat=True):
        if Lead.objects.filter(campaign__template=template, fields__has_key=name).exists():
            raise Refused(
                Refusal.CONFLICT,
                f"field {name!r} still holds values of leads; it cannot be removed",
            )
    gone.delete()
    current = {f.name: f for f in template.fields.all()}
    for position, spec in enumerate(fields):
        row = current.get(spec.name) or TemplateField(template=template, name=spec.name)
        row.display_type, row.is_phone, row.position = spec.display_type, spec.phone, position
        row.save()
    return template


def _template_references_check(template: CampaignTemplate, actor: Any) -> None:
    stored = CampaignTemplate.objects.filter(pk=template.pk).first() if template.pk else None
    for attr, key in (("contact_hours", "contactHours"), ("disposition_set", "dispositionSet")):
        chosen = getattr(template, attr)
        unchanged = stored is not None and getattr(stored, f"{attr}_id") == getattr(
            template, f"{attr}_id"
        )
        if chosen is not None and not unchanged and not shared_writable_by(chosen, actor):
            raise Refused(
                Refusal.INVALID,
                f"{chosen.name!r} is used by templates of teams you are not in; choose one of "
                "your own",
                key,
            )


def campaign_save(campaign: Campaign) -> Campaign:
    """Saves a campaign; moving one that has leads to another template is ``CONFLICT`` (its
    leads' fields are the old template's)."""
    if campaign.pk is not None:
        stored = Campaign.objects.get(pk=campaign.pk)
        if stored.template_id != campaign.template_id and _has_leads(campaign=campaign):
            raise Refused(
                Refusal.CONFLICT, "the campaign has leads; it cannot move to another template"
            )
    campaign.save()
    return campaign


def campaign_delete(campaign: Campaign) -> None:
    """Deletes a campaign with its allocations, only while it has no leads (``CONFLICT``
    otherwise: set it inactive instead)."""
    if _has_leads(campaign=campaign):
        raise Refused(
            Refusal.CONFLICT,
            f"campaign {campaign.name!r} still has leads; set active false instead",
        )
    campaign.allocations.all().delete()
    campaign.delete()


def allocation_save(allocation: Allocation) -> Allocation:
    """Saves an allocation; moving one that has leads to another campaign is ``CONFLICT``."""
    if allocation.pk is not None:
        stored = Allocation.objects.get(pk=allocation.pk)
        if stored.campaign_id != allocation.campaign_id and _has_leads(allocation=allocation):
            raise Refused(
                Refusal.CONFLICT, "the allocation has leads; it cannot move to another campaign"
            )
    allocation.save()
    return allocation


def allocation_delete(allocation: Allocation) -> None:
    """Deletes an allocation, only while it has no leads (``CONFLICT`` otherwise)."""
    if _has_leads(allocation=allocation):
        raise Refused(
            Refusal.CONFLICT, f"allocation {allocation.name!r} still has leads; stop it instead"
        )
    allocation.delete()


def _has_leads(**where: Any) -> bool:
    return Lead.objects.filter(**where).exists()
