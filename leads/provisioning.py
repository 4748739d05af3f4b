"""Provisioning from a JSON file (domain.md §7): ``provision_apply(spec)``.

A parser of the file that writes through the same services as the admin and the management
API (``campaigner.services``, ``leads.services.dnc``): the file's shapes are checked here, the
rules there, so a file cannot do what the other doors refuse (remove a template field that
leads hold values for, name a field ``NJ…``). It lives in ``leads`` rather than ``campaigner``
because a file also carries DNC entries, and dependencies point one way (``leads`` →
``campaigner``).

Guarantees:
- **Atomic**: everything runs in one transaction; the first invalid entry raises
  ``ProvisionError`` naming it (``templates[0] "Solar" > dispositions[2] "Do Not Call" >
  actions[0]: …``) and nothing is written.
- **Idempotent**: entities are matched by name and the services write a row only when a value
  differs, so a second run with the same file changes no row (``Changes.changed == 0``).
- **The file is the truth for what it lists**: a template's fields, a disposition's actions and a
  Contact Hours' windows and closed dates are made to equal the file. Dispositions missing from
  the file are disabled, not deleted, because leads may still refer to them. Dispositions are
  written after every template's campaigns, so a ``copy_lead`` action may name an allocation
  further down the file.
- Plain API keys and user tokens are stored only as hashes; passwords via Django's hasher, and
  only re-hashed when the stored one no longer matches (a re-hash would change the row). A key
  has at least 16 characters (the vendor's are UUIDs); a management API token, which opens
  everything its user may do, at least 32, except in the demo file ``make run`` applies.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction

from campaigner.action_specs import ActionSpecError, validate_action
from campaigner.contract import Refused
from campaigner.models import (
    WEEKDAYS,
    Allocation,
    ApiKey,
    ApiToken,
    BalanceMode,
    Campaign,
    CampaignTemplate,
    ContactHours,
    DispositionSet,
    FieldType,
    ZoneMode,
    hash_secret,
    hhmm_to_minutes,
)
from campaigner.roles import ROLES
from campaigner.services import (
    Changes,
    DispositionSpec,
    FieldSpec,
    Window,
    allocation_save,
    api_key_save,
    campaign_save,
    contact_hours_save,
    disposition_set_save,
    save_changed,
    template_save,
)
from leads.services.dnc import dnc_entry_put

PROVISIONED_TOKEN_NAME = "provisioned"  # noqa: S105 (a name, not a secret)
DNC_SOURCE = "provisioning"


class ProvisionError(ValueError):
    """The file is invalid; ``str()`` names the offending entry and what is wrong."""


MIN_KEY_LENGTH = 16
MIN_TOKEN_LENGTH = 32


class _Provisioner:
    def __init__(self, *, demo: bool = False) -> None:
        self.demo = demo
        self.report = Changes()
        self._path: list[str] = []
        # (the template's entry path, its set, the file's dispositions), written last
        self._dispositions: list[tuple[list[str], DispositionSet, list[Any]]] = []

    # -- error context ---------------------------------------------------------------------
    @contextmanager
    def entry(self, section: str, index: int, item: Any = None) -> Iterator[None]:
        self._path.append(_label(section, index, item))
        try:
            yield
        finally:
            self._path.pop()

    def where(self) -> str:
        return " > ".join(self._path) or "file"

    def fail(self, message: str) -> ProvisionError:
        return ProvisionError(f"{self.where()}: {message}")

    @contextmanager
    def service(self, item: Any) -> Iterator[None]:
        """A service's refusal as the file's error: its key (``fields.0.name``) read as the
        entry of ``item`` it names (``fields[0] "njName" > name``)."""
        try:
            yield
        except Refused as refused:
            where = [*self._path, *_key_labels(item, refused.field)]
            raise ProvisionError(f"{' > '.join(where) or 'file'}: {refused.detail}") from None

    # -- value readers ---------------------------------------------------------------------
    def obj(self, value: Any, allowed: set[str], required: tuple[str, ...] = ()) -> None:
        """Check that ``value`` is an object with only ``allowed`` keys and every ``required``."""
        if not isinstance(value, dict):
            raise self.fail("must be an object")
        unknown = set(value) - allowed
        if unknown:
            raise self.fail(f"unknown key(s): {', '.join(sorted(unknown))}")
        for key in required:
            if key not in value:
                raise self.fail(f"{key!r} is required")

    def items(self, spec: dict[str, Any], key: str) -> list[Any]:
        value = spec.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{key!r} must be a list")
        return value

    def text(self, spec: dict[str, Any], key: str, default: str | None = None) -> str:
        value = spec.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key!r} must be a non-empty string")
        return value.strip()

    def flag(self, spec: dict[str, Any], key: str, default: bool) -> bool:
        value = spec.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true or false")
        return value

    def whole(
        self, spec: dict[str, Any], key: str, low: int, high: int, default: int | None
    ) -> int | None:
        value = spec.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"{key!r} must be a whole number {low}-{high}")
        return value

    def date(self, value: Any, what: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise self.fail(f"{what} must be a date yyyy-mm-dd, not {value!r}") from None

    def clock(self, spec: dict[str, Any], key: str) -> int:
        try:
            return hhmm_to_minutes(spec.get(key))
        except ValueError as exc:
            raise self.fail(f"{key!r} {exc}") from None

    def lookup(self, model: type[models.Model], what: str, **filters: Any) -> Any:
        try:
            return model._default_manager.get(**filters)
        except model.DoesNotExist:  # type: ignore[attr-defined]
            value = next(iter(filters.values()))
            raise self.fail(f"unknown {what} {value!r}") from None

    def named(self, model: type[models.Model], **lookup: Any) -> Any:
        """The row the file names (matched by name), or a new one to be saved."""
        return model._default_manager.filter(**lookup).first() or model(**lookup)

    def upsert(
        self, model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]
    ) -> Any:
        """Teams, users and tokens, which have no rules of their own: create, or write only the
        values that differ."""
        obj = self.named(model, **lookup)
        for name, value in values.items():
            setattr(obj, name, value)
        save_changed(obj, self.report)
        return obj

    # -- sections --------------------------------------------------------------------------
    def run(self, spec: Any) -> Changes:
        # In dependency order: users name teams, templates name Contact Hours and teams, keys
        # name teams and users; dispositions (copy_lead) name any template's allocations.
        sections = {
            "contact_hours": self.contact_hours,
            "teams": self.team,
            "users": self.user,
            "templates": self.template,
            "dnc": self.dnc,
            "api_keys": self.api_key,
        }
        self.obj(spec, set(sections))
        for section, apply in sections.items():
            for i, item in enumerate(self.items(spec, section)):
                with self.entry(section, i, item):
                    apply(item)
        for path, disposition_set, specs in self._dispositions:
            self._path = path
            self.dispositions(disposition_set, specs)
        return self.report

    def team(self, item: Any) -> None:
        self.obj(item, {"name"}, ("name",))
        name = self.text(item, "name")
        if name in ROLES:
            raise self.fail(f"{name!r} is a role (see 'groups' on a user), not a team")
        self.upsert(Group, {"name": name}, {})

    def contact_hours(self, item: Any) -> None:
        self.obj(item, {"name", "timezone", "zone_mode", "windows", "closed_dates"},
                 ("name", "timezone"))  # fmt: skip
        tz = self.text(item, "timezone")
        if tz not in zoneinfo.available_timezones():
            raise self.fail(f"unknown timezone {tz!r} (an IANA name such as 'Australia/Melbourne')")
        mode = item.get("zone_mode", ZoneMode.HOURS)
        if mode not in ZoneMode.values:
            raise self.fail(f"'zone_mode' must be one of {', '.join(ZoneMode.values)}")
        hours = self.named(ContactHours, name=self.text(item, "name"))
        hours.timezone, hours.zone_mode = tz, mode
        windows = []
        for j, window in enumerate(self.items(item, "windows")):
            with self.entry("windows", j):
                self.obj(window, {"days", "start", "end"}, ("days", "start", "end"))
                start, end = self.clock(window, "start"), self.clock(window, "end")
                days = window["days"]
                if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
                    raise self.fail(f"'days' must be a list of {', '.join(WEEKDAYS)}")
                windows += [Window(WEEKDAYS.index(d), start, end) for d in days]
        dates = [self.date(d, "a closed date") for d in self.items(item, "closed_dates")]
        with self.service(item):
            contact_hours_save(hours, windows, dates, actor=None, changes=self.report)

    def user(self, item: Any) -> None:
        self.obj(
            item,
            {"username", "password", "staff", "superuser", "teams", "groups", "api_token", "email"},
            ("username",),
        )
        user_model = get_user_model()
        superuser = self.flag(item, "superuser", False)
        values = {
            "is_staff": self.flag(item, "staff", False) or superuser,
            "is_superuser": superuser,
            "email": item.get("email", ""),
        }
        user = self.upsert(user_model, {"username": self.text(item, "username")}, values)
        password = item.get("password")
        if password is not None:
            if not isinstance(password, str) or not password:
                raise self.fail("'password' must be a non-empty string")
            if not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
                self.report.count("updated", "user passwords")
        teams = [self.lookup(Group, "team", name=name) for name in self.items(item, "teams")]
        roles = []
        for name in self.items(item, "groups"):
            if name not in ROLES:
                raise self.fail(f"'groups' are roles: {', '.join(ROLES)}; not {name!r}")
            roles.append(self.lookup(Group, "role", name=name))
        if {g.pk for g in user.groups.all()} != {g.pk for g in [*teams, *roles]}:
            user.groups.set([*teams, *roles])
            self.report.count("updated", "user teams and roles")
        if "api_token" in item:
            self.upsert(
                ApiToken,
                {"user": user, "name": PROVISIONED_TOKEN_NAME},
                self.secret_values(
                    item, "api_token", "token", MIN_KEY_LENGTH if self.demo else MIN_TOKEN_LENGTH
                ),
            )

    def secret_values(
        self, item: dict[str, Any], key: str, prefix: str, least: int = MIN_KEY_LENGTH
    ) -> dict[str, str]:
        plain = self.text(item, key)
        if len(plain) < least:
            raise self.fail(f"{key!r} must be at least {least} characters")
        return {f"{prefix}_hash": hash_secret(plain), f"{prefix}_prefix": plain[:8]}

    def template(self, item: Any) -> None:
        self.obj(
            item,
            {"name", "contact_hours", "teams", "fields", "dispositions", "campaigns"},
            ("name", "fields"),
        )
        name = self.text(item, "name")
        hours = None
        if item.get("contact_hours") is not None:
            hours = self.lookup(ContactHours, "contact hours", name=item["contact_hours"])
        teams = [self.lookup(Group, "team", name=t) for t in self.items(item, "teams")]
        fields = self.template_fields(self.items(item, "fields"))
        disposition_set = self.named(DispositionSet, name=name)
        template = self.named(CampaignTemplate, name=name)
        template.contact_hours, template.disposition_set = hours, disposition_set
        with self.service(item):
            disposition_set_save(disposition_set, actor=None, changes=self.report)
            template_save(template, fields, teams, actor=None, changes=self.report)
        for i, campaign in enumerate(self.items(item, "campaigns")):
            with self.entry("campaigns", i, campaign):
                self.campaign(template, campaign)
        self._dispositions.append(
            (list(self._path), disposition_set, self.items(item, "dispositions"))
        )

    def template_fields(self, specs: list[Any]) -> list[FieldSpec]:
        if not specs:
            raise self.fail("'fields' must list at least one field")
        fields = []
        for position, spec in enumerate(specs):
            with self.entry("fields", position, spec):
                self.obj(spec, {"name", "phone", "type", "inName"}, ("name",))
                is_phone = self.flag(spec, "phone", False)
                display = spec.get("type", FieldType.PHONE if is_phone else FieldType.TEXT)
                if display not in FieldType.values:
                    raise self.fail(f"'type' must be one of {', '.join(FieldType.values)}")
                in_name = self.flag(spec, "inName", False)
                fields.append(FieldSpec(self.text(spec, "name"), display, is_phone, in_name))
        return fields

    def dispositions(self, disposition_set: DispositionSet, specs: list[Any]) -> None:
        wanted = []
        for position, spec in enumerate(specs):
            with self.entry("dispositions", position, spec):
                self.obj(
                    spec,
                    {
                        "name",
                        "enabled",
                        "priority",
                        "final",
                        "callback_required",
                        "contact",
                        "actions",
                    },
                    ("name",),
                )
                actions = []
                for j, action in enumerate(self.items(spec, "actions")):
                    with self.entry("actions", j):
                        try:
                            actions.append(validate_action(action))
                        except ActionSpecError as exc:
                            raise self.fail(str(exc)) from None
                wanted.append(
                    DispositionSpec(
                        name=self.text(spec, "name"),
                        enabled=self.flag(spec, "enabled", True),
                        priority=self.whole(spec, "priority", 0, 100, None),
                        final=self.flag(spec, "final", False),
                        callback_required=self.flag(spec, "callback_required", False),
                        contact=self.flag(spec, "contact", False),
                        actions=actions,
                    )
                )
        # Left out of the file: kept, disabled, after the file's (leads may name them).
        named = {d.name.lower() for d in wanted}
        for d in disposition_set.dispositions.all():
            if d.name.lower() not in named:
                wanted.append(DispositionSpec.of(d, enabled=False))
        with self.service({"dispositions": specs}):
            disposition_set_save(disposition_set, wanted, actor=None, changes=self.report)

    def campaign(self, template: CampaignTemplate, item: Any) -> None:
        self.obj(item, {"name", "active", "balance_mode", "allocations"}, ("name",))
        name = self.text(item, "name")
        existing = Campaign.objects.filter(name=name).exclude(template=template).first()
        if existing is not None:
            raise self.fail(f"campaign already exists under template {existing.template.name!r}")
        mode = item.get("balance_mode", BalanceMode.PRIORITY)
        if mode not in BalanceMode.values:
            raise self.fail(f"'balance_mode' must be one of {', '.join(BalanceMode.values)}")
        campaign = self.named(Campaign, name=name)
        campaign.template, campaign.active = template, self.flag(item, "active", True)
        campaign.balance_mode = mode
        with self.service(item):
            campaign_save(campaign, changes=self.report)
        for i, spec in enumerate(self.items(item, "allocations")):
            with self.entry("allocations", i, spec):
                self.obj(spec, {"name", "started", "weight"}, ("name",))
                allocation = self.named(Allocation, campaign=campaign, name=self.text(spec, "name"))
                allocation.started = self.flag(spec, "started", False)
                allocation.weight = self.whole(spec, "weight", 1, 1_000_000, 1)
                with self.service(spec):
                    allocation_save(allocation, changes=self.report)

    def dnc(self, item: Any) -> None:
        self.obj(item, {"phone", "expires", "note"}, ("phone",))
        expires = item.get("expires")
        note = item.get("note", "")
        if not isinstance(note, str):
            raise self.fail("'note' must be a string")
        with self.service(item):
            dnc_entry_put(
                item["phone"],
                None if expires is None else self.date(expires, "'expires'"),
                note,
                DNC_SOURCE,
                changes=self.report,
            )

    def api_key(self, item: Any) -> None:
        self.obj(item, {"name", "key", "team", "user", "revoked"}, ("name", "key"))
        team = None if item.get("team") is None else self.lookup(Group, "team", name=item["team"])
        user = None
        if item.get("user") is not None:
            user = self.lookup(get_user_model(), "user", username=item["user"])
        values = self.secret_values(item, "key", "key")
        clash = ApiKey.objects.filter(key_hash=values["key_hash"]).exclude(name=item["name"])
        if clash.exists():
            raise self.fail("the same key is already used by another API key")
        key = self.named(ApiKey, name=self.text(item, "name"))
        key.key_hash, key.key_prefix = values["key_hash"], values["key_prefix"]
        key.team, key.user, key.revoked = team, user, self.flag(item, "revoked", False)
        with self.service(item):
            api_key_save(key, actor=None, changes=self.report)


def _label(section: str, index: int, item: Any) -> str:
    label = f"{section}[{index}]"
    name = (
        item.get("name") or item.get("username") or item.get("phone")
        if isinstance(item, dict)
        else None
    )
    return label + (f' "{name}"' if isinstance(name, str) else "")


def _key_labels(item: Any, key: str | None) -> list[str]:
    """A service's error key (``dispositions.4.actions.0``) as labels of the file's entries
    under ``item`` (``dispositions[4] "SALE"``, ``actions[0]``); the rest as it is."""
    parts = key.split(".") if key else []
    labels, i = [], 0
    while i < len(parts):
        section = parts[i]
        listed = item.get(section) if isinstance(item, dict) else None
        if i + 1 < len(parts) and parts[i + 1].isdigit() and isinstance(listed, list):
            index = int(parts[i + 1])
            item = listed[index] if index < len(listed) else None
            labels.append(_label(section, index, item))
            i += 2
        else:
            labels.append(section)
            i += 1
    return labels


def provision_apply(spec: Any, *, demo: bool = False) -> Changes:
    """Create or update everything ``spec`` (the parsed JSON file) describes. ``demo``: it is
    the demo file (``settings.DEMO_PROVISION_FILE``), whose documented token is shorter.

    Atomic and idempotent (see the module docstring). Raises ``ProvisionError``.
    """
    with transaction.atomic():
        return _Provisioner(demo=demo).run(spec)
