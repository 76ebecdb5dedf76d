"""Pairs about invented things (a critter, a town, a tool) the model has never seen.

The prompt describes the thing and the saying uses it, so the model learns to be folksy about
whatever it is handed instead of only the vocabulary it was trained on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from slmforge.corpora.folksy import phrases as P
from slmforge.corpora.folksy.corpus import Pair
from slmforge.corpora.folksy.families import FAMILY_WEIGHTS, families_for, make_saying
from slmforge.corpora.folksy.grammar import third_person
from slmforge.corpora.folksy.lexicon import Lexicon, Word
from slmforge.corpora.folksy.pattern import Saying
from slmforge.corpora.folksy.prompts import phrasing
from slmforge.corpora.folksy.render import cap, fill, pick

CRITTER_NAME = (("snarf", "wump", "grizzle", "flum", "bog", "crick", "hoot", "jib", "muck", "snoot", "gromble", "whiffle",
                 "squonk", "dingle", "boondle", "scrabble", "glim", "knobble", "razzle", "orble"),
                ("beast", "toad", "snout", "hopper", "wing", "tail", "back", "claw", "billy", "whistle", "nose", "paw", "belly"))
TOOL_NAME = (("flange", "gimble", "dinkle", "thrum", "snick", "grapple", "wobble", "sprocket", "tuckle", "crimp", "swivel",
              "fettle", "jiggle", "notch", "ample"),
             ("hook", "wrench", "rake", "bar", "prong", "spade", "pick", "knocker", "drill", "file"))
TOWN_NAME = (("Possum", "Buzzard", "Frog", "Skillet", "Tater", "Chigger", "Hickory", "Muddy", "Crawdad", "Biscuit", "Goose",
              "Turkey", "Rooster", "Lonesome", "Sorghum", "Cornbread", "Hog", "Mule", "Catfish", "Wishbone"),
             ("Holler", "Gap", "Bend", "Flats", "Junction", "Crossing", "Springs", "Ridge", "Trot", "Level", "Corners",
              "Creek", "Fork", "Knob", "Lick"))
CRITTER_TRAITS = ("sneaky", "ornery", "lazy", "loud", "greedy", "nosy", "skittish", "stubborn", "mean", "slow", "proud", "muddy")
CRITTER_HABITS = ("hide in the woodpile", "steal socks off the clothesline", "sing at the wrong time", "dig under the porch",
                  "eat the tomatoes", "nap in the mailbox", "chase the mailman", "raid the henhouse", "sun on the rocks")
TOOL_TRAITS = ("rusty", "heavy", "dull", "greasy")
WHERE = ("up in the hills", "down by the river", "out past the county line", "at the end of a dirt road", "in the middle of cotton country")
ASK = ("Tell me a saying about {t}.", "What would an old-timer say about {t}?", "Give me a folksy saying about {t}.",
       "Make up a proverb about {t}.", "Say something wise about {t}.")


@dataclass(frozen=True)
class Entity:
    word: Word  # what the templates use: a made-up name with made-up facts
    kind: str  # critter | tool | town
    description: str  # what the prompt tells the model about it


def _name(rng: random.Random, parts: tuple[tuple[str, ...], tuple[str, ...]], joiner: str = "") -> str:
    return pick(rng, parts[0]) + joiner + pick(rng, parts[1])


def invent_critter(rng: random.Random, name: str) -> Entity:
    traits = tuple(rng.sample(CRITTER_TRAITS, 2))
    defense = pick(rng, ("bite", "kick", "sting", "scratch", "spray", ""))
    habit = pick(rng, CRITTER_HABITS)
    word = Word(name, "wildlife", traits=traits, defense=defense, habit=habit)
    bites = f", it {third_person(defense)} when you bother it" if defense else ""
    return Entity(word, "critter", f"There's a critter called {word.a}: it's {traits[0]} and {traits[1]}{bites}, and it'll always {habit}.")


def invent_tool(rng: random.Random, name: str, lex: Lexicon) -> Entity:
    target = pick(rng, sorted({p.word.text for t in lex.by_category["tool"] for p in lex.related(t, "works_on")}))
    trait = pick(rng, TOOL_TRAITS)
    word = Word(name, "tool", traits=(trait,), works_on=(target,), material="steel", prep=pick(rng, ("sharpenin'", "oilin'", "fetchin'")))
    return Entity(word, "tool", f"{cap(word.a)} is a made-up tool for workin' on {lex.by_text[target].plural}, and it's usually {trait}.")


def invent_town(rng: random.Random, name: str) -> Entity:
    return Entity(Word(name, "land", number="mass"), "town", f"{name} is a made-up little town {pick(rng, WHERE)}.")


def _town_saying(rng: random.Random, lex: Lexicon, town: Word, taken: set[str]) -> Saying | None:
    """Towns are proper names ('Possum Trot', never 'a Possum Trot'), so they get patterns of their own."""
    t = town.text
    place = pick(rng, lex.by_category["land"] + lex.by_category["building"])
    critter = pick(rng, [w for w in lex.by_trait["loud"] if w.category in {"livestock", "wildlife", "bird", "bug"}])
    x = pick(rng, [w for c in ("livestock", "dish", "vehicle", "tool", "household", "clothing") for w in lex.by_category[c]])
    y = pick(rng, [w for w in lex.kin(x) if w.text not in x.text and x.text not in w.text])
    fixable = pick(rng, [w for c in ("tool", "vehicle", "household") for w in lex.by_category[c] if w.number == "count"])
    holder, held = pick(rng, [(k, p.word) for k in lex.by_category["building"] for p in lex.related(k, "holds")])
    options: list[tuple[str, str, tuple[Word, ...]]] = [
        ("false_equivalence", f"{t} is just {place.a} with a post office.", (place,)),
        ("false_equivalence", f"{t} ain't nothin' but {place.a} that {fill(pick(rng, P.THAT), place.is_plural)}.", (place,)),
        ("false_equivalence", f"In {t}, {x.a} {x.is_} just {y.a} with {fill(pick(rng, P.WITH), y.is_plural)}.", (x, y)),
        ("tautological_wisdom", f"{t} is {t}, no matter what the sign out front says.", ()),
        ("tautological_wisdom", f"Once you've seen {t}, you've seen {t}.", ()),
        ("ironic_deficiency", f"{t} ain't big enough for {place.a}, but it's got opinions about {x.plural}.", (place, x)),
        ("futile_preparation", f"No sense paintin' the welcome sign in {t} when the bridge is washed out.", (lex.by_text["bridge"],)),
        ("denial_of_consequences", f"Folks who move to {t} for the quiet got no business complainin' about the {critter.plural}.", (critter,)),
        ("tautological_wisdom", f"You can take a fella out of {t}, but you can't take {t} out of the fella.", ()),
        ("futile_preparation", f"Nobody in {t} ever fixed {fixable.a} that wasn't broke.", (fixable,)),
        ("ironic_deficiency", f"In {t}, the {holder.text} is always out of {held.plural}.", (holder, held)),
        ("false_equivalence", f"{t} has more {critter.plural} than folks, and the {critter.plural} vote.", (critter,)),
    ]
    inner = make_saying(rng, pick(rng, sorted(FAMILY_WEIGHTS)), None, lex) if rng.random() < 0.3 else None
    if inner is not None:  # the town passes on a saying of its own
        family, text, used = inner.family, f'Folks in {t} like to say, "{inner.text}"', inner.words
    else:
        family, text, used = pick(rng, options)
    return None if text.lower() in taken else Saying(text, family, used, "town")


def entity_pairs(n: int, rng: random.Random, lex: Lexicon, taken: set[str] = frozenset()) -> list[Pair]:
    """n pairs, each about a different invented critter, tool or town, none repeating a saying in `taken`."""
    taken, names, pairs = set(taken), set(lex.by_form), []
    for _ in range(50 * n + 100):
        if len(pairs) >= n:
            break
        kind = pick(rng, ("critter", "tool", "town"))
        name = {"critter": lambda: _name(rng, CRITTER_NAME), "tool": lambda: _name(rng, TOOL_NAME),
                "town": lambda: _name(rng, TOWN_NAME, " ")}[kind]()
        if name.lower() in names:
            continue
        entity = {"critter": lambda: invent_critter(rng, name), "tool": lambda: invent_tool(rng, name, lex),
                  "town": lambda: invent_town(rng, name)}[kind]()
        if kind == "town":
            saying = _town_saying(rng, lex, entity.word, taken)
        else:
            families = families_for(entity.word, lex)
            family = rng.choices(families, [FAMILY_WEIGHTS[f] for f in families])[0]
            saying = make_saying(rng, family, entity.word, lex)
        if saying is None or saying.text.lower() in taken:
            continue
        names.add(name.lower())
        taken.add(saying.text.lower())
        subject = entity.word.text if kind == "town" else entity.word.plural
        ask, phrasing_id = phrasing(rng, "entity_seeded", ASK)
        prompt = f"{entity.description} {ask.format(t=subject)}"
        words = [entity.word.text] + [w.text for w in saying.words if w is not entity.word]
        pairs.append(Pair(prompt, saying.text, saying.family, "entity_seeded", list(dict.fromkeys(words)), phrasing_id))
    return pairs
