"""A disposition set's admin page as a supervisor uses it (#29): every disposition with its
actions under it, edited in place (no page per disposition), saved through the same service as
the management API and provisioning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from campaigner.models import Disposition, DispositionAction, DispositionSet
from tests.browser import browser, screenshot
from tests.campaigner.test_team_reach_pages import PASSWORD, login
from tests.factories import UserFactory
from tests.leads.test_operator_pages import wait
from tests.live import gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_sets_dispositions_and_their_actions_are_edited_on_its_page(
    tmp_path: Path, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    call_command("collectstatic", interactive=False, verbosity=0)  # as the image and make run
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # the server's
    outcomes = DispositionSet.objects.create(name="Outbound outcomes")
    no_answer = Disposition.objects.create(disposition_set=outcomes, name="No Answer")
    DispositionAction.objects.create(
        disposition=no_answer, position=0, kind="callback", params={"minutes": 30}
    )
    Disposition.objects.create(disposition_set=outcomes, name="Sale", final=True)
    UserFactory(username="boss", is_staff=True, is_superuser=True, password=PASSWORD)

    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        login(driver, base, "boss")
        driver.get(f"{base}/admin/campaigner/dispositionset/{outcomes.pk}/change/")
        page = wait(driver, lambda d: d.find_element(By.ID, "content"))
        # The existing action is shown under its disposition, its kind's input with it.
        minutes = driver.find_element(By.CSS_SELECTOR, "input[name$='-0-actions-0-minutes']")
        assert minutes.get_attribute("value") == "30" and minutes.is_displayed()
        assert "No Answer" in page.text and "Sale" in page.text
        # Each disposition's own inputs stay in view whatever its actions' kinds.
        for index in (0, 1):
            assert driver.find_element(By.NAME, f"dispositions-{index}-priority").is_displayed()
        screenshot(driver, "disposition-set-1-actions-in-place")

        # "Sale" gets a webhook: add an action under it, choose its kind, fill its inputs.
        sale_group = driver.find_element(By.CSS_SELECTOR, "[id$='dispositions-1'] .djn-group")
        add = sale_group.find_element(By.CSS_SELECTOR, ".djn-add-item a, a.djn-add-handler")
        driver.execute_script("arguments[0].click();", add)
        kind = wait(
            driver,
            lambda d: d.find_element(By.CSS_SELECTOR, "select[name$='-1-actions-0-kind']"),
        )
        Select(kind).select_by_value("webhook")
        url = driver.find_element(By.CSS_SELECTOR, "input[name$='-1-actions-0-url']")
        assert url.is_displayed()  # the kind's own inputs appear
        assert not driver.find_element(
            By.CSS_SELECTOR, "input[name$='-1-actions-0-minutes']"
        ).is_displayed()
        url.send_keys("https://crm.example/sale")
        driver.find_element(By.CSS_SELECTOR, "input[name$='-1-actions-0-secret']").send_keys("s1")
        screenshot(driver, "disposition-set-2-webhook-added")
        driver.find_element(By.NAME, "_continue").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
        screenshot(driver, "disposition-set-3-saved")

    sale = Disposition.objects.get(name="Sale")
    assert [(a.kind, a.params) for a in sale.actions.all()] == [
        ("webhook", {"url": "https://crm.example/sale", "secret": "s1"})
    ]
    assert [(a.kind, a.params) for a in no_answer.actions.all()] == [("callback", {"minutes": 30})]
