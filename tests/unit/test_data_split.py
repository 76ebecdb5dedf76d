"""Splits: groups never span two splits, strata keep their shares, same seed = same bytes."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from slmforge.core.sections import SplitSection
from slmforge.prepare.split import SPLITS, split_by_group
from slmforge.runtime.examples.formats import Example


def corpus(n_sayings: int = 600, seed: int = 1) -> list[Example]:
    """~4 prompts per saying, like the folksy corpus; family is the stratum."""
    rng = random.Random(seed)
    families = ["futile", "ironic", "tautology", "denial", "rare"]
    weights = [40, 30, 15, 10, 5]
    examples = []
    for s in range(n_sayings):
        family = rng.choices(families, weights)[0]
        for p in range(rng.randint(2, 6)):
            examples.append(
                Example(f"f:{len(examples) + 1}", [{"role": "user", "content": f"prompt {p} for {s}"}, {"role": "assistant", "content": f"saying {s}"}], {"family": family, "saying_id": s})
            )
    return examples


def groups_of(split: list[Example]) -> set[str]:
    return {e.reply for e in split}


def test_no_reply_group_lands_in_two_splits():
    result = split_by_group(corpus(), SplitSection(stratify="family"))
    train, val, test = (groups_of(result.splits[s]) for s in SPLITS)
    assert not (train & val) and not (train & test) and not (val & test)
    assert val and test


def test_group_by_a_field():
    result = split_by_group(corpus(), SplitSection(group_by="saying_id"))
    ids = [{e.meta["saying_id"] for e in result.splits[s]} for s in SPLITS]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_every_row_lands_in_exactly_one_split():
    examples = corpus()
    result = split_by_group(examples, SplitSection(stratify="family"))
    sources = [e.source for s in SPLITS for e in result.splits[s]]
    assert sorted(sources) == sorted(e.source for e in examples)


def test_each_stratum_share_within_one_group_of_ideal():
    examples = corpus()
    cfg = SplitSection(stratify="family")
    result = split_by_group(examples, cfg)
    largest_group = max(Counter(e.reply for e in examples).values())
    totals = Counter(e.meta["family"] for e in examples)
    for split, fraction in (("train", cfg.train), ("val", cfg.val), ("test", cfg.test)):
        got = Counter(e.meta["family"] for e in result.splits[split])
        for family, total in totals.items():
            assert abs(got[family] - fraction * total) <= largest_group, (split, family, got[family], fraction * total)


def test_same_seed_same_split_different_seed_different():
    examples = corpus()
    a = split_by_group(examples, SplitSection(seed=3))
    b = split_by_group(corpus(), SplitSection(seed=3))
    c = split_by_group(examples, SplitSection(seed=4))
    assert [[e.source for e in a.splits[s]] for s in SPLITS] == [[e.source for e in b.splits[s]] for s in SPLITS]
    assert [e.source for e in a.splits["test"]] != [e.source for e in c.splits["test"]]


def test_per_row_split_when_group_by_is_null():
    examples = [Example(f"f:{i}", [{"role": "user", "content": "same"}, {"role": "assistant", "content": "same"}], {}) for i in range(100)]
    result = split_by_group(examples, SplitSection(group_by=None))
    assert [len(result.splits[s]) for s in SPLITS] == [90, 5, 5]


def test_missing_stratify_field_is_a_clear_error():
    from slmforge.core.errors import DataError

    with pytest.raises(DataError, match=r"f:1: field 'nope' named by data.split.stratify is missing"):
        split_by_group(corpus(10), SplitSection(stratify="nope"))


def test_many_small_strata_still_give_every_split_its_share():
    # 30 strata of 7 rows: rounding each stratum on its own would give val/test ~1 row in 7 each
    # time or none at all; overall shares must still come out near 90/5/5.
    examples = [
        Example(f"f:{i}", [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}], {"cat": i % 30})
        for i in range(210)
    ]
    result = split_by_group(examples, SplitSection(stratify="cat", group_by=None))
    sizes = {s: len(result.splits[s]) for s in SPLITS}
    assert abs(sizes["test"] - 10.5) <= 2 and abs(sizes["val"] - 10.5) <= 2, sizes


# --------------------------------------------------------------------------- data.split.unseen
def phrased_corpus(n_sayings: int = 400, seed: int = 2) -> list[Example]:
    """Four prompts per saying, each from one of 20 phrasings; persona prompts also name one of 10 personas."""
    rng = random.Random(seed)
    examples = []
    for s in range(n_sayings):
        for p in range(4):
            phrasing = f"kind{p}:{rng.randrange(5)}"
            persona = f"persona {rng.randrange(10)}" if p == 2 else None
            meta = {"family": ["a", "b", "c"][s % 3], "meta_phrasing": phrasing, "meta_persona": persona}
            examples.append(Example(f"f:{len(examples) + 1}", [{"role": "user", "content": f"{phrasing} {persona} {s}"},
                                                                {"role": "assistant", "content": f"saying {s}"}], meta))
    return examples


UNSEEN = [{"field": "meta_phrasing", "share": 0.2}, {"field": "meta_persona", "share": 0.2}]


def test_held_out_phrasings_and_personas_never_reach_train_or_val_and_are_the_tests_unseen_part():
    examples = phrased_corpus()
    result = split_by_group(examples, SplitSection(stratify="family", unseen=UNSEEN))
    held = result.held_out
    assert len(held["meta_phrasing"]) == 4 and len(held["meta_persona"]) == 2  # 20 % of 20 and of 10 values
    for split in ("train", "val"):
        for ex in result.splits[split]:
            assert ex.meta["meta_phrasing"] not in held["meta_phrasing"] and ex.meta["meta_persona"] not in held["meta_persona"]
    test = result.splits["test"]
    unseen = [e for e in test if e.meta["split_part"] == "unseen"]
    assert unseen and len(unseen) < len(test)  # both parts exist
    for ex in test:
        fields = [f for f in ("meta_phrasing", "meta_persona") if ex.meta[f] in held[f]]
        assert ex.meta["split_part"] == ("unseen" if fields else "seen")
        assert ex.meta.get("unseen_fields", []) == fields


def test_with_held_out_values_every_row_is_in_one_split_or_counted_as_dropped_and_no_reply_spans_two():
    examples = phrased_corpus()
    result = split_by_group(examples, SplitSection(stratify="family", unseen=UNSEEN))
    sources = [e.source for s in SPLITS for e in result.splits[s]] + [e.source for e in result.dropped]
    assert sorted(sources) == sorted(e.source for e in examples)
    assert all(e.meta["meta_phrasing"] in result.held_out["meta_phrasing"] or e.meta["meta_persona"] in result.held_out["meta_persona"]
               for e in result.dropped)  # only held-out rows are ever dropped
    train, val, test = (groups_of(result.splits[s]) for s in SPLITS)
    assert not (train & val) and not (train & test) and not (val & test)
    # Groups with only held-out rows go to test beyond its share; mixed ones fill the share, not more.
    whole = 4 * result.unseen_groups
    assert abs(len(result.splits["test"]) - whole - 0.05 * (len(examples) - whole)) <= 4


def test_per_row_split_sends_every_held_out_row_to_test_and_drops_none():
    examples = phrased_corpus(100)
    result = split_by_group(examples, SplitSection(group_by=None, unseen=[{"field": "meta_phrasing", "share": 0.2}]))
    unseen = [e for e in examples if e.meta["meta_phrasing"] in result.held_out["meta_phrasing"]]
    assert not result.dropped and result.unseen_groups == len(unseen)
    assert sum(e.meta["split_part"] == "unseen" for e in result.splits["test"]) == len(unseen)


def test_held_out_values_are_the_same_for_the_same_seed():
    a = split_by_group(phrased_corpus(), SplitSection(unseen=UNSEEN, seed=1)).held_out
    b = split_by_group(phrased_corpus(), SplitSection(unseen=UNSEEN, seed=1)).held_out
    c = split_by_group(phrased_corpus(), SplitSection(unseen=UNSEEN, seed=2)).held_out
    assert a == b and a != c


def test_a_held_out_field_no_row_has_or_with_one_value_is_a_clear_error():
    from slmforge.core.errors import DataError

    with pytest.raises(DataError, match=r"data.split.unseen: no row has the field 'meta_phrase' \(fields: family"):
        split_by_group(phrased_corpus(10), SplitSection(unseen=[{"field": "meta_phrase", "share": 0.2}]))
    with pytest.raises(DataError, match="'family' has one value"):
        split_by_group(corpus(10)[:1], SplitSection(unseen=[{"field": "family", "share": 0.5}]))
