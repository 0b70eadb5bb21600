"""Claims of authority in a caller's transcript: the police, HMRC, a bank, technical support...

Pure and safe on any input: the caller's words are attacker-controlled, so the text is
clipped to :data:`MAX_TEXT_CHARS`, split into words by one linear regular expression, and
matched word by word against a table (no regular expression is built from a term).

How a term matches
    Text and terms are normalised the same way: lower case, accents and punctuation
    dropped, ``HMRC's`` -> ``hmrc``. A term matches a run of whole words whose letters,
    joined, spell the term's letters joined: ``H M R C``, ``H.M.R.C.``, ``HM RC`` and
    ``HMRC`` all match ``hmrc``; ``Open Reach`` matches ``openreach``. A match never starts
    or ends inside a word, so ``taxi`` is not ``tax`` and ``Riverbank`` is not ``bank``.

Look-alikes
    Phrases that contain a term but are not a claim (``bank holiday``, ``Microsoft Word``,
    ``cardiac arrest``). A match that overlaps a look-alike is dropped: a warning must be
    trustworthy, so precision wins over recall.

Overlapping matches: the leftmost wins, then the longest (``Metropolitan Police`` rather
than ``police``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from screener.domain.model import Claim, Reason
from screener.domain.rules import RULES
from screener.domain.vocabulary import Action, ClaimCategory, ReasonCode

__all__ = [
    "BUILTIN_LOOKALIKES",
    "BUILTIN_TERMS",
    "Claim",
    "ClaimCategory",
    "ClaimMatcher",
    "check_term",
    "claim_advice",
    "claim_guidance",
    "claims_reason",
    "describe_claims",
    "find_claims",
    "term_key",
]

MAX_TEXT_CHARS = 2000
"""Only this much of a transcript is read (a recorded name and reason is a few seconds)."""
MAX_CLAIMS = 32
"""At most this many claims are returned for one text."""
MAX_TERM_CHARS = 80
"""A term (or look-alike), letters joined, is at most this long."""


def _intros(*titles: str) -> tuple[str, ...]:
    """``this is officer``, ``i am officer``...: a title used to introduce oneself."""
    lead = ("this is", "i am", "im", "its", "it is", "my name is")
    return tuple(f"{intro} {title}" for title in titles for intro in lead)


BUILTIN_TERMS: Mapping[ClaimCategory, tuple[str, ...]] = {
    ClaimCategory.POLICE: (
        "police",
        "police officer",
        "police station",
        "police constable",
        "police sergeant",
        "police inspector",
        "metropolitan police",
        "met police",
        "city of london police",
        "british transport police",
        "detective",
        "detective constable",
        "detective sergeant",
        "detective inspector",
        "detective chief inspector",
        "chief inspector",
        "constable",
        "scotland yard",
        "fraud squad",
        "action fraud",
        "national crime agency",
        "serious fraud office",
        "interpol",
        "cid",
        "crime reference number",
        "warrant card",
        *_intros("officer", "sergeant", "inspector", "pc"),
    ),
    ClaimCategory.HMRC: (
        "hmrc",
        "hrmc",
        "hmr c",
        "hm revenue",
        "hm revenue and customs",
        "her majestys revenue",
        "his majestys revenue",
        "revenue and customs",
        "inland revenue",
        "tax office",
        "tax department",
        "tax authority",
        "tax authorities",
        "tax inspector",
        "tax investigation",
        "tax rebate",
        "tax refund",
        "tax fraud",
        "tax evasion",
        "tax debt",
        "tax arrears",
        "unpaid tax",
        "unpaid taxes",
        "national insurance",
        "national insurance number",
        "ni number",
    ),
    ClaimCategory.BANK: (
        "from your bank",
        "from the bank",
        "your banks fraud",
        "bank fraud",
        "bank security",
        "fraud team",
        "fraud department",
        "fraud prevention",
        "fraud prevention team",
        "anti fraud team",
        "safe account",
        "suspicious transaction",
        "suspicious transactions",
        "unusual transaction",
        "unusual transactions",
        "fraudulent transaction",
        "fraudulent transactions",
        "unauthorised transaction",
        "unauthorised transactions",
        "unauthorized transaction",
        "unauthorized transactions",
        "card has been cloned",
        "online banking",
        "banking app",
        "building society",
        "barclays",
        "barclays bank",
        "barclay bank",
        "hsbc",
        "lloyds",
        "lloyds bank",
        "lloyd bank",
        "natwest",
        "santander",
        "halifax bank",
        "nationwide building society",
        "monzo",
        "starling bank",
        "revolut",
        "revolute",
        "tsb",
        "rbs",
        "royal bank of scotland",
        "bank of scotland",
        "bank of england",
        "metro bank",
        "first direct",
        "virgin money",
        "co op bank",
        "tesco bank",
        "mastercard",
    ),
    ClaimCategory.TECH_SUPPORT: (
        "microsoft",
        "microsoft support",
        "windows support",
        "windows technical support",
        "windows technician",
        "windows computer",
        "windows pc",
        "windows laptop",
        "windows licence",
        "windows license",
        "windows security",
        "windows defender",
        "windows firewall",
        "windows helpdesk",
        "amazon prime",
        "amazon security",
        "amazon support",
        "amazon account",
        "amazon customer service",
        "amazon fraud",
        "this is amazon",
        "calling from amazon",
        "apple support",
        "icloud",
        "applecare",
        "bt",
        "bt openreach",
        "british telecom",
        "british telecommunications",
        "openreach",
        "broadband",
        "your internet",
        "internet provider",
        "internet service provider",
        "technical support",
        "tech support",
        "technical department",
        "computer virus",
        "virus on your computer",
        "your computer is infected",
        "been hacked",
        "ip address",
        "remote access",
        "remote desktop",
        "anydesk",
        "teamviewer",
        "ultraviewer",
        "mcafee",
        "norton antivirus",
        "norton security",
        "antivirus",
        "virgin media",
        "talktalk",
        "plusnet",
    ),
    ClaimCategory.COURT: (
        "court order",
        "court case",
        "court summons",
        "court hearing",
        "court date",
        "court action",
        "court proceedings",
        "court fine",
        "county court",
        "crown court",
        "magistrates court",
        "magistrates",
        "high court",
        "taken to court",
        "take you to court",
        "summons",
        "bailiff",
        "bailiffs",
        "enforcement officer",
        "enforcement officers",
        "enforcement agent",
        "enforcement agents",
        "warrant",
        "arrest warrant",
        "warrant for your arrest",
        "arrest",
        "arrested",
        "under arrest",
        "legal action",
        "lawsuit",
        "prosecution",
        "prosecuted",
    ),
    ClaimCategory.COURIER: (
        "courier",
        "couriers",
        "royal mail",
        "parcelforce",
        "dpd",
        "dhl",
        "evri",
        "hermes",
        "fedex",
        "yodel",
        "ups delivery",
        "ups parcel",
        "ups courier",
        "customs fee",
        "customs fees",
        "customs charge",
        "customs charges",
        "customs duty",
        "import duty",
        "held at customs",
        "delivery fee",
        "redelivery",
        "redelivery fee",
        "missed delivery",
        "your parcel",
    ),
    ClaimCategory.GIFT_CARD_CRYPTO: (
        "gift card",
        "gift cards",
        "gift voucher",
        "gift vouchers",
        "itunes card",
        "itunes cards",
        "itunes voucher",
        "apple gift card",
        "amazon gift card",
        "amazon gift cards",
        "google play card",
        "google play cards",
        "google play voucher",
        "steam card",
        "steam cards",
        "paysafecard",
        "bitcoin",
        "bitcoins",
        "bitcoin machine",
        "bitcoin atm",
        "crypto",
        "cryptocurrency",
        "crypto currency",
        "crypto wallet",
        "ethereum",
        "binance",
        "coinbase",
    ),
}
"""What each category matches out of the box; ``speech.extra_claim_terms`` adds to it."""

BUILTIN_LOOKALIKES: tuple[str, ...] = (
    # police
    "private detective",
    "private detectives",
    "detective agency",
    "pc world",
    # banks
    "bank holiday",
    "bank holidays",
    "food bank",
    "blood bank",
    "river bank",
    "west bank",
    "piggy bank",
    "power bank",
    "bottle bank",
    "memory bank",
    "lloyds pharmacy",
    # technical support
    "microsoft word",
    "microsoft words",
    "microsoft work",
    "microsoft excel",
    "microsoft outlook",
    "microsoft powerpoint",
    "microsoft teams",
    "amazon rainforest",
    "amazon river",
    # courts
    "cardiac arrest",
    "food court",
    "tennis court",
    "squash court",
    "basketball court",
    "earls court",
    "hampton court",
    "court road",
    "warrant officer",
    # couriers
    "hermes bag",
    "hermes scarf",
)
"""Phrases that contain a term but are not a claim; ``speech.extra_lookalikes`` adds to it."""

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
"""A word: letters and digits, with inner apostrophes (``it's``, ``HMRC's``). Linear: every
repetition of the group must start with an apostrophe, so there is nothing to backtrack."""
_POSSESSIVE = re.compile(r"['\u2019]s$")


def _fold(word: str) -> str:
    """``HMRC's`` -> ``hmrc``, ``Café`` -> ``cafe``, ``don't`` -> ``dont``."""
    word = _POSSESSIVE.sub("", word.casefold())
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


@dataclass(frozen=True)
class _Word:
    key: str
    start: int
    end: int


def _words(text: str) -> list[_Word]:
    words = []
    for match in _WORD.finditer(text):
        key = _fold(match.group())
        if key:
            words.append(_Word(key, match.start(), match.end()))
    return words


def term_key(phrase: str) -> str:
    """The letters a term matches, joined (``"H.M. Revenue"`` -> ``"hmrevenue"``)."""
    return "".join(word.key for word in _words(phrase[: MAX_TERM_CHARS * 4]))


def check_term(phrase: str) -> str:
    """``phrase`` if it can be used as a term or look-alike; ``ValueError`` saying why not."""
    key = term_key(phrase)
    if not key:
        raise ValueError(f"{phrase[:40]!r} has no letters or digits")
    if len(key) > MAX_TERM_CHARS:
        raise ValueError(f"{phrase[:40]!r}... is longer than {MAX_TERM_CHARS} letters")
    return phrase


@dataclass(frozen=True)
class _Hit:
    first: int
    last: int
    category: ClaimCategory
    term: str


class ClaimMatcher:
    """A compiled term table. Build once (settings change rarely), then :meth:`find`."""

    def __init__(
        self,
        terms: Mapping[ClaimCategory, Iterable[str]],
        lookalikes: Iterable[str] = (),
    ) -> None:
        self._terms: dict[str, tuple[ClaimCategory, str]] = {}
        self._lookalikes: set[str] = set()
        for category, phrases in terms.items():
            for phrase in phrases:
                key = term_key(check_term(phrase))
                self._terms.setdefault(key, (ClaimCategory(category), phrase))
        for phrase in lookalikes:
            self._lookalikes.add(term_key(check_term(phrase)))
        keys = [*self._terms, *self._lookalikes]
        self._prefixes = frozenset(key[:n] for key in keys for n in range(1, len(key) + 1))

    def find(self, text: str) -> tuple[Claim, ...]:
        text = text[:MAX_TEXT_CHARS]
        words = _words(text)
        hits: list[_Hit] = []
        blocked: list[tuple[int, int]] = []
        for first in range(len(words)):
            joined = ""
            for last in range(first, len(words)):
                joined += words[last].key
                if len(joined) > MAX_TERM_CHARS or joined not in self._prefixes:
                    break
                if joined in self._terms:
                    category, term = self._terms[joined]
                    hits.append(_Hit(first, last, category, term))
                if joined in self._lookalikes:
                    blocked.append((first, last))
        claims: list[Claim] = []
        taken_until = -1
        for hit in sorted(hits, key=lambda h: (h.first, h.first - h.last)):
            if hit.first <= taken_until:
                continue
            if any(first <= hit.last and hit.first <= last for first, last in blocked):
                continue
            start, end = words[hit.first].start, words[hit.last].end
            claims.append(Claim(hit.category, text[start:end], start, end, hit.term))
            taken_until = hit.last
            if len(claims) == MAX_CLAIMS:
                break
        return tuple(claims)


_FrozenTerms = tuple[tuple[str, tuple[str, ...]], ...]
ExtraTerms = Mapping[ClaimCategory, Sequence[str]] | Mapping[str, Sequence[str]]
"""Category (``ClaimCategory`` or its value) -> more phrases."""


def _freeze(extra_terms: ExtraTerms | None) -> _FrozenTerms:
    if not extra_terms:
        return ()
    return tuple(sorted((str(k), tuple(v)) for k, v in extra_terms.items()))


@lru_cache(maxsize=8)
def _matcher(extra_terms: _FrozenTerms, extra_lookalikes: tuple[str, ...]) -> ClaimMatcher:
    terms: dict[ClaimCategory, list[str]] = {c: list(p) for c, p in BUILTIN_TERMS.items()}
    for category, phrases in extra_terms:
        terms[ClaimCategory(category)].extend(phrases)
    return ClaimMatcher(terms, (*BUILTIN_LOOKALIKES, *extra_lookalikes))


def find_claims(
    text: str,
    extra_terms: ExtraTerms | None = None,
    extra_lookalikes: Sequence[str] = (),
) -> tuple[Claim, ...]:
    """Every claim in ``text`` (the built-in terms plus ``extra_terms``), in text order.

    ``extra_terms`` maps a category (``"police"``...) to more phrases; ``extra_lookalikes``
    are more phrases that must not count. Raises ``ValueError`` for an unknown category or
    a phrase without letters (settings validation catches both first).
    """
    return _matcher(_freeze(extra_terms), tuple(extra_lookalikes)).find(text)


# Advice ------------------------------------------------------------------------------------

_WHAT: Mapping[ClaimCategory, str] = {
    ClaimCategory.POLICE: "the police",
    ClaimCategory.HMRC: "HMRC or the tax office",
    ClaimCategory.BANK: "a bank or its fraud team",
    ClaimCategory.TECH_SUPPORT: "technical support (Microsoft, Amazon, BT, broadband)",
    ClaimCategory.COURT: "a court, bailiffs or a warrant",
    ClaimCategory.COURIER: "a courier or customs fees",
    ClaimCategory.GIFT_CARD_CRYPTO: "gift cards or cryptocurrency",
}

_ADVICE: Mapping[ClaimCategory, str] = {
    ClaimCategory.POLICE: (
        "Genuine police never ask for money or bank details by phone; to check, hang up and "
        "call 101 from another line."
    ),
    ClaimCategory.HMRC: (
        "HMRC will not threaten arrest by phone or ask for payment by gift card, "
        "cryptocurrency or transfer to a new account; check on GOV.UK, not on a number the "
        "caller gives."
    ),
    ClaimCategory.BANK: (
        "Banks never ask you to move money to a 'safe account' or to read out a PIN or a "
        "one-time code; hang up and call 159 from another line to reach the bank."
    ),
    ClaimCategory.TECH_SUPPORT: (
        "Microsoft, Amazon, BT and Openreach do not phone out of the blue about viruses, "
        "faults or refunds; never let a caller install remote-access software."
    ),
    ClaimCategory.COURT: (
        "Courts and bailiffs write first and never take payment by phone to stop an arrest "
        "or a warrant; check with the court on a number you look up yourself."
    ),
    ClaimCategory.COURIER: (
        "Couriers and Royal Mail do not phone to take customs or redelivery fees; check the "
        "parcel on the courier's own website."
    ),
    ClaimCategory.GIFT_CARD_CRYPTO: (
        "No genuine organisation takes payment in gift cards or cryptocurrency; treat a "
        "request for them as a scam."
    ),
}

_POLICE_WITHHELD = (
    "Genuine police do not call from withheld numbers; call 101 from another line to check."
)
_WITHHELD = "The number is withheld, so the caller cannot be checked or called back."
_QUOTE_CHARS = 40


def _quote(phrase: str) -> str:
    return '"' + " ".join(phrase.split())[:_QUOTE_CHARS] + '"'


def _by_category(claims: Iterable[Claim]) -> dict[ClaimCategory, list[str]]:
    found: dict[ClaimCategory, list[str]] = {}
    for claim in claims:
        phrases = found.setdefault(claim.category, [])
        quoted = _quote(claim.phrase)
        if quoted not in phrases and len(phrases) < 3:
            phrases.append(quoted)
    return found


def describe_claims(claims: Iterable[Claim]) -> str:
    """``the police ("detective", "Metropolitan Police"); a bank or its fraud team (...)``."""
    return "; ".join(
        f"{_WHAT[category]} ({', '.join(phrases)})"
        for category, phrases in _by_category(claims).items()
    )


def claim_advice(claims: Iterable[Claim], withheld: bool) -> str:
    """Plain-English advice for reception about ``claims`` on a call ("" for no claims):
    what the caller mentions, then :func:`claim_guidance`.

    ``withheld``: the caller's number was withheld, which changes what to say about the
    police and is worth saying for every other claim.
    """
    claims = tuple(claims)
    if not claims:
        return ""
    return f"The caller mentions {describe_claims(claims)}. {claim_guidance(claims, withheld)}"


def claim_guidance(claims: Iterable[Claim], withheld: bool) -> str:
    """What reception should do about ``claims``, given the call's facts ("" for none)."""
    found = _by_category(claims)
    if not found:
        return ""
    lines: list[str] = []
    for category in found:
        if category is ClaimCategory.POLICE and withheld:
            lines.append(_POLICE_WITHHELD)
        else:
            lines.append(_ADVICE[category])
    if withheld and ClaimCategory.POLICE not in found:
        lines.append(_WITHHELD)
    return " ".join(lines)


def claims_reason(claims: Iterable[Claim], action: Action, withheld: bool) -> Reason | None:
    """The ``claims_authority`` reason for ``claims`` on a call (None for no claims): the
    catalogue's explanation naming what was said, and :func:`claim_guidance` as advice.

    ``action`` is the rule's action in force (``Policy.action_for``); ``withheld``: the
    caller's number was withheld.
    """
    claims = tuple(claims)
    if not claims:
        return None
    rule = RULES[ReasonCode.CLAIMS_AUTHORITY]
    return Reason(
        rule.code,
        action,
        rule.explain(claims=describe_claims(claims)),
        claim_guidance(claims, withheld),
    )
