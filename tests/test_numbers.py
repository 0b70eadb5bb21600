"""Caller-number normalisation, withheld detection and CLI validity."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.domain.numbers import (
    UK_DRAMA_PREFIXES,
    InvalidEntry,
    NumberAnalyser,
    candidate_prefixes,
    is_withheld_presentation,
)
from screener.domain.vocabulary import NumberProblem, NumberType

GB = NumberAnalyser("GB")

SAME_NUMBER_FORMS = [
    "+44 20 7123 4567",
    "020 7123 4567",
    "(020) 7123-4567",
    "0044 20 7123 4567",
    "+44 (0)20 7123 4567",
    "tel:+442071234567",
    "sip:+442071234567@carrier.example;user=phone",
    "sip:02071234567@192.0.2.1",
    '"ACME LTD" <sip:+442071234567@carrier.example>',
    "+44.20.7123.4567",
    "  02071234567  ",
]


@pytest.mark.parametrize("form", SAME_NUMBER_FORMS)
def test_every_written_form_normalises_to_the_same_e164(form: str) -> None:
    info = GB.analyse(form)
    assert info.e164 == "+442071234567"
    assert info.valid
    assert info.number_type is NumberType.FIXED_LINE
    assert not info.withheld


@pytest.mark.parametrize(
    "form",
    ["+44 20 7123 4567", "020 7123 4567", "0044 20 7123 4567", "+442071234567", "02071234567"],
)
def test_list_entries_normalise_like_callers(form: str) -> None:
    assert GB.normalise_entry(form) == ("+442071234567", False)


@pytest.mark.parametrize(
    "raw",
    ["", "anonymous", "Anonymous", "UNKNOWN", "unavailable", "Restricted", "private", "Withheld"],
)
def test_withheld_strings(raw: str) -> None:
    info = GB.analyse(raw)
    assert info.withheld
    assert info.e164 is None
    assert info.number_type is NumberType.WITHHELD
    assert info.problems == ()


@pytest.mark.parametrize(
    ("pres", "withheld"),
    [
        ("prohib_not_screened", True),
        ("prohib_passed_screen", True),
        ("prohib", True),
        ("unavailable", True),
        ("allowed_not_screened", False),
        ("allowed", False),
        (None, False),
        ("", False),
    ],
)
def test_presentation_as_separate_fact(pres: str | None, withheld: bool) -> None:
    assert is_withheld_presentation(pres) is withheld
    info = GB.analyse("+442071234567", pres)
    assert info.withheld is withheld
    # The real number stays visible for lookups even when presentation is prohibited.
    assert info.e164 == "+442071234567"


def test_malformed_trunk_prefix_is_flagged_but_human_form_is_not() -> None:
    for raw in ("+4402071234567", "00440 20 7123 4567", "+44 020 7123 4567"):
        info = GB.analyse(raw)
        assert NumberProblem.MALFORMED_PREFIX in info.problems, raw
        assert not info.valid
    assert GB.analyse("+44 (0)20 7123 4567").problems == ()


@pytest.mark.parametrize(
    "raw",
    [
        "020 7946 0018",
        "0113 496 0999",
        "0191 498 0000",
        "028 9649 6500",
        "029 2018 0123",
        "01632 960 123",
        "07700 900 123",
        "0808 157 0123",
        "0909 879 0123",
        "0306 999 0123",
    ],
)
def test_ofcom_drama_ranges_are_spoofed(raw: str) -> None:
    info = GB.analyse(raw)
    assert NumberProblem.DRAMA_RANGE in info.problems
    assert not info.valid


def test_numbers_just_outside_drama_ranges_are_fine() -> None:
    assert GB.analyse("020 7946 1018").problems == ()
    assert GB.analyse("0161 496 1000").problems == ()


def test_drama_table_has_every_range_once() -> None:
    assert len(UK_DRAMA_PREFIXES) == len(set(UK_DRAMA_PREFIXES)) == 20


def test_non_dialable_network_range() -> None:
    info = GB.analyse("08979 123456")
    assert NumberProblem.NON_DIALABLE in info.problems


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("07911 123456", NumberType.MOBILE),
        ("0800 123 4567", NumberType.TOLL_FREE),
        ("0901 234 5678", NumberType.PREMIUM_RATE),
        ("070 1234 5678", NumberType.PERSONAL_NUMBER),
        ("0113 123 4567", NumberType.FIXED_LINE),
        ("0345 123 4567", NumberType.UAN),
        ("+33 1 42 68 53 00", NumberType.FIXED_LINE),
    ],
)
def test_number_types(raw: str, kind: NumberType) -> None:
    assert GB.analyse(raw).number_type is kind


@pytest.mark.parametrize(
    "raw",
    ["12345", "abc", "0123", "+44 1", "020 7123 45678901", "07911 12345", "04123 456789"],
)
def test_invalid_cli(raw: str) -> None:
    info = GB.analyse(raw)
    assert not info.valid
    assert info.problems
    assert not info.withheld


def test_hostile_input_is_contained() -> None:
    for raw in ("x" * 10_000_000, "0207\x00123 4567", "'; DROP TABLE calls;--", "\u202e0207"):
        info = GB.analyse(raw)
        assert not info.valid
        assert info.problems == (NumberProblem.NOT_A_NUMBER,) or NumberProblem.INVALID in (
            info.problems
        )


def test_other_home_region() -> None:
    fr = NumberAnalyser("FR")
    assert fr.analyse("01 42 68 53 00").e164 == "+33142685300"
    assert fr.normalise_entry("01 42 68 53 00") == ("+33142685300", False)
    assert fr.country_code == 33


def test_prefix_entries() -> None:
    assert GB.normalise_entry("0161 496*") == ("+44161496", True)
    assert GB.normalise_entry("+44 (0)161 496 *") == ("+44161496", True)
    assert GB.normalise_entry("0044161*") == ("+44161", True)
    with pytest.raises(InvalidEntry):
        GB.normalise_entry("161*")


@pytest.mark.parametrize(
    "bad", ["", "   ", "hello", "+", "0", "0" * 70, "020\x007123", "+0123456789", "*"]
)
def test_bad_entries_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(InvalidEntry) as excinfo:
        GB.normalise_entry(bad)
    assert str(excinfo.value)


def test_candidate_prefixes_cover_the_number() -> None:
    prefixes = candidate_prefixes("+442071234567")
    assert prefixes[0] == "+44"
    assert prefixes[-1] == "+442071234567"
    assert "+44207" in prefixes


# -- properties -----------------------------------------------------------------

uk_subscriber = st.from_regex(r"\A(20[3-8][0-9]{7}|1[1-9]1[0-9]{7}|7[4-9][0-9]{8})\Z")


def _spaced(digits: str, cuts: list[int], sep: str) -> str:
    out, last = [], 0
    for cut in sorted(set(c % (len(digits) + 1) for c in cuts)):
        out.append(digits[last:cut])
        last = cut
    out.append(digits[last:])
    return sep.join(part for part in out if part)


@given(
    national=uk_subscriber,
    style=st.sampled_from(["+44", "0", "0044", "+44 (0)", "tel:+44", "sip:0"]),
    sep=st.sampled_from([" ", "-", ".", ""]),
    cuts=st.lists(st.integers(0, 12), max_size=3),
)
def test_any_format_of_a_uk_number_gives_one_e164(
    national: str, style: str, sep: str, cuts: list[int]
) -> None:
    body = _spaced(national, cuts, sep)
    raw = f"{style}{body}"
    if style.startswith("sip:"):
        raw += "@pbx.example"
    caller = GB.analyse(raw)
    assert caller.e164 == "+44" + national
    if not style.startswith(("tel:", "sip:")):
        assert GB.normalise_entry(raw)[0] == "+44" + national


@given(st.text(max_size=200))
def test_analyse_never_raises(raw: str) -> None:
    info = GB.analyse(raw)
    assert info.e164 is None or info.e164.startswith("+")
    assert not (info.valid and info.withheld and info.e164 is None)


@given(st.text(max_size=80))
def test_normalise_entry_raises_only_invalid_entry(raw: str) -> None:
    try:
        value, is_prefix = GB.normalise_entry(raw)
    except InvalidEntry:
        return
    assert value.startswith("+") and value[1:].isdigit()
    assert 2 <= len(value) - 1 <= 15
    assert isinstance(is_prefix, bool)


@pytest.mark.parametrize(
    "raw",
    ["+44203000000\u0660", "\uff10\uff12\uff10\uff17\uff11\uff12\uff13\uff14\uff15\uff16\uff17"],
)
def test_non_ascii_digits_are_stored_as_ascii(raw: str) -> None:
    value, _ = GB.normalise_entry(raw)
    assert value.isascii()
    assert GB.analyse(raw).e164 == value


# -- list entries: the whole value must be the number ---------------------------

ACCEPTED_ENTRY_FORMS = [
    *SAME_NUMBER_FORMS,
    "(+44) 20 7123 4567",
    "+44 (0) 20 7123 4567",
    "0044 (0)20 7123 4567",
    "00 44 20 7123 4567",
    "[020] 7123 4567",
    "020/7123/4567",
    "020\u20137123\u20134567",
    "020\u00a07123 4567",
    "\uff0b\uff14\uff14\uff12\uff10\uff17\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
    "\u0660\u0662\u0660\u0667\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
    "TEL:+442071234567",
    "tel:+44-20-7123-4567;phone-context=+44",
    "<sip:+442071234567@carrier.example>",
    "sips:+442071234567@carrier.example",
    "sip:+442071234567;npdi@carrier.example;user=phone",
    "sip:+442071234567@192.0.2.1:5060;transport=udp",
    "sip:+442071234567@[2001:db8::1]",
    "- 020 7123 4567",
]


@pytest.mark.parametrize("form", ACCEPTED_ENTRY_FORMS)
def test_every_written_form_is_still_a_list_entry(form: str) -> None:
    assert GB.normalise_entry(form) == ("+442071234567", False)


@pytest.mark.parametrize(
    ("form", "prefix"),
    [
        ("0161 496*", "+44161496"),
        ("+44 (0)161 496 *", "+44161496"),
        ("0161-496*", "+44161496"),
        ("0161\u2013496*", "+44161496"),
        ("tel:+44161496*", "+44161496"),
    ],
)
def test_prefix_forms_are_still_accepted(form: str, prefix: str) -> None:
    assert GB.normalise_entry(form) == (prefix, True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0207 946 0018; DROP TABLE",
            "not a phone number: unexpected text after the number ('; DROP TABLE')",
        ),
        ("020 7946 0018 ext 5", "extensions are not part of a caller ID ('ext 5')"),
        ("+44 20 7946 0018 x12", "extensions are not part of a caller ID ('x12')"),
        ("020 7946 0018 Ext. 5", "extensions are not part of a caller ID ('Ext. 5')"),
        ("020 7946 0018 #5", "extensions are not part of a caller ID ('#5')"),
        ("020 7946 0018,5", "extensions are not part of a caller ID (',5')"),
        ("tel:+442079460018;ext=5", "extensions are not part of a caller ID ('ext=5')"),
        ("0800 FLOWERS", "unexpected text after the number ('FLOWERS')"),
        ("020 7946 0018abc", "unexpected text after the number ('abc')"),
        ("020 7946 0018 (home)", "unexpected text after the number ('home)')"),
        ("020 7946 0018 or 020", "unexpected text after the number ('or 020')"),
        ("020 7946 0018 p123", "unexpected text after the number ('p123')"),
        ("+44+20 7946 0018", "unexpected text after the number ('+20 7946 0018')"),
        ("tel:020 7946 0018 junk", "unexpected text after the number ('junk')"),
        ("0161 496; junk*", "unexpected text after the number ('; junk')"),
        ("0161 496 x*", "unexpected text after the number ('x')"),
        ("abc 020 7946 0018", "unexpected text before the number ('abc')"),
        ("=020 7946 0018", "unexpected text before the number ('=')"),
        ("*67 020 7946 0018", "unexpected text before the number ('*')"),
        ("\u202e02079460018", "unexpected text before the number ('\\u202e')"),
        ("020 7946 0018 <x>", "not a phone number"),
        ('"ACME" <sip:+442079460018@carrier.example> extra', "not a phone number"),
        ("02079460018@carrier.example", "unexpected text after the number ('@carrier.example')"),
        ("sip:+442079460018@carrier example", "unexpected text after the number"),
        ("tel:+442079460018;", "unexpected text after the number"),
        ("tel:+442079460018; DROP TABLE", "unexpected text after the number"),
        ("sip:+442079460018@carrier.example;user=phone junk", "unexpected text after the number"),
        ("sip:+442079460018@carrier.example:5060;transport=udp x", "unexpected text"),
    ],
)
def test_entries_with_anything_but_the_number_are_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidEntry) as excinfo:
        GB.normalise_entry(value)
    assert message in str(excinfo.value)


_JUNK_FREE = set(" \t\u00a0\u00ad\u200b\u2060\u3000-\u2010\u2011\u2012\u2013\u2014\u2015")
_JUNK_FREE |= set("\u2212\u30fc\uff0d\uff0e\uff0f./~\u2053\u223c\uff5e()[]\uff08\uff09\uff3b\uff3d")


def _has_junk(text: str) -> bool:
    """Text with a character that can be no part of a written number."""
    return any(not ch.isdigit() and ch not in _JUNK_FREE and not ch.isspace() for ch in text)


written_uk_number = st.builds(
    lambda style, national, sep, cuts: f"{style}{_spaced(national, cuts, sep)}",
    st.sampled_from(["+44", "0", "0044", "+44 (0)"]),
    uk_subscriber,
    st.sampled_from([" ", "-", ".", ""]),
    st.lists(st.integers(0, 12), max_size=3),
)


@given(number=written_uk_number, junk=st.text(min_size=1, max_size=12).filter(_has_junk))
def test_any_number_followed_by_junk_is_refused_and_the_number_alone_accepted(
    number: str, junk: str
) -> None:
    value, is_prefix = GB.normalise_entry(number)
    assert not is_prefix and value.startswith("+44")
    if not _has_junk(junk.strip().removesuffix("*")):
        return  # digits and a trailing * make a longer prefix range
    for spaced in ("", " "):
        with pytest.raises(InvalidEntry):
            GB.normalise_entry(number + spaced + junk)


@given(number=written_uk_number, junk=st.text(min_size=1, max_size=12).filter(_has_junk))
def test_any_number_after_junk_is_refused(number: str, junk: str) -> None:
    if re.fullmatch(r"\s*(?:tel|sips?):\s*", junk, re.IGNORECASE):
        return  # a URI scheme is not junk
    with pytest.raises(InvalidEntry):
        GB.normalise_entry(junk + number)
