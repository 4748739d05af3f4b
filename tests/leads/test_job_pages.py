"""Bulk jobs and the lead's history as a supervisor meets them in a real browser, against a real
server and a real Celery worker: the lead list filtered to a campaign, "select all", "Move
selected leads…" → the job page with the count and first leads → run → the progress page reaching
done; an export downloaded as CSV; the lead's timeline naming the insert and the job; "Delete
selected leads…" as a job.

Screenshots: ``.data/screenshots/jobs-*.png``."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from campaigner.roles import SUPERVISOR
from leads.models import Lead, LeadChange, LeadJob
from tests.browser import browser, screenshot
from tests.campaignapi import GLOBAL_KEY, make_api
from tests.factories import AllocationFactory, TeamFactory, UserFactory
from tests.leads.test_operator_pages import call, text_of, wait
from tests.live import broker_env, celery_worker, gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

PASSWORD = "supervisor-password-1"
LEADS = 120


def login(driver: Any, base: str, next_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/admin/login/?next={next_url}")
    driver.find_element(By.NAME, "username").send_keys("sue")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def run_action(driver: Any, action: str, select_all: bool) -> None:
    """Tick the page's leads (and "select all" of the filtered list), then the action."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    wait(driver, lambda d: d.find_elements(By.ID, "action-toggle"))
    driver.find_element(By.ID, "action-toggle").click()
    if select_all:
        driver.find_element(By.CSS_SELECTOR, ".question a, a.question").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value(action)
    driver.find_element(By.NAME, "index").click()
    wait(
        driver, lambda d: d.find_elements(By.ID, "job-count") or d.find_elements(By.ID, "job-error")
    )


def test_a_supervisor_moves_exports_and_deletes_leads_with_jobs(
    tmp_path: Path, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    api = make_api(Client())
    team = TeamFactory(name="Solar team")
    api.template.teams.add(team)
    user = UserFactory(username="sue", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=SUPERVISOR), team)
    callbacks = AllocationFactory(campaign=api.campaign, name="Callbacks")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    queue = f"job-pages-{os.getpid()}"
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "LEAD_JOB_CHUNK": "25", **broker_env()}
    with (
        gunicorn(tmp_path / "logs", "--threads", "4", **env) as (port, _),
        celery_worker(tmp_path / "worker.log", queue, **env),
        browser(downloads=downloads) as driver,
    ):
        base = f"http://127.0.0.1:{port}"
        ids = {"fTemplateId": api.template.pk, "fCampaignId": api.campaign.pk,
               "fAllocationId": api.allocation.pk, "apiKey": GLOBAL_KEY}  # fmt: skip
        for i in range(LEADS):
            body = {"Name": f"Person {i}", "FirstPhone": f"04{i:08d}", "njExternalLeadId": f"e{i}"}
            assert call(base, "insertLeadFast", ids, body) == 0

        # The list filtered to the campaign, everything selected, "Move…".
        login(driver, base, f"/admin/leads/lead/?campaign__id__exact={api.campaign.pk}")
        run_action(driver, "job_move", select_all=True)
        assert f"{LEADS} leads" in text_of(driver, "job-count")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#job-sample tbody tr")) == 10
        Select(driver.find_element(By.ID, "id_allocation")).select_by_visible_text(str(callbacks))
        screenshot(driver, "jobs-1-move-page")
        driver.find_element(By.ID, "job-run").click()
        wait(driver, lambda d: text_of(d, "job-status") == "done", 120)
        assert text_of(driver, "job-changed") == str(LEADS)
        screenshot(driver, "jobs-2-move-done")
        assert set(Lead.objects.values_list("allocation_id", flat=True)) == {callbacks.pk}

        # An export of the campaign, downloaded.
        driver.get(f"{base}/admin/leads/lead/?campaign__id__exact={api.campaign.pk}")
        run_action(driver, "job_export", select_all=True)
        driver.find_element(By.ID, "job-run").click()
        wait(driver, lambda d: text_of(d, "job-status") == "done", 120)
        wait(driver, lambda d: d.find_element(By.ID, "job-file").is_displayed())
        screenshot(driver, "jobs-3-export-done")
        driver.find_element(By.ID, "job-file").click()
        export = LeadJob.objects.get(kind="export")
        path = downloads / f"job-{export.pk}-export.csv"
        wait(driver, lambda d: path.exists() and path.stat().st_size > 0, 30)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(rows) == LEADS and rows[0]["Name"] == "Person 0"

        # The first lead's timeline: its insert and the move.
        lead = Lead.objects.order_by("id").first()
        assert lead is not None
        driver.get(f"{base}/admin/leads/lead/{lead.pk}/change/")
        wait(driver, lambda d: d.find_elements(By.ID, "lead-changes"))
        assert "insertLeadFast with key global" in text_of(driver, "lead-origin")
        changes = text_of(driver, "lead-changes")
        move = LeadJob.objects.get(kind="move")
        assert f"job {move.pk}" in changes and "Callbacks" in changes
        driver.execute_script(
            "arguments[0].scrollIntoView()", driver.find_element(By.ID, "lead-changes")
        )
        screenshot(driver, "jobs-4-lead-timeline")

        # The leads a search finds ("Person 11", "Person 110" … "119"), ticked, "Delete…" (the
        # built-in delete, which failed on large selections, is gone), run as a job.
        driver.get(f"{base}/admin/leads/lead/?campaign__id__exact={api.campaign.pk}&q=Person+11")
        wait(driver, lambda d: d.find_elements(By.ID, "action-toggle"))
        options = [
            o.get_attribute("value")
            for o in driver.find_elements(By.CSS_SELECTOR, "select[name=action] option")
        ]
        assert "delete_selected" not in options and "job_delete" in options
        run_action(driver, "job_delete", select_all=False)
        driver.find_element(By.ID, "job-run").click()
        wait(driver, lambda d: text_of(d, "job-status") == "done", 120)
        deleted = int(text_of(driver, "job-changed"))
        assert deleted == 11 and Lead.objects.count() == LEADS - deleted
        assert LeadChange.objects.filter(kind="delete").count() == deleted
        screenshot(driver, "jobs-5-delete-done")
