"""Reading a lead as sent (leads/lead_input.py), pure: properties over generated input."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigner.contract import CampaignApiError, Code
from leads import lead_input

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text())


def code_of(call: object, *args: object) -> Code | None:
    try:
        call(*args)  # type: ignore[operator]
    except CampaignApiError as error:
        return error.code
    return None


@given(st.text(alphabet=" \t"), st.text(alphabet=" \t"), st.booleans())
def test_no_change_in_any_case_and_spacing(before: str, after: str, upper: bool) -> None:
    marker = "<NO CHANGE>" if upper else "<No Change>"
    assert lead_input.is_no_change(before + marker + after)
    assert not lead_input.is_no_change("No Change")


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9998, 12, 31)))
def test_every_real_minute_reads_back(moment: dt.datetime) -> None:
    text = moment.strftime("%Y/%m/%d %H:%M")
    assert lead_input.callback_parts(text) == (
        moment.year, moment.month, moment.day, moment.hour, moment.minute,
    )  # fmt: skip


@given(st.text())
def test_anything_else_is_114_or_blank(text: str) -> None:
    try:
        parts = lead_input.callback_parts(text)
    except CampaignApiError as error:
        assert error.code is Code.INVALID_CALLBACK_DATE_FORMAT
        return
    if parts is None:
        assert not text.strip()
    else:
        assert dt.datetime(*parts).strftime("%Y/%m/%d %H:%M") == text


@pytest.mark.parametrize(
    "text", ["２０２６/０１/０１ ０９:００", "2026/02/30 09:00", "2026/1/1 9:00"]
)
def test_dates_need_ascii_digits_and_a_real_day(text: str) -> None:
    assert code_of(lead_input.callback_parts, text) is Code.INVALID_CALLBACK_DATE_FORMAT


def test_a_time_skipped_by_daylight_saving_is_114() -> None:
    melbourne = zoneinfo.ZoneInfo("Australia/Melbourne")
    assert code_of(lead_input.callback_at, (2026, 10, 4, 2, 30), melbourne) is (
        Code.INVALID_CALLBACK_DATE_FORMAT
    )
    assert lead_input.callback_at((2026, 10, 4, 3, 30), melbourne).utcoffset() == dt.timedelta(
        hours=11
    )


@given(st.integers(0, 100), st.booleans(), st.text(alphabet=" ", max_size=2))
def test_priorities_0_to_100_as_number_or_text(value: int, as_text: bool, pad: str) -> None:
    assert lead_input.priority(f"{pad}{value}{pad}" if as_text else value) == value


@given(scalars)
def test_any_other_priority_is_151_or_blank(value: object) -> None:
    try:
        number = lead_input.priority(value)
    except CampaignApiError as error:
        assert error.code is Code.INVALID_PRIORITY
        return
    assert number is None or (0 <= number <= 100 and not isinstance(value, bool))


@pytest.mark.parametrize("value", [True, 101, -1, 2.5, "５", "1e1", "0x10", "", "  "])
def test_priority_edge_values_are_151(value: object) -> None:
    assert code_of(lead_input.priority, value) is Code.INVALID_PRIORITY


@given(st.dictionaries(st.text(), scalars))
def test_scalar_values_read_and_the_fields_asked_for_come_back(lead: dict[str, object]) -> None:
    storable = all(
        "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)
        for text in [*lead, *(v for v in lead.values() if isinstance(v, str))]
    ) and all(math.isfinite(v) for v in lead.values() if isinstance(v, float))
    names = frozenset(list(lead)[::2])
    try:
        fields, no_change = lead_input.read_fields(lead, names)
    except CampaignApiError as error:
        assert error.code is Code.MALFORMED_REQUEST and not storable
        return
    assert storable
    assert fields == {k: v for k, v in lead.items() if k in names}
    markers = [k for k, v in lead.items() if lead_input.is_no_change(v)]
    assert no_change == (markers[0] if markers else None)


@given(st.sampled_from([{"a": 1}, [1]]))
def test_object_and_array_values_are_150(value: object) -> None:
    assert code_of(lead_input.check_shape, {"Name": value}) is Code.MALFORMED_REQUEST


@given(st.one_of(st.integers(), st.text(min_size=1, max_size=255).filter(str.strip)))
def test_external_ids_are_text(value: object) -> None:
    expected = value.strip() if isinstance(value, str) else str(value)
    assert lead_input.external_id(value) == expected
    assert code_of(lead_input.external_id, "x" * 256) is Code.MALFORMED_REQUEST


@pytest.mark.parametrize(
    ("text", "zone"),
    [("0001/01/01 00:00", "Australia/Melbourne"), ("9999/12/31 23:59", "America/Los_Angeles"),
     ("9999/12/31 23:59", "UTC"), ("0001/01/02 12:00", "UTC")],
)  # fmt: skip
def test_callbacks_at_the_ends_of_the_calendar_are_114(text: str, zone: str) -> None:
    parts = lead_input.callback_parts(text)
    assert parts is not None
    code = code_of(lead_input.callback_at, parts, zoneinfo.ZoneInfo(zone))
    assert code is Code.INVALID_CALLBACK_DATE_FORMAT


@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59)),
    st.sampled_from(["Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Melbourne", "UTC"]),
)
def test_an_accepted_callback_can_be_shown_in_every_zone(moment: dt.datetime, zone: str) -> None:
    parts = (moment.year, moment.month, moment.day, moment.hour, moment.minute)
    try:
        instant = lead_input.callback_at(parts, zoneinfo.ZoneInfo(zone))
    except CampaignApiError as error:
        assert error.code is Code.INVALID_CALLBACK_DATE_FORMAT
        return
    for other in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14, UTC-11
        (instant + dt.timedelta(days=1)).astimezone(zoneinfo.ZoneInfo(other))
        (instant - dt.timedelta(days=1)).astimezone(zoneinfo.ZoneInfo(other))
