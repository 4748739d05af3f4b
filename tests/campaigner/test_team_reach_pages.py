"""Teams cannot reach each other through the admin's pages (#23), in a real browser: a
Supervisor of Sales sees and may mint only Sales's API keys; a disposition set that Backoffice's
template also uses is shown to them read only; an Operator of Sales reads Sales's webhook actions
without their secrets and cannot open Backoffice's. Screenshots in ``.data/screenshots/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from campaigner.models import ApiKey, DispositionAction
from campaigner.roles import OPERATOR, SUPERVISOR
from tests.browser import browser, screenshot
from tests.factories import (
    ApiKeyFactory,
    DispositionFactory,
    TeamFactory,
    TemplateFactory,
    UserFactory,
)
from tests.leads.test_operator_pages import wait
from tests.live import gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

PASSWORD = "a-password-for-the-page-test"


def login(driver: Any, base: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.ID, "user-tools"))


def test_the_admin_keeps_each_team_to_its_own(tmp_path: Path, settings: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    call_command("collectstatic", interactive=False, verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    sets = {}
    for team in ("Sales", "Backoffice"):
        template = TemplateFactory(name=f"Template of {team}")
        template.teams.add(TeamFactory(name=team))
        disposition = DispositionFactory(disposition_set=template.disposition_set, name="Busy")
        DispositionAction.objects.create(
            disposition=disposition,
            kind="webhook",
            params={"url": f"https://{team.lower()}.example/hook", "secret": f"{team}-secret-1"},
        )
        ApiKeyFactory(name=f"key of {team}", team=Group.objects.get(name=team))
        sets[team] = template.disposition_set
    shared = TemplateFactory(name="Shared by both", disposition_set=sets["Sales"])
    shared.teams.add(Group.objects.get(name="Backoffice"))
    for role in (SUPERVISOR, OPERATOR):
        user = UserFactory(username=role.lower(), is_staff=True, password=PASSWORD)
        user.groups.add(Group.objects.get(name=role), Group.objects.get(name="Sales"))

    with gunicorn(tmp_path / "logs", "--threads", "4") as (port, _), browser() as driver:
        base = f"http://127.0.0.1:{port}"
        login(driver, base, "supervisor")
        driver.get(f"{base}/admin/campaigner/apikey/")
        listed = driver.find_element(By.ID, "result_list").text
        assert "key of Sales" in listed and "key of Backoffice" not in listed
        screenshot(driver, "team-reach-1-supervisor-keys")

        driver.get(f"{base}/admin/campaigner/apikey/add/")
        offered = [o.text for o in Select(driver.find_element(By.ID, "id_team")).options]
        assert offered == ["---------", "Sales"]  # no other team, no role, and required
        driver.find_element(By.ID, "id_name").send_keys("a key of Sales")
        driver.find_element(By.NAME, "_save").click()  # no team chosen
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".errorlist"))
        screenshot(driver, "team-reach-2-key-needs-a-team")
        assert not ApiKey.objects.filter(name="a key of Sales").exists()

        # Sales's set is also Backoffice's now: shown, but read only.
        driver.get(f"{base}/admin/campaigner/dispositionset/{sets['Sales'].pk}/change/")
        wait(driver, lambda d: d.find_elements(By.ID, "content"))
        assert not driver.find_elements(By.NAME, "_save")
        screenshot(driver, "team-reach-3-shared-set-read-only")

        login(driver, base, "operator")
        busy = sets["Sales"].dispositions.get()
        driver.get(f"{base}/admin/campaigner/disposition/{busy.pk}/change/")
        page = wait(driver, lambda d: d.find_element(By.ID, "content")).text
        assert "sales.example/hook" in page and "Sales-secret-1" not in driver.page_source
        screenshot(driver, "team-reach-4-operator-reads-no-secret")
        theirs = sets["Backoffice"].dispositions.get()
        driver.get(f"{base}/admin/campaigner/disposition/{theirs.pk}/change/")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist"))
        assert "Backoffice-secret-1" not in driver.page_source
        assert "backoffice.example" not in driver.page_source
        screenshot(driver, "team-reach-5-other-teams-disposition")
