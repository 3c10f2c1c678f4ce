"""The API's input limits say what they mean (api/fields.py)."""

from __future__ import annotations

import re
import sys
from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from lessor.api.fields import SPACE, Tags, Time


def test_space_is_what_str_strip_removes() -> None:
    space = re.compile(f"[{SPACE}]")
    found = {c for c in map(chr, range(sys.maxunicode + 1)) if space.fullmatch(c)}
    assert found == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


def test_a_tag_is_more_than_spaces() -> None:
    tags = TypeAdapter(Tags)
    assert tags.validate_python([" x ", "y"]) == [" x ", "y"]  # the service strips them
    for blank in (" ", "\u3000\t", "x\x00"):
        with pytest.raises(ValidationError, match="more than spaces, without a NUL"):
            tags.validate_python([blank])


@pytest.mark.parametrize("text", ["2024-05-01 10:00", "2024-05-01T10:00:00Z", "1970-01-01"])
def test_a_time_is_iso_8601_text(text: str) -> None:
    assert isinstance(TypeAdapter(Time).validate_python(text), datetime)


@pytest.mark.parametrize("value", ["0001-01-01", "1969-12-31T23:00:00Z", "0.5", 1700000000])
def test_a_time_is_neither_a_number_nor_of_a_year_without_a_timestamp(value: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601 time in the years 1970 to 9999"):
        TypeAdapter(Time).validate_python(value)
