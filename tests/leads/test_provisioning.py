"""``provision``: idempotent, atomic, names the bad entry, stores secrets hashed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from campaigner.models import (
    ApiKey,
    ApiToken,
    Campaign,
    CampaignTemplate,
    ContactHours,
    Disposition,
    hash_secret,
)
from leads.models import DncEntry
from leads.provisioning import ProvisionError, provision_apply
from tests.conftest import DEMO_FILE
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db


def test_second_run_changes_no_row(demo_spec: dict[str, Any]) -> None:
    first = provision_apply(demo_spec, demo=True)
    assert first.changed > 0
    before = database_rows()

    second = provision_apply(copy.deepcopy(demo_spec), demo=True)

    assert second.changed == 0
    assert database_rows() == before


def test_creates_what_the_file_describes(demo_spec: dict[str, Any]) -> None:
    provision_apply(demo_spec, demo=True)

    template = CampaignTemplate.objects.get(name="Solar")
    assert template.contact_hours is not None
    assert template.contact_hours.name == "Melbourne business"
    assert [f.name for f in template.fields.all()] == [
        "Name",
        "StreetAddress",
        "City",
        "State",
        "PostCode",
        "FirstPhone",
        "SecondPhone",
    ]
    assert [f.name for f in template.fields.filter(is_phone=True)] == ["FirstPhone", "SecondPhone"]
    assert [t.name for t in template.teams.all()] == ["Sales"]
    no_answer = Disposition.objects.get(disposition_set=template.disposition_set, name="No Answer")
    assert no_answer.priority == 6
    contacts = template.disposition_set.dispositions.filter(contact=True)
    assert sorted(contacts.values_list("name", flat=True)) == [
        "Call Back", "Do Not Call", "Not Interested", "Sale",
    ]  # fmt: skip
    assert [(a.kind, a.params) for a in no_answer.actions.all()] == [
        ("callback", {"minutes": 60}),
        ("retry_limit", {"count": 5, "then": {"kind": "close"}}),
    ]
    campaign = Campaign.objects.get(name="Jan16a")
    assert campaign.template == template
    assert [(a.name, a.started, a.weight) for a in campaign.allocations.all()] == [
        ("Web leads", True, 1),
        ("Referrals", True, 3),
    ]
    hours = ContactHours.objects.get(name="Melbourne business")
    assert hours.windows.count() == 6  # five weekdays + Saturday
    assert [str(d) for d in hours.closed_dates.all()] == ["2026-12-25", "2026-12-26", "2027-01-01"]
    assert {(d.number, d.expires_on and str(d.expires_on)) for d in DncEntry.objects.all()} == {
        ("+61383218100", None),
        ("+61383218101", "2027-01-01"),
    }


def test_keys_tokens_and_passwords_are_stored_hashed(demo_spec: dict[str, Any]) -> None:
    provision_apply(demo_spec, demo=True)

    demo = ApiKey.objects.get(name="demo")
    assert demo.key_hash == hash_secret("f863246a-973e-11e6-8784-08002718f5b5")
    assert demo.team is None
    assert ApiKey.objects.get(name="sales-crm").team.name == "Sales"
    token = ApiToken.objects.get(user__username="admin")
    assert token.token_hash == hash_secret("demo-admin-token-change-me")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("admin") and admin.password != "admin"
    plain_values = {"f863246a-973e-11e6-8784-08002718f5b5", "demo-admin-token-change-me"}
    for table, rows in database_rows().items():
        for row in rows:
            assert not plain_values & {v for v in row if isinstance(v, str)}, table


def test_a_changed_file_is_applied_then_stable(demo_spec: dict[str, Any]) -> None:
    provision_apply(demo_spec, demo=True)
    template = demo_spec["templates"][0]
    template["fields"] = [f for f in template["fields"] if f["name"] != "City"]
    template["dispositions"] = [
        d for d in template["dispositions"] if d["name"] != "Not Interested"
    ]
    template["dispositions"][1]["actions"][0]["minutes"] = 30
    demo_spec["contact_hours"][0]["windows"][0]["end"] = "24:00"
    demo_spec["contact_hours"][0]["zone_mode"] = "number_or_hours"
    demo_spec["api_keys"][0]["revoked"] = True

    report = provision_apply(demo_spec, demo=True)

    assert report.changed > 0
    solar = CampaignTemplate.objects.get(name="Solar")
    assert not solar.fields.filter(name="City").exists()
    # A disposition left out of the file is disabled, not deleted: leads may refer to it.
    assert Disposition.objects.get(name="Not Interested").enabled is False
    assert Disposition.objects.get(name="No Answer").actions.first().params == {"minutes": 30}
    assert (
        ContactHours.objects.get(name="Melbourne business").windows.filter(end_minute=1440).count()
        == 5
    )
    assert ContactHours.objects.get(name="Melbourne business").zone_mode == "number_or_hours"
    assert ApiKey.objects.get(name="demo").revoked is True
    assert provision_apply(demo_spec, demo=True).changed == 0


def _break(spec: dict[str, Any], path: list[Any], value: Any) -> None:
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["contact_hours", 1, "timezone"],
            "Mars/Olympus",
            "contact_hours[1] \"Sydney evenings\": unknown timezone 'Mars/Olympus'",
        ),
        (
            ["contact_hours", 1, "zone_mode"],
            "moon",
            "contact_hours[1] \"Sydney evenings\": 'zone_mode' must be one of hours, number_strict",
        ),
        (
            ["contact_hours", 0, "windows", 0, "start"],
            "25:00",
            "contact_hours[0] \"Melbourne business\" > windows[0]: 'start' must be between",
        ),
        (
            ["templates", 0, "dispositions", 1, "actions", 1, "then"],
            {"kind": "explode"},
            'templates[0] "Solar" > dispositions[1] "No Answer" > actions[1]: unknown action kind',
        ),
        (
            ["templates", 0, "dispositions", 4, "name"],
            "SALE",
            'templates[0] "Solar" > dispositions[4] "SALE" > name: \'SALE\' is listed twice',
        ),
        (
            ["templates", 0, "campaigns", 0, "allocations", 1, "weight"],
            0,
            "allocations[1] \"Referrals\": 'weight' must be a whole number 1-1000000",
        ),
        (
            ["templates", 0, "fields", 0, "name"],
            "njName",
            "fields[0] \"njName\" > name: names starting with 'nj' (in any case) are reserved",
        ),
        (
            ["dnc", 1, "phone"],
            "call me maybe",
            "dnc[1] \"call me maybe\" > phone: 'call me maybe' is not a usable",
        ),
        (["dnc", 1, "expires"], "2027-02-30", "dnc[1] \"0383218101\": 'expires' must be a date"),
        (["api_keys", 1, "team"], "Nobody", "api_keys[1] \"sales-crm\": unknown team 'Nobody'"),
        (["api_keys", 1, "key"], "short", "api_keys[1] \"sales-crm\": 'key' must be at least 16"),
        (["users", 1, "teams"], ["Sales", "Ghosts"], "users[1] \"ops\": unknown team 'Ghosts'"),
        (["templates", 0, "colour"], "blue", 'templates[0] "Solar": unknown key(s): colour'),
        (
            ["templates", 0, "dispositions", 0, "actions"],
            [
                {
                    "kind": "copy_lead",
                    "template": "Solar",
                    "campaign": "Jan16a",
                    "allocation": "Nope",
                }
            ],
            'dispositions[0] "Sale" > actions[0]: copy_lead target not found',
        ),
    ],
)
def test_an_invalid_file_changes_nothing_and_names_the_entry(
    demo_spec: dict[str, Any], path: list[Any], value: Any, message: str
) -> None:
    provision_apply(copy.deepcopy(demo_spec), demo=True)
    # Earlier entries of the broken file differ from the database, so a half-applied run
    # would show up in the snapshot.
    demo_spec["contact_hours"][0]["closed_dates"].append("2027-04-25")
    demo_spec["templates"][0]["campaigns"][0]["active"] = False
    _break(demo_spec, path, value)
    before = database_rows()

    with pytest.raises(ProvisionError) as raised:
        provision_apply(demo_spec, demo=True)

    assert message in str(raised.value)
    assert database_rows() == before


def test_a_campaign_cannot_move_to_another_template(demo_spec: dict[str, Any]) -> None:
    provision_apply(demo_spec, demo=True)
    other = copy.deepcopy(demo_spec["templates"][0])
    other["name"] = "Solar 2"
    before = database_rows()

    with pytest.raises(ProvisionError, match="campaign already exists under template 'Solar'"):
        provision_apply({"templates": [other]})
    assert database_rows() == before


def test_command_reports_and_refuses(
    tmp_path: Path, demo_spec: dict[str, Any], capsys: Any
) -> None:
    good = tmp_path / "good.json"
    demo_spec["users"][0]["api_token"] = "a-token-of-thirty-two-characters"
    good.write_text(json.dumps(demo_spec))
    call_command("provision", str(good))
    call_command("provision", str(good))
    assert "Nothing to change" in capsys.readouterr().out

    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"teams": [')
    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("provision", str(bad_json))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("provision", str(tmp_path / "missing.json"))
    demo_spec["teams"] = [{"name": ""}]
    bad = tmp_path / "bad-entry.json"
    bad.write_text(json.dumps(demo_spec))
    with pytest.raises(CommandError, match=r"nothing was changed\. teams\[0\]: 'name' must be"):
        call_command("provision", str(bad))


def test_a_short_token_is_refused_outside_the_demo_file(
    tmp_path: Path, demo_spec: dict[str, Any]
) -> None:
    """A management API token opens everything its user may do: 32 characters at least. Only
    the demo file ``make run`` applies keeps its documented 26-character token."""
    copied = tmp_path / "provision.json"
    copied.write_text(json.dumps(demo_spec))  # the demo's content, elsewhere
    message = r"users\[0\] \"admin\": 'api_token' must be at least 32 characters"
    with pytest.raises(CommandError, match=message):
        call_command("provision", str(copied))
    assert not ApiToken.objects.exists()
    call_command("provision", str(DEMO_FILE))
    assert ApiToken.objects.get().token_hash == hash_secret("demo-admin-token-change-me")
