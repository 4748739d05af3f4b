"""Phone number normalisation (campaignapi.md §4.2).

Spaces, dashes, dots and brackets are removed, a leading ``+`` is kept, and what remains must
be 6-16 digits. Anything else is not a usable number (``None``).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()\[\]{}]")
_NUMBER = re.compile(r"\+?\d{6,16}")


def normalise(value: object) -> str | None:
    """The normalised number, or ``None`` when ``value`` is not a usable number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    candidate = _SEPARATORS.sub("", str(value))
    return candidate if _NUMBER.fullmatch(candidate) else None
