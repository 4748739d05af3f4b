"""Campaign configuration: Contact Hours, templates and their fields, dispositions and their
actions, campaigns, allocations, CampaignAPI keys and management-API tokens (domain.md §1).

Teams are Django groups and operators are Django users (domain.md §1: "Django users and
groups are enough"). Integrity rules live in the database as constraints.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from campaigner.action_specs import ActionKind, ActionSpecError, validate_action

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA timezone name")


class ZoneMode(models.TextChoices):
    """In which time zone a Contact Hours' windows apply to a number (campaignapi.md §8)."""

    HOURS = "hours", "the Contact Hours' own zone"
    NUMBER_STRICT = "number_strict", "the number's zone; open in all of them when it has several"
    NUMBER_OR_HOURS = "number_or_hours", "the number's zone; its own zone when it has several"


class ContactHours(models.Model):
    """When leads may be called: weekly windows in an IANA timezone, minus closed dates.
    ``zone_mode`` may apply the windows in the zone of the number called instead."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    zone_mode = models.CharField(
        max_length=16,
        choices=ZoneMode.choices,
        default=ZoneMode.HOURS,
        help_text="Where the windows apply: in this zone, or in the zone of each number called "
        "(libphonenumber's, by its area code; a number without one: this zone).",
    )

    class Meta:
        verbose_name_plural = "contact hours"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ContactHoursWindow(models.Model):
    """One half-open window ``[start, end)`` on a weekday, in minutes after local midnight.

    Minutes rather than ``TimeField`` because ``end`` may be 24:00 (1440), midnight at the end
    of that day, which a ``time`` cannot hold.
    """

    contact_hours = models.ForeignKey(
        ContactHours, on_delete=models.CASCADE, related_name="windows"
    )
    weekday = models.PositiveSmallIntegerField(
        choices=[(i, day) for i, day in enumerate(WEEKDAYS)],
        help_text="0 = Monday … 6 = Sunday",
    )
    start_minute = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(MINUTES_PER_DAY - 1)]
    )
    end_minute = models.PositiveSmallIntegerField(validators=[MaxValueValidator(MINUTES_PER_DAY)])

    class Meta:
        ordering = ("contact_hours", "weekday", "start_minute")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6), name="contact_hours_window_weekday"
            ),
            models.CheckConstraint(
                condition=models.Q(start_minute__lt=models.F("end_minute"), end_minute__lte=1440),
                name="contact_hours_window_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        start, end = minutes_to_hhmm(self.start_minute), minutes_to_hhmm(self.end_minute)
        return f"{WEEKDAYS[self.weekday]} {start}-{end}"


def minutes_to_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hhmm_to_minutes(value: object) -> int:
    """``"HH:MM"`` → minutes after midnight, ``"24:00"`` (the end of the day) included.
    ``ValueError`` says what is wrong with anything else."""
    text = str(value)
    hours, _, minutes = text.partition(":")
    if not (len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isascii()
            and (hours + minutes).isdigit()):  # fmt: skip
        raise ValueError(f"must be HH:MM, not {text!r}")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > MINUTES_PER_DAY:
        raise ValueError(f"must be between 00:00 and 24:00, not {text!r}")
    return total


class ContactHoursClosedDate(models.Model):
    """A local date on which the Contact Hours are closed all day (e.g. a public holiday)."""

    contact_hours = models.ForeignKey(
        ContactHours, on_delete=models.CASCADE, related_name="closed_dates"
    )
    date = models.DateField()

    class Meta:
        ordering = ("contact_hours", "date")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["contact_hours", "date"], name="contact_hours_closed_date_unique"
            )
        ]

    def __str__(self) -> str:
        return self.date.isoformat()


class DispositionSet(models.Model):
    """The dispositions a template offers; a set may be shared by several templates."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Disposition(models.Model):
    """A call result. Names are unique in their set regardless of case (campaignapi.md §6)."""

    disposition_set = models.ForeignKey(
        DispositionSet, on_delete=models.CASCADE, related_name="dispositions"
    )
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Priority given to the lead when this disposition is set (0-100, lower first).",
    )
    final = models.BooleanField(default=False, help_text="Closes the lead.")
    callback_required = models.BooleanField(default=False)
    contact = models.BooleanField(
        default=False, help_text="The call reached the person (the dashboard's contact rate)."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("disposition_set", "position", "id")
        constraints: ClassVar = [
            models.UniqueConstraint(
                "disposition_set", Lower("name"), name="disposition_name_unique_ci"
            ),
            models.CheckConstraint(
                condition=models.Q(priority__isnull=True) | models.Q(priority__lte=100),
                name="disposition_priority_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DispositionAction(models.Model):
    """One action run, in ``position`` order, when its disposition is set on a lead.

    ``params`` holds the kind's parameters exactly as in the provisioning format (domain.md
    §7), e.g. ``{"minutes": 60}`` or ``{"count": 5, "then": {"kind": "close"}}``; they are
    validated by ``campaigner.actions.validate_action`` before they are stored.
    """

    disposition = models.ForeignKey(Disposition, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=ActionKind.choices)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("disposition", "position", "id")

    def __str__(self) -> str:
        # Never the webhook's signing secret: this is what lists and labels show.
        shown = {key: value for key, value in (self.params or {}).items() if key != "secret"}
        return f"{self.kind} {shown}" if shown else self.kind

    def clean(self) -> None:
        try:
            validate_action({"kind": self.kind, **(self.params or {})})
        except ActionSpecError as exc:
            raise ValidationError({"params": str(exc)}) from exc


class CampaignTemplate(models.Model):
    name = models.CharField(max_length=100, unique=True)
    contact_hours = models.ForeignKey(
        ContactHours,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="templates",
        help_text="Default Contact Hours of the template's leads.",
    )
    disposition_set = models.ForeignKey(
        DispositionSet, on_delete=models.PROTECT, null=True, blank=True, related_name="templates"
    )
    teams = models.ManyToManyField(Group, blank=True, related_name="templates")

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.name


class FieldType(models.TextChoices):
    TEXT = "text"
    PHONE = "phone"
    NUMBER = "number"
    DATE = "date"
    EMAIL = "email"
    TEXTAREA = "textarea"


class TemplateField(models.Model):
    """A lead field of a template. Names starting with ``nj`` are reserved for system fields."""

    template = models.ForeignKey(CampaignTemplate, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=100)
    display_type = models.CharField(
        max_length=20, choices=FieldType.choices, default=FieldType.TEXT
    )
    is_phone = models.BooleanField(default=False, help_text="Holds a number the dialer may call.")
    in_name = models.BooleanField(
        default=False,
        verbose_name="in the lead's name",
        help_text="Shown, with the template's other such fields in order, as the lead's name in "
        "lists. None ticked: the fields whose name says 'name', else the first text field.",
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("template", "position", "id")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["template", "name"], name="template_field_name_unique"),
            models.CheckConstraint(
                condition=~models.Q(name__startswith="nj"), name="template_field_not_system_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BalanceMode(models.TextChoices):
    PRIORITY = "priority"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"


class Campaign(models.Model):
    """Scope of the duplicate-phone check and of external-id uniqueness."""

    template = models.ForeignKey(
        CampaignTemplate, on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    balance_mode = models.CharField(
        max_length=20, choices=BalanceMode.choices, default=BalanceMode.PRIORITY
    )

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.name


class Allocation(models.Model):
    """A list of leads in a campaign; only a started allocation is dialed."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="allocations")
    name = models.CharField(max_length=100)
    started = models.BooleanField(default=False)
    weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])

    class Meta:
        ordering = ("id",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["campaign", "name"], name="allocation_name_unique_in_campaign"
            ),
            # The target of the leads' (allocation, campaign) foreign key: a lead's allocation
            # must belong to the lead's campaign (leads.0006).
            models.UniqueConstraint(fields=["id", "campaign"], name="allocation_id_campaign_key"),
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="allocation_weight_min"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.name} / {self.name}"


def hash_secret(plain: str) -> str:
    """SHA-256 hex of a key or token.

    A fast, unsalted hash is right here: keys are long random strings (not guessable
    passwords), and the hash must be deterministic so a request's key is found with one
    index lookup.
    """
    return hashlib.sha256(plain.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class ApiKey(models.Model):
    """A CampaignAPI key. ``team`` null = global key; otherwise it sees only that team's
    templates (campaignapi.md §2). Only the hash of the key is stored."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to recognise the key."
    )
    team = models.ForeignKey(
        Group, on_delete=models.PROTECT, null=True, blank=True, related_name="api_keys"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="The user a team key belongs to.",
    )
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def set_key(self, plain: str) -> None:
        self.key_hash = hash_secret(plain)
        self.key_prefix = plain[:8]


class KeyFailure(models.Model):
    """Wrong CampaignAPI keys sent from one client address (``campaigner.api.auth``): after
    ``CAMPAIGNAPI_BAD_KEY_LIMIT`` within ``CAMPAIGNAPI_BAD_KEY_WINDOW_S`` the address is locked
    until ``locked_until``: every key it sends is refused unchecked, so a guess that happens to
    be right is refused too. Only wrong keys write here; a good key from anywhere else costs
    nothing more."""

    address = models.GenericIPAddressField(primary_key=True)
    window_started_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "wrong API key address"

    def __str__(self) -> str:
        return f"{self.address}: {self.failures} wrong keys"


class ApiToken(models.Model):
    """A bearer token of a staff user for the management API (``/api/v1/``). Stored hashed."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="default")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ("user", "name")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "name"], name="api_token_name_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.name}"

    def set_token(self, plain: str) -> None:
        self.token_hash = hash_secret(plain)
        self.token_prefix = plain[:8]


class IdempotentAnswer(models.Model):
    """The answer of a write call made with an ``Idempotency-Key`` (``campaigner.idempotency``),
    kept so that the same call sent again is answered with it, byte for byte, and runs nothing.
    One per (``scope``, ``key``): a key is the caller's own (``key:<ApiKey id>`` for a
    CampaignAPI key, ``user:<User id>`` for a management API user). ``fingerprint`` tells the
    same request from another one sent with the same key. Kept ``IDEMPOTENCY_KEY_HOURS``."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    request = models.CharField(max_length=300, help_text="The method and path first answered.")
    status = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "idempotent answer"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotent_answer_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}: {self.status}"
