"""``{{ number|phone }}``: a stored number as a person reads it (``leads.phone.readable``)."""

from __future__ import annotations

from django import template
from django.conf import settings

from leads.phone import readable

register = template.Library()


@register.filter
def phone(number: str) -> str:
    return readable(number, settings.PHONE_DEFAULT_REGION) if number else number
