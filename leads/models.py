"""Leads, their phone numbers and the do-not-call list (domain.md §1).

Phone numbers live in their own table keyed by (campaign, normalised number) so that the
duplicate check of an insert is an index lookup, never a scan of lead JSON.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from campaigner.models import Allocation, Campaign, ContactHours, Disposition
from leads.phone import PhoneRuleError, compile_rule

DEFAULT_PRIORITY = 10

# The collation of the keys every insert and update looks up in bulk (external ids, phone
# numbers): byte order. Equality is the same as under the database's default collation, but
# sorting and comparing 100,000 keys (the probes of a batch, the index inserts) takes a
# fraction of the time: the default (e.g. C.UTF-8 before PostgreSQL 17) goes through strcoll.
BYTEWISE = "C"


class Door(models.TextChoices):
    """Where a change to a lead came from (its history's "which door")."""

    CAMPAIGN_API = "api", "CampaignAPI"
    MANAGEMENT_API = "api_v1", "management API"
    ADMIN = "admin", "admin"
    DIALER = "dialer", "dialer"
    ACTION = "action", "disposition action"
    IMPORT = "import", "import"
    JOB = "job", "bulk job"
    PROVISIONING = "provisioning", "provisioning"


class LeadOrigin(models.Model):
    """What created a set of leads: one CampaignAPI call, one import, one ``copy_lead`` action.
    Each lead names its own (``Lead.origin``), so a lead's page says "inserted by import 17"
    or "insertLeadsFast with key CRM-A", and an import's leads are found (and undone) by it.
    One row per batch rather than a history entry per inserted lead: inserts stay as fast."""

    via = models.CharField(max_length=12, choices=Door.choices)
    by = models.CharField(max_length=150, blank=True, default="", help_text="Key, user or agent")
    call = models.CharField(max_length=100, blank=True, default="", help_text="e.g. insertLeadFast")
    lead_import = models.ForeignKey(
        "LeadImport", on_delete=models.SET_NULL, null=True, blank=True, related_name="origins"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        if self.lead_import_id is not None:
            return f"import {self.lead_import_id}"
        who = f" with key {self.by}" if self.via == Door.CAMPAIGN_API else f" by {self.by}"
        return f"{self.call or self.get_via_display()}{who if self.by else ''}"


class Lead(models.Model):
    """A person to call. ``fields`` maps template field names to the values as given.

    ``version`` is the row version for optimistic locking: every write from any source bumps
    it (campaignapi.md §4.6). ``checked_out_until`` in the future means a user or agent holds
    the lead; the API then answers 110.
    """

    # Neither key has a foreign-key constraint: the database checks both with the triggers of
    # migration leads.0011, per statement (one check for a whole batch, not one per row): a
    # lead's allocation exists and is of the lead's campaign, and an allocation that has leads
    # cannot be deleted or moved to another campaign. The allocation's own foreign key then ties
    # the lead to an existing campaign. Its index is the unique (campaign, external id) one,
    # which starts with the campaign.
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        related_name="leads",
        db_index=False,
        db_constraint=False,
    )
    # Served by the dialer-order index, which starts with the allocation.
    allocation = models.ForeignKey(
        Allocation,
        on_delete=models.PROTECT,
        related_name="leads",
        db_index=False,
        db_constraint=False,
    )
    fields = models.JSONField(default=dict, blank=True)
    # NULL, not "", is "no external id": the unique constraint ignores NULLs.
    external_id = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True, db_collation=BYTEWISE
    )
    priority = models.PositiveSmallIntegerField(default=DEFAULT_PRIORITY)
    callback_at = models.DateTimeField(null=True, blank=True)
    # No index on these two: every index costs each inserted lead, and they only serve the
    # rare deletion of a Contact Hours or disposition (a scan then, to honour PROTECT).
    contact_hours = models.ForeignKey(
        ContactHours,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,
    )
    disposition = models.ForeignKey(
        Disposition,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,
    )
    closed = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    checked_out_by = models.CharField(max_length=150, blank=True, default="")
    checked_out_until = models.DateTimeField(null=True, blank=True)
    # The number the dialer handed out with the check-out (the "dialed" number of a dnc action).
    # db_default: the insert path's COPY leaves the column out.
    checked_out_number = models.CharField(max_length=17, blank=True, default="", db_default="")
    # What inserted the lead. No constraint (an origin row is written with the batch, in its
    # transaction) and a BRIN index: leads are inserted in origin order, so a range index of a
    # few pages finds an import's leads, and costs an insert almost nothing.
    origin = models.ForeignKey(
        LeadOrigin,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Who made the last change: every versioned write sets both (lead_version.lead_write), and
    # the history trigger (migration leads.0016) records them with the change.
    changed_via = models.CharField(max_length=12, blank=True, default="", db_default="")
    changed_by = models.CharField(max_length=150, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        constraints: ClassVar = [
            # Not partial: NULLs are distinct anyway, and so it also serves every query by
            # campaign (one index less for each inserted lead to update).
            models.UniqueConstraint(
                fields=["campaign", "external_id"], name="lead_external_id_unique_in_campaign"
            ),
            models.CheckConstraint(condition=Q(priority__lte=100), name="lead_priority_range"),
            models.CheckConstraint(condition=Q(version__gte=1), name="lead_version_positive"),
        ]
        indexes: ClassVar = [
            # Serves the dialer order (domain.md §3) as an index scan per allocation:
            # priority, new leads (NULL callback) first, callbacks earliest first, new leads
            # newest first, id. Closed leads are never dialed, so they stay out of it.
            models.Index(
                F("allocation"),
                F("priority"),
                F("callback_at").asc(nulls_first=True),
                F("created_at").desc(),
                F("id"),
                condition=Q(closed=False),
                name="lead_dialer_order",
            ),
            BrinIndex(fields=["origin"], name="lead_origin_brin"),
        ]

    def __str__(self) -> str:
        return f"Lead {self.pk} ({self.external_id or 'no external id'})"


class LeadPhone(models.Model):
    """A normalised number of a lead, from one of the template's phone fields.

    ``campaign`` is copied from the lead so the duplicate check is one index probe on
    (campaign, number). ``blocked`` marks a number that was on the DNC list; it is never dialed.
    """

    # Both foreign keys are served by the composite indexes below (lead, field_name) and
    # (campaign, number); separate indexes would only slow inserts. The lead is checked by the
    # triggers of migration leads.0011, per statement, not by a foreign-key constraint (a check
    # per row): every number belongs to an existing lead, and a lead with numbers cannot be
    # deleted.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="phones", db_index=False, db_constraint=False
    )
    # A copy of lead.campaign, so no constraint of its own: the lead's already ties the number
    # to an existing campaign.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    field_name = models.CharField(max_length=100)
    number = models.CharField(max_length=17, db_collation=BYTEWISE)
    blocked = models.BooleanField(default=False)

    class Meta:
        ordering = ("lead", "id")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["lead", "field_name"], name="lead_phone_one_per_field")
        ]
        indexes: ClassVar = [
            # A search across campaigns uses it too, as campaign_id = ANY(<every campaign>).
            models.Index(fields=["campaign", "number"], name="lead_phone_campaign_number"),
        ]

    def __str__(self) -> str:
        return f"{self.field_name}: {self.number}{' (blocked)' if self.blocked else ''}"


