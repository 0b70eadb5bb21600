"""Caller-number analysis: normalisation to E.164, withheld detection, CLI validity.

Pure functions; the home region is passed in. ``NumberAnalyser`` precomputes
the per-region tables once (built at start-up and passed down).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from screener.domain.model import NumberInfo
from screener.domain.vocabulary import NumberProblem, NumberType

MAX_NUMBER_INPUT = 64
"""Longer input is not a phone number, whatever it contains."""

WITHHELD_STRINGS = frozenset(
    {"", "anonymous", "unknown", "unavailable", "restricted", "private", "withheld"}
)

# Ofcom numbers reserved for drama and fiction, never allocated to a line
# (E.164 prefixes; each covers the range listed in docs/policy.md).
UK_DRAMA_PREFIXES = (
    "+442079460",
    "+441134960",
    "+441144960",
    "+441154960",
    "+441164960",
    "+441174960",
    "+441184960",
    "+441214960",
    "+441314960",
    "+441414960",
    "+441514960",
    "+441614960",
    "+441914980",
    "+442896496",
    "+442920180",
    "+441632960",
    "+447700900",
    "+448081570",
    "+449098790",
    "+443069990",
)

# Network-inserted numbers that can never be dialled back.
UK_NON_DIALABLE_PREFIXES = ("+448979",)

_TYPE_MAP = {
    PhoneNumberType.FIXED_LINE: NumberType.FIXED_LINE,
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberType.FIXED_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: NumberType.SHARED_COST,
    PhoneNumberType.VOIP: NumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: NumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: NumberType.PAGER,
    PhoneNumberType.UAN: NumberType.UAN,
    PhoneNumberType.VOICEMAIL: NumberType.VOICEMAIL,
}

_URI_SCHEME = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)
_VISUAL_SEPARATORS = str.maketrans("", "", " \t-.()/[]")
_DIGITS = re.compile(r"\d+")

ENTRY_SEPARATORS = (
    " \t\u00a0\u00ad\u200b\u2060\u3000"  # spaces, soft hyphen, zero-width space, joiner
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"  # hyphens, dashes, minus
    "./\uff0e\uff0f~\u2053\u223c\uff5e"  # dots, slashes, tildes
    "()[]\uff08\uff09\uff3b\uff3d"  # brackets: "(020) 7123 4567", "+44 (0)20 ..."
)
"""Characters a written number may have between its digits: the punctuation phonenumbers
accepts in a number, except the letters it reads as an extension. Nothing else may be in
a list entry's number."""

_SEP = "[" + re.escape(ENTRY_SEPARATORS) + "]"
_NUMBER_TEXT = re.compile(rf"{_SEP}*(?:[+\uff0b]{_SEP}*)?[0-9](?:{_SEP}*[0-9])*{_SEP}*")
_EXTENSION = re.compile(
    r"(?:[,;]\s*|(?:ext(?:ension|n)?|x|\#)\s*[.:=]?\s*|ext=)[0-9]+\s*\#?", re.IGNORECASE
)
_DISPLAY_NAME_URI = re.compile(r'(?:"[^"<>]*"\s*|[^"<>]*)<([^<>]*)>')
_URI_PARAMETERS = r"(?:;[A-Za-z0-9\-_.!~*'%+]+(?:=[^;\s\"<>@]*)?)*"
_URI_REST = re.compile(
    rf"{_URI_PARAMETERS}(?:@(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?{_URI_PARAMETERS})?"
)
"""What may follow the number in a URI: ``;name=value`` parameters, ``@host[:port]`` (SIP)
and the host's parameters."""
_COMPACT = str.maketrans({**{ch: None for ch in ENTRY_SEPARATORS}, "\uff0b": "+"})
SHOWN_JUNK = 24
"""Unexpected text is quoted in the reason cut to this many characters."""


class InvalidEntry(ValueError):
    """A list entry value that cannot be turned into a number or prefix."""


def ascii_digits(text: str) -> str:
    """Arabic-Indic, full-width and other Unicode digits as ASCII digits."""
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)


def is_withheld_presentation(presentation: str | None) -> bool:
    """Asterisk ``CALLERID(pres)`` values that mean the caller hid the number."""
    if not presentation:
        return False
    value = presentation.strip().lower()
    return value.startswith("prohib") or value.startswith("unavailable")


def strip_uri(raw: str) -> str:
    """The user part of ``tel:``/``sip:`` forms and of ``"Name" <sip:...>`` strings."""
    text = raw.strip()
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.rindex(">")]
    text = _URI_SCHEME.sub("", text.strip())
    text = text.split("@", 1)[0]
    return text.split(";", 1)[0].strip()


def _shown(text: str) -> str:
    """Entry text quoted for a reason: cut short, control characters escaped (``repr``)."""
    text = text.strip()
    return repr(text[:SHOWN_JUNK] + "\u2026" if len(text) > SHOWN_JUNK else text)


