"""Caller numbers the live-call benchmarks place calls from."""

from __future__ import annotations

import random

import phonenumbers


def allowed_number(rng: random.Random, avoid: frozenset[str] = frozenset()) -> str:
    """A normal UK mobile number, not in ``avoid``.

    Only allocated numbers: an unallocated one (``+447911535642``) is an invalid caller ID,
    which the default policy challenges, and a challenged call in an allow benchmark waits
    for digits that never come.
    """
    while True:
        number = f"+4479{rng.randrange(10**8):08d}"
        if number not in avoid and phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number
