"""Provisioning from a JSON file (domain.md §7): ``provision_apply(spec)``.

It lives in ``leads`` rather than ``campaigner`` because a file also carries DNC entries, and
dependencies point one way (``leads`` → ``campaigner``).

Guarantees:
- **Atomic**: everything runs in one transaction; the first invalid entry raises
  ``ProvisionError`` naming it (``templates[0] "Solar" > dispositions[2] "Do Not Call" >
  actions[0]: …``) and nothing is written.
- **Idempotent**: entities are matched by name and a row is written only when a value differs,
  so a second run with the same file changes no row (``ProvisionReport.changed == 0``).
- **The file is the truth for what it lists**: a template's fields, a disposition's actions and a
  Contact Hours' windows and closed dates are made to equal the file. Dispositions missing from
  the file are disabled, not deleted, because leads may still refer to them.
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
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models.functions import Lower

from campaigner.action_specs import ActionSpecError, validate_action
from campaigner.models import (
    WEEKDAYS,
    Allocation,
    ApiKey,
    ApiToken,
    BalanceMode,
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
    ZoneMode,
    hash_secret,
    hhmm_to_minutes,
)
from campaigner.roles import ROLES
from leads.models import DncEntry
from leads.phone import PhoneNormaliser
from leads.selectors import phone_normaliser_load

PROVISIONED_TOKEN_NAME = "provisioned"  # noqa: S105 (a name, not a secret)


class ProvisionError(ValueError):
    """The file is invalid; ``str()`` names the offending entry and what is wrong."""


@dataclass
class ProvisionReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def count(self, kind: str, what: str, n: int = 1) -> None:
        bucket = getattr(self, kind)
        bucket[what] = bucket.get(what, 0) + n

    def summary(self) -> str:
        if not self.changed:
            return "Nothing to change: the database already matches the file."
        parts = []
        for kind in ("created", "updated", "deleted"):
            bucket = getattr(self, kind)
            if bucket:
                parts.append(
                    f"{kind} " + ", ".join(f"{n} {what}" for what, n in sorted(bucket.items()))
                )
        return "; ".join(parts).capitalize() + "."


MIN_KEY_LENGTH = 16
MIN_TOKEN_LENGTH = 32


class _Provisioner:
    def __init__(self, *, demo: bool = False) -> None:
        self.demo = demo
        self.report = ProvisionReport()
        self._path: list[str] = []
        self._copy_targets: list[tuple[str, dict[str, str]]] = []
        self._normalise: PhoneNormaliser | None = None

    # -- error context ---------------------------------------------------------------------
    @contextmanager
    def entry(self, section: str, index: int, item: Any = None) -> Iterator[None]:
        label = f"{section}[{index}]"
        name = (
            item.get("name") or item.get("username") or item.get("phone")
            if isinstance(item, dict)
            else None
        )
        if isinstance(name, str):
            label += f' "{name}"'
        self._path.append(label)
        try:
            yield
        finally:
            self._path.pop()

    def where(self) -> str:
        return " > ".join(self._path) or "file"

    def fail(self, message: str) -> ProvisionError:
        return ProvisionError(f"{self.where()}: {message}")

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

    def lookup(self, model: type[models.Model], what: str, **filters: Any) -> Any:
        try:
            return model._default_manager.get(**filters)
        except model.DoesNotExist:  # type: ignore[attr-defined]
            value = next(iter(filters.values()))
            raise self.fail(f"unknown {what} {value!r}") from None

    # -- writes ----------------------------------------------------------------------------
    def upsert(
        self, model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]
    ) -> Any:
        """Create, or update only the values that differ; count what happened."""
        what = model._meta.verbose_name_plural
        obj = model._default_manager.filter(**lookup).first()
        if obj is None:
            obj = model._default_manager.create(**{**lookup, **values})
            self.report.count("created", str(what))
            return obj
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.save(update_fields=changed)
            self.report.count("updated", str(what))
        return obj

    def replace_children(
        self,
        model: type[models.Model],
        parent: dict[str, Any],
        wanted: list[dict[str, Any]],
        keys: tuple[str, ...],
    ) -> None:
        """Make the children of ``parent`` equal ``wanted`` (compared on ``keys``, in order)."""
        rows = model._default_manager.filter(**parent).order_by(*keys, "pk")
        current = [dict(zip(keys, row, strict=True)) for row in rows.values_list(*keys)]
        if current == wanted:
            return
        what = str(model._meta.verbose_name_plural)
        if current:
            rows.delete()
            self.report.count("deleted", what, len(current))
        model._default_manager.bulk_create([model(**parent, **values) for values in wanted])
        self.report.count("created", what, len(wanted))

    # -- sections --------------------------------------------------------------------------
    def run(self, spec: Any) -> ProvisionReport:
        # In dependency order: users name teams, templates name Contact Hours and teams, keys
        # name teams and users.
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
        self.check_copy_targets()
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
        hours = self.upsert(
            ContactHours, {"name": self.text(item, "name")}, {"timezone": tz, "zone_mode": mode}
        )
        windows = []
        for j, window in enumerate(self.items(item, "windows")):
            with self.entry("windows", j):
                self.obj(window, {"days", "start", "end"}, ("days", "start", "end"))
                start, end = self.clock(window, "start"), self.clock(window, "end")
                if start >= end:
                    raise self.fail("'start' must be before 'end'")
                days = window["days"]
                if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
                    raise self.fail(f"'days' must be a list of {', '.join(WEEKDAYS)}")
                windows += [
                    {"weekday": WEEKDAYS.index(d), "start_minute": start, "end_minute": end}
                    for d in days
                ]
        windows.sort(key=lambda w: (w["weekday"], w["start_minute"], w["end_minute"]))
        self.replace_children(
            ContactHoursWindow,
            {"contact_hours": hours},
            windows,
            ("weekday", "start_minute", "end_minute"),
        )
        dates = sorted({self.date(d, "a closed date") for d in self.items(item, "closed_dates")})
        self.replace_children(
            ContactHoursClosedDate,
            {"contact_hours": hours},
            [{"date": d} for d in dates],
            ("date",),
        )

    def clock(self, spec: dict[str, Any], key: str) -> int:
        try:
            return hhmm_to_minutes(spec.get(key))
        except ValueError as exc:
            raise self.fail(f"{key!r} {exc}") from None

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
        disposition_set = self.upsert(DispositionSet, {"name": name}, {})
        template = self.upsert(
            CampaignTemplate,
            {"name": name},
            {"contact_hours": hours, "disposition_set": disposition_set},
        )
        teams = [self.lookup(Group, "team", name=t) for t in self.items(item, "teams")]
        if {g.pk for g in template.teams.all()} != {g.pk for g in teams}:
            template.teams.set(teams)
            self.report.count("updated", "template teams")
        self.template_fields(template, self.items(item, "fields"))
        self.dispositions(disposition_set, self.items(item, "dispositions"))
        for i, campaign in enumerate(self.items(item, "campaigns")):
            with self.entry("campaigns", i, campaign):
                self.campaign(template, campaign)

    def template_fields(self, template: CampaignTemplate, specs: list[Any]) -> None:
        if not specs:
            raise self.fail("'fields' must list at least one field")
        names = []
        for position, spec in enumerate(specs):
            with self.entry("fields", position, spec):
                self.obj(spec, {"name", "phone", "type"}, ("name",))
                name = self.text(spec, "name")
                if name.lower().startswith("nj"):
                    raise self.fail("field names starting with 'nj' are reserved for system fields")
                if name in names:
                    raise self.fail("field listed twice")
                is_phone = self.flag(spec, "phone", False)
                display = spec.get("type", FieldType.PHONE if is_phone else FieldType.TEXT)
                if display not in FieldType.values:
                    raise self.fail(f"'type' must be one of {', '.join(FieldType.values)}")
                names.append(name)
                self.upsert(
                    TemplateField,
                    {"template": template, "name": name},
                    {"is_phone": is_phone, "display_type": display, "position": position},
                )
        if not any(self.flag(s, "phone", False) for s in specs):
            raise self.fail("a template needs at least one phone field")
        stale = template.fields.exclude(name__in=names)
        if stale.exists():
            self.report.count("deleted", "template fields", stale.count())
            stale.delete()

    def dispositions(self, disposition_set: DispositionSet, specs: list[Any]) -> None:
        seen: list[str] = []
        for position, spec in enumerate(specs):
            with self.entry("dispositions", position, spec):
                self.obj(
                    spec,
                    {"name", "enabled", "priority", "final", "callback_required", "actions"},
                    ("name",),
                )
                name = self.text(spec, "name")
                if name.lower() in seen:
                    raise self.fail("disposition listed twice (names are case-insensitive)")
                seen.append(name.lower())
                values = {
                    "name": name,
                    "enabled": self.flag(spec, "enabled", True),
                    "priority": self.whole(spec, "priority", 0, 100, None),
                    "final": self.flag(spec, "final", False),
                    "callback_required": self.flag(spec, "callback_required", False),
                    "position": position,
                }
                # Matched regardless of case, as the name's uniqueness is (a file may recase it).
                existing = disposition_set.dispositions.filter(name__iexact=name).first()
                lookup: dict[str, Any] = (
                    {"pk": existing.pk}
                    if existing
                    else {"disposition_set": disposition_set, "name": name}
                )
                disposition = self.upsert(Disposition, lookup, values)
                actions = []
                for j, action in enumerate(self.items(spec, "actions")):
                    with self.entry("actions", j):
                        try:
                            kind, params = validate_action(action)
                        except ActionSpecError as exc:
                            raise self.fail(str(exc)) from None
                        if kind == "copy_lead":
                            self._copy_targets.append((self.where(), params))
                        actions.append({"position": j, "kind": kind, "params": params})
                self.replace_children(
                    DispositionAction,
                    {"disposition": disposition},
                    actions,
                    ("position", "kind", "params"),
                )
        missing = (
            disposition_set.dispositions.filter(enabled=True)
            .annotate(lower_name=Lower("name"))
            .exclude(lower_name__in=seen)
        )
        disabled = missing.update(enabled=False)
        if disabled:
            self.report.count("updated", "dispositions", disabled)

    def campaign(self, template: CampaignTemplate, item: Any) -> None:
        self.obj(item, {"name", "active", "balance_mode", "allocations"}, ("name",))
        name = self.text(item, "name")
        existing = Campaign.objects.filter(name=name).exclude(template=template).first()
        if existing is not None:
            raise self.fail(f"campaign already exists under template {existing.template.name!r}")
        mode = item.get("balance_mode", BalanceMode.PRIORITY)
        if mode not in BalanceMode.values:
            raise self.fail(f"'balance_mode' must be one of {', '.join(BalanceMode.values)}")
        campaign = self.upsert(
            Campaign,
            {"name": name},
            {"template": template, "active": self.flag(item, "active", True), "balance_mode": mode},
        )
        for i, spec in enumerate(self.items(item, "allocations")):
            with self.entry("allocations", i, spec):
                self.obj(spec, {"name", "started", "weight"}, ("name",))
                self.upsert(
                    Allocation,
                    {"campaign": campaign, "name": self.text(spec, "name")},
                    {
                        "started": self.flag(spec, "started", False),
                        "weight": self.whole(spec, "weight", 1, 1_000_000, 1),
                    },
                )

    def dnc(self, item: Any) -> None:
        self.obj(item, {"phone", "expires", "note"}, ("phone",))
        if self._normalise is None:
            self._normalise = phone_normaliser_load()
        number = self._normalise(item["phone"])
        if number is None:
            raise self.fail(f"{item['phone']!r} is not a usable phone number")
        expires = item.get("expires")
        self.upsert(
            DncEntry,
            {"number": number},
            {
                "expires_on": None if expires is None else self.date(expires, "'expires'"),
                "note": item.get("note", ""),
                "source": "provisioning",
            },
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
        self.upsert(
            ApiKey,
            {"name": self.text(item, "name")},
            {**values, "team": team, "user": user, "revoked": self.flag(item, "revoked", False)},
        )

    def check_copy_targets(self) -> None:
        for where, params in self._copy_targets:
            exists = Allocation.objects.filter(
                name=params["allocation"],
                campaign__name=params["campaign"],
                campaign__template__name=params["template"],
            ).exists()
            if not exists:
                raise ProvisionError(
                    f"{where}: copy_lead target not found: template {params['template']!r}, "
                    f"campaign {params['campaign']!r}, allocation {params['allocation']!r}"
                )


def provision_apply(spec: Any, *, demo: bool = False) -> ProvisionReport:
    """Create or update everything ``spec`` (the parsed JSON file) describes. ``demo``: it is
    the demo file (``settings.DEMO_PROVISION_FILE``), whose documented token is shorter.

    Atomic and idempotent (see the module docstring). Raises ``ProvisionError``.
    """
    with transaction.atomic():
        return _Provisioner(demo=demo).run(spec)
