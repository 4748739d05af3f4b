"""What a person's browser would post from an admin change page: every field of the page's
form and of its inlines (management forms included) as the page shows them, for a test to
change one value and post the rest unchanged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client


def page_form(client: Client, url: str) -> dict[str, Any]:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    data: dict[str, Any] = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None or value is False:
                continue  # an empty box, an unticked tick
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            elif isinstance(value, dt.date):
                data[key] = value.isoformat()
            else:
                data[key] = str(value)
    return data
