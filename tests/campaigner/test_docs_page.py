"""The API docs page as a person opens it, in a real browser against a real server: log in to
the admin, open /api/v1/docs/, and see the operations listed, with nothing fetched from
anywhere but the server itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from tests.browser import browser, screenshot
from tests.campaigner.test_schema import CHECKED_IN
from tests.factories import UserFactory
from tests.live import gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_docs_page_lists_the_operations(tmp_path: Path, settings: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    call_command("collectstatic", interactive=False, verbosity=0)  # as the image and make run
    # The server checks the password with its own (production) hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    reader = UserFactory(username="reader", is_staff=True)
    reader.set_password("reader-password-1")
    reader.save()
    with gunicorn(tmp_path) as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        driver.get(f"{base}/api/v1/docs/")  # signed out: the login page, then the docs
        assert driver.current_url == f"{base}/admin/login/?next=/api/v1/docs/"
        driver.find_element(By.NAME, "username").send_keys("reader")
        driver.find_element(By.NAME, "password").send_keys("reader-password-1")
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        try:
            WebDriverWait(driver, 30).until(
                ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
            )
        finally:
            screenshot(driver, "api-docs")
        paths = {
            e.get_attribute("data-path")
            for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        }
        assert "/servicemanager/rest/CampaignAPI/insertLeadsFast" in paths
        assert "/api/v1/templates/" in paths
        assert "/api/v1/dialer/campaigns/{campaign_id}/next-lead" in paths
        schema = yaml.safe_load(CHECKED_IN.read_text())
        assert paths == set(schema["paths"])  # every path of the schema is on the page
        operations = sum(len(item) for item in schema["paths"].values())
        assert len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
        tags = {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-tag span")}
        assert {"CampaignAPI", "templates", "dnc", "dialer"} <= tags
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert fetched and all(url.startswith(base) for url in fetched), fetched
