"""Small agreements the templates share: 'a mule's' / 'overalls are', 'it's' / 'they're', and
filling the pronouns in a stock phrase for the word it follows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from slmforge.corpora.folksy.grammar import capitalize

T = TypeVar("T")
cap = capitalize


def pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[rng.randrange(len(options))]


def be(noun_phrase: str, plural: bool, contract: bool = True) -> str:
    """'a mule's' / 'the bus is' / 'overalls are'."""
    if plural:
        return f"{noun_phrase} are"
    if contract and not noun_phrase.endswith(("s", "x", "z", "sh", "ch")):
        return f"{noun_phrase}'s"
    return f"{noun_phrase} is"


def it_is(plural: bool) -> str:
    return "they're" if plural else "it's"


def that_is(plural: bool) -> str:
    return "that are" if plural else "that's"


def fill(phrase: str, plural: bool) -> str:
    """Agree a stock phrase's pronouns with the word it describes."""
    return phrase.format(its="their" if plural else "its", it_is=it_is(plural),
                         it="they" if plural else "it", it_obj="them" if plural else "it")
