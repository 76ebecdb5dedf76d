"""The folksy template engine: vocabulary, grammar, every pattern, say()."""

from __future__ import annotations

import random
import re

import pytest

from slmforge.corpora.folksy import FAMILIES, say
from slmforge.corpora.folksy.families import families_for
from slmforge.corpora.folksy.grammar import grammar_slips, plural_of, third_person, with_article
from slmforge.corpora.folksy.lexicon import Lexicon, VocabularyError, W, lexicon, words
from slmforge.corpora.folksy.vocab_categories import CATEGORIES


def mentions(text: str, word) -> bool:
    """The word (either form) appears in the text as whole words."""
    return any(re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text, re.IGNORECASE) for form in word.forms())


def test_vocabulary_has_600_concrete_words_in_categories_with_relations():
    lex = lexicon()
    assert len(lex.words) >= 600
    assert all(len(lex.by_category[c.name]) >= 2 for c in CATEGORIES)  # a false equivalence needs kin
    related = lambda relation: sum(1 for w in lex.words for _ in lex.related(w, relation))  # noqa: E731
    assert related("parts") >= 300 and related("holds") >= 50 and related("works_on") >= 25 and related("makes") >= 60
    assert sum(1 for w in lex.words if lex.decays(w)) >= 150
    assert all(families_for(w, lex) for w in lex.words), "every word must fit at least one family"


def test_a_relation_naming_a_missing_word_fails_at_load():
    broken = words("tool", W("hammer", parts="handle, unobtainium"), W("handle"))
    with pytest.raises(VocabularyError, match="unobtainium"):
        Lexicon(broken, {c.name: c for c in CATEGORIES})


@pytest.mark.parametrize(("noun", "plural"), [("goose", "geese"), ("fence post", "fence posts"), ("cherry", "cherries"),
                                              ("bus", "buses"), ("butcher knife", "butcher knives"), ("day", "days")])
def test_plurals(noun, plural):
    assert plural_of(noun) == plural


def test_articles_and_verbs_agree():
    assert with_article("owl") == "an owl" and with_article("mule") == "a mule"
    assert third_person("kick the stall") == "kicks the stall" and third_person("go soggy") == "goes soggy"
    assert third_person("scratch") == "scratches" and third_person("carry") == "carries"
    lex = lexicon()
    assert lex.by_text["gravy"].a == "gravy" and lex.by_text["overalls"].is_ == "are" and lex.by_text["ox"].a == "an ox"


@pytest.mark.parametrize("text", ["A apple a day.", "Give it an mule.", "The the end.", 'He said "howdy.', "no capital.", "No period"])
def test_grammar_check_catches_each_kind_of_slip(text):
    assert grammar_slips(text)


def test_grammar_check_passes_clean_folksy_text():
    assert grammar_slips("An ornery mule's still a mule, and a yo-yo ain't a fiddle.") == []
    assert grammar_slips('Folks in Possum Trot like to say, "A hen is a hen."') == []


def test_every_pattern_writes_grammatical_sayings_about_every_word_it_can_feature():
    lex = lexicon()
    rng = random.Random(7)
    rendered = 0
    for family, patterns in FAMILIES.items():
        for pattern in patterns:
            pool = [w for w in lex.words if pattern.can_feature(lex, w)]
            assert pool, f"{family}/{pattern.name} can feature no word"
            for word in pool:
                saying = pattern.make(rng, lex, word)
                if saying is None:
                    continue
                rendered += 1
                assert grammar_slips(saying.text) == [], (family, pattern.name, saying.text)
                assert saying.words[0] is word and mentions(saying.text, word), (pattern.name, word.text, saying.text)
                assert all(mentions(saying.text, w) for w in saying.words), (pattern.name, saying.text)
    assert rendered > 20_000


def test_people_are_never_called_it():
    lex = lexicon()
    rng = random.Random(3)
    it_for_a_person = re.compile(r"\b(its|it's (still|just)|call it|make it|when it|why it|tell it)\b", re.IGNORECASE)
    checked = 0
    for _ in range(5):
        for folk in lex.by_category["folks"]:
            for family in families_for(folk, lex):
                for pattern in FAMILIES[family]:
                    saying = pattern.make(rng, lex, folk) if pattern.can_feature(lex, folk) else None
                    if saying is not None:
                        checked += 1
                        assert not it_for_a_person.search(saying.text), saying.text
    assert checked > 1000


def test_say_answers_about_the_word_in_the_prompt():
    assert "mule" in say("What would a grumpy farmer say about mules?").lower()
    assert "hinge" in say("Tell me something about hinges.").lower()
    text = say("Tell me something about quantum computers.")
    assert "quantum computers" in text.lower() and not grammar_slips(text)


def test_say_honors_the_family_asked_for():
    from slmforge.corpora.folksy.say import find_family

    assert find_family("Give me a futile-preparation saying about barns.") == "futile_preparation"
    assert find_family("a pot-calling-the-kettle-black saying about skillets") == "hypocritical_complaint"
    futile_openers = ("No sense", "Ain't no", "No point", "It don't pay", "Don't bother", "Don't go", "Why bother", "Fella")
    answers = [say("Give me a futile-preparation saying about barns.", seed=s) for s in range(12)]
    assert all("barn" in a.lower() for a in answers)
    assert sum(a.startswith(futile_openers) or "won't bring back" in a or "Might as well" in a for a in answers) == len(answers)


def test_say_is_deterministic_for_a_prompt_and_varies_with_the_seed():
    prompt = "Tell me a folksy saying."
    assert say(prompt) == say(prompt)
    assert len({say(prompt, seed=s) for s in range(10)}) > 5
