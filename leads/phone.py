"""Phone numbers as the telephone network knows them (campaignapi.md §4.2).

A value is first cleaned as always: spaces, dashes, dots and brackets go, digits of any script
(Arabic-Indic ``٠٣٨``, fullwidth, …) become ASCII digits, a leading ``+`` is kept, and the
configured ``PhonePattern`` rules may rewrite the result. What remains must be 6-16 ASCII digits
(with an optional ``+``), or it is not a usable number (``None``): that rule alone decides which
numbers are usable.

A usable number is then read with Google's libphonenumber (the ``phonenumbers`` package) in the
default region (``PHONE_DEFAULT_REGION``, ``AU``): when the library reads it as a possible
number, it is the number's **E.164 form** (``(03) 9381 2222``, ``+61 (0)3 9381 2222`` and
``61393812222`` are all ``+61393812222``); anything else stays as cleaned. So every door that
stores or compares numbers (inserts, updates, imports, the DNC list, provisioning, the admin,
the searches, the dialer) compares one spelling per line, and no DNC number hides behind
another way of writing it. Every door uses a ``PhoneNormaliser`` from
``leads.selectors.phone_normaliser_load()``. Pure: no database here.

Speed: the national and ``+<country code>`` spellings of the default region's numbers (nearly
every number of a batch) are read from the region's metadata directly (``_Plan``, about a
microsecond); anything else goes through the library's full parse (about 15 µs). The quick
reading answers only where it agrees with the library (tests/leads/test_phone.py checks it
against the library on generated numbers) and otherwise leaves the number to the library.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
import phonenumbers.timezone
from phonenumbers import PhoneNumberFormat

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
class _Plan:
    """What the quick reading needs of a region's numbering plan."""

    country_prefix: str  # "+61"
    national_prefix: str  # "0" (empty where the region has none)
    strippable: re.Pattern[str]  # what the library would strip as a national prefix
    international: re.Pattern[str]  # the region's international dialling prefix ("0011")
    national: re.Pattern[str]  # the national significant numbers of the region
    lengths: frozenset[int]  # their possible lengths

    def e164(self, candidate: str) -> str | None:
        """``candidate``'s E.164 form when it is plainly a national number of the region
        (``0393812222``) or one written with its country code (``+61393812222``); ``None``
        leaves it to the library."""
        if candidate.startswith(self.country_prefix):
            significant = candidate[len(self.country_prefix) :]
            if self.strippable.match(significant):
                return None  # the library may strip a prefix (``+61 (0)3 …``)
        elif (
            self.national_prefix
            and candidate.startswith(self.national_prefix)
            and not self.international.match(candidate)
        ):
            significant = candidate[len(self.national_prefix) :]
        else:
            return None
        if len(significant) in self.lengths and self.national.fullmatch(significant):
            return self.country_prefix + significant
        return None


@functools.cache
def _plan(region: str) -> _Plan | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc if metadata is not None else None
    if metadata is None or general is None or general.national_number_pattern is None:
        return None
    national_prefix = metadata.national_prefix or ""
    return _Plan(
        country_prefix=f"+{metadata.country_code}",
        national_prefix=national_prefix,
        strippable=re.compile(metadata.national_prefix_for_parsing or re.escape(national_prefix)),
        international=re.compile(metadata.international_prefix or "(?!)"),
        national=re.compile(general.national_number_pattern),
        lengths=frozenset(general.possible_length),
    )


def e164(candidate: str, region: str) -> str | None:
    """The E.164 form of a cleaned number, read in ``region``; ``None`` when the library does
    not read it as a possible number (or no region is set)."""
    if not region:
        return None
    plan = _plan(region)
    quick = plan.e164(candidate) if plan is not None else None
    if quick is not None:
        return quick
    number = _parse(candidate, region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The library's reading of ``text`` in ``region``, ``None`` where it reads no number."""
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _valid(number: str, region: str) -> phonenumbers.PhoneNumber | None:
    """A stored E.164 number the library knows as a valid number (a possible but invalid one,
    ``+61123456``, is shown and dialled as stored: its national spelling is a guess)."""
    if not region or not number.startswith("+"):
        return None
    parsed = _parse(number, region)
    return parsed if parsed is not None and phonenumbers.is_valid_number(parsed) else None


def number_zones(number: str, region: str) -> tuple[str, ...]:
    """The IANA zones libphonenumber gives a stored number (by its area code; a mobile: every
    zone of its country), ``()`` when it knows none (no E.164 form, an unknown line)."""
    parsed = _parse(number, region or None) if number.startswith("+") else None
    if parsed is None:
        return ()
    zones = phonenumbers.timezone.time_zones_for_number(parsed)
    return tuple(zone for zone in zones if zone != phonenumbers.timezone.UNKNOWN_TIMEZONE)


def dial_form(number: str, region: str, form: str) -> str:
    """A stored number as the PBX dials it. ``form`` ``"e164"``: as stored. ``"national"``:
    the region's own valid numbers in national form without spaces (``0393812222``), other
    countries' with the region's international prefix (``00114420…``), anything else as
    stored."""
    parsed = _valid(number, region) if form == "national" else None
    if parsed is None:
        return number
    if phonenumbers.region_code_for_number(parsed) == region:
        spelled = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    else:
        spelled = phonenumbers.format_out_of_country_calling_number(parsed, region)
    return "".join(ch for ch in spelled if ch.isdigit()) or number


def readable(number: str, region: str) -> str:
    """A stored number for a person: national layout for the region's own valid numbers
    (``(03) 9381 2222``), international for other countries' (``+44 20 7946 0000``), else as
    stored."""
    parsed = _valid(number, region)
    if parsed is None:
        return number
    own = phonenumbers.region_code_for_number(parsed) == region
    return phonenumbers.format_number(
        parsed, PhoneNumberFormat.NATIONAL if own else PhoneNumberFormat.INTERNATIONAL
    )


@dataclass(frozen=True)
class PhoneNormaliser:
    rules: tuple[tuple[re.Pattern[str], str], ...] = ()
    region: str = ""  # PHONE_DEFAULT_REGION; "" reads no numbering plan (numbers as cleaned)

    def __call__(self, value: object) -> str | None:
        """The number to store and compare (E.164 where the library reads it, else as
        cleaned), or ``None`` when ``value`` is not a usable number."""
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
        if not _NUMBER.fullmatch(candidate):
            return None
        return e164(candidate, self.region) or candidate
