"""Migration leads 0013: numbers stored before E.164 (each spelling as the old normaliser kept
it) are re-keyed, and what the one form reveals is reported, never silently dropped."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("leads", "0012_call_records"), ("leads", "0013_numbers_in_e164")


@pytest.mark.django_db(transaction=True)
def test_numbers_are_rekeyed_and_the_findings_reported(capsys: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    model = old.get_model
    template = model("campaigner", "CampaignTemplate").objects.create(name="t")
    here, there = (model("campaigner", "Campaign").objects.create(name=n, template=template)
                   for n in ("here", "there"))  # fmt: skip
    allocations = {c: model("campaigner", "Allocation").objects.create(campaign=c, name="a")
                   for c in (here, there)}  # fmt: skip
    Lead, LeadPhone, DncEntry = (model("leads", n) for n in ("Lead", "LeadPhone", "DncEntry"))

    def lead(campaign: Any, *numbers: str, **extra: Any) -> int:
        made = Lead.objects.create(campaign=campaign, allocation=allocations[campaign], **extra)
        for field, number in zip(("FirstPhone", "SecondPhone"), numbers, strict=False):
            LeadPhone.objects.create(lead=made, campaign=campaign, field_name=field, number=number)
        return made.pk

    # One Melbourne line as vendors spelled it (what the old normaliser kept of each).
    a = lead(here, "0393812222", checked_out_number="0393812222")  # (03) 9381 2222
    b = lead(here, "+61393812222")  # +61 3 9381 2222
    c = lead(here, "61393812222")  # 61393812222
    d = lead(here, "+610393812222")  # +61 (0)3 9381 2222
    e = lead(here, "0412345678", "0755501234")  # a mobile and a Gold Coast line
    f = lead(here, "+61412345678")
    g = lead(there, "0393812222")  # another campaign: no duplicate of the first
    h = lead(here, "61389593195")  # on the DNC list, spelled otherwise there
    i = lead(here, "+442079460000")  # already E.164
    j = lead(here, "999999")  # kept as it was where the library reads no possible number
    DncEntry.objects.create(number="+610389593195", note="from the register")
    DncEntry.objects.create(number="0389593195", note="asked")
    DncEntry.objects.create(number="0412000000", expires_on=dt.date(2030, 1, 1), note="a")
    DncEntry.objects.create(number="+61412000000", note="b")
    DncEntry.objects.create(number="0755501234", expires_on=dt.date(2001, 1, 1))  # expired

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state([AFTER]).apps
    phones = new.get_model("leads", "LeadPhone").objects
    numbers = {(p.lead_id, p.field_name): (p.number, p.blocked) for p in phones.all()}
    melbourne = ("+61393812222", False)
    assert numbers == {
        (a, "FirstPhone"): melbourne, (b, "FirstPhone"): melbourne,
        (c, "FirstPhone"): melbourne, (d, "FirstPhone"): melbourne,
        (e, "FirstPhone"): ("+61412345678", False), (e, "SecondPhone"): ("+61755501234", False),
        (f, "FirstPhone"): ("+61412345678", False), (g, "FirstPhone"): melbourne,
        (h, "FirstPhone"): ("+61389593195", True),  # the DNC hit, now blocked
        (i, "FirstPhone"): ("+442079460000", False), (j, "FirstPhone"): ("+61999999", False),
    }  # fmt: skip
    assert new.get_model("leads", "Lead").objects.get(pk=a).checked_out_number == "+61393812222"
    dnc = new.get_model("leads", "DncEntry").objects
    assert sorted(dnc.values_list("number", "expires_on", "note")) == [
        ("+61389593195", None, "from the register\nasked"),
        ("+61412000000", None, "a\nb"),  # the entry that never expires is kept
        ("+61755501234", dt.date(2001, 1, 1), ""),
    ]

    found = {
        (x.kind, x.campaign_id, x.number): (x.leads, x.spellings)
        for x in new.get_model("leads", "NumberFinding").objects.all()
    }
    assert found == {
        ("duplicate", here.pk, "+61393812222"): (
            [a, b, c, d],
            ["+610393812222", "+61393812222", "0393812222", "61393812222"],
        ),
        ("duplicate", here.pk, "+61412345678"): ([e, f], ["+61412345678", "0412345678"]),
        ("dnc", here.pk, "+61389593195"): ([h], []),
        ("dnc_merged", None, "+61389593195"): ([], ["+610389593195", "0389593195"]),
        ("dnc_merged", None, "+61412000000"): ([], ["+61412000000", "0412000000"]),
    }
    printed = capsys.readouterr().out
    assert "2 DNC entries merged into others (2 numbers)" in printed
    assert "2 numbers now shared by leads of a campaign" in printed
    assert "1 lead numbers found on the DNC list and blocked" in printed
