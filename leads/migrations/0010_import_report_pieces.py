"""Imports' error reports are stored as pieces of the report's text, one per chunk, instead of
one row per rejected line. The rejections of earlier imports are carried over as pieces."""

import csv
import io
import itertools

import django.db.models.deletion
from django.db import migrations, models

PIECE_ROWS = 50_000


def rejections_to_pieces(apps, schema_editor):
    Rejection = apps.get_model("leads", "LeadImportRejection")
    Report = apps.get_model("leads", "LeadImportReport")
    imports = Rejection.objects.values_list("lead_import_id", flat=True).distinct()
    for import_id in imports.order_by("lead_import_id"):
        rows = (
            Rejection.objects.filter(lead_import_id=import_id)
            .order_by("line")
            .values_list("line", "code", "reason", "cells")
            .iterator(chunk_size=2000)
        )
        while piece := list(itertools.islice(rows, PIECE_ROWS)):
            text = io.StringIO()
            writer = csv.writer(text)
            for line, code, reason, cells in piece:
                writer.writerow([line, code, reason, *cells])
            Report.objects.create(
                lead_import_id=import_id, first_line=piece[0][0], rows=len(piece),
                text=text.getvalue(),
            )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0009_lead_imports"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeadImportReport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("first_line", models.PositiveIntegerField()),
                ("rows", models.PositiveIntegerField()),
                ("text", models.TextField()),
                (
                    "lead_import",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="report",
                        to="leads.leadimport",
                    ),
                ),
            ],
            options={
                "ordering": ("lead_import", "first_line"),
            },
        ),
        migrations.AddConstraint(
            model_name="leadimportreport",
            constraint=models.UniqueConstraint(
                fields=("lead_import", "first_line"), name="import_report_piece"
            ),
        ),
        migrations.RunPython(rejections_to_pieces, migrations.RunPython.noop, elidable=True),
        migrations.DeleteModel(
            name="LeadImportRejection",
        ),
    ]
