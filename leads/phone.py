"""Phone number normalisation (campaignapi.md §4.2).

Spaces, dashes, dots and brackets are removed, digits of any script (Arabic-Indic ``٠٣٨``,
fullwidth, …) become ASCII digits, a leading ``+`` is kept, the configured
``PhonePattern`` rules may rewrite the result, and what remains must be 6-16 ASCII digits (with
an optional leading ``+``). Anything else is not a usable number (``None``). So the DNC and
duplicate checks always compare the number itself, whatever digits a client typed it in.

Every door that stores or compares numbers (inserts, updates, DNC, provisioning) uses a
``PhoneNormaliser`` from ``leads.selectors.phone_normaliser_load()``, so a number is spelled the
same everywhere. Pure: no database here (the rules are read by the selector).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\-.()\[\]]")
_NUMBER = re.compile(r"\+?[0-9]{6,16}")


def ascii_digits(text: str) -> str:
    """``text`` with every Unicode decimal digit replaced by its ASCII digit."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


class PhoneRuleError(ValueError):
    pass


def compile_rule(pattern: str, replacement: str) -> re.Pattern[str]:
    """Compile a rule; a bad pattern or a replacement naming a missing group fails here."""
    try:
        compiled = re.compile(pattern)
        compiled.sub(replacement, "")  # validates the replacement even without a match
    except re.error as exc:
        raise PhoneRuleError(str(exc)) from exc
    return compiled


@dataclass(frozen=True)
class PhoneNormaliser:
    rules: tuple[tuple[re.Pattern[str], str], ...] = ()

    def __call__(self, value: object) -> str | None:
        """The normalised number, or ``None`` when ``value`` is not a usable number."""
        if isinstance(value, str):
            candidate = _SEPARATORS.sub("", value)
            if not candidate.isascii():
                candidate = ascii_digits(candidate)
        elif isinstance(value, int) and not isinstance(value, bool):
            candidate = str(value)
        else:
            return None
        for pattern, replacement in self.rules:
            rewritten, count = pattern.subn(replacement, candidate, count=1)
            if count:
                candidate = rewritten
                break
        return candidate if _NUMBER.fullmatch(candidate) else None
