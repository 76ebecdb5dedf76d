"""The five ways people ask for a saying, each with many phrasings.

A prompt always names something the saying is really about (a word in it, that word's category,
or its family), so the model learns to answer the question it was asked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from slmforge.corpora.folksy.grammar import capitalize, with_article
from slmforge.corpora.folksy.lexicon import Category, Word
from slmforge.corpora.folksy.render import pick

PROMPT_TYPES = ("word_seeded", "category_seeded", "persona_seeded", "template_seeded", "open_ended")

WORD_SEEDED = (
    "Tell me something about {t}.", "What do you know about {t}?", "Got a saying about {t}?",
    "Say something folksy about {t}.", "Give me some wisdom about {t}.", "What's the old saying about {t}?",
    "Share a proverb about {t}.", "Any advice about {t}?", "Talk to me about {t}.",
    "I've been thinking about {t}. Got anything?", "Make up a folk saying about {t}.",
    "What would you say about {t}?", "Give me a proverb that mentions {t}.", "Words of wisdom on {t}, please.",
    "{T}. What do you make of that?", "Got any down-home wisdom about {t}?", "Tell me a saying with {t} in it.",
    "Say something wise about {t}.",
)

CATEGORY_SEEDED = (
    "Tell me something about {c}.", "Got a saying about {c}?", "Something about {c}, please.",
    "What's some wisdom about {c}?", "Give me a proverb on the subject of {c}.", "Let's hear one about {c}.",
    "Say something folksy about {c}.", "I want a saying that has to do with {c}.", "Any old sayings about {c}?",
    "Share some country wisdom about {c}.",
)

PERSONAS = (
    "a grumpy farmer", "an old fisherman", "a tired preacher", "a crusty old rancher", "your grandpappy",
    "a country grandma", "a retired mule trader", "a small-town sheriff", "a moonshiner", "a traveling salesman",
    "a blacksmith", "a riverboat captain", "a gas station attendant", "a diner waitress", "a hound-dog trainer",
    "a one-room-schoolhouse teacher", "a feed-store clerk", "a barber", "an old cowboy", "a beekeeper",
    "a quilting-circle lady", "a county-fair judge", "a cranky neighbor", "an old-timer on the porch",
    "a swamp guide", "a logger", "a coal miner", "a long-haul trucker", "a rodeo clown", "a pie-contest judge",
    "a sharecropper", "a horse whisperer", "a retired railroad man", "a general store owner",
    "a square-dance caller", "a church organist", "a mule skinner", "a tobacco-chewin' old-timer",
    "an auctioneer", "a well digger",
)

PERSONA_SEEDED = (
    "What would {p} say about {t}?", "How would {p} sum up {t}?", "Talk like {p} and tell me about {t}.",
    "Pretend you're {p}. What's your take on {t}?", "If {p} had an opinion on {t}, what would it be?",
    "Channel {p}: give me a saying about {t}.", "Speak as {p} would about {t}.", "You're {p}. Say something about {t}.",
    "What does {p} think about {t}?", "Give me {p}'s wisdom on {t}.",
)

# Each family by name and by what it does, so a user can ask for either.
FAMILY_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "false_equivalence": (("false-equivalence", "false equivalence", "this-is-just-that"),
                          ("a saying that claims one thing is just another thing in disguise",)),
    "futile_preparation": (("futile-preparation", "futile preparation", "pointless-preparation"),
                           ("a saying about gettin' ready for somethin' that ain't gonna happen",)),
    "ironic_deficiency": (("ironic-deficiency", "ironic deficiency", "cobbler's-children"),
                          ("a saying about folks who lack the very thing they make",)),
    "deconstruction": (("deconstruction", "take-it-apart"),
                       ("a saying about what's left when you take the main part away",)),
    "hypocritical_complaint": (("hypocritical-complaint", "hypocritical complaint", "pot-calling-the-kettle-black"),
                               ("a saying about somebody complainin' about their own fault in others",)),
    "denial_of_consequences": (("denial-of-consequences", "denial of consequences"),
                               ("a saying about folks actin' surprised by what they had comin'",)),
    "tautological_wisdom": (("tautological", "tautological-wisdom", "thing-is-what-it-is"),
                            ("an obvious-but-true saying",)),
}

TEMPLATE_BY_NAME = (
    "Give me {n} saying about {t}.", "I need {n} proverb about {t}.", "Write {n} saying about {t}.",
    "Can you do {n} saying about {t}?", "Let's hear {n} proverb about {t}.", "Make up {n} folk saying about {t}.",
)
TEMPLATE_BY_DESCRIPTION = ("Give me {d} about {t}.", "I'd like {d}, about {t}.", "Tell me {d}. Make it about {t}.")

OPEN_ENDED = (
    "Tell me a folksy saying.", "Got any old-timey wisdom?", "Say something your granddaddy would say.",
    "Give me a proverb.", "Hit me with some country wisdom.", "What's a good folk saying?",
    "Share some down-home wisdom.", "Tell me something wise.", "Let's hear a saying.", "Make up a proverb for me.",
    "Give me a bit of porch wisdom.", "What would an old-timer say?", "Got a saying for me?",
    "I could use some folksy advice.", "Tell me one of those country sayings.", "Say something folksy.",
)


def topic(rng: random.Random, word: Word) -> str:
    """How a person names the subject: 'mules' mostly, sometimes 'a mule' or 'the mule'."""
    roll = rng.random()
    if word.number != "count" or roll < 0.7:
        return word.topic
    return word.a if roll < 0.85 else word.the


@dataclass(frozen=True)
class Prompt:
    text: str
    phrasing: str  # which template string asked: "word_seeded:03" (the generalization split holds some out)
    persona: str | None = None  # who the request asks to speak as (persona prompts only)


def phrasing(rng: random.Random, kind: str, options: Sequence[str]) -> tuple[str, str]:
    """(template, its id): the same draw as render.pick, so a seed writes the same prompts as before ids existed."""
    i = rng.randrange(len(options))
    return options[i], f"{kind}:{i:02d}"


def word_prompt(rng: random.Random, word: Word) -> Prompt:
    t = topic(rng, word)
    template, pid = phrasing(rng, "word_seeded", WORD_SEEDED)
    return Prompt(template.format(t=t, T=capitalize(t)), pid)


def category_prompt(rng: random.Random, category: Category) -> Prompt:
    template, pid = phrasing(rng, "category_seeded", CATEGORY_SEEDED)
    return Prompt(template.format(c=pick(rng, category.prompt_names)), pid)


def persona_prompt(rng: random.Random, word: Word) -> Prompt:
    template, pid = phrasing(rng, "persona_seeded", PERSONA_SEEDED)
    persona = pick(rng, PERSONAS)
    return Prompt(template.format(p=persona, t=topic(rng, word)), pid, persona)


def template_prompt(rng: random.Random, family: str, word: Word) -> Prompt:
    names, descriptions = FAMILY_NAMES[family]
    if rng.random() < 0.75:
        template, pid = phrasing(rng, "template_by_name", TEMPLATE_BY_NAME)
        return Prompt(template.format(n=with_article(pick(rng, names)), t=topic(rng, word)), pid)
    template, pid = phrasing(rng, "template_by_description", TEMPLATE_BY_DESCRIPTION)
    return Prompt(template.format(d=pick(rng, descriptions), t=topic(rng, word)), pid)


def open_prompt(rng: random.Random) -> Prompt:
    template, pid = phrasing(rng, "open_ended", OPEN_ENDED)
    return Prompt(template, pid)
