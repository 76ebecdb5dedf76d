"""Words and their relations, and how to say them (a mule / gravy / overalls).

A `Word` is written once in a vocabulary module with its relations named by text ("wheels",
"iron"); the `Lexicon` resolves those names to words, so a typo in the vocabulary fails at
import time instead of leaving a saying with a hole in it.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from slmforge.corpora.folksy.grammar import capitalize, plural_of, third_person, with_article


@dataclass(frozen=True)
class Word:
    text: str
    category: str = ""
    number: str = "count"  # count ("a mule"), mass ("gravy"), plural ("overalls": no singular)
    traits: tuple[str, ...] = ()  # adjectives that fit it: "a stubborn mule"
    parts: tuple[str, ...] = ()  # what it is made up of, as you would list them: "wheels", "axle"
    gear: tuple[str, ...] = ()  # what goes with it without being part of it: a horse's saddle
    material: str = ""  # what it is made of (a material word): its decay in the weather
    holds: tuple[str, ...] = ()  # what you expect to find in it: a well holds water
    works_on: tuple[str, ...] = ()  # what a tool is for: an axe works on logs
    makes: tuple[str, ...] = ()  # what a trade makes or keeps: the cobbler makes boots
    defense: str = ""  # animals: what it does when pestered (base verb: "kick")
    habit: str = ""  # animals: what it will always do (base verb phrase: "bark at the moon")
    decay: str = ""  # materials: what the weather does to it (base verb: "rust")
    exposure: str = "rain"  # materials: the weather that does it
    prep: str = ""  # how you get it ready, as a gerund: "oilin'"
    gone: tuple[str, ...] = ()  # what became of it when it is no more, where its category's words do not fit

    @property
    def plural(self) -> str:
        return plural_of(self.text) if self.number == "count" else self.text

    @property
    def a(self) -> str:
        """The word as a new thing in a sentence: 'a mule', 'gravy', 'overalls'."""
        return with_article(self.text) if self.number == "count" else self.text

    @property
    def A(self) -> str:
        return capitalize(self.a)

    @property
    def the(self) -> str:
        return f"the {self.text}"

    @property
    def topic(self) -> str:
        """How a prompt names it as a subject: 'mules', 'gravy', 'overalls'."""
        return self.plural

    @property
    def is_plural(self) -> bool:
        return self.number == "plural"

    @property
    def is_(self) -> str:
        return "are" if self.is_plural else "is"

    @property
    def it(self) -> str:
        return "they" if self.is_plural else "it"

    @property
    def it_obj(self) -> str:
        return "them" if self.is_plural else "it"

    @property
    def any(self) -> str:
        """The word after a negative: 'there ain't a log', 'there ain't any hay'."""
        return with_article(self.text) if self.number == "count" else f"any {self.text}"

    @property
    def takes_plural_verb(self) -> bool:
        """Whether its `plural` form takes 'are': 'goats are', 'overalls are', but 'gravy is'."""
        return self.number != "mass"

    def verb(self, base: str) -> str:
        """Agree a verb phrase with this word as subject: 'rust' -> 'rusts' / 'rust'."""
        return base if self.is_plural else third_person(base)

    def forms(self) -> set[str]:
        return {self.text, self.plural}


@dataclass(frozen=True)
class Part:
    word: Word
    many: bool  # listed in the plural: "a wagon without wheels", not "without a wheel"

    @property
    def np(self) -> str:
        """The part as you would name it missing: 'wheels', 'a roof', 'beef'."""
        return self.word.plural if self.many else self.word.a

    @property
    def the(self) -> str:
        return f"the {self.bare}"

    @property
    def bare(self) -> str:
        """Without an article: 'wheels', 'roof', 'beef'."""
        return self.word.plural if self.many else self.word.text

    @property
    def is_plural(self) -> bool:
        return self.many or self.word.is_plural


@dataclass(frozen=True)
class Category:
    name: str
    prompt_names: tuple[str, ...]  # how a person asks about it: "critters", "the kitchen"
    treat: tuple[str, ...] = ()  # "how you brush {it}": what cannot change what it is
    gone: tuple[str, ...] = ()  # what became of a whole: "burned down"
    prep: tuple[str, ...] = ()  # readying a part of this kind: "polishin'"


def W(text: str, number: str = "count", *, traits: str = "", parts: str = "", gear: str = "", holds: str = "",
      works_on: str = "", makes: str = "", gone: str = "", **fields: str) -> Word:
    """Write a word in one line: lists are space-separated (traits) or comma-separated (names)."""
    names = lambda s: tuple(n.strip() for n in s.split(",") if n.strip())  # noqa: E731
    return Word(text, number=number, traits=tuple(traits.split()), parts=names(parts), gear=names(gear),
                holds=names(holds), works_on=names(works_on), makes=names(makes), gone=names(gone), **fields)


def words(category: str, *entries: Word) -> tuple[Word, ...]:
    return tuple(Word(**{**w.__dict__, "category": category}) for w in entries)


class VocabularyError(ValueError):
    """The vocabulary names a relation that is not a word, or a word twice."""


@dataclass
class Lexicon:
    words: tuple[Word, ...]
    categories: dict[str, Category]
    by_text: dict[str, Word] = field(init=False)
    by_form: dict[str, tuple[Word, bool]] = field(init=False)  # any form -> (word, is the plural form)
    by_category: dict[str, tuple[Word, ...]] = field(init=False)
    by_trait: dict[str, tuple[Word, ...]] = field(init=False)
    _owners: dict[str, dict[str, list[tuple[Word, Part]]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.by_text, self.by_form = {}, {}
        for w in self.words:
            if w.text in self.by_text:
                raise VocabularyError(f"word {w.text!r} is listed twice")
            if w.category not in self.categories:
                raise VocabularyError(f"word {w.text!r} has unknown category {w.category!r}")
            self.by_text[w.text] = w
        for w in self.words:
            self.by_form.setdefault(w.plural, (w, w.number == "count"))
            self.by_form[w.text] = (w, False)
        grouped, traits = defaultdict(list), defaultdict(list)
        for w in self.words:
            grouped[w.category].append(w)
            for t in w.traits:
                traits[t].append(w)
        self.by_category = {k: tuple(v) for k, v in grouped.items()}
        self.by_trait = {k: tuple(v) for k, v in traits.items()}
        for w in self.words:  # resolve every relation once, so a typo fails here
            for name in (*w.parts, *w.gear, *w.holds, *w.works_on, *w.makes, *([w.material] if w.material else [])):
                self.resolve(name, owner=w.text)

    def resolve(self, name: str, owner: str = "") -> Part:
        if name not in self.by_form:
            raise VocabularyError(f"{owner!r} names {name!r}, which is not in the vocabulary")
        word, many = self.by_form[name]
        return Part(word, many)

    def related(self, word: Word, relation: str) -> tuple[Part, ...]:
        names = getattr(word, relation)
        names = (names,) if isinstance(names, str) else names
        return tuple(self.resolve(n) for n in names if n)

    def owners(self, relation: str, word: Word) -> list[tuple[Word, Part]]:
        """Who names `word` in `relation`: owners("parts", hinge) -> [(barn, hinges), (gate, hinges), ...]."""
        if relation not in self._owners:
            index: dict[str, list[tuple[Word, Part]]] = defaultdict(list)
            for owner in self.words:
                for part in self.related(owner, relation):
                    index[part.word.text].append((owner, part))
            self._owners[relation] = dict(index)
        return [pair for pair in self._owners[relation].get(word.text, []) if pair[1].word is word]

    def pairs_with(self, relation: str, word: Word) -> list[tuple[Word, Part]]:
        """Every (owner, part) pair of `relation` that `word` takes part in, on either side."""
        return [(word, part) for part in self.related(word, relation)] + self.owners(relation, word)

    def material_of(self, word: Word) -> Word | None:
        return self.resolve(word.material).word if word.material else None

    def decays(self, word: Word) -> Word | None:
        """The material that makes this word rot, rust or crack in the weather, if any."""
        material = self.material_of(word)
        return material if material is not None and material.decay else None

    def kin(self, word: Word) -> tuple[Word, ...]:
        """Other words of the same category: what a false equivalence compares it to."""
        return tuple(w for w in self.by_category[word.category] if w is not word)

    def sharing_trait(self, word: Word, trait: str) -> tuple[Word, ...]:
        return tuple(w for w in self.by_trait.get(trait, ()) if w is not word)


@functools.cache
def lexicon() -> Lexicon:
    from slmforge.corpora.folksy.vocab_categories import CATEGORIES
    from slmforge.corpora.folksy.vocab_critters import CRITTERS
    from slmforge.corpora.folksy.vocab_folks import FOLKS
    from slmforge.corpora.folksy.vocab_food import FOOD
    from slmforge.corpora.folksy.vocab_gear import GEAR
    from slmforge.corpora.folksy.vocab_land import PLACES
    from slmforge.corpora.folksy.vocab_things import THINGS

    return Lexicon(CRITTERS + FOOD + THINGS + GEAR + PLACES + FOLKS, {c.name: c for c in CATEGORIES})