def entry_number_text(text: str) -> str:
    """The number written in a list entry (without a ``tel:``/``sip:`` URI around it).

    The whole entry must be the number: digits, an optional leading ``+``, and the
    separators of :data:`ENTRY_SEPARATORS`, in a ``tel:``, ``sip:`` or ``"Name" <sip:...>``
    URI or not. Anything else raises :class:`InvalidEntry` saying what was found
    (phonenumbers itself stops reading at the first character that does not belong to a
    number and ignores the rest, so ``0207 946 0018; DROP TABLE`` would be a number).
    """
    body = text.strip()
    if "<" in body or ">" in body:
        quoted = _DISPLAY_NAME_URI.fullmatch(body)
        if quoted is None:
            raise InvalidEntry(
                "not a phone number: '<' and '>' may only enclose a URI, as in "
                '"Name" <sip:+442071234567@example.com>'
            )
        body = quoted.group(1).strip()
    scheme = _URI_SCHEME.match(body)
    if scheme is not None:
        user, at, host = body[scheme.end() :].partition("@")
        user, semicolon, parameters = user.partition(";")
        rest = f"{semicolon}{parameters}{at}{host}"
        if _URI_REST.fullmatch(rest) is None:
            raise InvalidEntry(
                f"not a phone number: unexpected text after the number ({_shown(rest)})"
            )
        for parameter in f"{parameters};{host}".lower().split(";"):
            if parameter.strip().startswith(("ext=", "extension=")):
                raise InvalidEntry(
                    f"extensions are not part of a caller ID ({_shown(parameter)}): "
                    "give the number alone"
                )
        body = user
    found = _NUMBER_TEXT.search(body)
    if found is None:
        raise InvalidEntry("not a phone number (no digits)")
    before, after = body[: found.start()], body[found.end() :]
    if before:
        raise InvalidEntry(
            f"not a phone number: unexpected text before the number ({_shown(before)})"
        )
    if after:
        if _EXTENSION.fullmatch(after.strip()):
            raise InvalidEntry(
                f"extensions are not part of a caller ID ({_shown(after)}): give the number alone"
            )
        raise InvalidEntry(
            f"not a phone number: unexpected text after the number ({_shown(after)})"
        )
    return body


