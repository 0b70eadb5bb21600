"""The claim matcher: what counts as a claim of authority, what must not, and hostile text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.domain.vocabulary import Action, ReasonCode
from screener.settings import SpeechSettings
from screener.speech.claims import (
    BUILTIN_LOOKALIKES,
    BUILTIN_TERMS,
    MAX_CLAIMS,
    MAX_TEXT_CHARS,
    ClaimCategory,
    ClaimMatcher,
    check_term,
    claim_advice,
    claims_reason,
    describe_claims,
    find_claims,
)

P, H, B, T, C, K, G = (
    ClaimCategory.POLICE,
    ClaimCategory.HMRC,
    ClaimCategory.BANK,
    ClaimCategory.TECH_SUPPORT,
    ClaimCategory.COURT,
    ClaimCategory.COURIER,
    ClaimCategory.GIFT_CARD_CRYPTO,
)


def categories(text: str) -> set[ClaimCategory]:
    return {claim.category for claim in find_claims(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is Detective Mark Dixon from the Metropolitan Police.", {P}),
        ("it's the met police", {P}),
        ("PC Jones here, this is officer Daniel Price", {P}),
        ("I'm calling from Scotland Yard", {P}),
        ("your crime reference number is four", {P}),
        ("This is H M R C calling", {H}),
        ("This is H.M.R.C. calling", {H}),
        ("HM RC here", {H}),
        ("HMRC's records show", {H}),
        ("from HM Revenue and Customs", {H}),
        ("you are owed a tax refund", {H}),
        ("your national insurance number is suspended", {H}),
        ("the fraud team at Barclays", {B}),
        ("calling from your bank about a safe account", {B}),
        ("this is Nat West", {B}),
        ("H S B C security", {B}),
        ("calling from Microsoft about your computer", {T}),
        ("Micro soft technical support", {T}),
        ("this is B T, your broadband", {T}),
        ("an engineer from Open Reach", {T}),
        ("your Amazon Prime membership", {T}),
        ("install AnyDesk so we can have remote access", {T}),
        ("there is a warrant for your arrest", {C}),
        ("the bailiffs are coming", {C}),
        ("a county court judgment", {C}),
        ("Royal Mail: a customs fee is due", {K}),
        ("the D P D courier", {K}),
        ("pay with Google Play cards", {G}),
        ("pay in bit coin", {G}),
        ("buy iTunes cards", {G}),
        ("HMRC here, you will be arrested", {H, C}),
    ],
)
def test_claims_are_found(text: str, expected: set[ClaimCategory]) -> None:
    assert categories(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "hello it's Sarah from Acme Plumbing about your boiler service",
        "Metro Cabs, your taxi is outside",
        "taxis and taxing times",
        "Tom from Riverbank Dental",
        "Priya from Bankside Accountants",
        "we're banking on you",
        "we are closed on the bank holiday",
        "Helen from the food bank",
        "I sent it as a Microsoft Word document",
        "open it in Microsoft Excel",
        "the window cleaner will clean your windows",
        "Acme Windows and Doors",
        "a private detective agency",
        "this is PC World about your order",
        "he had a cardiac arrest",
        "meet me at the food court",
        "the office on Tottenham Court Road",
        "your policy renewal",
        "we met at the conference",
        "the Met Office says rain",
        "a metropolitan housing association",
        "I ordered it from Amazon",
        "the warranty has expired",
        "she works in the station café",
        "this was a stationery order",
        "an officer of the company will sign",
        "pay by bank transfer",
        "ups and downs",
        "",
    ],
)
def test_lookalikes_and_ordinary_callers_are_not_claims(text: str) -> None:
    assert find_claims(text) == ()


def test_claim_offsets_point_into_the_text() -> None:
    text = "Hello, this is Detective Mark Dixon from the Metropolitan Police."
    claims = find_claims(text)
    assert [(c.phrase, c.term) for c in claims] == [
        ("Detective", "detective"),
        ("Metropolitan Police", "metropolitan police"),
    ]
    for claim in claims:
        assert text[claim.start : claim.end] == claim.phrase


def test_longest_match_wins_and_spelled_letters_join() -> None:
    (claim,) = find_claims("an Amazon gift card")
    assert (claim.category, claim.term) == (G, "amazon gift card")
    (claim,) = find_claims("this is H. M. R. C.")
    assert (claim.category, claim.phrase) == (H, "H. M. R. C")


def test_extra_terms_and_lookalikes() -> None:
    assert find_claims("Kent Fraud Unit here") == ()
    (claim,) = find_claims("Kent Fraud Unit here", {"police": ["Kent Fraud Unit"]})
    assert (claim.category, claim.phrase) == (P, "Kent Fraud Unit")
    assert find_claims("the court jester", {"court": ["court jester"]})[0].category == C
    assert find_claims("Detective Pikachu", extra_lookalikes=["detective pikachu"]) == ()
    assert categories("Detective Pikachu") == {P}


def test_settings_validate_extra_terms() -> None:
    settings = SpeechSettings(extra_claim_terms={"bank": ["Acme Savings"]})
    assert settings.extra_claim_terms == {B: ["Acme Savings"]}
    with pytest.raises(ValueError, match="no letters"):
        SpeechSettings(extra_claim_terms={"bank": ["!!!"]})
    with pytest.raises(ValueError, match="extra_claim_terms"):
        SpeechSettings.model_validate({"extra_claim_terms": {"astrology": ["tarot"]}})
    with pytest.raises(ValueError, match="longer than"):
        check_term("word " * 40)
    with pytest.raises(ValueError, match="Extra inputs"):
        SpeechSettings.model_validate({"modle": "tiny.en"})


def test_builtin_lists_are_usable() -> None:
    """Every built-in term is found in its own category, every look-alike matches nothing."""
    for category, phrases in BUILTIN_TERMS.items():
        for phrase in phrases:
            found = find_claims(f"well {phrase} then")
            assert [c.category for c in found] == [category], phrase
    for phrase in BUILTIN_LOOKALIKES:
        assert find_claims(f"well {phrase} then") == (), phrase


# Advice ------------------------------------------------------------------------------------


def test_advice_police_withheld() -> None:
    claims = find_claims("this is detective Mark Dixon from the Metropolitan Police")
    advice = claim_advice(claims, withheld=True)
    assert "do not call from withheld numbers" in advice
    assert "call 101 from another line" in advice
    assert '"Metropolitan Police"' in advice
    assert "withheld" not in claim_advice(claims, withheld=False)
    assert "101" in claim_advice(claims, withheld=False)


def test_advice_bank_hmrc_and_others() -> None:
    assert "call 159" in claim_advice(find_claims("your bank's fraud team"), withheld=False)
    hmrc = claim_advice(find_claims("HMRC: you will be arrested"), withheld=False)
    assert "HMRC will not threaten arrest by phone" in hmrc
    assert "Courts and bailiffs" in hmrc
    gift = claim_advice(find_claims("pay in gift cards"), withheld=True)
    assert "gift cards or cryptocurrency" in gift
    assert "The number is withheld" in gift
    assert claim_advice((), withheld=True) == ""


def test_the_claims_reason_names_the_claim_and_advises_from_the_facts() -> None:
    claims = find_claims("this is detective Mark Dixon from the Metropolitan Police")
    withheld = claims_reason(claims, Action.ALLOW, withheld=True)
    assert withheld is not None
    assert withheld.code is ReasonCode.CLAIMS_AUTHORITY
    assert withheld.action is Action.ALLOW
    assert withheld.explanation == (
        'In their recording the caller mentions the police ("detective", "Metropolitan '
        'Police"): scammers often pretend to be such organisations.'
    )
    assert withheld.advice == (
        "Genuine police do not call from withheld numbers; call 101 from another line to check."
    )
    shown = claims_reason(claims, Action.BLOCK, withheld=False)
    assert shown is not None and shown.action is Action.BLOCK
    assert shown.advice is not None and "withheld" not in shown.advice
    bank = claims_reason(find_claims("this is your bank's fraud team"), Action.ALLOW, False)
    assert bank is not None and bank.advice is not None and "call 159" in bank.advice
    assert claims_reason((), Action.ALLOW, withheld=True) is None
    taxi = find_claims("Metro Cabs, your taxi is outside")
    assert claims_reason(taxi, Action.ALLOW, withheld=True) is None


def test_describe_claims_quotes_at_most_three_phrases_per_category() -> None:
    claims = find_claims("police police detective constable police officer met police")
    text = describe_claims(claims)
    assert text.startswith("the police (")
    assert text.count('"') == 6


# Hostile and arbitrary text ----------------------------------------------------------------

WORDS = st.sampled_from(
    ["hello", "its", "about", "your", "boiler", "service", "calling", "on", "behalf",
     "of", "thanks", "the", "a", "morning", "sarah", "acme", "plumbing", "tuesday"]
)  # fmt: skip
TERMS = st.sampled_from(
    [(category, phrase) for category, phrases in BUILTIN_TERMS.items() for phrase in phrases]
)
NOISE = st.sampled_from([" ", "  ", ", ", ". ", "! ", "\n", " - ", "? ", "\t", ' "'])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_any_text_is_safe(text: str) -> None:
    claims = find_claims(text)
    assert len(claims) <= MAX_CLAIMS
    for claim in claims:
        assert 0 <= claim.start < claim.end <= min(len(text), MAX_TEXT_CHARS)
        assert text[claim.start : claim.end] == claim.phrase
        assert isinstance(claim.category, ClaimCategory)
    assert claim_advice(claims, withheld=True) == "" or claims


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=8), TERMS, st.lists(WORDS, max_size=8), NOISE, st.booleans())
def test_a_term_among_ordinary_words_is_found(
    before: list[str],
    term: tuple[ClaimCategory, str],
    after: list[str],
    separator: str,
    upper: bool,
) -> None:
    category, phrase = term
    spoken = phrase.upper() if upper else phrase.title()
    text = separator.join([*before, spoken, *after])
    assert category in categories(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=30), NOISE)
def test_ordinary_words_never_claim(words: list[str], separator: str) -> None:
    assert find_claims(separator.join(words)) == ()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.ascii_letters + " .'", max_size=200))
def test_only_the_first_max_text_chars_are_read(tail: str) -> None:
    """Work is bounded by the clip: whatever follows MAX_TEXT_CHARS changes nothing."""
    head = ("h m r c " * 400)[: MAX_TEXT_CHARS - 10] + " police  "
    assert find_claims(head + tail) == find_claims(head)


def test_pathological_inputs() -> None:
    for text in (
        "h " * 1_000_000,
        "a'" * 1_000_000,
        "'" * 1_000_000,
        "police " * 100_000,
        "\u0301" * 100_000,
        "x" * 5_000_000,
        "\x00\ud800 \U0010ffff" * 10_000,
    ):
        claims = find_claims(text)
        assert len(claims) <= MAX_CLAIMS
    assert len(find_claims("police " * 100_000)) == MAX_CLAIMS


def test_matcher_does_not_build_patterns_from_terms() -> None:
    """Regular-expression metacharacters in an admin's term are plain text."""
    matcher = ClaimMatcher({P: ["a.*b (x+)+"]})
    assert matcher.find("a b x") != ()  # the letters a, b, x in order, as words
    assert matcher.find("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!") == ()
