"""Phone normalisation (leads/phone.py), pure: properties over generated input."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from leads.phone import PhoneNormaliser, compile_rule

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
