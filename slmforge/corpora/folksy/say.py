"""Answer a prompt straight from the template engine: the baseline a fine-tuned model must beat.

The engine reads the prompt the way the corpus writes prompts: a family named by name or by what
it does, a vocabulary word (preferring the one after "about"), or a category; anything it does
not know after "about" becomes the subject of a saying that fits any noun.
"""

from __future__ import annotations

import random
import re
import zlib
from functools import cache

from slmforge.corpora.folksy.families import FAMILIES, FAMILY_WEIGHTS, families_for, make_saying
from slmforge.corpora.folksy.lexicon import Category, Word, lexicon
from slmforge.corpora.folksy.prompts import FAMILY_NAMES
from slmforge.corpora.folksy.render import pick

FAMILY_HINTS: dict[str, tuple[str, ...]] = {
    "false_equivalence": ("equivalen", "is just", "just another", "disguise"),
    "futile_preparation": ("futile", "pointless", "prepar", "gettin' ready", "getting ready"),
    "ironic_deficiency": ("ironic", "cobbler", "lack the very", "go without"),
    "deconstruction": ("deconstruct", "take-it-apart", "take it apart", "main part"),
    "hypocritical_complaint": ("hypocrit", "pot-calling", "pot calling", "kettle black", "own fault"),
    "denial_of_consequences": ("denial", "consequence", "had comin", "act surprised"),
    "tautological_wisdom": ("tautolog", "thing-is-what", "what it is", "obvious"),
}
# Patterns that need nothing but a noun: what an unknown subject gets.
ANY_NOUN = ("call_it", "once_always", "till")
_ABOUT = re.compile(r"\b(?:about|on|regarding|with|mentions?)\s+(.+?)\s*(?:[?.!,:;]|$)", re.IGNORECASE)


@cache
def _forms() -> re.Pattern[str]:
    forms = sorted({f for w in lexicon().words for f in w.forms()}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(f) for f in forms) + r")\b", re.IGNORECASE)


def find_family(prompt: str) -> str | None:
    text = prompt.lower()
    for family, (names, descriptions) in FAMILY_NAMES.items():
        if any(n.lower() in text for n in names + descriptions) or any(h in text for h in FAMILY_HINTS[family]):
            return family
    return None


def _bare(text: str) -> str:
    return re.sub(r"^(?:the|a|an|some)\s+", "", text.strip().lower())


def find_category(prompt: str) -> Category | None:
    """The category the prompt's subject names ("critters in the woods"), or one named anywhere in it."""
    about = _ABOUT.findall(prompt)
    subject = _bare(about[-1]) if about else None
    categories = lexicon().categories.values()
    for category in categories:
        if subject is not None and subject in {_bare(n) for n in category.prompt_names}:
            return category
    text = prompt.lower()
    for category in categories:
        if any(re.search(rf"\b{re.escape(_bare(n))}\b", text) for n in category.prompt_names if len(n) > 6):
            return category
    return None


def find_topic(prompt: str) -> tuple[Word | None, str | None]:
    """(vocabulary word, unknown subject): the word after 'about' first, then any word in the prompt."""
    by_form = lexicon().by_form
    about = _ABOUT.findall(prompt)
    for text in ([about[-1]] if about else []) + [prompt]:
        match = _forms().search(text)
        if match:
            return by_form[match.group(1).lower()][0], None
    if about:
        subject = _bare(about[-1])
        if subject and find_family(subject) is None:
            return None, subject
    return None, None


def _unknown_word(subject: str) -> Word:
    plural = subject.endswith("s") and not subject.endswith("ss")
    return Word(subject.lower() if subject[:1].islower() or " " in subject else subject, "unknown", number="plural" if plural else "mass")


def say(prompt: str, seed: int | None = None) -> str:
    """A saying for the prompt. The same prompt gives the same saying unless a seed is given."""
    lex = lexicon()
    rng = random.Random(zlib.crc32(prompt.encode()) if seed is None else seed)
    family = find_family(prompt)
    about = _ABOUT.findall(prompt)
    category = find_category(prompt)
    if category is not None and about and _bare(about[-1]) in {_bare(n) for n in category.prompt_names}:
        word, unknown = None, None  # "about critters in the woods" names a category, not the woods
    else:
        word, unknown = find_topic(prompt)
    if unknown is not None:
        noun = _unknown_word(unknown)
        pattern = pick(rng, [p for p in FAMILIES["tautological_wisdom"] if p.name in ANY_NOUN])
        return pattern.make(rng, lex, noun).text  # type: ignore[union-attr]
    if word is None and category is not None:
        word = pick(rng, lex.by_category[category.name])
    if word is not None and (family is None or family not in families_for(word, lex)):
        usable = families_for(word, lex)
        family = rng.choices(usable, [FAMILY_WEIGHTS[f] for f in usable])[0]
    if family is None:
        family = rng.choices(list(FAMILY_WEIGHTS), list(FAMILY_WEIGHTS.values()))[0]
    for _ in range(20):
        saying = make_saying(rng, family, word, lex)
        if saying is not None:
            return saying.text
    return make_saying(rng, "tautological_wisdom", word, lex).text  # type: ignore[union-attr]  # any word has one
