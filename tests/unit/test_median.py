"""Median decoding of fixed-width numbers on a tiny model, checked against the whole distribution enumerated."""

from __future__ import annotations

import itertools

import pytest
import torch

from slmforge.evaluate.median import digit_ids, median_answers, median_digits, number_width


@pytest.fixture(scope="module")
def tiny(tiny_qwen2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_qwen2), AutoTokenizer.from_pretrained(tiny_qwen2)


def _enumerated_median(model, prefix: list[int], digits: list[int], width: int) -> list[int]:
    """The median of P(d1..dw) = prod of each position's softmax over the ten digits, by scoring every string."""
    strings = list(itertools.product(range(10), repeat=width))
    probs = []
    with torch.no_grad():
        for s in strings:
            ids = torch.tensor([prefix + [digits[d] for d in s]])
            logits = model(input_ids=ids).logits[0]
            p = 1.0
            for k, d in enumerate(s):
                p *= torch.softmax(logits[len(prefix) - 1 + k, digits].double(), -1)[d].item()
            probs.append(p)
    cdf = 0.0
    for s, p in zip(strings, probs):  # product order is numeric order for a fixed width
        cdf += p
        if cdf >= 0.5:
            return [digits[d] for d in s]
    raise AssertionError("probabilities do not sum to 1")


def test_the_median_read_off_digit_by_digit_is_the_median_of_the_whole_distribution(tiny):
    model, tokenizer = tiny
    digits = digit_ids(tokenizer)
    assert digits is not None
    prefixes = [tokenizer.encode(text, add_special_tokens=False) for text in
                ["Price is $", "How much does this cost to the nearest dollar? Price is $", "The price of corn is $"]]
    for p in prefixes:
        assert median_digits(model, [p], digits, 2, batch_size=1, pad_id=tokenizer.pad_token_id)[0] == \
            _enumerated_median(model, p, digits, 2)
    # Batched with left padding (three lengths in one batch) it answers what each prefix gets alone.
    alone = [median_digits(model, [p], digits, 3, 1, tokenizer.pad_token_id)[0] for p in prefixes]
    assert median_digits(model, prefixes, digits, 3, batch_size=3, pad_id=tokenizer.pad_token_id) == alone


def test_the_median_is_not_greedy_where_the_likeliest_first_digit_is_not_the_middle(tiny):
    # A distribution whose likeliest leading digit (1, 40 %) is not where half the mass lies (digit 3).
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=None):
            first = cache is None
            table = [0.0, 0.40, 0.05, 0.30, 0.25, 0, 0, 0, 0, 0] if first else [0.1] * 10
            logits = torch.full((input_ids.shape[0], input_ids.shape[1], 20), -1e9)
            logits[:, -1, 10:20] = torch.log(torch.tensor(table).clamp(min=1e-12))
            return type("Out", (), {"logits": logits, "cache": "cache"})()

    digits = list(range(10, 20))
    picked = median_digits(Fixed(), [[1, 2, 3]], digits, 2, batch_size=1, pad_id=0)[0]
    # 0.45 lies below 3; the remaining 0.05 of 0.30 is the first 1/6 of 3's branch: digit 1 of a flat second digit.
    assert picked == [13, 11]


def test_only_answers_of_the_width_are_rechosen_and_the_rest_keep_their_words(tiny):
    model, tokenizer = tiny
    digits = digit_ids(tokenizer)
    prompt = tokenizer.encode("Price?", add_special_tokens=False)
    shaped = tokenizer.encode("Price is $", add_special_tokens=False) + [digits[1], digits[0], digits[5], digits[0]]
    other = tokenizer.encode("I cannot say", add_special_tokens=False)
    short = tokenizer.encode("Price is $", add_special_tokens=False) + [digits[7], digits[7]]
    result = median_answers(model, tokenizer, [prompt] * 3, [shaped, other, short], width=4, batch_size=2)
    assert (result.rechosen, result.kept) == (1, 2)
    assert result.tokens[1:] == [other, short]
    assert result.texts[0].startswith("Price is $") and len(result.texts[0]) == len("Price is $") + 4
    assert result.texts[0][-4:].isdigit()


def test_the_width_comes_from_the_references_and_mixed_widths_turn_it_off():
    assert number_width(["Price is $0219", "Price is $4100", "Price is $0012"]) == 4
    assert number_width(["Price is $0219.00", "Price is $4100.00"]) == 4
    assert number_width(["Price is $219.00", "Price is $4,100.00"]) is None
    assert number_width(["no number here"]) is None


def test_eval_of_a_fixed_width_price_task_scores_the_median_and_keeps_greedy_beside_it(tmp_path, tiny_qwen2, monkeypatch):
    import json

    from slmforge.evaluate import stage
    from slmforge.evaluate.stage import evaluate
    from slmforge.runtime.generation import Generations
    from slmforge.runtime.tables import baseline_rows
    from tests.helpers.eval_runs import prepared_run, price_rows, quiet, save_adapter

    rows = [dict(r, output=f"Price is ${round(r['price']):04d}") for r in price_rows()]
    recipe, run = prepared_run(tmp_path, tiny_qwen2, rows, stratify="category", compare_base=False, spotcheck=0)
    run.model.mkdir(parents=True)
    save_adapter(tiny_qwen2, run.model)

    # The tiny random model cannot write "Price is $dddd" by itself: stand in for its greedy pass with one that does
    # (every answer $1050), so the median step runs on the real model's digit probabilities.
    def greedy_writes_the_format(model, tokenizer, conversations, sampling, progress=None):
        digits = digit_ids(tokenizer)
        answer = tokenizer.encode("Price is $", add_special_tokens=False) + [digits[1], digits[0], digits[5], digits[0]]
        return Generations([tokenizer.decode(answer)] * len(conversations), [list(answer) for _ in conversations],
                           [True] * len(conversations), 1.0)

    monkeypatch.setattr(stage, "generate", greedy_writes_the_format)
    evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    assert results["number_decoding"] == {"method": "median", "width": 4}
    final = results["models"]["final"]
    assert final["greedy"]["parse_failures"] == 0 and final["parse_failures"] == 0
    truths = [json.loads(line)["reference"] for line in (run.eval / "samples.jsonl").read_text().splitlines()]
    assert final["greedy"]["mae"] == pytest.approx(sum(abs(1050 - int(t[10:])) for t in truths) / len(truths))
    samples = [json.loads(line) for line in (run.eval / "samples.jsonl").read_text().splitlines()]
    assert {s["greedy_output"] for s in samples} == {"Price is $1050"}
    outputs = [s["output"] for s in samples]
    assert all(o.startswith("Price is $") and len(o) == 14 for o in outputs) and outputs != ["Price is $1050"] * len(outputs)
    names = [name for name, _ in baseline_rows(results)]
    assert "final model (median digits)" in names and "final model (greedy digits)" in names

    recipe.eval.number_decoding = "greedy"  # the argmax digits, as the server answers
    evaluate(recipe, run, quiet)
    results = json.loads((run.eval / "results.json").read_text())
    assert "number_decoding" not in results and "greedy" not in results["models"]["final"]
