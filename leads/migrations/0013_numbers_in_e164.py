# ruff: noqa: S608 (the table names are the models')
"""Every stored number re-keyed to its E.164 form (as leads/phone.py reads it), and what that reveals
reported: lead numbers and DNC entries that were one line spelled differently.

- DNC entries that become one number are merged into one (the one that never expires, else the
  one that expires last; notes kept together) and reported (``dnc_merged``).
- Lead numbers are rewritten; numbers that leads of one campaign now share, and did not share
  before, are reported (``duplicate``: nothing is deleted, an operator decides); lead numbers
  now on the DNC list are marked blocked and reported (``dnc``).
- The number a checked-out lead was handed out with is rewritten too.

Numbers the library does not read stay as they are. The phone patterns are not applied again:
they were applied when the numbers were stored. The findings are printed and listed in the
admin (``NumberFinding``). Reversing keeps the E.164 forms (they are the same numbers).
"""

import io
from collections import defaultdict

import django.db.models.deletion
import phonenumbers
from django.conf import settings
from django.db import migrations, models


def e164(candidate, region):
    """The library's E.164 reading, frozen here (``leads.phone.e164`` adds a quick path that
    gives the same answers, tested there)."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def rekey(apps, schema_editor):
    region = settings.PHONE_DEFAULT_REGION
    if not region:
        return
    connection = schema_editor.connection
    DncEntry = apps.get_model("leads", "DncEntry")
    LeadPhone = apps.get_model("leads", "LeadPhone")
    Lead = apps.get_model("leads", "Lead")
    Finding = apps.get_model("leads", "NumberFinding")
    findings = []

    # The DNC list: entries that become one number are merged.
    groups = defaultdict(list)
    entries = DncEntry.objects.order_by("id").values_list("id", "number", "expires_on", "note")
    for entry in entries.iterator(chunk_size=10_000):
        groups[e164(entry[1], region) or entry[1]].append(entry)
    merged = 0
    dnc_changed = io.StringIO()
    for number, group in groups.items():
        kept_id, kept_number = group[0][0], group[0][1]
        if len(group) > 1:
            kept = max(group, key=lambda e: (e[2] is None, e[2] or "", -e[0]))
            kept_id, kept_number = kept[0], kept[1]
            notes = "\n".join(dict.fromkeys(e[3] for e in group if e[3]))
            DncEntry.objects.filter(id__in=[e[0] for e in group if e[0] != kept_id]).delete()
            DncEntry.objects.filter(id=kept_id).update(note=notes)
            findings.append(
                Finding(kind="dnc_merged", number=number, spellings=sorted(e[1] for e in group))
            )
            merged += len(group) - 1
        if kept_number != number:
            dnc_changed.write(f"{kept_id}\t{number}\n")
    dnc = DncEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE rekeyed_dnc (id bigint PRIMARY KEY, new text)")
        with cursor.copy("COPY rekeyed_dnc (id, new) FROM STDIN") as copy:
            copy.write(dnc_changed.getvalue())
        cursor.execute(f"UPDATE {dnc} d SET number = r.new FROM rekeyed_dnc r WHERE d.id = r.id")
        cursor.execute("DROP TABLE rekeyed_dnc")

    # Lead numbers: the changes go through a temporary table (one UPDATE, however many).
    changed = io.StringIO()
    count = 0
    with connection.connection.cursor(name="rekey_lead_numbers") as numbers:  # streamed
        numbers.itersize = 10_000
        numbers.execute(f"SELECT id, number FROM {LeadPhone._meta.db_table}")
        for phone_id, number in numbers:
            new = e164(number, region)
            if new is not None and new != number:
                changed.write(f"{phone_id}\t{number}\t{new}\n")
                count += 1
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE rekeyed (id bigint PRIMARY KEY, old text, new text)")
        with cursor.copy("COPY rekeyed (id, old, new) FROM STDIN") as copy:
            copy.write(changed.getvalue())
        phones = LeadPhone._meta.db_table
        cursor.execute(f"UPDATE {phones} p SET number = r.new FROM rekeyed r WHERE p.id = r.id")
        # Numbers leads of one campaign now share that were spelled differently before.
        cursor.execute(
            f"""SELECT p.campaign_id, p.number, array_agg(DISTINCT p.lead_id ORDER BY p.lead_id),
                       array_agg(DISTINCT coalesce(r.old, p.number))
                FROM {phones} p LEFT JOIN rekeyed r ON r.id = p.id
                WHERE (p.campaign_id, p.number) IN (
                    SELECT q.campaign_id, q.number FROM {phones} q JOIN rekeyed s ON s.id = q.id)
                GROUP BY p.campaign_id, p.number
                HAVING count(DISTINCT coalesce(r.old, p.number)) > 1
                   AND count(DISTINCT p.lead_id) > 1
                ORDER BY p.campaign_id, p.number"""
        )
        for campaign_id, number, leads, spellings in cursor.fetchall():
            findings.append(
                Finding(
                    kind="duplicate",
                    campaign_id=campaign_id,
                    number=number,
                    leads=leads,
                    spellings=sorted(spellings),
                )
            )
        # Lead numbers now on the DNC list: blocked, never dialed.
        cursor.execute(
            f"""UPDATE {phones} p SET blocked = true
                WHERE NOT p.blocked AND EXISTS (
                    SELECT 1 FROM {dnc} d WHERE d.number = p.number
                    AND (d.expires_on IS NULL OR d.expires_on > CURRENT_DATE))
                RETURNING p.campaign_id, p.number, p.lead_id"""
        )
        hits = defaultdict(list)
        for campaign_id, number, lead_id in cursor.fetchall():
            hits[(campaign_id, number)].append(lead_id)
        for (campaign_id, number), leads in sorted(hits.items()):
            findings.append(
                Finding(kind="dnc", campaign_id=campaign_id, number=number, leads=sorted(leads))
            )
        cursor.execute("DROP TABLE rekeyed")
    for lead in Lead.objects.exclude(checked_out_number="").only("id", "checked_out_number"):
        new = e164(lead.checked_out_number, region)
        if new is not None and new != lead.checked_out_number:
            Lead.objects.filter(id=lead.id).update(checked_out_number=new)
    Finding.objects.bulk_create(findings)
    kinds = defaultdict(int)
    for finding in findings:
        kinds[finding.kind] += 1
    print(
        f"\n  Numbers re-keyed to E.164 ({region}): {count:,} lead numbers;"
        f" {merged:,} DNC entries merged into others ({kinds['dnc_merged']:,} numbers);"
        f" {kinds['duplicate']:,} numbers now shared by leads of a campaign;"
        f" {kinds['dnc']:,} lead numbers found on the DNC list and blocked."
        + (" See the admin: Leads and DNC > Number findings." if findings else "")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigner", "0004_key_failures"),
        ("leads", "0012_call_records"),
    ]

    operations = [
        migrations.CreateModel(
            name="NumberFinding",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("duplicate", "leads of one campaign share the number"),
                            ("dnc", "a lead's number is on the DNC list (now blocked)"),
                            ("dnc_merged", "DNC entries that were one number (merged)"),
                        ],
                        max_length=12,
                    ),
                ),
                ("number", models.CharField(help_text="E.164", max_length=17)),
                ("leads", models.JSONField(blank=True, default=list, help_text="The leads' ids")),
                (
                    "spellings",
                    models.JSONField(blank=True, default=list, help_text="As stored before"),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "campaign",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="campaigner.campaign",
                    ),
                ),
            ],
            options={
                "ordering": ("kind", "campaign", "number"),
            },
        ),
        migrations.RunPython(rekey, migrations.RunPython.noop, elidable=False),
    ]
