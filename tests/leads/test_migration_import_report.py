"""Migration leads 0010: the rejected rows of imports made before it are carried over into
their error report, in line order and as the report served them before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("leads", "0009_lead_imports"), ("leads", "0010_import_report_pieces")


@pytest.mark.django_db(transaction=True)
def test_earlier_rejections_become_the_report() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    allocation = old.get_model("campaigner", "Allocation").objects.create(
        campaign=old.get_model("campaigner", "Campaign").objects.create(
            name="c",
            template=old.get_model("campaigner", "CampaignTemplate").objects.create(name="t"),
        ),
        name="a",
    )
    imported = old.get_model("leads", "LeadImport").objects.create(
        campaign_id=allocation.campaign_id, allocation=allocation, file_name="f.csv",
        file_size=10, header=["Name", "FirstPhone"], rows=3,
    )  # fmt: skip
    rejection = old.get_model("leads", "LeadImportRejection").objects
    rejection.create(lead_import=imported, line=4, code=104, reason="DNC", cells=["B", "0383"])
    rejection.create(lead_import=imported, line=2, code=150, reason='a "x", y', cells=["A"])

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # the schema the other tests expect
    new = executor.loader.project_state([AFTER]).apps
    piece = new.get_model("leads", "LeadImportReport").objects.get()
    assert (piece.lead_import_id, piece.first_line, piece.rows) == (imported.pk, 2, 2)
    assert piece.text == '2,150,"a ""x"", y",A\r\n4,104,DNC,B,0383\r\n'
