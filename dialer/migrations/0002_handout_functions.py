"""Database functions of the dialer: ``contact_hours_open`` and ``dialer_next_lead``.

Their one definition is ``dialer/sql.py`` (built from the eligibility rules there); this
migration creates them, and ``dialer.apps`` creates them again after every ``migrate`` so that a
later change of the rules reaches every database without a copy of the SQL here.
"""

from django.db import migrations

from dialer import sql


class Migration(migrations.Migration):
    dependencies = [
        ("dialer", "0001_cache"),
        ("leads", "0005_dispositions_and_deliveries"),
    ]

    operations = [migrations.RunSQL(sql.FUNCTIONS, sql.DROP_FUNCTIONS)]
