"""The operator's day in a real browser, against a real server and a real Celery worker: log in,
import a CSV of a few thousand rows and watch its progress bar reach 100 %, read the counts by
code, download the error report, cancel a second import mid-way, upload a DNC list and read
its result, and meet the merge screen when the lead being edited changed meanwhile.

Screenshots of each step: ``.data/screenshots/operator-*.png``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from leads.models import DncEntry, Lead, LeadImport, NumberFinding
from tests.browser import browser, screenshot
from tests.campaignapi import BASE, GLOBAL_KEY, make_api
from tests.factories import (
    AllocationFactory,
    CampaignFactory,
    DispositionFactory,
    TeamFactory,
    TemplateFactory,
    UserFactory,
)
from tests.live import broker_env, celery_worker, gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

PASSWORD = "operator-password-1"
OPERATOR_PERMS = (
    "view_leadimport", "add_leadimport", "change_leadimport", "view_dncentry", "add_dncentry",
    "change_dncentry", "view_lead", "change_lead",
)  # fmt: skip
DNC = "0383218100"


def first_file(path: Path) -> int:
    """3,000 rows: some on the DNC list (104), some repeating a number (105), some with a bad
    priority (151), and a column left out; a vendor's header, none of it spelled as the
    template's fields. Returns the number of rows."""
    lines = ["Full Name,Phone No.,Priority,Vendor ref"]
    for i in range(3000):
        phone = f"04{i:08d}"
        if i % 50 == 49:
            phone = DNC
        elif i % 100 == 98:
            phone = f"04{i - 1:08d}"
        priority = "101" if i % 300 == 7 else ""
        lines.append(f"Person {i},{phone},{priority},v{i}")
    path.write_text("\n".join(lines) + "\n")
    return 3000


