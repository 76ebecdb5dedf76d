"""A surface pattern of a template family, and the saying it renders."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from slmforge.corpora.folksy.lexicon import Lexicon, Word

Rendered = tuple[str, tuple[Word, ...]]  # the saying and the vocabulary words it was built from


@dataclass(frozen=True)
class Saying:
    text: str
    family: str
    words: tuple[Word, ...]  # the focus first
    pattern: str


@dataclass(frozen=True)
class Pattern:
    family: str
    name: str
    can_feature: Callable[[Lexicon, Word], bool]  # can this word be the saying's subject?
    render: Callable[[random.Random, Lexicon, Word], Rendered | None]  # None: no fitting partner words

    def make(self, rng: random.Random, lex: Lexicon, focus: Word) -> Saying | None:
        rendered = self.render(rng, lex, focus)
        if rendered is None:
            return None
        text, used = rendered
        return Saying(text, self.family, tuple(dict.fromkeys(used)), self.name)


def patterns(family: str, **entries: tuple[Callable[[Lexicon, Word], bool], Callable]) -> tuple[Pattern, ...]:
    return tuple(Pattern(family, name, can, render) for name, (can, render) in entries.items())
