"""The English the template engine needs: articles, plurals, verb agreement, and the slip checks.

The vocabulary is chosen so the spelling rule for a/an is also the spoken one (no "hour",
"unicorn" or "one-horse" words): the check the tests run and the rule the engine writes by are
then the same rule, and a slip means a bug, not an exception list out of date.
"""

from __future__ import annotations

import re

VOWELS = "aeiou"

# Plurals English does not form by rule; everything else gets -s/-es/-ies.
IRREGULAR_PLURALS = {
    "calf": "calves", "deer": "deer", "elf": "elves", "fish": "fish", "foot": "feet", "goose": "geese",
    "half": "halves", "hoof": "hooves", "knife": "knives", "leaf": "leaves", "loaf": "loaves",
    "louse": "lice", "man": "men", "mouse": "mice", "ox": "oxen", "sheep": "sheep", "shelf": "shelves",
    "tooth": "teeth", "wife": "wives", "wolf": "wolves", "woman": "women", "potato": "potatoes",
    "tomato": "tomatoes", "mosquito": "mosquitoes", "buffalo": "buffalo", "moose": "moose",
    "catfish": "catfish", "trout": "trout", "bass": "bass", "scarecrow": "scarecrows",
    "thief": "thieves", "scarf": "scarves", "sheaf": "sheaves", "domino": "dominoes",
}


def article(phrase: str) -> str:
    """'a' or 'an' for the phrase, by its first letter."""
    return "an" if phrase[:1].lower() in VOWELS else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def plural_of(noun: str) -> str:
    """Plural of a noun; in a compound only the last word changes ("fence post" -> "fence posts")."""
    head, _, last = noun.rpartition(" ")
    if last in IRREGULAR_PLURALS:
        plural = IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "sh", "ch", "x", "z")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in VOWELS:
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def third_person(verb_phrase: str) -> str:
    """'kick the stall' -> 'kicks the stall': the first word takes the -s."""
    verb, sep, rest = verb_phrase.partition(" ")
    irregular = {"go": "goes", "do": "does", "have": "has", "be": "is"}
    if verb in irregular:
        verb = irregular[verb]
    elif verb.endswith(("s", "sh", "ch", "x", "z")):
        verb += "es"
    elif verb.endswith("y") and verb[-2:-1] not in VOWELS:
        verb = verb[:-1] + "ies"
    else:
        verb += "s"
    return verb + sep + rest


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def possessive(noun_phrase: str) -> str:
    return noun_phrase + ("'" if noun_phrase.endswith("s") and not noun_phrase.endswith("ss") else "'s")


_WORD = re.compile(r"[A-Za-z'-]+")
_A_BEFORE_VOWEL = re.compile(r"\b[Aa] ([aeiouAEIOU]\w*)")
_AN_BEFORE_CONSONANT = re.compile(r"\b[Aa]n ([b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z]\w*)")


def grammar_slips(text: str) -> list[str]:
    """The slips a simple reader catches: a/an, doubled words, unbalanced quotes or brackets, shape."""
    slips = [f"'a' before a vowel: 'a {m}'" for m in _A_BEFORE_VOWEL.findall(text)]
    slips += [f"'an' before a consonant: 'an {m}'" for m in _AN_BEFORE_CONSONANT.findall(text)]
    words = [w.lower() for w in _WORD.findall(text)]
    slips += [f"doubled word: '{a} {b}'" for a, b in zip(words, words[1:]) if a == b]
    if text.count('"') % 2:
        slips.append("unbalanced double quotes")
    if text.count("(") != text.count(")"):
        slips.append("unbalanced parentheses")
    if "{" in text or "}" in text or "  " in text:
        slips.append("template residue (braces or a double space)")
    if not text[:1].isupper():
        slips.append("does not start with a capital letter")
    if text.rstrip('"')[-1:] not in ".!?":
        slips.append("does not end with . ! or ?")
    return slips
