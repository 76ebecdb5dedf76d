"""The folksy corpus: shape, shares, determinism, coverage; the default size is built once."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter

import pytest

from slmforge.core.errors import DataError
from slmforge.corpora import generate_corpus
from slmforge.corpora.folksy import FAMILY_WEIGHTS, FolksyOptions, build_pairs, build_sayings, family_targets
from slmforge.corpora.folksy import prompts as P
from slmforge.corpora.folksy.entities import entity_pairs
from slmforge.corpora.folksy.grammar import grammar_slips
from slmforge.corpora.folksy.lexicon import lexicon
from slmforge.corpora.folksy.prompts import FAMILY_NAMES, PROMPT_TYPES

RECORD_KEYS = {"input", "output", "meta_template", "input_type", "source_words", "meta_phrasing", "meta_persona"}


def mentions(text: str, form: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def small() -> list[dict]:
    return [p.to_record() for p in build_pairs(FolksyOptions(sayings=1000, seed=3))]


def test_each_saying_gets_four_prompts_of_the_planned_types(small):
    kinds: dict[str, list[str]] = {}
    for r in small:
        kinds.setdefault(r["output"], []).append(r["input_type"])
    assert len(small) == 4000 and len(kinds) == 1000
    for output, types in kinds.items():
        assert len(types) == 4, output
        assert {"word_seeded", "category_seeded", "persona_seeded"} <= set(types)
        assert len({"template_seeded", "open_ended"} & set(types)) == 1
    types = Counter(r["input_type"] for r in small)
    assert 0.68 < types["template_seeded"] / 1000 < 0.84 and types["template_seeded"] + types["open_ended"] == 1000


def test_records_have_exactly_the_issue_shape(small):
    for r in small:
        assert set(r) == RECORD_KEYS and r["meta_template"] in FAMILY_WEIGHTS and r["input_type"] in PROMPT_TYPES
        assert r["input"].strip() and r["output"].strip() and r["source_words"]


def test_each_prompt_names_the_phrasing_that_wrote_it_and_its_persona(small):
    """meta_phrasing (kind:index) and meta_persona are what data.split.unseen holds out: they must be true."""
    templates = {"word_seeded": P.WORD_SEEDED, "category_seeded": P.CATEGORY_SEEDED, "persona_seeded": P.PERSONA_SEEDED,
                 "template_by_name": P.TEMPLATE_BY_NAME, "template_by_description": P.TEMPLATE_BY_DESCRIPTION, "open_ended": P.OPEN_ENDED}
    for r in small:
        kind, index = r["meta_phrasing"].split(":")
        template = templates[kind][int(index)]
        fixed = [part for part in re.split(r"\{\w\}", template) if part.strip()]
        assert all(part in r["input"] for part in fixed), (template, r["input"])
        assert (r["meta_persona"] is not None) == (r["input_type"] == "persona_seeded")
        if r["meta_persona"]:
            assert r["meta_persona"] in P.PERSONAS and r["meta_persona"] in r["input"]
    assert len({r["meta_phrasing"] for r in small}) == sum(len(t) for t in templates.values())  # 1,000 sayings use every phrasing


def test_prompts_name_what_the_saying_is_about(small):
    lex = lexicon()
    for r in small:
        words = [lex.by_text[w] for w in r["source_words"]]
        if r["input_type"] in ("word_seeded", "persona_seeded", "template_seeded"):
            assert any(mentions(r["input"], f) for w in words for f in w.forms()), r
        if r["input_type"] == "category_seeded":
            names = {n for w in words for n in lex.categories[w.category].prompt_names}
            assert any(n in r["input"] for n in names), r
        if r["input_type"] == "template_seeded":
            names, descriptions = FAMILY_NAMES[r["meta_template"]]
            assert any(n in r["input"] for n in names + descriptions), r


def test_source_words_are_vocabulary_words_said_in_the_saying(small):
    lex = lexicon()
    for r in small:
        for text in r["source_words"]:
            assert any(mentions(r["output"], f) for f in lex.by_text[text].forms()), (text, r["output"])


def test_same_seed_same_corpus_other_seed_other_corpus():
    a = [p.to_record() for p in build_pairs(FolksyOptions(sayings=300, seed=11))]
    b = [p.to_record() for p in build_pairs(FolksyOptions(sayings=300, seed=11))]
    c = [p.to_record() for p in build_pairs(FolksyOptions(sayings=300, seed=12))]
    assert a == b and a != c


def test_family_shares_follow_the_plan_unless_balanced():
    plain = family_targets(9000)
    assert sum(plain.values()) == 9000
    assert {f for f, n in plain.items() if n < 900} == {"hypocritical_complaint", "denial_of_consequences", "tautological_wisdom"}
    balanced = family_targets(9000, balance=True)
    assert sum(balanced.values()) == 9000 and min(balanced.values()) >= 900
    assert balanced["false_equivalence"] > balanced["futile_preparation"] > balanced["tautological_wisdom"]
    tiny = family_targets(37, balance=True)
    assert sum(tiny.values()) == 37 and min(tiny.values()) >= 4  # 10 % of 37, rounded up


def test_balance_lifts_every_family_to_ten_percent_of_sayings():
    sayings = build_sayings(1200, seed=2, balance=True)
    shares = Counter(s.family for s in sayings)
    assert len(sayings) == 1200 and min(shares.values()) >= 120


def test_invented_entities_are_named_in_prompt_and_saying_and_are_not_vocabulary():
    lex = lexicon()
    pairs = entity_pairs(60, random.Random(4), lex)
    assert len(pairs) == 60 and len({p.output for p in pairs}) == 60
    for p in pairs:
        name = p.source_words[0]
        assert p.input_type == "entity_seeded" and name.lower() not in lex.by_form
        assert p.phrasing.startswith("entity_seeded:") and p.persona is None
        assert name.lower() in p.output.lower() and name.split()[0] in p.input, p
        assert grammar_slips(p.output) == [], p.output


def test_generate_corpus_writes_jsonl_and_counts_it(tmp_path):
    out = tmp_path / "folksy.jsonl"
    n = generate_corpus("folksy", out, seed=1, size=50, entities=5)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == 205
    assert all(set(json.loads(line)) == RECORD_KEYS for line in lines)
    with pytest.raises(DataError, match="unknown corpus"):
        generate_corpus("limericks", out)
    with pytest.raises(DataError, match="unknown option"):
        generate_corpus("folksy", out, size=10, rhymes=True)


def test_asking_for_more_unique_sayings_than_the_engine_has_fails_with_a_clear_error():
    with pytest.raises(DataError, match="fewer with --sayings"):
        build_sayings(2_000_000, seed=0)


def test_default_size_corpus_is_complete_unique_grammatical_and_fast():
    """The plan's corpus: ~9,000 sayings, ~36,000 pairs, every family/prompt type/word present."""
    started = time.perf_counter()
    records = [p.to_record() for p in build_pairs(FolksyOptions())]
    elapsed = time.perf_counter() - started
    sayings = {r["output"] for r in records}
    assert len(sayings) == 9000 and len(records) == 36_000
    assert {r["meta_template"] for r in records} == set(FAMILY_WEIGHTS)
    assert {r["input_type"] for r in records} == set(PROMPT_TYPES)
    assert len({s.lower() for s in sayings}) == len(sayings) and all(s.strip() for s in sayings)
    slips = [s for s in sayings if grammar_slips(s)]
    assert slips == [], slips[:5]
    used = {w for r in records for w in r["source_words"]}
    assert {w.text for w in lexicon().words} <= used, "vocabulary coverage must be 100 %"
    mean_words = sum(len(s.split()) for s in sayings) / len(sayings)
    assert 8 <= mean_words <= 12
    assert elapsed < 30
