"""The seven template families and the engine that writes one saying from a family and a focus word."""

from __future__ import annotations

import random
from functools import cache

from slmforge.corpora.folksy.families_compare import FALSE_EQUIVALENCE, HYPOCRITICAL_COMPLAINT, TAUTOLOGICAL_WISDOM
from slmforge.corpora.folksy.families_relate import DECONSTRUCTION, DENIAL_OF_CONSEQUENCES, FUTILE_PREPARATION, IRONIC_DEFICIENCY
from slmforge.corpora.folksy.lexicon import Lexicon, Word, lexicon
from slmforge.corpora.folksy.pattern import Pattern, Saying

FAMILIES: dict[str, tuple[Pattern, ...]] = {
    "false_equivalence": FALSE_EQUIVALENCE,
    "futile_preparation": FUTILE_PREPARATION,
    "ironic_deficiency": IRONIC_DEFICIENCY,
    "deconstruction": DECONSTRUCTION,
    "hypocritical_complaint": HYPOCRITICAL_COMPLAINT,
    "denial_of_consequences": DENIAL_OF_CONSEQUENCES,
    "tautological_wisdom": TAUTOLOGICAL_WISDOM,
}

# Each family's share of the corpus when nothing is balanced: the plan's own distribution, three
# families under 10 % included (that is what --balance is for).
FAMILY_WEIGHTS: dict[str, float] = {
    "false_equivalence": 21.0,
    "futile_preparation": 19.2,
    "ironic_deficiency": 17.3,
    "deconstruction": 17.1,
    "hypocritical_complaint": 9.0,
    "denial_of_consequences": 8.3,
    "tautological_wisdom": 8.0,
}


@cache
def _pool(pattern: Pattern) -> tuple[Word, ...]:
    lex = lexicon()
    return tuple(w for w in lex.words if pattern.can_feature(lex, w))


def families_for(word: Word, lex: Lexicon | None = None) -> list[str]:
    """The families that can make a saying about this word."""
    lex = lex or lexicon()
    return [f for f, pats in FAMILIES.items() if any(p.can_feature(lex, word) for p in pats)]


def make_saying(rng: random.Random, family: str, focus: Word | None = None, lex: Lexicon | None = None, tries: int = 8) -> Saying | None:
    """One saying of `family`, about `focus` if given (None when the family cannot use that word)."""
    lex = lex or lexicon()
    if focus is not None:
        usable = [p for p in FAMILIES[family] if p.can_feature(lex, focus)]
    else:
        usable = [p for p in FAMILIES[family] if _pool(p)]
    for _ in range(tries if usable else 0):
        pattern = usable[rng.randrange(len(usable))]
        word = focus if focus is not None else _pool(pattern)[rng.randrange(len(_pool(pattern)))]
        saying = pattern.make(rng, lex, word)
        if saying is not None:
            return saying
    return None
