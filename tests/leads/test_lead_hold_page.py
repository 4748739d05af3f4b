"""The lead page in a real browser: why the dialer does not call the lead (every reason);
opening a lead holds nothing (a second tab sees it
free), typing takes the hold and shows its countdown, the second tab then shows who holds it
and until when, and leaving the page releases it.

Screenshots: ``.data/screenshots/hold-*.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from leads.models import Lead
from tests.browser import browser, screenshot
from tests.campaignapi import GLOBAL_KEY, make_api
from tests.leads.test_job_pages import PASSWORD, login
from tests.leads.test_operator_pages import call, text_of, wait
from tests.live import gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_viewing_holds_nothing_editing_holds_with_a_countdown_leaving_releases(
    tmp_path: Path, settings: Any
) -> None:
    from django.contrib.auth.models import Group
    from selenium.webdriver.common.by import By

    from campaigner.roles import SUPERVISOR
    from tests.factories import TeamFactory, UserFactory

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    api = make_api(Client())
    team = TeamFactory(name="Solar team")
    api.template.teams.add(team)
    user = UserFactory(username="sue", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=SUPERVISOR), team)
    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        ids = {"fTemplateId": api.template.pk, "fCampaignId": api.campaign.pk,
               "fAllocationId": api.allocation.pk, "apiKey": GLOBAL_KEY}  # fmt: skip
        assert call(base, "insertLeadFast", ids, {"Name": "Jo", "FirstPhone": "0383218199"}) == 0
        lead = Lead.objects.get()
        page = f"/admin/leads/lead/{lead.pk}/change/"
        login(driver, base, page)
        wait(driver, lambda d: d.find_elements(By.ID, "lead-hold"))
        assert "Viewing only" in text_of(driver, "lead-hold")
        # Why it is not dialing, every reason, from the dialer's own rules.
        wait(driver, lambda d: "does not call" in text_of(d, "lead-eligibility"))
        reasons = text_of(driver, "lead-reasons")
        assert "is outside Melbourne business (outside_contact_hours)" in reasons, reasons
        screenshot(driver, "hold-0-why-not-dialing")
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(base + page)
        wait(driver, lambda d: d.find_elements(By.ID, "lead-hold"))
        assert Lead.objects.get().checked_out_until is None  # two tabs open, nothing held
        second = driver.current_window_handle

        driver.switch_to.window(first)
        driver.find_element(By.ID, "id_field:Name").send_keys(" Citizen")
        wait(driver, lambda d: "Held for you: 2:" in text_of(d, "lead-hold"), 20)
        screenshot(driver, "hold-1-countdown")
        assert Lead.objects.get().checked_out_by == "admin:sue"

        driver.switch_to.window(second)
        driver.refresh()
        wait(driver, lambda d: text_of(d, "lead-checked-out").startswith("admin:sue until"))
        screenshot(driver, "hold-2-second-tab-sees-the-hold")
        driver.close()

        driver.switch_to.window(first)
        driver.get(base + "/admin/")  # leaving the page without saving releases the hold
        wait(driver, lambda d: Lead.objects.get().checked_out_until is None, 20)
        assert Lead.objects.get().fields["Name"] == "Jo"  # nothing was saved
