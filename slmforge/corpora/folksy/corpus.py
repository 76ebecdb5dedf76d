"""Build the folksy corpus: unique sayings in the planned family shares, every word used, ~4 prompts each."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

from slmforge.core.errors import DataError
from slmforge.corpora.folksy import prompts
from slmforge.corpora.folksy.families import FAMILY_WEIGHTS, families_for, make_saying
from slmforge.corpora.folksy.lexicon import Lexicon, Word, lexicon
from slmforge.corpora.folksy.pattern import Saying

DEFAULT_SAYINGS = 9000
# The engine's rarest family (ironic deficiency) runs out of new sayings past ~20,000 in all;
# stopping at 15,000 keeps generation quick and the sayings from scraping the barrel.
MAX_SAYINGS = 15_000
GIVE_UP_AFTER = 2_000  # misses in a row (duplicates, no fitting partner) before a family counts as used up
DEFAULT_ENTITIES = 250  # what --entities means when asked for without a number (the plan's ~200-300)
BALANCE_FLOOR = 0.10
# After word, category and persona prompts, each saying gets one more: by family name (76 %) or
# none at all (24 %), the plan's 6,858 : 2,146 split.
TEMPLATE_SHARE = 0.76
FOCUS_SHARE = 0.7  # how often a prompt names the saying's subject rather than another of its words


@dataclass(frozen=True)
class FolksyOptions:
    sayings: int = DEFAULT_SAYINGS
    seed: int = 0
    balance: bool = False  # raise families under 10 % of sayings to 10 %
    entities: int = 0  # extra pairs about invented critters, towns and tools


@dataclass(frozen=True)
class Pair:
    input: str
    output: str
    meta_template: str
    input_type: str
    source_words: list[str]
    phrasing: str = ""  # the prompt's template string id ("persona_seeded:04"): data.split.unseen can hold some out
    persona: str | None = None  # the persona a persona prompt names

    def to_record(self) -> dict:
        return {"input": self.input, "output": self.output, "meta_template": self.meta_template,
                "input_type": self.input_type, "source_words": self.source_words,
                "meta_phrasing": self.phrasing, "meta_persona": self.persona}


def family_targets(total: int, balance: bool = False) -> dict[str, int]:
    """How many sayings each family gets; with balance no family is under 10 % (rounded up)."""
    shares = {f: w / sum(FAMILY_WEIGHTS.values()) for f, w in FAMILY_WEIGHTS.items()}
    if balance:
        low: set[str] = set()
        while True:  # lifting the low families shrinks the rest, which may push another under
            newly_low = {f for f, s in shares.items() if s < BALANCE_FLOOR and f not in low}
            if not newly_low:
                break
            low |= newly_low
            rest = sum(FAMILY_WEIGHTS[f] for f in shares if f not in low)
            shares = {f: BALANCE_FLOOR if f in low else (1 - BALANCE_FLOOR * len(low)) * FAMILY_WEIGHTS[f] / rest for f in shares}
    floors = {f: (math.ceil(s * total) if balance and s <= BALANCE_FLOOR else math.floor(s * total)) for f, s in shares.items()}
    left = total - sum(floors.values())
    by_remainder = sorted(shares, key=lambda f: (floors[f] - shares[f] * total, f))
    for f in by_remainder[: max(left, 0)]:
        floors[f] += 1
    for f in sorted(shares, key=lambda f: -floors[f])[: max(-left, 0)]:  # ceil overshoot comes out of the big ones
        floors[f] -= 1
    return floors


def build_sayings(total: int, seed: int = 0, balance: bool = False, lex: Lexicon | None = None) -> list[Saying]:
    """`total` unique sayings. Every vocabulary word gets to be a subject first, while room lasts."""
    if total > MAX_SAYINGS:
        raise DataError(f"folksy: the engine writes at most {MAX_SAYINGS:,} unique sayings (asked for {total:,}); ask for fewer with --sayings")
    lex = lex or lexicon()
    rng = random.Random(seed)
    targets = family_targets(total, balance)
    have: Counter[str] = Counter()
    seen: set[str] = set()
    sayings: list[Saying] = []

    def add(saying: Saying | None) -> bool:
        if saying is None or saying.text.lower() in seen or have[saying.family] >= targets[saying.family]:
            return False
        seen.add(saying.text.lower())
        have[saying.family] += 1
        sayings.append(saying)
        return True

    words = list(lex.words)
    rng.shuffle(words)
    for word in words:
        open_families = [f for f in families_for(word, lex) if have[f] < targets[f]]
        for _ in range(6 if open_families else 0):
            family = rng.choices(open_families, [targets[f] - have[f] for f in open_families])[0]
            if add(make_saying(rng, family, word, lex)):
                break
    for family in sorted(targets):
        misses = 0
        while have[family] < targets[family]:
            misses = 0 if add(make_saying(rng, family, None, lex)) else misses + 1
            if misses > GIVE_UP_AFTER:
                    raise DataError(f"folksy: could only write {have[family]:,} unique {family} sayings of {targets[family]:,}; ask for fewer with --sayings")
    rng.shuffle(sayings)
    return sayings


def _about(rng: random.Random, saying: Saying) -> Word:
    return saying.words[0] if rng.random() < FOCUS_SHARE else saying.words[rng.randrange(len(saying.words))]


def pairs_for(rng: random.Random, saying: Saying, lex: Lexicon) -> list[Pair]:
    """Four prompts for one saying: word, category, persona, then template or open-ended."""
    words = [w.text for w in saying.words]
    pair = lambda prompt, kind: Pair(prompt.text, saying.text, saying.family, kind, words, prompt.phrasing, prompt.persona)  # noqa: E731
    out = [
        pair(prompts.word_prompt(rng, _about(rng, saying)), "word_seeded"),
        pair(prompts.category_prompt(rng, lex.categories[_about(rng, saying).category]), "category_seeded"),
        pair(prompts.persona_prompt(rng, _about(rng, saying)), "persona_seeded"),
    ]
    if rng.random() < TEMPLATE_SHARE:
        out.append(pair(prompts.template_prompt(rng, saying.family, _about(rng, saying)), "template_seeded"))
    else:
        out.append(pair(prompts.open_prompt(rng), "open_ended"))
    return out


def build_pairs(options: FolksyOptions, lex: Lexicon | None = None) -> list[Pair]:
    """The whole corpus as training pairs, shuffled; deterministic by options.seed."""
    from slmforge.corpora.folksy.entities import entity_pairs

    lex = lex or lexicon()
    sayings = build_sayings(options.sayings, options.seed, options.balance, lex)
    rng = random.Random(options.seed + 1)
    pairs = [p for s in sayings for p in pairs_for(rng, s, lex)]
    if options.entities:
        pairs += entity_pairs(options.entities, random.Random(options.seed + 2), lex, taken={p.output.lower() for p in pairs})
    rng.shuffle(pairs)
    return pairs
