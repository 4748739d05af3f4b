"""The admin's lead form (domain.md §5.4): one input per template field in the template's
order, and the system values as choices a person can use: the allocations of the lead's
campaign, the dispositions of its template, Contact Hours by name, the callback date in the
lead's own zone (``YYYY/MM/DD HH:MM``, as the CampaignAPI writes it).

``values()`` gives the form's content as ``leads.services.lead_edit`` values; ``encode`` and
``decode`` carry a set of values through the page (the values the form was opened at, for the
three-way merge)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.db.models import Q

from campaigner.contract import CampaignApiError
from campaigner.models import ContactHours
from leads import lead_input
from leads.models import Lead
from leads.services.lead_edit import FIELD

CALLBACK_FORMAT = "%Y/%m/%d %H:%M"


def lead_zone(lead: Lead) -> Any:
    """The zone the lead's callback is read and written in: its Contact Hours', else its
    template's, else UTC."""
    hours = lead.contact_hours or lead.campaign.template.contact_hours
    return lead_input.zone(hours.timezone if hours else None)


def encode(values: dict[str, Any]) -> str:
    return json.dumps(
        {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}
    )


def decode(text: str) -> dict[str, Any]:
    values = dict(json.loads(text))
    if values.get("callback_at"):
        values["callback_at"] = dt.datetime.fromisoformat(values["callback_at"])
    return values


class LeadEditForm(forms.Form):
    seen_version = forms.IntegerField(widget=forms.HiddenInput)
    base = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, lead: Lead, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lead, self.zone = lead, lead_zone(lead)
        template = lead.campaign.template
        self.phone_fields: set[str] = set()
        self.names: list[str] = []  # the template's fields, in order
        for name, is_phone in template.fields.order_by("position").values_list("name", "is_phone"):
            self.names.append(name)
            key = f"{FIELD}{name}"
            self.fields[key] = forms.CharField(
                label=f"{name} ☎" if is_phone else name,
                required=False,
                max_length=10_000,
                help_text="A phone field: normalised by the phone rules when saved."
                if is_phone
                else "",
            )
            if is_phone:
                self.phone_fields.add(key)
        options: list[tuple[Any, str]] = [("", "— none —")]
        if template.disposition_set is not None:
            dispositions = template.disposition_set.dispositions.filter(
                Q(enabled=True) | Q(pk=lead.disposition_id)
            )
            options += [(d.pk, d.name) for d in dispositions.order_by("name")]
        self.fields["disposition_id"] = forms.TypedChoiceField(
            label="Disposition",
            choices=options,
            coerce=int,
            empty_value=None,
            required=False,
            help_text="A new disposition runs its actions, as from the API.",
        )
        self.fields["allocation_id"] = forms.TypedChoiceField(
            label="Allocation",
            choices=[(a.pk, a.name) for a in lead.campaign.allocations.order_by("name")],
            coerce=int,
        )
        self.fields["contact_hours_id"] = forms.TypedChoiceField(
            label="Contact Hours",
            choices=[("", "— the template's —"),
                     *((h.pk, h.name) for h in ContactHours.objects.order_by("name"))],
            coerce=int,
            empty_value=None,
            required=False,
        )  # fmt: skip
        self.fields["priority"] = forms.IntegerField(min_value=0, max_value=100)
        self.fields["callback_at"] = forms.CharField(
            label="Callback",
            required=False,
            help_text=f"YYYY/MM/DD HH:MM, {self.zone.key} time; empty for none.",
        )
        self.fields["closed"] = forms.BooleanField(required=False)

    def clean_callback_at(self) -> dt.datetime | None:
        text = self.cleaned_data["callback_at"].strip()
        if not text:
            return None
        try:
            parts = lead_input.callback_parts(text)
            return lead_input.callback_at(parts, self.zone) if parts else None
        except CampaignApiError as exc:
            raise forms.ValidationError(exc.detail or "not a date YYYY/MM/DD HH:MM") from None

    def clean_base(self) -> dict[str, Any]:
        try:
            return decode(self.cleaned_data["base"])
        except (ValueError, TypeError):
            raise forms.ValidationError("the page is damaged: open the lead again") from None

    def values(self) -> dict[str, Any]:
        """The submitted values (a valid form). A callback left as shown keeps its stored
        value: the page shows it to the minute, and seconds must not read as a change."""
        values = {
            key: (value.strip() if key.startswith(FIELD) else value)
            for key, value in self.cleaned_data.items()
            if key not in ("seen_version", "base")
        }
        base = self.cleaned_data["base"].get("callback_at")
        if self.raw("callback_at", base) == str(self.data.get("callback_at", "")).strip():
            values["callback_at"] = base
        return values

    def as_data(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` as a browser would post them in this form."""
        return {key: self.raw(key, value) for key, value in values.items()}

    def raw(self, key: str, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return value.astimezone(self.zone).strftime(CALLBACK_FORMAT)
        if isinstance(value, bool):
            return value
        return value if isinstance(value, str) else str(value)

    def shown(self, key: str, raw: Any) -> str:
        """A posted value as a person reads it (names for ids)."""
        if raw in (None, "", False):
            return "no" if key == "closed" else "—"
        if key == "closed":
            return "yes"
        choices = {str(k): v for k, v in getattr(self.fields[key], "choices", [])}
        return str(choices.get(str(raw), raw))
