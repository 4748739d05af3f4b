"""Phone normalisation (leads/phone.py), pure: properties over generated input, without a
numbering plan and in Australia's."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leads.phone import PhoneNormaliser, _plan, compile_rule, dial_form, e164, readable

normalise = PhoneNormaliser()
NUMBER = re.compile(r"\+?[0-9]{6,16}")
SEPARATORS = st.sampled_from([" ", "-", ".", "(", ")", "[", "]", "\t"])
digits = st.text(alphabet="0123456789", min_size=6, max_size=16)
# Zero to nine in other scripts: Arabic-Indic, Devanagari, fullwidth.
SCRIPTS = ["٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９"]


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_a_result_is_ascii_digits_with_an_optional_plus(value: object) -> None:
    number = normalise(value)
    assert number is None or NUMBER.fullmatch(number)


@given(st.text())
def test_normalising_twice_changes_nothing(value: str) -> None:
    number = normalise(value)
    assert number is None or normalise(number) == number


@given(digits, st.lists(st.tuples(st.integers(0, 16), SEPARATORS), max_size=6), st.booleans())
def test_separators_and_the_plus_are_the_only_decoration(
    number: str, inserts: list[tuple[int, str]], plus: bool
) -> None:
    decorated = number
    for position, separator in inserts:
        decorated = decorated[:position] + separator + decorated[position:]
    expected = "+" + number if plus else number
    assert normalise(("+" if plus else "") + decorated) == expected


@given(digits, st.sampled_from(SCRIPTS))
def test_digits_of_any_script_are_the_same_number(number: str, script: str) -> None:
    assert normalise(number.translate(str.maketrans("0123456789", script))) == number


@given(st.text(alphabet="0123456789", max_size=5) | st.text(alphabet="0123456789", min_size=17))
def test_too_short_or_too_long_is_no_number(number: str) -> None:
    assert normalise(number) is None


@given(st.integers(min_value=100_000, max_value=10**16 - 1))
def test_a_json_integer_is_its_digits(value: int) -> None:
    assert normalise(value) == str(value)


def test_the_first_matching_rule_rewrites_and_the_rest_are_skipped() -> None:
    rules = PhoneNormaliser(
        (
            (compile_rule(r"^\+61(\d{9})$", r"0\1"), r"0\1"),
            (compile_rule(r"^0(\d{9})$", r"X\1"), r"X\1"),
        )
    )
    assert rules("+61 3 8321 8199") == "0383218199"  # not rewritten again by the second rule
    assert rules("03 8321 8199") is None  # the second rule made it no number


# --- numbers read in the default region's numbering plan (libphonenumber) --------------------

au = PhoneNormaliser(region="AU")
SPELLINGS = ["(03) 9381 2222", "03-9381-2222", "+61 3 9381 2222", "+61393812222", "61393812222",
             "+61 (0)3 9381 2222", "03 9381 2222", "0393812222", "+61-3-9381-2222",
             "٠٣٩٣٨١٢٢٢٢"]  # fmt: skip
MOBILE = ["0412 345 678", "+61 412 345 678", "61412345678", "+61 (0)412 345 678", "0412-345-678"]


def test_every_spelling_of_a_line_is_one_number() -> None:
    assert {au(spelling) for spelling in SPELLINGS} == {"+61393812222"}
    assert {au(spelling) for spelling in MOBILE} == {"+61412345678"}
    assert au("+44 20 7946 0000") == au("0011 44 20 7946 0000") == "+442079460000"
    assert au("08 9381 2222") != au("03 9381 2222")


def _library(candidate: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


REGIONS = ["AU", "GB", "US", "NZ", "DE", "IT", "FR", "IN"]
PREFIXES = ["0", "00", "0011", "01831", "1831", "+61", "+610", "+611831", "61", "+44", "+440",
            "+1", "1", "+39", "+390", "+64", "+91", ""]  # fmt: skip


@settings(max_examples=3000)
@given(st.sampled_from(REGIONS), st.sampled_from(PREFIXES), st.text("0123456789", max_size=14))
def test_the_quick_reading_agrees_with_the_library(region: str, prefix: str, rest: str) -> None:
    """Where the quick reading of a region's numbers answers at all, it answers exactly what
    libphonenumber's full parse does; everything else goes to the library."""
    candidate = prefix + rest
    plan = _plan(region)
    assert plan is not None
    quick = plan.e164(candidate)
    if quick is not None:
        assert quick == _library(candidate, region), candidate
    if NUMBER.fullmatch(candidate):
        assert e164(candidate, region) == _library(candidate, region)


# Valid Australian numbers: landlines of each area code and mobiles.
significant = st.one_of(
    st.builds(lambda area, rest: area + rest, st.sampled_from("2378"),
              st.text("0123456789", min_size=8, max_size=8)),
    st.builds(lambda rest: "4" + rest, st.text("0123456789", min_size=8, max_size=8)),
)  # fmt: skip
FORMS = [
    lambda n: "0" + n, lambda n: "+61" + n, lambda n: "61" + n, lambda n: "+61 (0)" + n,
    lambda n: "(0" + n[0] + ") " + n[1:5] + " " + n[5:], lambda n: "+61 " + n[0] + " " + n[1:],
    lambda n: "0" + n[:3] + "-" + n[3:6] + "-" + n[6:], lambda n: "+61." + n,
]  # fmt: skip


@given(significant, st.lists(st.sampled_from(range(len(FORMS))), min_size=2, max_size=4))
def test_any_formatting_of_a_valid_number_is_the_same_number(number: str, forms: list[int]) -> None:
    parsed = phonenumbers.parse("0" + number, "AU")
    assume(phonenumbers.is_valid_number(parsed))
    assert {au(FORMS[i](number)) for i in forms} == {"+61" + number}


@given(st.one_of(st.text(), st.integers(), st.text("0123456789+ -()", max_size=20)))
def test_the_region_changes_no_numbers_usability(value: object) -> None:
    """A number usable without the numbering plan is usable with it, and the other way."""
    assert (au(value) is None) == (normalise(value) is None)


def test_how_numbers_are_dialled_and_shown() -> None:
    assert dial_form("+61393812222", "AU", "national") == "0393812222"
    assert dial_form("+61412345678", "AU", "national") == "0412345678"
    assert dial_form("+442079460000", "AU", "national") == "0011442079460000"
    assert dial_form("+61393812222", "AU", "e164") == "+61393812222"
    assert dial_form("+61123456", "AU", "national") == "+61123456"  # possible, not valid
    assert dial_form("0393812222", "AU", "national") == "0393812222"  # not E.164: as stored
    assert readable("+61393812222", "AU") == "(03) 9381 2222"
    assert readable("+442079460000", "AU") == "+44 20 7946 0000"
    assert readable("12345678", "AU") == "12345678"