@dataclass(frozen=True)
class NumberAnalyser:
    """Number rules for one home region (e.g. ``GB``)."""

    region: str = "GB"

    @cached_property
    def country_code(self) -> int:
        return int(phonenumbers.country_code_for_region(self.region))

    @cached_property
    def _national_prefix(self) -> str:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(self.region)
        return (metadata.national_prefix if metadata else None) or ""

    @cached_property
    def _idd_prefix(self) -> str:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(self.region)
        prefix = (metadata.international_prefix if metadata else None) or "00"
        return prefix if prefix.isdigit() else "00"

    @cached_property
    def _home_plus(self) -> str:
        return f"+{self.country_code}"

    def dialable(self, e164: str) -> str:
        """The digits to dial ``e164`` from the office: the national prefix and number at
        home (``+441134960000`` -> ``01134960000``), the international prefix and number
        for other countries (``+33140000000`` -> ``0033140000000``); digits only."""
        digits = e164.removeprefix("+")
        if not (digits.isascii() and digits.isdigit()):
            return ""
        if e164.startswith(self._home_plus):
            return self._national_prefix + e164[len(self._home_plus) :]
        return self._idd_prefix + digits

    # -- caller ID -------------------------------------------------------

    def analyse(self, raw: str, presentation: str | None = None) -> NumberInfo:
        """Classify a presented caller number (attacker-controlled)."""
        raw = raw if isinstance(raw, str) else ""
        cleaned = strip_uri(raw) if len(raw) <= MAX_NUMBER_INPUT * 4 else raw
        withheld = cleaned.lower() in WITHHELD_STRINGS or is_withheld_presentation(presentation)
        if len(cleaned) > MAX_NUMBER_INPUT or "\x00" in cleaned:
            return self._unusable(raw, withheld, NumberProblem.NOT_A_NUMBER)
        if cleaned.lower() in WITHHELD_STRINGS:
            return NumberInfo(raw, None, True, False, NumberType.WITHHELD, None, None)
        try:
            parsed = phonenumbers.parse(cleaned, self.region)
        except NumberParseException:
            return self._unusable(raw, withheld, NumberProblem.NOT_A_NUMBER)
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        valid = phonenumbers.is_valid_number(parsed)
        problems: list[NumberProblem] = []
        if self._has_malformed_prefix(cleaned):
            problems.append(NumberProblem.MALFORMED_PREFIX)
        if not valid:
            problems.append(NumberProblem.INVALID)
        if parsed.country_code == 44:
            if e164.startswith(UK_DRAMA_PREFIXES):
                problems.append(NumberProblem.DRAMA_RANGE)
            if e164.startswith(UK_NON_DIALABLE_PREFIXES):
                problems.append(NumberProblem.NON_DIALABLE)
        number_type = (
            _TYPE_MAP.get(phonenumbers.number_type(parsed), NumberType.UNKNOWN)
            if valid
            else NumberType.UNKNOWN
        )
        return NumberInfo(
            raw=raw,
            e164=e164,
            withheld=withheld,
            valid=valid and not problems,
            number_type=NumberType.WITHHELD
            if withheld and number_type is NumberType.UNKNOWN
            else number_type,
            country_code=parsed.country_code,
            national_number=str(parsed.national_number),
            problems=tuple(problems),
        )

    def _unusable(self, raw: str, withheld: bool, problem: NumberProblem) -> NumberInfo:
        if withheld:
            return NumberInfo(raw, None, True, False, NumberType.WITHHELD, None, None)
        return NumberInfo(raw, None, False, False, NumberType.UNKNOWN, None, None, (problem,))

    def _has_malformed_prefix(self, cleaned: str) -> bool:
        """``+440...``/``00440...``: a trunk prefix glued to the national prefix.

        ``+44 (0)20...`` is how people write numbers and is not flagged.
        """
        if not self._national_prefix or "(" in cleaned:
            return False
        compact = cleaned.translate(_VISUAL_SEPARATORS)
        code = str(self.country_code)
        bad = code + self._national_prefix
        return compact.startswith(("+" + bad, self._idd_prefix + bad))

    def normalise(self, raw: str) -> str | None:
        """E.164 for a caller number, or None when it is withheld or not a number."""
        return self.analyse(raw).e164

    # -- list entries -----------------------------------------------------

    def normalise_entry(self, value: str) -> tuple[str, bool]:
        """Turn a list entry as an admin typed it into ``(E.164 or prefix, is_prefix)``.

        Entries are checked for shape, not allocation: a block list may hold a
        spoofed or unallocated number. A trailing ``*`` makes a prefix range. The entry
        must be the number and nothing else (:func:`entry_number_text`): an extension,
        letters or any other text before or after it are refused, with the reason.
        """
        text = value.strip()
        if not text:
            raise InvalidEntry("empty value")
        if len(text) > MAX_NUMBER_INPUT or "\x00" in text:
            raise InvalidEntry("too long to be a phone number")
        if not text.isascii():
            text = ascii_digits(text)
        is_prefix = text.endswith("*")
        if is_prefix:
            text = text[:-1].rstrip()
        fast = self._fast_entry(text)
        if fast is not None:
            return self._checked(fast, is_prefix), is_prefix
        cleaned = entry_number_text(text)
        if is_prefix:
            return self._checked(self._prefix_from_digits(cleaned), True), True
        try:
            parsed = phonenumbers.parse(cleaned, self.region)
        except NumberParseException as exc:
            raise InvalidEntry(f"not a phone number ({exc.args[0] if exc.args else exc})") from exc
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return self._checked(e164, False), False

    def _fast_entry(self, text: str) -> str | None:
        """E.164 for the common shapes without phonenumbers (bulk imports).

        ASCII only: ``str.isdigit`` also accepts Arabic-Indic and full-width
        digits, which phonenumbers converts properly on the slow path.
        """
        if not text.isascii():
            return None
        if text.isdigit():
            digits = text
            plus = False
        elif text.startswith("+") and text[1:].isdigit():
            digits = text[1:]
            plus = True
        else:
            return None
        if plus:
            return "+" + digits
        if self._idd_prefix and digits.startswith(self._idd_prefix):
            return "+" + digits[len(self._idd_prefix) :]
        if self._national_prefix and digits.startswith(self._national_prefix):
            return self._home_plus + digits[len(self._national_prefix) :]
        return None

    def _prefix_from_digits(self, text: str) -> str:
        compact = re.sub(r"[(\uff08]\s*0\s*[)\uff09]", "", text).translate(_COMPACT)
        fast = self._fast_entry(compact)
        if fast is None:
            raise InvalidEntry("a prefix must start with +, 00 or the national prefix 0")
        return fast

    @staticmethod
    def _checked(e164: str, is_prefix: bool) -> str:
        digits = e164[1:]
        if not (digits.isascii() and digits.isdigit()) or digits.startswith("0"):
            raise InvalidEntry("not a phone number")
        low = 2 if is_prefix else 7
        if not low <= len(digits) <= 15:
            raise InvalidEntry(
                "too short for a number prefix"
                if is_prefix and len(digits) < low
                else f"a phone number has 7 to 15 digits, this has {len(digits)}"
            )
        return e164


def candidate_prefixes(e164: str) -> list[str]:
    """Every value a list entry could hold to match ``e164``: the number and its prefixes."""
    return [e164[:end] for end in range(3, len(e164) + 1)]
