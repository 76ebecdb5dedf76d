"""The batching engine: a batch answers exactly what each request would get alone, with its own
max_tokens, stop strings and sampling, and finished rows leave without waiting."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import torch

from slmforge.core.sections import ModelSection
from slmforge.runtime.models import load_model
from slmforge.runtime.serve.engine import BatchingEngine, GenerationResult, GenRequest, RequestError, SamplingParams, longest_partial_stop
from slmforge.runtime.serve.prefix import MIN_TOKENS, PrefixStore

PROMPTS = ["a penny saved", "The quick brown fox", "Give me a recipe with flour", "hi", "What would a grumpy farmer say"]


class Recorder:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.joins: list[int] = []
        self.tokens = 0
        self.cancelled = 0
        self.reused = 0

    def batch_started(self, model: str, size: int) -> None:
        self.batches.append(size)

    def tokens_generated(self, model: str, count: int) -> None:
        self.tokens += count

    def queue_depth(self, model: str, depth: int) -> None:
        pass

    def batch_joined(self, model: str, joined: int, size: int) -> None:
        self.joins.append(joined)

    def sequence_cancelled(self, model: str) -> None:
        self.cancelled += 1

    def prefix_reused(self, model: str, tokens: int) -> None:
        self.reused += tokens


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    return load_model(ModelSection(id=str(tiny_llama)))


def run_all(engine: BatchingEngine, jobs: list[tuple[list[int], SamplingParams]], stream: bool = False):
    """Submit every job at once (so they share batches) and wait for all answers."""
    results: list[GenerationResult | None] = [None] * len(jobs)
    deltas: list[list[str]] = [[] for _ in jobs]
    finished_at = [0.0] * len(jobs)
    done = [threading.Event() for _ in jobs]
    for i, (ids, params) in enumerate(jobs):
        def on_done(r, i=i):
            results[i], finished_at[i] = r, time.perf_counter()
            done[i].set()
        engine.submit(GenRequest(ids, params, on_done, on_delta=deltas[i].append if stream else None))
    for event in done:
        assert event.wait(60), "an engine request was never answered"
    return results, deltas, finished_at


def alone(model, ids: list[int], max_tokens: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=max_tokens, do_sample=False)
    return out[0, len(ids):].tolist()


def test_batched_greedy_answers_equal_each_request_generated_alone(tiny):
    model, tokenizer = tiny
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=50, observer=recorder)
    engine.start()
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]  # different lengths: left padding is exercised
    lengths = [3, 9, 5, 12, 7]  # per-request max_tokens inside one batch
    results, _, _ = run_all(engine, [(ids, SamplingParams(n, temperature=0)) for ids, n in zip(prompts, lengths)])
    engine.stop()
    assert max(recorder.batches) > 1
    for ids, n, result in zip(prompts, lengths, results):
        expected = alone(model, ids, n)
        eos = tokenizer.eos_token_id
        until_eos = expected[: expected.index(eos)] if eos in expected else expected
        expected_text = tokenizer.decode(until_eos, skip_special_tokens=True)
        assert result.text == expected_text
        assert result.completion_tokens <= n
        assert result.finish_reason == ("length" if eos not in expected else "stop")


def test_short_request_is_answered_before_the_long_one_in_its_batch_finishes(tiny):
    model, tokenizer = tiny
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=50, observer=recorder)
    engine.start()
    ids = tokenizer("a penny saved")["input_ids"]
    # Sampling at a high temperature practically never hits end-of-turn, so lengths are what we ask.
    jobs = [(ids, SamplingParams(2, temperature=1.5, seed=1)), (ids, SamplingParams(300, temperature=1.5, seed=2))]
    results, _, finished_at = run_all(engine, jobs)
    engine.stop()
    assert recorder.batches == [2]
    assert results[0].completion_tokens <= 2 < results[1].completion_tokens
    assert finished_at[0] < finished_at[1]


def test_stop_string_cuts_the_answer_and_is_never_streamed(tiny):
    model, tokenizer = tiny
    engine = BatchingEngine("t", model, tokenizer, max_batch=4, batch_wait_ms=1)
    engine.start()
    ids = tokenizer("The quick brown fox")["input_ids"]
    (free,), _, _ = run_all(engine, [(ids, SamplingParams(30, temperature=0))])
    assert len(free.text) > 6, "the tiny model should say something to cut"
    stop = free.text[4:7]
    (cut,), (deltas,), _ = run_all(engine, [(ids, SamplingParams(30, temperature=0, stop=(stop,)))], stream=True)
    engine.stop()
    assert cut.text == free.text[: free.text.index(stop)]
    assert cut.finish_reason == "stop"
    assert "".join(deltas) == cut.text
    assert stop not in "".join(deltas)


def test_seeded_sampling_repeats_and_differs_from_another_seed(tiny):
    model, tokenizer = tiny
    engine = BatchingEngine("t", model, tokenizer, max_batch=4, batch_wait_ms=20)
    engine.start()
    ids = tokenizer("hi")["input_ids"]
    params = [SamplingParams(20, temperature=1.0, top_p=0.9, seed=s) for s in (7, 7, 8)]
    results, _, _ = run_all(engine, [(ids, p) for p in params])
    engine.stop()
    assert results[0].text == results[1].text
    assert results[0].text != results[2].text


def test_stop_drains_queued_requests_before_the_worker_ends(tiny):
    model, tokenizer = tiny
    engine = BatchingEngine("t", model, tokenizer, max_batch=2, batch_wait_ms=0)
    engine.start()
    answered = []
    ids = tokenizer("hi")["input_ids"]
    for _ in range(6):
        engine.submit(GenRequest(ids, SamplingParams(5, temperature=0), answered.append))
    engine.stop()
    assert len(answered) == 6 and all(isinstance(r, GenerationResult) for r in answered)


def test_cancelled_request_leaves_the_batch_early(tiny):
    model, tokenizer = tiny
    engine = BatchingEngine("t", model, tokenizer, max_batch=2, batch_wait_ms=20)
    engine.start()
    ids = tokenizer("hi")["input_ids"]
    got: list[GenerationResult] = []
    request = GenRequest(ids, SamplingParams(500, temperature=1.5, seed=0), got.append,
                         on_delta=lambda d: request.cancelled.set())
    engine.submit(request)
    engine.stop()
    assert got[0].completion_tokens < 5


@pytest.mark.parametrize("text, stops, held", [
    ("Hello wor", ("world",), 3), ("Hello", ("xyz",), 0), ("abc", ("c!", "bc?"), 2), ("", ("a",), 0),
])
def test_stream_holds_back_only_what_could_become_a_stop_string(text, stops, held):
    assert longest_partial_stop(text, stops) == held


def test_requests_arriving_mid_batch_join_it_and_still_get_their_own_answer(tiny):
    model, tokenizer = tiny
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=0, observer=recorder)
    engine.start()
    started = threading.Event()
    long_done: list[GenerationResult] = []
    first = tokenizer("hi")["input_ids"]
    engine.submit(GenRequest(first, SamplingParams(400, temperature=1.5, seed=3), long_done.append,
                             on_delta=lambda d: started.set()))
    assert started.wait(30)
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS[:3]]  # longer and shorter than the running row
    results, _, _ = run_all(engine, [(ids, SamplingParams(6, temperature=0)) for ids in prompts])
    engine.stop()
    assert sum(recorder.joins) >= 1 and recorder.batches[0] == 1
    for ids, result in zip(prompts, results):
        expected = alone(model, ids, 6)
        eos = tokenizer.eos_token_id
        assert result.text == tokenizer.decode(expected[: expected.index(eos)] if eos in expected else expected,
                                               skip_special_tokens=True)
    assert long_done and long_done[0].completion_tokens > 6


def test_a_bad_seed_fails_its_own_row_and_the_other_12_of_the_batch_are_answered(tiny):
    model, tokenizer = tiny
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=16, batch_wait_ms=100, observer=recorder)
    engine.start()
    ids = tokenizer("a penny saved")["input_ids"]
    seeds = [*range(6), 2**64, *range(6, 12)]  # torch's manual_seed takes [-2**63, 2**64): 2**64 overflows
    results, _, _ = run_all(engine, [(ids, SamplingParams(4, temperature=1.0, seed=s)) for s in seeds])
    engine.stop()
    assert recorder.batches == [12]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(results[6], RequestError) and "seed" in str(results[6])
    assert sum(isinstance(r, GenerationResult) for r in results) == 12


def test_a_bad_row_joining_a_running_batch_fails_alone_and_the_batch_goes_on(tiny):
    model, tokenizer = tiny
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=0, observer=recorder)
    engine.start()
    started = threading.Event()
    long_done: list[GenerationResult] = []
    engine.submit(GenRequest(tokenizer("hi")["input_ids"], SamplingParams(300, temperature=1.5, seed=3), long_done.append,
                             on_delta=lambda d: started.set()))
    assert started.wait(30)
    ids = tokenizer("The quick brown fox")["input_ids"]
    seeds = [1, -(2**63) - 1, 2]
    results, _, _ = run_all(engine, [(ids, SamplingParams(6, temperature=1.0, seed=s)) for s in seeds])
    engine.stop()
    assert sum(recorder.joins) >= 1
    assert isinstance(results[1], RequestError)
    assert isinstance(results[0], GenerationResult) and isinstance(results[2], GenerationResult)
    assert long_done and isinstance(long_done[0], GenerationResult) and long_done[0].completion_tokens > 6


def test_vanishing_temperature_or_top_p_is_greedy_instead_of_nan(tiny):
    model, tokenizer = tiny
    engine = BatchingEngine("t", model, tokenizer, max_batch=4, batch_wait_ms=20)
    engine.start()
    ids = tokenizer("What would a grumpy farmer say")["input_ids"]
    # 1e-41 / 1e-46 are floats a client can send: the first divides logits to inf, the second
    # underflows to 0 in float32, so sampling would see NaN or no token left at all.
    params = [SamplingParams(8, temperature=0), SamplingParams(8, temperature=1e-41, seed=1),
              SamplingParams(8, temperature=1.0, top_p=1e-46, seed=1)]
    results, _, _ = run_all(engine, [(ids, p) for p in params])
    engine.stop()
    assert all(isinstance(r, GenerationResult) for r in results), results
    assert results[1].text == results[0].text and results[2].text == results[0].text


def test_prompts_sharing_a_beginning_run_it_once_and_answer_as_they_would_alone(sharp):
    model, tokenizer = sharp
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=50, observer=recorder, prefix_cache_mb=16)
    engine.start()
    head = tokenizer("You are a careful assistant. Answer in one short sentence about farms, weather and money.")["input_ids"]
    rule = tokenizer(" Never use a word longer than nine letters, and never repeat yourself.", add_special_tokens=False)["input_ids"]
    assert len(head) >= MIN_TOKENS and len(rule) >= MIN_TOKENS
    prompts = [head + rule + tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    first, _, _ = run_all(engine, [(head + [7, 8], SamplingParams(8, temperature=0))])  # runs its beginning alone, keeps it
    assert recorder.reused == 0
    # A batch: the stored head, then `rule` run once for all five rows (and stored), then each row's own text.
    results, _, _ = run_all(engine, [(ids, SamplingParams(8, temperature=0)) for ids in prompts])
    # One more that arrives while a batch runs (sent at that batch's first token): its prefill joins from the store too.
    late = head + rule + tokenizer(" and then some", add_special_tokens=False)["input_ids"]
    joined: list[GenerationResult] = []
    done = threading.Event()

    def send_late(_delta: str) -> None:
        if not done.is_set() and not joined:
            joined.append(None)  # once
            engine.submit(GenRequest(late, SamplingParams(8, temperature=0), lambda r: (joined.__setitem__(0, r), done.set())))

    engine.submit(GenRequest(prompts[1], SamplingParams(40, temperature=1.5, seed=3), lambda r: None, on_delta=send_late))
    assert done.wait(60)
    engine.stop()
    assert recorder.joins, "the late request should have joined the running batch"
    assert recorder.reused >= len(head) + len(head + rule) * (len(prompts) - 1) + len(head + rule) * 2
    eos = tokenizer.eos_token_id
    for ids, result in zip([head + [7, 8], *prompts, late], [*first, *results, joined[0]]):
        expected = alone(model, ids, 8)
        assert result.text == tokenizer.decode(expected[: expected.index(eos)] if eos in expected else expected, skip_special_tokens=True)


def test_prefix_store_finds_the_longest_shared_beginning_of_the_same_adapter_and_forgets_the_oldest():
    def kv(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        t = torch.arange(n, dtype=torch.float32).view(1, 1, n, 1)
        return [(t, t + 1)]

    a, b = list(range(100, 130)), list(range(200, 230))
    store = PrefixStore(budget_bytes=50 * 2 * 4)  # 50 tokens of one layer's key and value, one float each
    store.add(None, a, kv(30))
    found, layers = store.lookup(None, a[:20] + [1, 2, 3])
    assert found == 20 and layers[0][0].shape[2] == 20 and layers[0][1][0, 0, -1, 0].item() == 20  # sliced to the match
    assert store.lookup("other-adapter", a)[0] == 0  # a LoRA's keys of the same tokens differ
    assert store.lookup(None, a[: MIN_TOKENS - 1] + [1])[0] == 0  # too short a match to be worth it
    store.add(None, b, kv(30))  # 60 tokens' worth > 50: the least recently used goes
    assert store.lookup(None, a)[0] == 0 and store.lookup(None, b)[0] == 30


def test_a_batch_that_keeps_taking_newcomers_stays_as_narrow_as_its_rows_and_each_answers_as_alone(sharp):
    """Under steady traffic the running batch never ends and each newcomer is padded to its width: the keys and
    values no row attends to any more must be dropped, or the cache grows a column a step while the server is busy."""
    model, tokenizer = sharp
    engine = BatchingEngine("t", model, tokenizer, max_batch=8, batch_wait_ms=0)
    engine.eos_ids = set()  # every row runs its 10 tokens (this random model often ends at once): the chain holds
    widths: list[int] = []
    forward = model.forward

    def recording(*args, **kwargs):
        widths.append(kwargs["attention_mask"].shape[1])
        return forward(*args, **kwargs)

    prompts = [tokenizer(f"{PROMPTS[i % len(PROMPTS)]} number {i}")["input_ids"] for i in range(24)]
    results: list[GenerationResult | None] = [None] * len(prompts)
    done = threading.Event()

    def send(i: int) -> None:  # each request sends the next one at its sixth piece of text: ~2 rows at a time, one batch
        pieces = []

        def on_delta(delta: str) -> None:
            pieces.append(delta)
            if len(pieces) == 6 and i + 1 < len(prompts):
                send(i + 1)

        def on_done(result, i=i) -> None:
            results[i] = result
            if len(pieces) < 6 and i + 1 < len(prompts):  # fewer pieces than that (text held back, empty tokens)
                pieces.extend([""] * 6)
                send(i + 1)
            if all(r is not None for r in results):
                done.set()

        engine.submit(GenRequest(prompts[i], SamplingParams(10, temperature=0), on_done, on_delta=on_delta))

    model.forward = recording
    try:
        engine.start()
        send(0)
        assert done.wait(120), "a request of the chain was never answered"
        engine.stop()
    finally:
        model.forward = forward
    needed = max(len(ids) for ids in prompts) + 10
    assert len(widths) > 3 * needed, "the chain should have kept one batch running for many steps"
    assert max(widths) <= needed + needed // 2 + 16, f"the batch grew to {max(widths)} columns; its rows need {needed}"
    for ids, result in zip(prompts, results):
        assert result.text == tokenizer.decode(greedy_without_cache(model, ids, 10), skip_special_tokens=True)


def greedy_without_cache(model, ids: list[int], n: int) -> list[int]:
    """`n` greedy tokens after `ids`, each from a full forward of everything before it (end of turn not special)."""
    sequence = list(ids)
    with torch.inference_mode():
        for _ in range(n):
            sequence.append(int(model(input_ids=torch.tensor([sequence])).logits[0, -1].argmax()))
    return sequence[len(ids):]


def test_newcomers_join_a_running_batch_in_groups_and_a_lone_one_waits_only_a_few_steps(sharp):
    """A join is a forward pass of its own: newcomers arriving one a step are taken a few at a time, not one by one;
    one that arrives alone is taken within JOIN_PATIENCE + 1 steps. Each still answers as it would alone."""
    from slmforge.runtime.serve.engine import JOIN_GROUP, JOIN_PATIENCE

    model, tokenizer = sharp
    recorder = Recorder()
    engine = BatchingEngine("t", model, tokenizer, max_batch=16, batch_wait_ms=50, observer=recorder)
    engine.eos_ids = set()  # every row runs all its tokens
    kinds: list[str] = []
    forward = model.forward

    def recording(*args, **kwargs):
        kinds.append("decode" if kwargs["input_ids"].shape[1] == 1 else "prefill")
        return forward(*args, **kwargs)

    running = [tokenizer(f"{p} and so on")["input_ids"] for p in PROMPTS[:4]] * 2  # 8 rows
    newcomers = [tokenizer(f"newcomer {i} says")["input_ids"] for i in range(6)]
    lone = tokenizer("a lone late one")["input_ids"]
    results: dict[str, GenerationResult] = {}
    done = threading.Event()
    sent_lone_at: list[int] = []
    expected = 1 + len(running) + len(newcomers)

    def finished(key: str):
        def on_done(result) -> None:
            results[key] = result
            if len(results) == expected:
                done.set()
        return on_done

    steps = itertools.count(1)

    def each_step(_delta: str) -> None:
        step = next(steps)
        if step <= len(newcomers):  # one newcomer a step, for six steps
            engine.submit(GenRequest(newcomers[step - 1], SamplingParams(6, temperature=0), finished(f"n{step - 1}")))
        elif step == 20:  # long after they all joined: one alone
            sent_lone_at.append(len(kinds))
            engine.submit(GenRequest(lone, SamplingParams(6, temperature=0), finished("lone")))

    model.forward = recording
    try:
        for i, ids in enumerate(running):
            engine.submit(GenRequest(ids, SamplingParams(40, temperature=0), finished(f"r{i}"),
                                     on_delta=each_step if i == 0 else None))
        engine.start()
        assert done.wait(120), "a request was never answered"
        engine.stop()
    finally:
        model.forward = forward
    assert recorder.batches == [len(running)]
    assert sum(recorder.joins) == len(newcomers) + 1
    assert len(recorder.joins) <= 4 and max(recorder.joins[:-1]) >= len(running) // JOIN_GROUP, recorder.joins
    after = kinds[sent_lone_at[0]:]
    assert after.index("prefill") <= JOIN_PATIENCE + 1, "the lone newcomer waited too long to join"
    for key, ids, n in [*((f"r{i}", ids, 40) for i, ids in enumerate(running)),
                        *((f"n{i}", ids, 6) for i, ids in enumerate(newcomers)), ("lone", lone, 6)]:
        assert results[key].text == tokenizer.decode(greedy_without_cache(model, ids, n), skip_special_tokens=True), key
