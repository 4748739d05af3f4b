"""The dashboard in a real browser, on a seeded campaign: each dial state's count as the
kept figures hold it, the allocations' table, the folded empty campaigns, and a count's link
opening the lead list of exactly those leads.

Screenshots: ``.data/screenshots/dashboard-*.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.utils import timezone

from dialer.models import CampaignStats
from dialer.stats import campaign_stats_refresh
from leads.models import Lead, LeadPhone
from tests.browser import browser, screenshot
from tests.dialer.test_dashboard import seeded_campaign
from tests.factories import CampaignFactory, UserFactory
from tests.leads.test_job_pages import PASSWORD, login
from tests.leads.test_operator_pages import wait
from tests.live import gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_the_dashboard_shows_each_state_and_links_to_its_leads(
    tmp_path: Path, settings: Any
) -> None:
    from selenium.webdriver.common.by import By

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory(username="sue", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    campaign, running, _ = seeded_campaign(timezone.now())
    running_lead = Lead.objects.filter(allocation=running, closed=False).order_by("pk").first()
    assert running_lead is not None
    number = LeadPhone.objects.get(lead=running_lead)
    number.number = "+61380001234"
    number.save()
    CampaignFactory(name="Empty one", active=True)
    campaign_stats_refresh()
    states = CampaignStats.objects.get(campaign=campaign).detail["states"]
    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        login(driver, base, "/admin/")
        wait(driver, lambda d: d.find_elements(By.ID, f"dashboard-campaign-{campaign.pk}"))
        card = driver.find_element(By.ID, f"dashboard-campaign-{campaign.pk}")
        shown = {
            b.get_attribute("data-state"): int(b.text.replace(",", ""))
            for b in card.find_elements(By.CSS_SELECTOR, ".dashboard-states b")
        }
        # Every state the kept figures count; "campaign inactive" is the lead list's filter's.
        assert shown == {k: v for k, v in states.items() if k != "campaign_inactive"}
        assert "Empty one" in driver.find_element(By.ID, "dashboard-empty").text
        assert not driver.find_elements(By.XPATH, "//h3[contains(., 'Empty one')]")
        row = card.find_element(By.CSS_SELECTOR, f'tr[data-allocation="{running.pk}"]')
        assert row.find_element(By.CSS_SELECTOR, 'td[data-state="dialable"]').text == "4"
        screenshot(driver, "dashboard-1-states")
        card.find_element(By.CSS_SELECTOR, ".state-no_dialable_number a").click()
        wait(driver, lambda d: d.find_elements(By.ID, "result_list"))
        listed = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(listed) == states["no_dialable_number"] == 2
        assert "DNC or blocked" in driver.find_element(By.ID, "changelist-filter").text
        screenshot(driver, "dashboard-2-linked-list")

        # The list's search: a name by the starts of its words, a number however written.
        Lead.objects.filter(pk=running_lead.pk).update(
            fields={"Name": "Jane Citizen", "FirstPhone": "0380001234"}
        )
        for term in ("jan CIT", "(03) 8000-1234"):
            driver.get(f"{base}/admin/leads/lead/?{urlencode({'q': term})}")
            rows = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
            assert len(rows) == 1 and "Jane Citizen" in rows[0].text, term
        screenshot(driver, "dashboard-3-search")
