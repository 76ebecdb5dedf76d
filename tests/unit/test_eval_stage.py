"""Evaluation on tiny models: loss with training's masking, batched generation, the full stage."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from slmforge.core.errors import RecipeError, RunDirError
from slmforge.core.sections import FLOOR_METRICS
from slmforge.evaluate.stage import evaluate
from slmforge.evaluate.task_metrics import parse_number
from slmforge.runtime.generation import Sampling, generate
from slmforge.runtime.loss import read_tokenized, token_loss
from tests.helpers.eval_runs import folksy_rows, prepared_run, price_rows, quiet, save_adapter

NUMBER_METRICS = {"mae", "mae_all", "rmse", "within_10pct", "parse_failures"}


@pytest.fixture(scope="module")
def tiny(tiny_qwen2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_qwen2), AutoTokenizer.from_pretrained(tiny_qwen2)


def test_loss_is_per_reply_token_and_does_not_depend_on_batching(tmp_path, tiny_qwen2, tiny):
    model, _ = tiny
    _, run = prepared_run(tmp_path, tiny_qwen2, folksy_rows())
    ids, labels = read_tokenized(run.tokenized_file("test"))
    one = token_loss(model, ids, labels, batch_size=1)
    many = token_loss(model, ids, labels, batch_size=7)
    assert one.loss == pytest.approx(many.loss, rel=1e-5)
    assert one.tokens == sum(sum(1 for t in row[1:] if t != -100) for row in labels)
    # By hand for the first row: mean NLL of the reply tokens only.
    logits = model(input_ids=torch.tensor([ids[0]])).logits[0, :-1]
    target = torch.tensor(labels[0][1:])
    keep = target != -100
    by_hand = torch.nn.functional.cross_entropy(logits[keep], target[keep]).item()
    assert token_loss(model, ids[:1], labels[:1]).loss == pytest.approx(by_hand, rel=1e-5)
    assert one.perplexity == pytest.approx(math.exp(one.loss))


def test_batched_generation_matches_one_at_a_time(tiny):
    model, tokenizer = tiny
    side = tokenizer.padding_side
    conversations = [[{"role": "user", "content": text}] for text in
                     ["Hi", "Tell me about a tractor and a barn and a river.", "Price?", "What would a farmer say about the weather?"]]
    batched = generate(model, tokenizer, conversations, Sampling(max_new_tokens=6, batch_size=4))
    single = generate(model, tokenizer, conversations, Sampling(max_new_tokens=6, batch_size=1))
    assert batched.texts == single.texts
    assert all(0 < n <= 6 for n in batched.new_tokens)
    assert tokenizer.padding_side == side  # left padding is only borrowed for generation
    seeded = [generate(model, tokenizer, conversations, Sampling(max_new_tokens=6, temperature=1.0, top_p=0.9, seed=3)).texts
              for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_eval_scores_base_and_fine_tuned_side_by_side_and_writes_its_files(tmp_path, tiny_qwen2):
    recipe, run = prepared_run(tmp_path, tiny_qwen2, folksy_rows())
    save_adapter(tiny_qwen2, run.model)
    outputs = evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    assert results["task"] == "text"
    assert set(results["models"]) == {"base", "final", "reference"}
    for side in ("base", "final"):
        scores = results["models"][side]
        for key in ("loss", "perplexity", "bleu", "rouge_l", "distinct_1", "distinct_2", "novelty", "coverage_tv", "tokens_per_s"):
            assert isinstance(scores[key], (int, float)), key
        assert scores["coverage"]["field"] == "meta_template"
    # A LoRA with random B changes the model, so the two losses differ.
    assert results["models"]["base"]["loss"] != results["models"]["final"]["loss"]
    # The held-out references share no reply with training (group_by reply): fully novel.
    assert results["models"]["reference"]["novelty"] == 1.0
    samples = [json.loads(line) for line in (run.eval / "samples.jsonl").read_text().splitlines()]
    base = [json.loads(line) for line in (run.eval / "base_samples.jsonl").read_text().splitlines()]
    assert len(samples) == len(base) == 12 and [s["prompt"] for s in samples] == [b["prompt"] for b in base]
    assert {"prompt", "output", "reference", "meta"} <= set(samples[0])
    rows = list(csv.DictReader(open(run.eval / "spotcheck.csv")))
    assert len(rows) == 5 and all(r["rating"] == "" for r in rows)
    assert {p.name for p in outputs} == {"samples.jsonl", "base_samples.jsonl", "spotcheck.csv", "results.json",
                                         "diversity_samples.jsonl", "base_diversity_samples.jsonl"}


def test_eval_sees_empty_answers_and_samples_several_answers_per_prompt(tmp_path, tiny_qwen2):
    recipe, run = prepared_run(tmp_path, tiny_qwen2, folksy_rows(), diversity_prompts=3, diversity_samples=3)
    save_adapter(tiny_qwen2, run.model)
    evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    samples = [json.loads(line) for line in (run.eval / "samples.jsonl").read_text().splitlines()]
    final = results["models"]["final"]
    assert final["stopped"] == sum(s["stopped"] for s in samples) / len(samples)
    assert final["degenerate"] == sum(1 for s in samples if s["degenerate"]) / len(samples)
    assert sum(final["degenerate_by_reason"].values()) == sum(1 for s in samples if s["degenerate"])
    assert 0 <= final["sample_distinctness"] <= 1 and isinstance(final["top_frame_share"], float) and final["mean_words"] >= 0
    drawn = [json.loads(line) for line in (run.eval / "diversity_samples.jsonl").read_text().splitlines()]
    assert [d["id"] for d in drawn] == [0, 1, 2] and all(len(d["outputs"]) == 3 for d in drawn)
    assert drawn[0]["prompt"] == samples[0]["prompt"]
    # The references are the data's own level: scored once per distinct saying, never on stops or samples.
    reference = results["models"]["reference"]
    assert reference["degenerate"] == 0.0 and "stopped" not in reference and "sample_distinctness" not in reference
    assert results["diversity"] == {"prompts": 3, "samples": 3, "temperature": 0.8, "top_p": 1.0}
    # Every metric a recipe's floor may name (core checks names at load) is one eval writes for a text task.
    assert set(FLOOR_METRICS) - NUMBER_METRICS <= set(final)
    assert results["spotcheck"]["rows"] == 5 and results["spotcheck"]["command"].startswith("slmforge rate ")


def test_eval_scores_the_seen_and_unseen_parts_and_checks_the_floors_on_one(tmp_path, tiny_qwen2):
    rows = [{**r, "meta_phrasing": f"p{i % 5}"} for i, r in enumerate(folksy_rows())]
    floors = {"part": "unseen", "metrics": {"stopped": {"min": 0.0}, "mean_words": {"min": 1000}}}
    recipe, run = prepared_run(tmp_path, tiny_qwen2, rows, split={"unseen": [{"field": "meta_phrasing", "share": 0.2}]},
                               samples=30, floors=floors, diversity_prompts=0)
    report = json.loads((run.data / "data_report.json").read_text())
    unseen = report["unseen"]
    assert unseen["fields"]["meta_phrasing"]["values"] == 5 and len(unseen["fields"]["meta_phrasing"]["held_out"]) == 1
    assert unseen["test_rows"]["unseen"] == 12 and unseen["dropped"] == 0  # one reply per row: held-out rows all go to test
    save_adapter(tiny_qwen2, run.model)
    evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    parts = results["parts"]
    assert parts["seen"]["prompts"] + parts["unseen"]["prompts"] == results["prompts"] and parts["unseen"]["prompts"] == 12
    for part in parts.values():
        assert set(part["models"]) == {"base", "final", "reference"}
        assert {"loss", "bleu", "degenerate", "novelty", "stopped"} <= set(part["models"]["final"])
    # The whole split's loss is the token-weighted mean of its parts'.
    whole, seen, new = (x["models"]["final"] for x in (results, parts["seen"], parts["unseen"]))
    assert whole["loss"] == pytest.approx((seen["loss"] * seen["loss_tokens"] + new["loss"] * new["loss_tokens"]) / whole["loss_tokens"])
    assert results["floors"]["part"] == "unseen" and results["floors"]["model"] == "final" and results["floors"]["pass"] is False
    assert [(r["metric"], r["pass"]) for r in results["floors"]["rows"]] == [("stopped", True), ("mean_words", False)]
    assert results["floors"]["rows"][1]["value"] == new["mean_words"]


def test_price_task_is_detected_and_scored_against_classic_baselines(tmp_path, tiny_qwen2):
    recipe, run = prepared_run(tmp_path, tiny_qwen2, price_rows(), stratify="category", compare_base=False, spotcheck=0)
    run.model.mkdir(parents=True)
    save_adapter(tiny_qwen2, run.model)
    evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    assert results["task"] == "number"
    assert set(results["baselines"]) == {"mean", "group median", "tf-idf ridge"}
    final = results["models"]["final"]
    # Replies without a number are counted as failures, never dropped from the count.
    samples = [json.loads(line) for line in (run.eval / "samples.jsonl").read_text().splitlines()]
    assert final["n"] == 12
    assert final["parse_failures"] == sum(1 for s in samples if parse_number(s["output"]) is None)
    assert final["mae_all"] is not None
    # Prose metrics say nothing about "Price is $X": not computed, so no table row reads 0 % novel / 75 copies.
    assert NUMBER_METRICS | {"loss", "perplexity", "exact_match", "stopped"} <= set(final)
    assert not {"novelty", "exact_copies", "near_copies", "distinct_2", "bleu", "degenerate", "coverage_tv"} & set(final)
    # Prices depend on category only (plus a little noise): the group median nails them.
    assert results["baselines"]["group median"]["mae"] < results["baselines"]["mean"]["mae"]
    assert not (run.eval / "base_samples.jsonl").exists()


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_custom_metric_named_in_the_recipe_joins_the_results(tmp_path, tiny_qwen2, monkeypatch):
    (tmp_path / "my_metrics.py").write_text(
        "def lengths(outputs, references, metas):\n    return {'mean_chars': sum(map(len, outputs)) / len(outputs)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe, run = prepared_run(tmp_path, tiny_qwen2, folksy_rows(), custom_metrics=["my_metrics:lengths"], compare_base=False)
    evaluate(recipe, run, quiet, model="base")
    results = json.loads((run.eval / "results.json").read_text())
    assert "mean_chars" in results["models"]["base"]

    recipe.eval.custom_metrics = ["my_metrics:nothing_here"]
    with pytest.raises(RecipeError, match="eval.custom_metrics: my_metrics has no function nothing_here"):
        evaluate(recipe, run, quiet, model="base")


def test_final_without_a_trained_model_says_to_train_first(tmp_path, tiny_qwen2):
    recipe, run = prepared_run(tmp_path, tiny_qwen2, folksy_rows())
    with pytest.raises(RunDirError, match="no fine-tuned model; run `slmforge train RECIPE` first"):
        evaluate(recipe, run, quiet)