def operator_user(team: str) -> Any:
    user = UserFactory(username="operator", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(TeamFactory(name=team))
    user.user_permissions.set(Permission.objects.filter(codename__in=OPERATOR_PERMS))
    return user


def wait(driver: Any, condition: Any, timeout: float = 120) -> Any:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def holds(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            # Chromium's own word for an element of a page being replaced, read in between.
            if "does not belong to the document" in str(exc):
                return False
            raise

    # A page being replaced (a form posted, a redirect, a reload) is waited through.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, 0.1, ignored).until(holds)


def text_of(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def test_an_operators_day_in_the_admin(tmp_path: Path, settings: Any, client: Client) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    api = make_api(client)
    api.template.teams.add(TeamFactory(name="Sales"))
    operator_user("Sales")
    second = AllocationFactory(campaign=CampaignFactory(template=api.template, name="Feb"),
                               name="Feb leads")  # fmt: skip
    hidden = TemplateFactory(name="Other team's")
    AllocationFactory(campaign=CampaignFactory(template=hidden, name="Not mine"))
    DncEntry.objects.create(number="+61" + DNC[1:])  # stored as every door stores it
    DispositionFactory(disposition_set=api.template.disposition_set, name="Interested")
    rows = first_file(tmp_path / "vendor.csv")
    big = tmp_path / "big.csv"
    big.write_text("Name,FirstPhone\n" + "".join(f"B{i},05{i:08d}\n" for i in range(60_000)))
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    queue = f"operator-test-{os.getpid()}"
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "LEAD_IMPORT_CHUNK_ROWS": "500", **broker_env()}
    logs = tmp_path / "logs"
    with (
        # Threads, as in production: a browser's idle pre-opened connection would otherwise
        # hold the one sync worker until it times out.
        gunicorn(logs, "--threads", "4", **env) as (port, _),
        celery_worker(tmp_path / "worker.log", queue, **env),
        browser(downloads=downloads) as driver,
    ):
        base = f"http://127.0.0.1:{port}"
        driver.get(f"{base}/admin/login/?next=/admin/leads/leadimport/add/")
        driver.find_element(By.NAME, "username").send_keys("operator")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.ID, "import-form"))

        # The import page: each list narrowed by the choice above it; no other team's campaign.
        template = Select(driver.find_element(By.ID, "id_template"))
        assert [o.text for o in template.options] == ["---------", "Solar"]
        template.select_by_visible_text("Solar")
        campaign = Select(driver.find_element(By.ID, "id_campaign"))
        shown = [o.text for o in campaign.options if o.is_enabled() and o.get_attribute("value")]
        assert shown == ["Feb", "Jan16a"]
        campaign.select_by_visible_text("Jan16a")
        allocation = Select(driver.find_element(By.ID, "id_allocation"))
        shown = [o.text for o in allocation.options if o.is_enabled() and o.get_attribute("value")]
        assert shown == [str(api.allocation)] and str(second) not in shown
        allocation.select_by_visible_text(str(api.allocation))
        driver.find_element(By.ID, "id_file").send_keys(str(tmp_path / "vendor.csv"))
        screenshot(driver, "operator-1-import-form")
        driver.find_element(By.CSS_SELECTOR, "#import-form input[type=submit]").click()

        # The mapping page: the vendor's columns under the field each fills, as guessed.
        wait(driver, lambda d: d.find_elements(By.ID, "mapping-form"))
        choices = [
            Select(s) for s in driver.find_elements(By.CSS_SELECTOR, "#mapping-table select")
        ]
        assert [c.first_selected_option.get_attribute("value") for c in choices] == [
            "",
            "FirstPhone",
            "njPriority",
            "",
        ]
        assert text_of(driver, "ignored-list") == "Full Name, Vendor ref"
        first_row = driver.find_elements(By.CSS_SELECTOR, "#mapping-table tbody tr")[0].text
        assert first_row.split() == ["Person", "0", "0400000000", "v0"]
        choices[0].select_by_value("Name")  # the one column the guess could not place
        assert text_of(driver, "ignored-list") == "Vendor ref"
        screenshot(driver, "operator-1b-import-mapping")
        driver.find_element(By.ID, "mapping-dry-run").click()
        # The dry run runs, then its draft shows what the import would do.
        wait(driver, lambda d: d.find_elements(By.ID, "dry-run-result"))
        would = (text_of(driver, "dry-run-imported"), text_of(driver, "dry-run-rejected"))
        assert would == ("2900", "100") and not Lead.objects.exists()
        dry_codes = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.dry-run-code")]
        assert dry_codes == ["104 DNC 60", "105 DUPLICATE 30", "151 INVALID_PRIORITY 10"]
        screenshot(driver, "operator-1c-import-dry-run")
        # Importing with a column left out needs it confirmed.
        driver.find_element(By.ID, "mapping-run").click()
        wait(driver, lambda d: "Confirm that 'Vendor ref' are left out" in d.page_source
             or "Confirm that &#x27;Vendor ref&#x27;" in d.page_source)  # fmt: skip
        assert LeadImport.objects.get(file_name="vendor.csv").status == "draft"
        driver.find_element(By.ID, "id_confirm_ignored").click()
        driver.find_element(By.ID, "mapping-run").click()

        # The progress page: the bar reaches 100 %, the counts by code are shown.
        wait(driver, lambda d: d.find_elements(By.ID, "import-bar"))
        screenshot(driver, "operator-2-import-progress")
        wait(driver, lambda d: text_of(d, "import-status") == "done")
        bar = driver.find_element(By.ID, "import-bar")
        assert bar.get_attribute("aria-valuenow") == "100"
        fill = driver.find_element(By.ID, "import-bar-fill")
        # Full, inside its 1 px border, once its transition is over.
        wait(driver, lambda d: fill.size["width"] == bar.size["width"] - 2, 5)
        done = LeadImport.objects.get(file_name="vendor.csv")
        assert (done.status, done.processed, done.rows) == ("done", rows, rows)
        assert done.imported == Lead.objects.filter(allocation=api.allocation).count()
        assert text_of(driver, "import-imported") == f"{done.imported:,}"
        assert text_of(driver, "import-ignored") == "Vendor ref"
        codes = [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, "#import-codes tr")
        ]
        assert codes == [
            [code, name, f"{count:,}"]
            for code, name, count in (
                ("104", "DNC", done.rejected_by_code["104"]),
                ("105", "DUPLICATE", done.rejected_by_code["105"]),
                ("151", "INVALID_PRIORITY", done.rejected_by_code["151"]),
            )
        ]
        assert done.rejected_by_code == {"104": 60, "105": 30, "151": 10}
        screenshot(driver, "operator-3-import-done")

        # The error report, downloaded as a person would.
        driver.find_element(By.ID, "import-report").click()
        report = downloads / f"import-{done.pk}-errors.csv"
        deadline = time.monotonic() + 30
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = list(csv.reader(io.StringIO(report.read_text(), newline="")))
        assert lines[0] == ["line", "code", "reason", "Full Name", "Phone No.", "Priority",
                            "Vendor ref"]  # fmt: skip
        assert len(lines) - 1 == done.rejected == 100
        assert lines[1][:2] == ["9", "151"] and lines[1][3] == "Person 7"

        # A second, larger import, cancelled while it runs.
        driver.get(f"{base}/admin/leads/leadimport/add/")
        Select(driver.find_element(By.ID, "id_template")).select_by_visible_text("Solar")
        Select(driver.find_element(By.ID, "id_campaign")).select_by_visible_text("Feb")
        Select(driver.find_element(By.ID, "id_allocation")).select_by_visible_text(str(second))
        driver.find_element(By.ID, "id_file").send_keys(str(big))
        driver.find_element(By.CSS_SELECTOR, "#import-form input[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.ID, "mapping-form"))
        assert not driver.find_element(By.ID, "id_confirm_ignored").is_displayed()
        driver.find_element(By.ID, "mapping-run").click()
        wait(driver, lambda d: text_of(d, "import-status") == "running")
        wait(driver, lambda d: not text_of(d, "import-progress").startswith("0 of"))
        driver.find_element(By.ID, "import-cancel").click()
        wait(driver, lambda d: text_of(d, "import-status") == "cancelled")
        cancelled = LeadImport.objects.get(file_name="big.csv")
        assert 0 < cancelled.processed < 60_000
        assert cancelled.imported == Lead.objects.filter(allocation=second).count()
        assert text_of(driver, "import-imported") == f"{cancelled.imported:,}"
        assert driver.find_element(By.ID, "import-cancel").get_attribute("disabled")
        screenshot(driver, "operator-4-import-cancelled")

        # The list of past imports.
        driver.get(f"{base}/admin/leads/leadimport/")
        listed = driver.find_element(By.ID, "result_list").text.lower()
        assert "vendor.csv" in listed and "big.csv" in listed and "cancelled" in listed
        screenshot(driver, "operator-5-imports-list")

        # A DNC list: the result shows what was added, updated and rejected.
        (tmp_path / "dnc.csv").write_text(
            "phone,expires,note\n08 9381 2222,,asked\n(03) 8321-8100,2030-01-01,again\n"
            "0412 345 678,,\nnot a number,,\n0400000001,31/12/2030,\n"
        )
        driver.get(f"{base}/admin/leads/dncentry/")
        driver.find_element(By.ID, "dnc-upload-link").click()
        driver.find_element(By.ID, "id_file").send_keys(str(tmp_path / "dnc.csv"))
        driver.find_element(By.CSS_SELECTOR, "#dnc-upload-form input[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.ID, "dnc-result"))
        assert [text_of(driver, f"dnc-{k}") for k in ("added", "updated", "rejected")] == [
            "2",
            "1",
            "2",
        ]
        rejected = driver.find_element(By.ID, "dnc-rejected-lines").text
        assert "not a usable phone number" in rejected
        assert "'expires' must be a date YYYY-MM-DD" in rejected
        assert DncEntry.objects.filter(number="+61893812222", note="asked").exists()
        screenshot(driver, "operator-6-dnc-upload")

        # A lead changed by the API while the operator has it open: the merge screen on save.
        lead = Lead.objects.filter(allocation=api.allocation, external_id=None).first()
        assert lead is not None
        Lead.objects.filter(pk=lead.pk).update(external_id="crm-7")
        driver.get(f"{base}/admin/leads/lead/{lead.pk}/change/")
        wait(driver, lambda d: d.find_elements(By.ID, "id_priority"))
        # The operator's check-out runs out (DIALER_CHECKOUT_SECONDS) and the CRM updates it.
        Lead.objects.filter(pk=lead.pk).update(checked_out_until=timezone.now())
        update = {"njExternalLeadId": "crm-7", "FirstPhone": "<No Change>", "Name": "From CRM",
                  "njDisposition": "Interested"}  # fmt: skip
        query = (f"fTemplateId={api.template.pk}&fCampaignId={api.campaign.pk}"
                 f"&fAllocationId={api.allocation.pk}&apiKey={GLOBAL_KEY}")  # fmt: skip
        request = urllib.request.Request(
            f"{base}{BASE}updateLeadFast?{query}", data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.loads(answer.read())["code"] == 0
        priority = driver.find_element(By.ID, "id_priority")
        priority.clear()
        priority.send_keys("3")
        driver.find_element(By.NAME, "_save").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".errornote, .errorlist"))
        page = driver.find_element(By.ID, "content-main").text
        assert "This lead changed since you opened it" in page
        assert Lead.objects.get(pk=lead.pk).fields["Name"] == "From CRM"  # nothing overwritten
        screenshot(driver, "operator-7-merge-screen")


def call(base: str, method: str, ids: dict[str, Any], body: dict[str, Any]) -> int:
    """A CampaignAPI call over HTTP, as a CRM makes it; its code."""
    query = "&".join(f"{k}={v}" for k, v in ids.items())
    request = urllib.request.Request(
        f"{base}{BASE}{method}?{query}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(json.loads(answer.read())["code"])
    except urllib.error.HTTPError as refused:
        return int(json.loads(refused.read())["code"])


def test_the_demo_operator_edits_a_lead_and_merges_and_lists_a_number(
    tmp_path: Path, settings: Any, demo_spec: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    from campaigner.models import Allocation, Disposition
    from dialer.services import dialer_outcome
    from leads.provisioning import provision_apply
    from leads.services.calls import CallDetails

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    provision_apply(demo_spec, demo=True)  # ops: an Operator of team Sales
    allocation = Allocation.objects.select_related("campaign").get(name="Web leads")
    ids = {"fTemplateId": allocation.campaign.template_id, "fCampaignId": allocation.campaign_id,
           "fAllocationId": allocation.pk, "apiKey": demo_spec["api_keys"][0]["key"]}  # fmt: skip
    password = next(u["password"] for u in demo_spec["users"] if u["username"] == "ops")
    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        lead_body = {"Name": "Jane Citizen", "FirstPhone": "0383218199", "njExternalLeadId": "c-9"}
        assert call(base, "insertLeadFast", ids, lead_body) == 0
        lead = Lead.objects.get(external_id="c-9")
        for details in (CallDetails(), CallDetails(duration_s=95, unique_call_id="1513228517.3")):
            until = timezone.now() + dt.timedelta(minutes=3)
            Lead.objects.filter(pk=lead.pk).update(  # as a hand-out leaves it
                checked_out_by="agent-7", checked_out_until=until, checked_out_number="+61383218199"
            )
            dialer_outcome(lead.pk, "No Answer", call=details)
        driver.get(f"{base}/admin/login/?next=/admin/leads/lead/{lead.pk}/change/")
        driver.find_element(By.NAME, "username").send_keys("ops")
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.ID, "lead-form"))
        # The lead's calls, newest first.
        calls = driver.find_element(By.ID, "lead-calls")
        driver.execute_script("arguments[0].scrollIntoView()", calls)
        assert "Calls (2 dial attempts)" in driver.page_source
        rows = calls.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert [row.text.split()[0] for row in rows] == ["2", "1"]
        assert "95" in rows[0].text and "1513228517.3" in rows[0].text
        assert "agent-7" in rows[1].text and "(03) 8321 8199" in rows[1].text
        screenshot(driver, "ops-0-lead-calls")

        # The operator changes the name and a phone, while the CRM changes priority and
        # disposition (once the operator's check-out has run out).
        name = driver.find_element(By.ID, "id_field:Name")
        name.clear()
        name.send_keys("Jane Q. Citizen")
        driver.find_element(By.ID, "id_field:SecondPhone").send_keys("0400 123 456")
        screenshot(driver, "ops-1-lead-form")
        Lead.objects.filter(pk=lead.pk).update(checked_out_until=timezone.now())
        update = {"njExternalLeadId": "c-9", "FirstPhone": "<No Change>", "njPriority": 2,
                  "njDisposition": "Call Back"}  # fmt: skip
        assert call(base, "updateLeadFast", ids, update) == 0
        driver.find_element(By.NAME, "_save").click()

        # The merge screen: the CRM's priority and disposition are preset; the operator's
        # name and number are in the form. Saving writes exactly that.
        wait(driver, lambda d: d.find_elements(By.ID, "merge-table"))
        merge = driver.find_element(By.ID, "merge-table").text
        assert "Priority" in merge and "Call Back" in merge and "Name" not in merge
        stored = driver.find_element(By.CSS_SELECTOR, "#merge-priority input[value=stored]")
        assert stored.is_selected()
        assert driver.find_element(By.ID, "id_field:Name").get_attribute("value") == (
            "Jane Q. Citizen"
        )
        screenshot(driver, "ops-2-merge-screen")
        driver.find_element(By.NAME, "_save").click()
        wait(driver, lambda d: d.find_elements(By.ID, "result_list"))
        screenshot(driver, "ops-3-saved")
        saved = Lead.objects.get(pk=lead.pk)
        assert saved.fields == {"Name": "Jane Q. Citizen", "FirstPhone": "0383218199",
                                "SecondPhone": "0400 123 456"}  # fmt: skip
        assert saved.priority == 2
        assert saved.disposition_id == Disposition.objects.get(name="Call Back").pk
        assert sorted(saved.phones.values_list("number", flat=True)) == [
            "+61383218199",
            "+61400123456",
        ]
        assert (saved.checked_out_by, saved.checked_out_until) == ("", None)

        # A number typed with spaces in the admin blocks the next insert of it.
        driver.get(f"{base}/admin/leads/dncentry/add/")
        driver.find_element(By.ID, "id_number").send_keys("08 9381 2222")
        driver.find_element(By.ID, "id_note").send_keys("asked on the phone")
        driver.find_element(By.NAME, "_save").click()
        wait(driver, lambda d: d.find_elements(By.ID, "result_list"))
        assert "(08) 9381 2222 (+61893812222)" in driver.find_element(By.ID, "result_list").text
        screenshot(driver, "ops-4-dnc-listed")

        # What the move to E.164 revealed (migration leads.0013), for the operator to review.
        NumberFinding.objects.create(
            kind="duplicate", campaign=allocation.campaign, number="+61383218199",
            leads=[lead.pk], spellings=["0383218199", "+610383218199"],
        )  # fmt: skip
        driver.get(f"{base}/admin/leads/numberfinding/")
        wait(driver, lambda d: d.find_elements(By.ID, "result_list"))
        row = driver.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
        assert "(03) 8321 8199 (+61383218199)" in row and "+610383218199" in row, row
        screenshot(driver, "ops-4b-number-findings")
        driver.find_element(By.LINK_TEXT, str(lead.pk)).click()
        wait(driver, lambda d: d.find_elements(By.ID, "lead-form"))
        assert call(base, "insertLeadFast", ids, {"Name": "X", "FirstPhone": "08 9381 2222"}) == 104

        # The dashboard, once beat has counted (here: the refresh called directly).
        from dialer.stats import campaign_stats_refresh

        campaign_stats_refresh()
        driver.get(f"{base}/admin/")
        board = wait(driver, lambda d: d.find_elements(By.ID, "dashboard"))[0]
        assert "Jan16a" in board.text and "dispositions today" in board.text
        figures = board.find_element(By.CSS_SELECTOR, ".fig-leads").text
        assert figures == str(Lead.objects.filter(campaign=allocation.campaign).count())
        assert len(board.find_elements(By.CSS_SELECTOR, ".dashboard-chart .bar")) == 48  # 2 charts
        screenshot(driver, "ops-5-dashboard")


def test_a_supervisor_writes_an_action_with_its_kinds_inputs_only(
    tmp_path: Path, settings: Any
) -> None:
    from django.contrib.auth.models import Group
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from campaigner.models import ContactHours, DispositionAction
    from campaigner.roles import SUPERVISOR

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    disposition = DispositionFactory(name="No Answer")
    boss = UserFactory(username="boss", is_staff=True)
    boss.set_password(PASSWORD)
    boss.save()
    boss.groups.add(Group.objects.get(name=SUPERVISOR))
    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        page = f"/admin/campaigner/disposition/{disposition.pk}/change/"
        driver.get(f"{base}/admin/login/?next={page}")
        driver.find_element(By.NAME, "username").send_keys("boss")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#actions-group .add-row a"))
        driver.find_element(By.CSS_SELECTOR, "#actions-group .add-row a").click()
        form = wait(driver, lambda d: d.find_elements(By.ID, "actions-0"))[0]

        def shown() -> list[str]:
            names = ["minutes", "priority", "numbers", "target", "url", "secret", "to",
                     "subject", "body", "count", "then_kind"]  # fmt: skip
            return [
                n for n in names if form.find_element(By.CSS_SELECTOR, f".field-{n}").is_displayed()
            ]

        Select(form.find_element(By.NAME, "actions-0-kind")).select_by_value("webhook")
        assert shown() == ["url", "secret"]
        Select(form.find_element(By.NAME, "actions-0-kind")).select_by_value("retry_limit")
        Select(form.find_element(By.NAME, "actions-0-then_kind")).select_by_value("callback")
        assert shown() == ["minutes", "count", "then_kind"]
        form.find_element(By.NAME, "actions-0-count").send_keys("5")
        form.find_element(By.NAME, "actions-0-minutes").send_keys("60")
        screenshot(driver, "supervisor-1-action-form")
        driver.find_element(By.NAME, "_continue").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
        screenshot(driver, "supervisor-2-action-saved")

        # Contact Hours: the zone picked from a list, the windows read in the number's zone.
        driver.get(f"{base}/admin/campaigner/contacthours/add/")
        driver.find_element(By.NAME, "name").send_keys("Perth business")
        Select(driver.find_element(By.NAME, "timezone")).select_by_value("Australia/Perth")
        Select(driver.find_element(By.NAME, "zone_mode")).select_by_value("number_or_hours")
        screenshot(driver, "supervisor-3-contact-hours")
        driver.find_element(By.NAME, "_save").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    hours = ContactHours.objects.get(name="Perth business")
    assert (hours.timezone, hours.zone_mode) == ("Australia/Perth", "number_or_hours")
    action = DispositionAction.objects.get(disposition=disposition)
    assert (action.kind, action.params) == (
        "retry_limit",
        {"count": 5, "then": {"kind": "callback", "minutes": 60}},
    )
