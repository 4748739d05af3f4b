"""The vendor's import summary string (campaignapi.md §4.5), byte for byte.

``Imported <i> Updated <u> Rejected <r> leads.\\n\\nErrors (If any):\\n <header>Error Reason,\\n``
followed by ``<rows>OK``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from leads.lead_input import json_spelling
from leads.services.lead_insert import LeadOutcome

_NEEDS_QUOTES = frozenset(',"\n\r')


def _csv(text: str) -> str:
    if _NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def _cell(value: object) -> str:
    return _csv(value if type(value) is str else json_spelling(value)) + ","


def import_summary(leads: Sequence[dict[str, Any]], outcomes: Sequence[LeadOutcome]) -> str:
    """The summary of a multi-lead call: header of every key seen (first appearance order),
    one CSV row per rejected lead with its reason, then ``OK``."""
    header = dict.fromkeys(itertools.chain.from_iterable(leads))  # an ordered set of the keys
    rejected = [(lead, o) for lead, o in zip(leads, outcomes, strict=True) if o.code != 0]
    imported = len(outcomes) - len(rejected)
    parts = [
        f"Imported {imported} Updated 0 Rejected {len(rejected)} leads.\n\nErrors (If any):\n ",
        "".join(_csv(key) + "," for key in header),
        "Error Reason,\n",
    ]
    for lead, outcome in rejected:
        parts.append("".join([_cell(lead.get(key)) for key in header]))
        parts.append(f"{outcome.code.message},\n")
    parts.append("OK")
    return "".join(parts)
