"""Every configuration write (domain.md §5.2): Contact Hours with their windows and closed
dates, disposition sets with their dispositions and actions, templates with their teams and
fields, campaigns, allocations and API keys.

**One door.** The management API, the admin (every page and inline, through ``save_model``
and ``save_formset``) and provisioning all write through these functions, so each rule is
written once, here, and holds whichever way a change arrives. The interfaces check shapes
(types, formats, a name given); the rules that need the data or the actor are here.

**Refusals.** A function runs inside the caller's transaction and raises ``Refused`` before
it writes (the interface rolls back, so nothing is written): ``CONFLICT`` for a rule of the
data (a field still holding leads' values, a campaign with leads moved or deleted, a
disposition in use), ``INVALID`` with the offending key for a value only the data or the
actor can judge, ``FORBIDDEN`` for a row shared with another team. A name already taken is
left to the database's unique constraints (``IntegrityError``), which also settle races.

**Who may.** Each write takes the ``actor`` (the user; ``None`` for provisioning, a
superuser's file) and refuses what that user may not reach (``campaigner.selectors``).

**Is it used?** This app cannot import ``leads`` (dependencies point dialer → leads →
campaigner), and need not: a lead's campaign, allocation and disposition are foreign keys
with ``related_name="leads"`` (and a disposition record's ``"records"``), so
``campaign.leads.exists()`` asks the leads table without naming it, and the ``PROTECT``
keys stop a delete that a check here would have missed.

**What changed.** Every save writes a row only where a value differs and counts what it
wrote in the ``Changes`` it is given, so provisioning a file twice changes no row the second
time and the admin's and API's saves of an unchanged form write nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from django.contrib.auth.models import Group
from django.db import connection, models

from campaigner.action_specs import ActionKind
from campaigner.contract import Refusal, Refused
from campaigner.models import (
    MINUTES_PER_DAY,
    Allocation,
    ApiKey,
    Campaign,
    CampaignTemplate,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
    Disposition,
    DispositionAction,
    DispositionSet,
    FieldType,
    TemplateField,
    minutes_to_hhmm,
    new_secret,
)
from campaigner.selectors import (
    allocations_visible,
    sees_everything,
    shared_writable_by,
    teams_of,
)

RESERVED_PREFIX = "nj"  # the system fields' names (njExternalLeadId, …), in any case

# --- what a save wrote -------------------------------------------------------------------

Kind = Literal["created", "updated", "deleted"]


@dataclass
class Changes:
    """Rows written, by kind and by what (``"dispositions"``): provisioning's report, and
    how a caller learns whether a save changed anything."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def count(self, kind: Kind, what: str, n: int = 1) -> None:
        if n:
            getattr(self, kind)[what] += n

    def summary(self) -> str:
        if not self.changed:
            return "Nothing to change: the database already matches."
        parts = [
            f"{kind} " + ", ".join(f"{n} {what}" for what, n in sorted(bucket.items()))
            for kind in ("created", "updated", "deleted")
            if (bucket := getattr(self, kind))
        ]
        return "; ".join(parts).capitalize() + "."


def in_callers_transaction() -> None:
    """The services that write several rows run inside their caller's transaction, which a
    refusal or a failed write rolls back whole; outside one a half-done save would stay."""
    if not connection.in_atomic_block:
        raise RuntimeError("configuration services run inside the caller's transaction")


def _what(model: type[models.Model]) -> str:
    return str(model._meta.verbose_name_plural)


def save_changed(obj: models.Model, changes: Changes | None, *, ignore: Iterable[str] = ()) -> bool:
    """Writes ``obj`` if it is new or a value differs from its stored row (only those
    values); counts it. ``ignore``: columns the caller never writes (a key's last use)."""
    model = type(obj)
    changes = Changes() if changes is None else changes
    if obj.pk is None:
        obj.save()
        changes.count("created", _what(model))
        return True
    names = [
        f.attname
        for f in model._meta.concrete_fields
        if not f.primary_key and f.attname not in ignore
    ]
    stored = model._default_manager.filter(pk=obj.pk).values(*names).first()
    if stored is None:
        obj.save(force_insert=True)
        changes.count("created", _what(model))
        return True
    differ = [name for name in names if stored[name] != getattr(obj, name)]
    if differ:
        obj.save(update_fields=differ)
        changes.count("updated", _what(model))
    return bool(differ)


