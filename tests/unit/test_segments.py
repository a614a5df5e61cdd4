"""SMS length in segments: GSM-7 160/153 (extension characters count twice), UCS-2 70/67."""
from __future__ import annotations

import pytest

from services.notifier.segments import measure


@pytest.mark.parametrize("text, encoding, units, segments", [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),
    ("€" * 81, "GSM-7", 162, 2),
    ("a" * 159 + "{", "GSM-7", 161, 2),
    ("a" * 158 + "}", "GSM-7", 160, 1),
    ("[]~\\|^", "GSM-7", 12, 1),
    ("Reply STOP to opt out", "GSM-7", 21, 1),
    ("Ünïcode? Ñ ä ö ü à é è", "UCS-2", 22, 1),  # ï is not GSM-7
    ("欠" * 70, "UCS-2", 70, 1),
    ("欠" * 71, "UCS-2", 71, 2),
    ("欠" * 134, "UCS-2", 134, 2),
    ("欠" * 135, "UCS-2", 135, 3),
    ("a" * 159 + "欠", "UCS-2", 160, 3),  # one Chinese character turns the whole text UCS-2
    ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
    ("a" * 66 + "😀" + "a", "UCS-2", 69, 1),
])
def test_a_text_costs_the_segments_its_encoding_allows(text, encoding, units, segments):
    length = measure(text)

    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


@pytest.mark.parametrize("text, segments", [
    ("a" * 152 + "€" + "a" * 152, 3),  # the escape and € are never split: € starts segment 2
    ("a" * 151 + "€" + "a" * 153, 2),
    ("a" * 66 + "😀" + "a" * 67, 3),  # the surrogate pair is never split
])
def test_a_two_unit_character_is_never_split_across_segments(text, segments):
    assert measure(text).segments == segments