class DncEntry(models.Model):
    """A number that must not be called. One server-wide list; an entry whose ``expires_on``
    has come is ignored (the number may be called again from that date)."""

    number = models.CharField(max_length=17, unique=True, db_collation=BYTEWISE)
    expires_on = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=100, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "DNC entry"
        verbose_name_plural = "DNC entries"
        ordering = ("number",)

    def __str__(self) -> str:
        return self.number


class PhonePattern(models.Model):
    """A rewrite rule applied to a number before it is checked (the vendor's "phone number
    patterns"), e.g. ``^\\+61(\\d{9})$`` → ``0\\1`` so that +61 3 8321 8199 and 03 8321 8199 are
    the same number. Rules run after spaces, dashes, dots and brackets are removed, in
    ``position`` order; the first that matches is applied, the rest are skipped.

    Stored numbers are not re-normalised when rules change: add rules before loading leads.
    """

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=0)
    pattern = models.CharField(max_length=200, help_text="Python regular expression.")
    replacement = models.CharField(
        max_length=200, blank=True, help_text="Replacement; \\1, \\2 … insert the groups."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return f"{self.pattern} → {self.replacement}"

    def clean(self) -> None:
        try:
            compile_rule(self.pattern, self.replacement)
        except PhoneRuleError as exc:
            raise ValidationError({"pattern": str(exc)}) from exc


class DispositionRecord(models.Model):
    """One time a disposition was set on a lead (through the API, the dialer or the admin).

    The history ``retry_limit`` counts, and what the webhook's ``njCallDate`` reports.
    ``actions`` lists what each action did, for the admin.
    """

    class Source(models.TextChoices):
        API = "api"
        DIALER = "dialer"
        ADMIN = "admin"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="dispositions")
    disposition = models.ForeignKey(Disposition, on_delete=models.PROTECT, related_name="records")
    source = models.CharField(max_length=10, choices=Source.choices)
    agent = models.CharField(max_length=150, blank=True, default="")
    dialed_number = models.CharField(max_length=17, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    actions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("lead", "id")
        indexes: ClassVar = [
            models.Index(fields=["lead", "disposition"], name="disposition_record_count"),
        ]

    def __str__(self) -> str:
        return f"{self.disposition} on lead {self.lead_id} ({self.source})"


class CallRecord(models.Model):
    """One call the dialer made to a lead, stored by its outcome (domain.md §4), append-only.

    The details are the dialer's (all optional): the number dialed, when the call started, its
    length, the PBX's call id, the agent. Without them the record has the handed-out number,
    the outcome's time and the holder of the check-out. ``attempt`` numbers the lead's calls
    from 1: the lead's dial attempt count is its last record's. Read by ``getCallRecordList``,
    ``/api/v1/leads/<id>/calls``, the lead's admin page and the URL action (``njDialAttempts``
    and the other call keys).
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="calls")
    record = models.OneToOneField(
        DispositionRecord, on_delete=models.CASCADE, related_name="call", help_text="Its outcome"
    )
    # The lead's campaign (a lead never changes campaign) and allocation at the call: the
    # record list is read by campaign, newest first, and by allocation.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    allocation = models.ForeignKey(
        Allocation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    disposition = models.ForeignKey(Disposition, on_delete=models.PROTECT, related_name="+")
    attempt = models.PositiveIntegerField(help_text="The lead's calls so far, this one included")
    called_at = models.DateTimeField(help_text="When the call started")
    duration_s = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds")
    dialed_number = models.CharField(max_length=32, blank=True, default="")
    unique_call_id = models.CharField(max_length=150, blank=True, default="")
    agent = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-called_at", "-id")
        indexes: ClassVar = [
            models.Index(F("campaign"), F("called_at").desc(), F("id").desc(),
                         name="call_record_newest"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"call {self.attempt} to lead {self.lead_id} ({self.disposition})"


class ActionDelivery(models.Model):
    """A webhook or email of a disposition action, delivered in the background with retries.

    ``payload`` is frozen when the disposition is set, so every attempt sends the same thing:
    for a webhook ``{"url", "body"}`` (the signing secret is read from the action at send time,
    so rotating it takes effect on retries); for an email ``{"to", "subject", "body"}``.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        DELIVERED = "delivered"
        FAILED = "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    record = models.ForeignKey(
        DispositionRecord,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    action = models.ForeignKey(
        "campaigner.DispositionAction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "action deliveries"
        ordering = ("-id",)
        indexes: ClassVar = [
            # The sweeper's question: which unfinished deliveries are due?
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying"]),
                name="action_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try of an ``ActionDelivery``: when, the HTTP status (webhooks) and the error."""

    delivery = models.ForeignKey(ActionDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    ok = models.BooleanField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("delivery", "number")

    def __str__(self) -> str:
        return f"attempt {self.number}: {'ok' if self.ok else self.error or self.http_status}"


class LeadImport(models.Model):
    """A manual import of a CSV file of leads into one allocation (domain.md §5.3).

    The file is kept in PostgreSQL (``LeadImportFile``), so whichever worker runs the import
    can read it. ``processed`` and the counts are written in the same transaction as each
    chunk's leads: after a crash they say exactly what was committed, and a resumed run goes on
    from ``processed``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"  # stored, its mapping being chosen (and dry runs made): not running
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="imports")
    allow_duplicates = models.BooleanField(default=False)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField()
    header = models.JSONField()  # the file's column names, as sent
    # {column as sent: the template or system field it fills, "" for none}, every column
    mapping = models.JSONField(default=dict)
    ignored_columns = models.JSONField(default=list)  # the columns mapped to none
    sample = models.JSONField(default=list)  # the file's first rows (cells), for the mapping
    dry_run = models.BooleanField(default=False)  # the run queued or running writes nothing
    # The last dry run's result: {"imported", "rejected", "rejectedByCode", "finishedAt"}
    checked = models.JSONField(null=True, blank=True)
    rows = models.PositiveIntegerField()  # data rows in the file
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejected_by_code = models.JSONField(default=dict)  # {"105": n, ...}
    cancel_requested = models.BooleanField(default=False)
    runs = models.PositiveSmallIntegerField(default=0)  # started or resumed this many times
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            # The sweeper's question: which imports should be running?
            models.Index(
                fields=["status"], condition=Q(status__in=["queued", "running"]), name="import_open"
            ),
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} of {self.file_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED}


class ImportMapping(models.Model):
    """The column mapping last used to import into a template: offered for its next file."""

    template = models.OneToOneField(
        "campaigner.CampaignTemplate", on_delete=models.CASCADE, related_name="import_mapping"
    )
    columns = models.JSONField(default=dict)  # {column name, case-folded: field or ""}
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"import mapping of template {self.template_id}"


class LeadImportFile(models.Model):
    """The uploaded file of a ``LeadImport``, in pieces of ``lead_import.FILE_PIECE`` bytes."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["lead_import", "seq"], name="import_file_piece")
        ]

    def __str__(self) -> str:
        return f"piece {self.seq} of import {self.lead_import_id}"


class LeadImportReport(models.Model):
    """A piece of an import's error report: the rows one chunk rejected, as the lines of
    ``errors.csv`` (line, code, reason, then the cells as sent). Stored as it is served, one
    row per chunk: a row per rejected line cost a third of a chunk's commit."""

    lead_import = models.ForeignKey(
        LeadImport, on_delete=models.CASCADE, related_name="report", db_index=False
    )
    first_line = models.PositiveIntegerField()  # the file line of the piece's first row
    rows = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ("lead_import", "first_line")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["lead_import", "first_line"], name="import_report_piece"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rows} rejected rows from line {self.first_line}"


class NumberFinding(models.Model):
    """What re-keying the stored numbers to E.164 (migration leads.0013) revealed, for an
    operator to review: numbers that were one line spelled differently. Written once by the
    migration; read in the admin."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", "leads of one campaign share the number"
        DNC = "dnc", "a lead's number is on the DNC list (now blocked)"
        DNC_MERGED = "dnc_merged", "DNC entries that were one number (merged)"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    number = models.CharField(max_length=17, help_text="E.164")
    leads = models.JSONField(default=list, blank=True, help_text="The leads' ids")
    spellings = models.JSONField(default=list, blank=True, help_text="As stored before")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("kind", "campaign", "number")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.number}"


class LeadChange(models.Model):
    """One change to a lead: when, through which door, by whom, the version before and after,
    and each changed value as ``[old, new]`` (template fields in ``fields``, the system values
    such as ``allocation``, ``priority`` or ``checkedOutBy`` in ``system``).

    Written by the database, in the transaction of the change: a statement trigger on the lead
    table (migration leads.0016) records every update whatever the door, so a write that rolls
    back leaves no entry. A deletion (a job, an undone import) and an erasure are recorded by
    the service that makes them. ``lead_id`` has no constraint: the history outlives the lead.
    """

    class Kind(models.TextChoices):
        UPDATE = "update"
        DELETE = "delete"
        ERASE = "erase"

    lead_id = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.UPDATE)
    at = models.DateTimeField()
    via = models.CharField(max_length=12, choices=Door.choices, blank=True, default="")
    by = models.CharField(max_length=150, blank=True, default="")
    version_before = models.PositiveIntegerField(null=True)
    version_after = models.PositiveIntegerField(null=True)
    fields = models.JSONField(default=dict, blank=True)
    system = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("lead_id", "id")
        indexes: ClassVar = [models.Index(fields=["lead_id", "id"], name="lead_change_of_lead")]

    def __str__(self) -> str:
        return f"{self.kind} of lead {self.lead_id} by {self.via} {self.by}".strip()


class LeadJob(models.Model):
    """A bulk job over the leads a filter selects (``leads.services.lead_job``): run by a Celery
    worker in chunks of ``LEAD_JOB_CHUNK`` leads, each chunk's writes, history and progress
    committed together, so a job resumed after a lost worker goes on after its last chunk.
    ``selection`` is the filter as the lead list takes it; ``params`` what the kind needs."""

    class Kind(models.TextChoices):
        MOVE = "move", "move to another allocation"
        RESET = "reset", "reset to new"
        PRIORITY = "priority", "set priority"
        CLEAR_CALLBACKS = "clear_callbacks", "clear callbacks"
        CLOSE = "close", "close"
        DELETE = "delete", "delete"
        UNDO_IMPORT = "undo_import", "undo an import"
        EXPORT = "export", "export CSV"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="jobs")
    selection = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Leads selected when it started")
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True, help_text="Leads left alone, by reason")
    samples = models.JSONField(default=dict, blank=True, help_text="Some lead ids per reason")
    last_lead_id = models.BigIntegerField(default=0, help_text="Resume point: leads after it")
    cancel_requested = models.BooleanField(default=False)
    runs = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            models.Index(
                fields=["status"], condition=Q(status__in=["queued", "running"]), name="job_open"
            ),
        ]

    def __str__(self) -> str:
        return f"job #{self.pk}: {self.get_kind_display()} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED}


class LeadJobFile(models.Model):
    """A piece of an export job's CSV file, one per chunk, in order."""

    job = models.ForeignKey(LeadJob, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["job", "seq"], name="job_file_piece")
        ]

    def __str__(self) -> str:
        return f"piece {self.seq} of job {self.job_id}"


class ErasedNumber(models.Model):
    """The tombstone of an erased person: a keyed hash (HMAC-SHA256 with the server's secret) of
    each of their numbers, nothing else. A later insert or import of one of them is refused
    with 113 (as a DNC number is), so an erased person is never loaded back and called."""

    digest = models.CharField(max_length=64, unique=True, db_collation=BYTEWISE)
    erased_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"erased number {self.digest[:12]}…"


class LeadWords(models.Model):
    """The words of a lead's field values (a ``tsvector``, lower-cased, no stemming), for the
    lead list's search by name through a GIN index. Kept off the insert path, which such an
    index would slow by 30 %: ``leads.services.lead_words`` fills it (beat) for the leads
    inserted or changed since its last run, and the search reads the leads it has not reached
    yet directly (``LeadWordsMark``). No foreign key: a deleted lead's row is removed by the
    next run, and is never found meanwhile (the search returns leads that exist)."""

    lead_id = models.BigIntegerField(primary_key=True)
    campaign_id = models.BigIntegerField()
    words = SearchVectorField()

    class Meta:
        verbose_name_plural = "lead words"
        indexes: ClassVar = [GinIndex(fields=["words"], name="lead_words_words")]

    def __str__(self) -> str:
        return f"words of lead {self.lead_id}"


class LeadWordsMark(models.Model):
    """How far ``LeadWords`` is complete (one row): every lead with an id up to
    ``leads_upto`` has its words as of every change with an id up to ``changes_upto``.

    An id is only final once every transaction that could still commit a smaller one has
    ended; ``pending_*`` are the highest ids read at one run, ``pending_xmax`` the
    transaction id horizon read at the next, and they become the marks once every
    transaction below that horizon has ended (``leads.services.lead_words``)."""

    leads_upto = models.BigIntegerField(default=0)
    changes_upto = models.BigIntegerField(default=0)
    pending_leads = models.BigIntegerField(null=True)
    pending_changes = models.BigIntegerField(null=True)
    pending_xmax = models.BigIntegerField(null=True)
    refreshed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"lead words up to lead {self.leads_upto}, change {self.changes_upto}"