def _replace_children(
    model: type[models.Model],
    parent: dict[str, Any],
    wanted: list[dict[str, Any]],
    keys: tuple[str, ...],
    changes: Changes | None,
) -> None:
    """Makes the rows of ``model`` under ``parent`` equal ``wanted`` (compared on ``keys``,
    in order); nothing is written when they already are."""
    rows = model._default_manager.filter(**parent).order_by(*keys, "pk")
    current = [dict(zip(keys, row, strict=True)) for row in rows.values_list(*keys)]
    if current == wanted:
        return
    changes = Changes() if changes is None else changes
    rows.delete()
    changes.count("deleted", _what(model), len(current))
    model._default_manager.bulk_create([model(**parent, **values) for values in wanted])
    changes.count("created", _what(model), len(wanted))


# --- shared by use: Contact Hours, disposition sets ---------------------------------------


def shared_write_check(row: Any, actor: Any) -> None:
    """``Refused(FORBIDDEN)`` when ``row`` (Contact Hours, a disposition set) is used by a
    template of a team ``actor`` is not in."""
    if not shared_writable_by(row, actor):
        raise Refused(
            Refusal.FORBIDDEN,
            f"{row._meta.verbose_name} {row.name!r} is also used by templates of teams you are "
            "not in; only someone in all of them (or a superuser) may change it",
        )


def _unused_check(row: ContactHours | DispositionSet) -> None:
    # Worded as the answer to the database's own refusal (a PROTECT key) is.
    if row.templates.exists():
        raise Refused(
            Refusal.CONFLICT, "It is still in use by campaign templates; remove those first."
        )


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int  # 1440 = midnight at the end of the day


def contact_hours_save(
    hours: ContactHours,
    windows: Iterable[Window] | None = None,
    closed_dates: Iterable[dt.date] | None = None,
    *,
    actor: Any,
    changes: Changes | None = None,
) -> ContactHours:
    """Saves ``hours`` (new or changed) and, where given, makes its windows and closed dates
    exactly these (duplicates dropped). A window is a weekday 0-6 and a start before its end
    within the day (``INVALID`` on ``windows``). ``FORBIDDEN`` if another team's template
    uses the hours (``shared_write_check``)."""
    in_callers_transaction()
    shared_write_check(hours, actor)
    wanted = None
    if windows is not None:
        wanted = sorted(set(windows), key=lambda w: (w.weekday, w.start_minute, w.end_minute))
        for w in wanted:
            if not (0 <= w.weekday <= 6 and 0 <= w.start_minute < w.end_minute <= MINUTES_PER_DAY):
                raise Refused(
                    Refusal.INVALID,
                    f"the window {minutes_to_hhmm(w.start_minute)}-"
                    f"{minutes_to_hhmm(w.end_minute)} on day {w.weekday}: a window's start is "
                    "before its end, between 00:00 and 24:00, on a weekday 0-6 (Monday first)",
                    "windows",
                )
    save_changed(hours, changes)
    if wanted is not None:
        _replace_children(
            ContactHoursWindow,
            {"contact_hours": hours},
            [
                {"weekday": w.weekday, "start_minute": w.start_minute, "end_minute": w.end_minute}
                for w in wanted
            ],
            ("weekday", "start_minute", "end_minute"),
            changes,
        )
    if closed_dates is not None:
        _replace_children(
            ContactHoursClosedDate,
            {"contact_hours": hours},
            [{"date": d} for d in sorted(set(closed_dates))],
            ("date",),
            changes,
        )
    return hours


def contact_hours_delete(hours: ContactHours, *, actor: Any) -> None:
    """Deletes Contact Hours no template uses (``CONFLICT`` otherwise)."""
    in_callers_transaction()
    shared_write_check(hours, actor)
    _unused_check(hours)
    hours.delete()


