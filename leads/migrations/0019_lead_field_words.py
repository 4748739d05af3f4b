"""The lead search's index: the words of each lead's field values (keys left out), in a GIN
index of ``to_tsvector('simple', fields)``, the expression of the ``fields__words`` lookup
(leads.models.FieldWords). The lead list's search by name is then an index lookup, not a scan
of every lead's JSON. Built concurrently: a big table stays writable meanwhile."""

from django.db import migrations

INDEX = "lead_field_words"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("leads", "0018_import_mapping_dry_run")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON leads_lead"
            " USING gin (to_tsvector('simple'::regconfig, fields))",
            f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
        )
    ]
