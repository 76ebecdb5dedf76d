"""Metric functions on fixed inputs with answers worked out by hand."""

from __future__ import annotations

import math

import pytest

from slmforge.evaluate import task_metrics as tm
from slmforge.evaluate import text_metrics as txt


def test_distinct_n_counts_unique_ngrams_over_all_outputs():
    outputs = ["the cat sat", "the cat ran"]
    # unigrams: the cat sat the cat ran -> 4 unique / 6
    assert txt.distinct_n(outputs, 1) == pytest.approx(4 / 6)
    # bigrams: (the cat) (cat sat) (the cat) (cat ran) -> 3 unique / 4
    assert txt.distinct_n(outputs, 2) == pytest.approx(3 / 4)


def test_distinct_n_of_a_collapsed_model_is_low():
    collapsed = ["a penny saved is a penny earned"] * 10
    varied = [f"saying number {i} about a {w}" for i, w in enumerate("barn mule goat hen pig cow dog cat fox owl".split())]
    assert txt.distinct_n(collapsed, 2) < 0.2 < txt.distinct_n(varied, 2)
    assert txt.distinct_n([], 2) == 0.0


def test_novelty_counts_exact_and_near_copies_of_training_outputs():
    training = ["A penny saved is a penny earned.", "The early bird gets the worm.", "Still waters run deep."]
    outputs = [
        "a penny saved is a penny earned",  # exact copy once case and punctuation are ignored
        "The early bird gets the worms.",  # near copy: one letter added
        "A mule in the rain still knows the way home.",  # new
        "Never trust a goat with your hat.",  # new
    ]
    result = txt.novelty(outputs, training, threshold=0.85)
    assert (result.exact_copies, result.near_copies, result.total) == (1, 1, 4)
    assert result.novel == pytest.approx(0.5)
    assert result.copied_examples[0] == (outputs[0], training[0])


def test_novelty_threshold_decides_what_a_near_copy_is():
    training = ["The early bird gets the worm."]
    outputs = ["The early bird gets the fat worm."]
    assert txt.novelty(outputs, training, threshold=0.99).novel == 1.0
    assert txt.novelty(outputs, training, threshold=0.80).novel == 0.0


def test_coverage_labels_each_output_by_its_nearest_training_example():
    training = ["a cow in the barn", "a pig in the barn", "rain on the roof", "snow on the roof"]
    labels = ["farm", "farm", "weather", "weather"]
    outputs = ["a cow in the big barn", "a pig near the barn", "a goat in the barn", "rain on the tin roof"]
    cov = txt.coverage(outputs, training, labels)
    assert cov.generated == {"farm": 0.75, "weather": 0.25}
    assert cov.data == {"farm": 0.5, "weather": 0.5}
    assert cov.missing == []
    assert cov.total_variation == pytest.approx(0.25)


def test_coverage_names_labels_no_output_landed_on():
    cov = txt.coverage(["rain on the roof"], ["a cow in the barn", "rain on the roof"], ["farm", "weather"])
    assert cov.missing == ["farm"] and cov.total_variation == pytest.approx(0.5)


def test_bleu_and_rouge_are_perfect_for_identical_text_and_lower_otherwise():
    refs = ["the early bird gets the worm", "still waters run deep"]
    assert txt.bleu(refs, refs) == pytest.approx(100.0)
    assert txt.rouge_l(refs, refs) == pytest.approx(1.0)
    other = ["the late bird gets nothing", "deep waters are cold"]
    assert txt.bleu(other, refs) < 50 and txt.rouge_l(other, refs) < 0.6


@pytest.mark.parametrize(
    "text, value",
    [("Price is $123.00", 123.0), ("Price is $1,299.50", 1299.5), ("about 45 dollars", 45.0), ("no idea", None), ("", None)],
)
def test_parse_number_reads_the_first_price(text, value):
    assert tm.parse_number(text) == value


def test_a_number_answer_is_a_number_with_few_words_not_prose_mentioning_one():
    assert tm.is_number_answer("Price is $1,299.00") and tm.is_number_answer("42")
    assert not tm.is_number_answer("A mule in the barn is worth 2 in the field.")
    assert not tm.is_number_answer("no number at all")


def test_number_scores_count_parse_failures_and_never_drop_them():
    predictions = [tm.parse_number(t) for t in ["Price is $110.00", "Price is $80.00", "I cannot say", "Price is $300"]]
    truths = [100.0, 100.0, 100.0, 200.0]
    s = tm.number_scores(predictions, truths, fallback=150.0)
    assert s.parse_failures == 1 and s.n == 4
    assert s.mae == pytest.approx((10 + 20 + 100) / 3)  # over the three parsed replies
    assert s.rmse == pytest.approx(math.sqrt((100 + 400 + 10000) / 3))
    assert s.within_10pct == pytest.approx(1 / 3)  # 110 is within 10 % of 100; 80 and 300 are not
    assert s.mae_all == pytest.approx((10 + 20 + 50 + 100) / 4)  # the failure is charged |100 - 150|


