"""Admin logins are throttled (django-axes): after ten wrong passwords a user is locked out
from that address, and nobody else is."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def login(username: str, password: str, address: str = "192.0.2.1") -> int:
    response = Client().post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code


@pytest.fixture
def users() -> None:
    for name in ("ops", "other"):
        user = UserFactory(username=name, is_staff=True)
        user.set_password("right-password")
        user.save()


def test_ten_wrong_passwords_lock_that_user_out_from_that_address(users: None) -> None:
    assert login("ops", "right-password") == 302  # logged in, redirected to the admin
    for _ in range(9):
        assert login("ops", "wrong") == 200  # the form again, with its error
    assert login("ops", "wrong") == 429  # the tenth failure locks the pair out
    assert login("ops", "right-password") == 429  # locked out, even with the right password
    assert login("other", "right-password") == 302  # another user from the same address
    assert login("ops", "right-password", address="198.51.100.7") == 302  # from elsewhere


def test_a_success_resets_the_count(users: None) -> None:
    for _ in range(9):
        login("ops", "wrong")
    assert login("ops", "right-password") == 302
    for _ in range(9):
        login("ops", "wrong")
    assert login("ops", "right-password") == 302