# --- dispositions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DispositionSpec:
    name: str
    id: int | None = None
    enabled: bool = True
    priority: int | None = None
    final: bool = False
    callback_required: bool = False
    contact: bool = False  # the call reached the person (the dashboard's contact rate)
    # validate_action's (kind, params) pairs; None keeps the disposition's actions as they are
    actions: Sequence[tuple[str, dict[str, Any]]] | None = ()

    @classmethod
    def of(cls, disposition: Disposition, **changes: Any) -> DispositionSpec:
        """The spec of ``disposition`` as it stands (its actions kept), with ``changes``."""
        return replace(
            cls(
                name=disposition.name, id=disposition.pk, enabled=disposition.enabled,
                priority=disposition.priority, final=disposition.final,
                callback_required=disposition.callback_required, contact=disposition.contact,
                actions=None,
            ),
            **changes,
        )  # fmt: skip


def disposition_set_save(
    disposition_set: DispositionSet,
    dispositions: Sequence[DispositionSpec] | None = None,
    *,
    actor: Any,
    changes: Changes | None = None,
) -> DispositionSet:
    """Saves the set and, where given, makes its dispositions exactly the list, in its order:
    an entry with an ``id`` changes that disposition (which must be in this set), one without
    changes the disposition of that name (regardless of case) or adds one. A disposition left
    out is deleted, unless a lead or its history still names it (``CONFLICT``: disable it
    instead). Each disposition's actions become exactly the ones given; a ``copy_lead`` target
    must be an allocation the actor sees. ``FORBIDDEN`` if another team's template uses the
    set (its webhooks would send that team's leads)."""
    in_callers_transaction()
    shared_write_check(disposition_set, actor)
    if dispositions is None:
        save_changed(disposition_set, changes)
        return disposition_set
    existing = {d.pk: d for d in disposition_set.dispositions.all()} if disposition_set.pk else {}
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
            disposition = by_name.get(key) or Disposition()
        kept.append(disposition)
        _actions_check(spec.actions or (), f"dispositions.{i}.actions", actor)
    kept_ids = {d.pk for d in kept if d.pk is not None}
    gone = [d for pk, d in existing.items() if pk not in kept_ids]
    for disposition in gone:
        _disposition_unused_check(disposition)
    changes = Changes() if changes is None else changes
    save_changed(disposition_set, changes)
    for disposition in gone:
        disposition.delete()
    changes.count("deleted", _what(Disposition), len(gone))
    for position, (disposition, spec) in enumerate(zip(kept, dispositions, strict=True)):
        disposition.disposition_set = disposition_set
        disposition.name, disposition.enabled, disposition.position = (
            spec.name,
            spec.enabled,
            position,
        )
        disposition.priority, disposition.final = spec.priority, spec.final
        disposition.callback_required, disposition.contact = spec.callback_required, spec.contact
        # Two names swapped in one request meet the unique index half-way: IntegrityError.
        save_changed(disposition, changes)
        if spec.actions is not None:
            _actions_write(disposition, spec.actions, changes)
    return disposition_set


def disposition_set_delete(disposition_set: DispositionSet, *, actor: Any) -> None:
    """Deletes a set no template uses and whose dispositions no lead names (``CONFLICT``)."""
    in_callers_transaction()
    shared_write_check(disposition_set, actor)
    _unused_check(disposition_set)
    for disposition in disposition_set.dispositions.all():
        _disposition_unused_check(disposition)
    disposition_set.delete()


def disposition_save(
    disposition: Disposition,
    actions: Sequence[tuple[str, dict[str, Any]]] | None = None,
    *,
    actor: Any,
    changes: Changes | None = None,
) -> Disposition:
    """Saves one disposition of its set and, where given, makes its actions exactly these
    (the admin's disposition page). The set's rules apply: ``FORBIDDEN`` if another team's
    template uses the set, a ``copy_lead`` target the actor sees."""
    in_callers_transaction()
    shared_write_check(disposition.disposition_set, actor)
    _actions_check(actions or (), "actions", actor)
    save_changed(disposition, changes)
    if actions is not None:
        _actions_write(disposition, actions, changes)
    return disposition


