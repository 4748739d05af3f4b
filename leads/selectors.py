"""Reads of the leads app that more than one service needs (HackSoft's "selectors")."""

from __future__ import annotations

from django.conf import settings

from leads.models import PhonePattern
from leads.phone import PhoneNormaliser, compile_rule


def phone_normaliser_load() -> PhoneNormaliser:
    """A normaliser with the enabled ``PhonePattern`` rules, in order (one small query), in
    the default region (``PHONE_DEFAULT_REGION``)."""
    rules = PhonePattern.objects.filter(enabled=True).values_list("pattern", "replacement")
    return PhoneNormaliser(
        tuple((compile_rule(p, r), r) for p, r in rules), settings.PHONE_DEFAULT_REGION
    )
