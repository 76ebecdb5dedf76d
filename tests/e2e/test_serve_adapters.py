"""Many adapters on one base: `slmforge serve runs/a runs/b runs/c` loads the base once and answers each name with
its own run's adapter, in batches the names share (peft's per-row adapters), under concurrent mixed traffic too."""

from __future__ import annotations

import json
import re
import threading

import httpx
import openai
import yaml

from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from slmforge.runtime.generation import Sampling, generate
from slmforge.runtime.serve.app import build_app
from slmforge.runtime.serve.engine import AdapterView
from slmforge.runtime.serve.launch import build_engines
from slmforge.runtime.serve.loading import ModelSpec
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeOptions
from slmforge.runtime.serve.server import ServerThread
from slmforge.runtime.trained import load_trained

ANIMALS = {"a": "goat", "b": "heron", "c": "badger"}
PROMPTS = ["Tell me about the goat.", "Say something about rain.", "What does the badger do?", "Any news?"]
# Every request starts with the same system turn, as an app's requests do: the engine's prefix cache keeps its keys
# and values per adapter (a LoRA changes them), and a request must still get its own adapter's answer.
SYSTEM = {"role": "system", "content": "Answer in a few words."}


def train_run(tmp_path, base, name: str):
    animal = ANIMALS[name]
    rows = [{"input": f"Question {i} for you.", "output": f"The {animal} {animal} {animal} sleeps."} for i in range(40)]
    (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": name, "model": {"id": str(base)}, "data": {"path": str(tmp_path / f"{name}.jsonl"), "max_length": 48},
           "train": {"method": "lora", "max_steps": 8, "batch_size": 8, "lr": 3e-2, "precision": "fp32", "save_steps": 100,
                     "logging_steps": 4, "seed": {"a": 1, "b": 2, "c": 3}[name]}}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    recipe = load(tmp_path / f"{name}.yaml")
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    return recipe


def reference(tmp_path, recipe) -> list[str]:
    """Each run's own greedy answers, its adapter alone on its base (no batching, no other adapters)."""
    model, tokenizer = load_trained(tmp_path / "runs" / recipe.name / "model", recipe.model)
    convs = [[SYSTEM, {"role": "user", "content": p}] for p in PROMPTS]
    return generate(model, tokenizer, convs, Sampling(max_new_tokens=8, batch_size=1)).texts


def test_three_runs_on_one_base_answer_with_their_own_adapters_alone_and_mixed(tmp_path, tiny_qwen2):
    recipes = {n: train_run(tmp_path, tiny_qwen2, n) for n in ANIMALS}
    want = {n: reference(tmp_path, r) for n, r in recipes.items()}
    assert len({tuple(v) for v in want.values()}) == 3, want  # the adapters really differ
    opts = ServeOptions(port=0, cache_size=0, max_batch=16, batch_wait_ms=50)
    metrics = ServeMetrics()
    engines = build_engines([ModelSpec(n, str(tmp_path / "runs" / n)) for n in ANIMALS], opts, metrics)
    assert all(isinstance(e, AdapterView) for e in engines.values())
    assert len({id(e.shared) for e in engines.values()}) == 1  # one base model in memory
    with ServerThread(build_app(engines, opts, metrics), opts) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=120)

        def ask(name: str, i: int) -> str:
            reply = client.chat.completions.create(model=name, messages=[SYSTEM, {"role": "user", "content": PROMPTS[i]}],
                                                   temperature=0, max_tokens=8)
            return reply.choices[0].message.content

        for name in ANIMALS:  # one at a time
            assert [ask(name, i) for i in range(len(PROMPTS))] == want[name]
        got: dict[tuple[str, int], str] = {}
        jobs = [(n, i) for i in range(len(PROMPTS)) for n in ANIMALS] * 2  # 24 requests, names interleaved
        threads = [threading.Thread(target=lambda n=n, i=i: got.__setitem__((n, i), ask(n, i))) for n, i in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert got == {(n, i): want[n][i] for n, i in jobs}
        text = httpx.get(f"{url}/metrics").text
        largest = float(re.search(r'slmforge_batch_size_max\{model="a\+b\+c"\} ([0-9.]+)', text).group(1))
        assert largest > 3  # requests for different adapters were generated in the same batches
        tokens = {m: float(v) for m, v in re.findall(r'slmforge_generated_tokens_total\{model="(\w)"\} ([0-9.]+)', text)}
        assert set(tokens) == set(ANIMALS) and all(v > 0 for v in tokens.values())  # counted per served name
        reused = {m: float(v) for m, v in re.findall(r'slmforge_prefix_cache_tokens_total\{model="(\w)"\} ([0-9.]+)', text)}
        assert set(reused) == set(ANIMALS) and all(v > 0 for v in reused.values())  # each adapter's own system turn, reused