def test_number_scores_when_nothing_parses():
    s = tm.number_scores([None, None], [10.0, 30.0], fallback=20.0)
    assert (s.mae, s.parse_failures, s.mae_all) == (None, 2, 10.0)


def test_exact_match_ignores_case_and_punctuation():
    assert tm.exact_match(["Price is $12.00", "price is 13"], ["price is $12.00!", "Price is $14.00"]) == 0.5


def test_baselines_mean_group_median_and_ridge():
    train_texts = ["cheap plastic kettle", "cheap steel kettle", "big steel fridge", "big white fridge"]
    train_values = [20.0, 30.0, 800.0, 1000.0]
    groups = ["kettle", "kettle", "fridge", "fridge"]
    result = tm.baselines(train_texts, train_values, groups, ["steel kettle", "white fridge"], ["kettle", "fridge"], [25.0, 900.0])
    assert set(result) == {"mean", "group median", "tf-idf ridge"}
    assert result["mean"].mae == pytest.approx(abs(462.5 - 25) / 2 + abs(462.5 - 900) / 2)
    assert result["group median"].mae == pytest.approx(0.0)
    assert result["tf-idf ridge"].mae < result["mean"].mae


def test_group_median_falls_back_to_overall_median_for_unseen_groups():
    assert tm.group_median_baseline([1.0, 3.0, 10.0], ["a", "a", "b"], ["c", "b"]) == [3.0, 10.0]


def test_empty_replies_are_neither_copies_nor_new_and_get_their_own_coverage_label():
    result = txt.novelty(["", "A brand new saying about goats."], ["The early bird gets the worm."])
    assert (result.empty, result.exact_copies, result.near_copies, result.novel) == (1, 0, 0, 0.5)
    cov = txt.coverage(["", "rain on the roof"], ["a cow in the barn", "rain on the roof"], ["farm", "weather"])
    assert cov.generated == {"(empty)": 0.5, "weather": 0.5}


def test_a_fall_in_distinct_2_comes_with_a_sentence_that_says_what_moved():
    from slmforge.evaluate.explain import distinct_notes

    base = {"distinct_2": 0.68, "mean_words": 31.0, "top_frame": "i think the", "top_frame_share": 0.05, "degenerate": 0.03,
            "sample_distinctness": 0.8}
    final = {"distinct_2": 0.45, "mean_words": 10.1, "top_frame": "is just a", "top_frame_share": 0.45, "degenerate": 0.5,
             "degenerate_by_reason": {"tautology": 14, "stock_frame": 6}, "sample_distinctness": 0.3}
    [note] = distinct_notes({"base": base, "final": final}, "final")
    assert note.startswith("distinct-2 fell from 0.68 (base) to 0.45 (final): ")
    assert "'is just a' in 45% of answers" in note and "50% of answers say nothing (base: 3%), mostly tautology" in note
    assert "shorter (10.1 vs 31.0 words)" in note and "more alike (distinctness 0.30 vs 0.80)" in note
    assert distinct_notes({"base": base, "final": {**base, "distinct_2": 0.70}}, "final") == []  # no fall, no note
    # Without a base model the references are the yardstick.
    [vs_data] = distinct_notes({"final": final, "reference": {**base, "distinct_2": 0.7}}, "final")
    assert "(reference)" in vs_data


def test_a_floor_is_failed_by_a_metric_nobody_measured():
    from slmforge.core.sections import FloorsSection
    from slmforge.evaluate.floors import check_floors

    floors = FloorsSection(part="unseen", metrics={"degenerate": {"max": 0.15}, "mean_words": {"min": 8, "max": 16}})
    results = {"models": {"final": {"degenerate": 0.0}}, "parts": {"unseen": {"prompts": 9, "models": {"final": {"degenerate": 0.2}}}}}
    checked = check_floors(floors, results, "final")
    assert checked["prompts"] == 9 and checked["pass"] is False
    assert [(r["metric"], r["value"], r["pass"]) for r in checked["rows"]] == [("degenerate", 0.2, False), ("mean_words", None, False)]
    assert check_floors(FloorsSection(), results, "final") is None
    from slmforge.runtime.tables import floors_title

    sampled = check_floors(floors, results, "final", "temperature 0.8, top_p 0.95, seed 0")
    assert floors_title({"floors": sampled}) == "floors: final on the unseen test prompts (9, temperature 0.8, top_p 0.95, seed 0): FAIL"


def test_a_part_of_the_test_split_with_no_evaluated_rows_is_left_out_not_scored_as_zeros():
    from slmforge.evaluate.parts import parts_of
    from slmforge.evaluate.records import EvalRecord

    def record(part: str | None) -> EvalRecord:
        return EvalRecord([{"role": "user", "content": "q"}], "a", {} if part is None else {"split_part": part})

    assert parts_of([record(None), record(None)]) == {}  # no data.split.unseen
    assert parts_of([record("seen"), record("unseen"), record("seen")]) == {"seen": [0, 2], "unseen": [1]}
    assert parts_of([record("seen"), record("seen")]) == {"seen": [0, 1]}