def disposition_delete(disposition: Disposition, *, actor: Any) -> None:
    """Deletes a disposition no lead or lead history names (``CONFLICT``: disable it)."""
    shared_write_check(disposition.disposition_set, actor)
    _disposition_unused_check(disposition)
    disposition.delete()


def _disposition_unused_check(disposition: Disposition) -> None:
    if disposition.leads.exists() or disposition.records.exists():
        raise Refused(
            Refusal.CONFLICT,
            f"disposition {disposition.name!r} is still set on "
            "leads or in their history; keep it with enabled false instead",
        )


def _actions_check(actions: Iterable[tuple[str, dict[str, Any]]], where: str, actor: Any) -> None:
    for j, (kind, params) in enumerate(actions):
        if kind == ActionKind.COPY_LEAD:
            _copy_target_check(params, f"{where}.{j}", actor)


def _actions_write(
    disposition: Disposition,
    actions: Sequence[tuple[str, dict[str, Any]]],
    changes: Changes | None,
) -> None:
    _replace_children(
        DispositionAction,
        {"disposition": disposition},
        [{"position": j, "kind": k, "params": params} for j, (k, params) in enumerate(actions)],
        ("position", "kind", "params"),
        changes,
    )


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


# --- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """A template field as given. A field shown as a phone number holds one: display type
    ``phone`` makes it a phone field whatever ``phone`` says (it is normalised, checked against
    the DNC list and dialed), so it cannot silently be a text box that looks like a number."""

    name: str
    display_type: str
    phone: bool
    in_name: bool = False  # part of the lead's name in lists

    def __post_init__(self) -> None:
        if self.display_type == FieldType.PHONE:
            object.__setattr__(self, "phone", True)


def template_save(
    template: CampaignTemplate,
    fields: Sequence[FieldSpec] | None = None,
    teams: Iterable[Group] | None = None,
    *,
    actor: Any,
    changes: Changes | None = None,
) -> CampaignTemplate:
    """Saves the template and, where given, its teams and its fields (in list order). A
    template needs a phone field; names starting with ``nj`` (any case) are the system
    fields'. Removing a field that a lead of the template still holds a value for is
    ``CONFLICT``.

    Who may (``INVALID`` on the key otherwise): the teams are teams, not roles, and for a user
    who is not a superuser one or more of their own (a template of no team of theirs would be
    invisible to them); Contact Hours and a disposition set given to the template must be ones
    the actor may change (no other team's template uses them), so one team cannot attach
    itself to, and so lock, another team's configuration."""
    in_callers_transaction()
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
    gone: list[str] = []
    if fields is not None:
        _fields_check(fields)
        if template.pk is not None:
            names = [f.name for f in fields]
            gone = list(template.fields.exclude(name__in=names).values_list("name", flat=True))
            for name in gone:
                if template.campaigns.filter(leads__fields__has_key=name).exists():
                    raise Refused(
                        Refusal.CONFLICT,
                        f"field {name!r} still holds values of leads; it cannot be removed",
                    )
    save_changed(template, changes)
    changes = Changes() if changes is None else changes
    if teams is not None and {g.pk for g in template.teams.all()} != {g.pk for g in teams}:
        template.teams.set(teams)
        changes.count("updated", "template teams")
    if fields is None:
        return template
    if gone:
        changes.count("deleted", _what(TemplateField), len(gone))
        template.fields.filter(name__in=gone).delete()
    current = {f.name: f for f in template.fields.all()}
    for position, spec in enumerate(fields):
        row = current.get(spec.name) or TemplateField(template=template, name=spec.name)
        row.display_type, row.is_phone, row.position = spec.display_type, spec.phone, position
        row.in_name = spec.in_name
        save_changed(row, changes)
    return template


def _fields_check(fields: Sequence[FieldSpec]) -> None:
    names: list[str] = []
    for i, spec in enumerate(fields):
        if spec.name.lower().startswith(RESERVED_PREFIX):
            raise Refused(
                Refusal.INVALID,
                "names starting with 'nj' (in any case) are reserved for system fields",
                f"fields.{i}.name",
            )
        if spec.name in names:
            raise Refused(Refusal.INVALID, f"{spec.name!r} is listed twice", f"fields.{i}.name")
        names.append(spec.name)
    if not any(f.phone for f in fields):
        raise Refused(Refusal.INVALID, "a template needs at least one phone field", "fields")


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


# --- campaigns and allocations --------------------------------------------------------------


def campaign_save(campaign: Campaign, *, changes: Changes | None = None) -> Campaign:
    """Saves a campaign; moving one that has leads to another template is ``CONFLICT`` (its
    leads' fields are the old template's)."""
    if campaign.pk is not None:
        stored = Campaign.objects.get(pk=campaign.pk)
        if stored.template_id != campaign.template_id and stored.leads.exists():
            raise Refused(
                Refusal.CONFLICT, "the campaign has leads; it cannot move to another template"
            )
    save_changed(campaign, changes)
    return campaign


def campaign_delete(campaign: Campaign) -> None:
    """Deletes a campaign with its allocations, only while it has no leads (``CONFLICT``
    otherwise: set it inactive instead)."""
    in_callers_transaction()
    if campaign.leads.exists():
        raise Refused(
            Refusal.CONFLICT,
            f"campaign {campaign.name!r} still has leads; set active false instead",
        )
    campaign.allocations.all().delete()
    campaign.delete()


def allocation_save(allocation: Allocation, *, changes: Changes | None = None) -> Allocation:
    """Saves an allocation; moving one that has leads to another campaign is ``CONFLICT``."""
    if allocation.pk is not None:
        stored = Allocation.objects.get(pk=allocation.pk)
        if stored.campaign_id != allocation.campaign_id and stored.leads.exists():
            raise Refused(
                Refusal.CONFLICT, "the allocation has leads; it cannot move to another campaign"
            )
    save_changed(allocation, changes)
    return allocation


def allocation_delete(allocation: Allocation) -> None:
    """Deletes an allocation, only while it has no leads (``CONFLICT`` otherwise)."""
    if allocation.leads.exists():
        raise Refused(
            Refusal.CONFLICT, f"allocation {allocation.name!r} still has leads; stop it instead"
        )
    allocation.delete()


# --- API keys -------------------------------------------------------------------------------


def api_key_create(
    name: str, team: Group | None = None, user: Any = None, *, actor: Any
) -> tuple[ApiKey, str]:
    """A new CampaignAPI key: the row (only the key's hash and first characters are stored)
    and the plain key, which the caller shows once and which can never be read again.
    A name already taken raises ``IntegrityError``. See ``api_key_save`` for who may."""
    plain = new_secret()
    key = ApiKey(name=name, team=team, user=user)
    key.set_key(plain)
    return api_key_save(key, actor=actor), plain


def api_key_save(key: ApiKey, *, actor: Any, changes: Changes | None = None) -> ApiKey:
    """Saves a key (new, renamed, moved, revoked). A user who is not a superuser gives a key
    one of their own teams (a key of no team sees every team: a superuser's) and, if it names
    a user, a member of that team (or themselves): else ``Refused(INVALID)`` on ``team`` or
    ``user``. Only keys of their teams reach them to be changed (``api_keys_visible``). The
    key's last use is the authentication's to write, never a save's."""
    if key.team_id is not None and not teams_of(actor).filter(pk=key.team_id).exists():
        raise Refused(Refusal.INVALID, "name one of your own teams (a role is not a team)", "team")
    if not sees_everything(actor):
        if key.team_id is None:
            raise Refused(Refusal.INVALID, "name one of your own teams", "team")
        named: Any = key.user
        if (
            named is not None
            and named.pk != actor.pk
            and not named.groups.filter(pk=key.team_id).exists()
        ):
            raise Refused(Refusal.INVALID, "name a member of the key's team, or nobody", "user")
    save_changed(key, changes, ignore=("last_used_at", "created_at"))
    return key


def api_key_revoke(key: ApiKey, *, actor: Any) -> bool:
    """Revokes a key (the CampaignAPI refuses it from the next call): whether it was live."""
    if key.revoked:
        return False
    key.revoked = True
    api_key_save(key, actor=actor)
    return True
