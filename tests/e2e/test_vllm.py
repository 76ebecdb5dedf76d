"""--engine vllm and eval.engine vllm for real: vLLM's CPU build in its own environment (make vllm), behind our server.

A tiny model vLLM's CPU attention runs (head_dim 32) and whose greedy answers vary (init std 0.1: the default init
repeats one token, which would make every comparison pass trivially); two LoRA runs trained on different data.
fp32 throughout: vLLM's greedy tokens equal transformers' there (bf16 kernels differ, measured 2026-12-01).
Skipped, saying why, where vLLM is not installed (CI installs it: .ci/run runs make vllm).
"""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest
import yaml

from slmforge.core.errors import ModelError
from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from slmforge.runtime.generation import Sampling, generate
from slmforge.runtime.serve.app import build_app
from slmforge.runtime.serve.launch import build_engines
from slmforge.runtime.serve.loading import ModelSpec
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeOptions
from slmforge.runtime.serve.server import ServerThread
from slmforge.runtime.tiny_models import build_tiny_model
from slmforge.runtime.trained import load_trained
from slmforge.runtime.vllm import free_port, vllm_python

try:
    vllm_python()
except ModelError as exc:
    pytestmark = pytest.mark.skip(reason=str(exc))

KEY = "sk-vllm-test-key-0123456789"
PROMPTS = ["Tell me about the goat.", "Say something about rain.", "What does the heron do?"]
WORDS = {"a": "goat", "b": "heron"}


def write_run(tmp, base, name: str):
    word = WORDS[name]
    rows = [{"input": f"Question {i} for you.", "output": f"The {word} {word} sleeps by the {word}."} for i in range(32)]
    (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": name, "model": {"id": str(base)}, "data": {"path": str(tmp / f"{name}.jsonl"), "max_length": 48, "split": {"group_by": None, "train": 0.7, "val": 0.1, "test": 0.2}},
           "train": {"method": "lora", "max_steps": 6, "batch_size": 8, "lr": 2e-2, "precision": "fp32", "save_steps": 100,
                     "logging_steps": 3, "seed": len(name) + ord(name)},
           "eval": {"samples": 4, "max_new_tokens": 8, "batch_size": 4, "spotcheck": 0, "compare_base": False}}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    recipe = load(tmp / f"{name}.yaml")
    run_stages(recipe, tmp / "runs", ["prepare", "train"])
    return recipe


def greedy(model, tokenizer) -> list[str]:
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    return generate(model, tokenizer, convs, Sampling(max_new_tokens=8, batch_size=1)).texts


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vllm")
    base = build_tiny_model(tmp / "tiny", hidden_size=128, initializer_range=0.1)
    recipes = {n: write_run(tmp, base, n) for n in WORDS}
    from slmforge.core.sections import ModelSection
    from slmforge.runtime.models import load_model

    want = {"tiny": greedy(*load_model(ModelSection(id=str(base))))}
    for name, recipe in recipes.items():
        want[name] = greedy(*load_trained(tmp / "runs" / name / "model", recipe.model))
    assert len({tuple(v) for v in want.values()}) == 3, want  # base and both adapters answer differently
    opts = ServeOptions(port=0, cache_size=0, api_keys=[KEY], rate_limit=0.5, rate_burst=40, max_body_bytes=20_000)
    metrics = ServeMetrics()
    specs = [ModelSpec("tiny", str(base)), ModelSpec("a", str(tmp / "runs" / "a")), ModelSpec("b", str(tmp / "runs" / "b"))]
    deaths: list[str] = []
    engines = build_engines(specs, opts, metrics, engine="vllm", on_death=deaths.append)
    assert len({id(e.backend) for e in engines.values()}) == 1  # one vLLM server: the base and both adapters
    server = ServerThread(build_app(engines, opts, metrics), opts)
    server.start()
    yield {"url": server.url, "want": want, "tmp": tmp, "recipes": recipes, "engines": engines, "deaths": deaths}
    server.stop()


def client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=300)


def ask(url: str, name: str, i: int) -> str:
    reply = client(url).chat.completions.create(model=name, messages=[{"role": "user", "content": PROMPTS[i]}],
                                                temperature=0, max_tokens=8)
    return reply.choices[0].message.content


def test_each_name_answers_like_transformers_alone_and_under_mixed_traffic(world):
    url, want = world["url"], world["want"]
    for name in want:
        assert [ask(url, name, i) for i in range(len(PROMPTS))] == want[name], name
    got: dict[tuple[str, int], str] = {}
    jobs = [(n, i) for i in range(len(PROMPTS)) for n in want] * 2  # base rows mixed with both adapters' rows
    threads = [threading.Thread(target=lambda n=n, i=i: got.__setitem__((n, i), ask(url, n, i))) for n, i in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert got == {(n, i): want[n][i] for n, i in jobs}


def test_streaming_through_vllm_adds_up_to_the_answer(world):
    chunks = client(world["url"]).chat.completions.create(model="a", messages=[{"role": "user", "content": PROMPTS[0]}],
                                                          temperature=0, max_tokens=8, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == world["want"]["a"][0]


def test_our_guards_stand_in_front_of_vllm(world):
    url = world["url"]
    with pytest.raises(openai.AuthenticationError):
        client(url, key="wrong-key-wrong-key-wrong").chat.completions.create(model="a", messages=[{"role": "user", "content": "hi"}])
    big = httpx.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                     json={"model": "a", "messages": [{"role": "user", "content": "x" * 30_000}]})
    assert big.status_code == 413 and big.json()["error"]["type"]
    statuses = [httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code for _ in range(60)]
    assert 429 in statuses and set(statuses) <= {200, 429}


def test_eval_through_vllm_gives_the_answers_of_our_greedy_path(world):
    tmp, recipe = world["tmp"], world["recipes"]["a"]
    samples = tmp / "runs" / "a" / "eval" / "samples.jsonl"

    def outputs(r) -> list[str]:
        run_stages(r, tmp / "runs", ["eval"], force=True)
        return [json.loads(line)["output"] for line in samples.read_text().splitlines()]

    ours = outputs(recipe)
    theirs = outputs(load(tmp / "a.yaml", ["eval.engine=vllm"]))
    assert ours == theirs and len(ours) == 4 and any(ours)


def test_prefs_samples_k_answers_per_prompt_with_vllm_from_the_sft_adapter(world, monkeypatch):
    """prefs.engine vllm: the SFT run's adapter on its base in vLLM, k answers each, every prompt a pair or a counted drop."""
    tmp = world["tmp"]
    (tmp / "len_scorer_vllm.py").write_text("def words(prompt, answer):\n    return float(len(answer.split()))\n")
    monkeypatch.syspath_prepend(str(tmp))
    extra = ["prefs.engine=vllm", "prefs.samples=6", "prefs.k=3", "prefs.temperature=1.0", "prefs.max_new_tokens=8",
             "prefs.batch_size=3", "prefs.margin=0", "prefs.scorer=len_scorer_vllm:words"]
    run_stages(load(tmp / "a.yaml", extra), tmp / "runs", ["prefs"], force=True)
    out = tmp / "runs" / "a" / "prefs"
    report = json.loads((out / "report.json").read_text())
    assert report["prompts"] == 6 and report["pairs"] + report["dropped"] == 6 and report["answers"] == 18
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and all(len(s["answers"]) == 3 and s["sampler"].endswith("|engine=vllm") for s in samples)
    assert len({a for s in samples for a in s["answers"]}) > 6  # sampled, not one greedy answer repeated
    assert (out / "vllm.log").is_file()

def test_grpo_held_out_reward_through_vllm_rises_with_training(world, tmp_path, monkeypatch):
    """train.grpo.eval_engine vllm: before and after from one vLLM server (the starting model, then the trained
    adapter on it), after training; the rule reward (vowel share) rises there as it does through transformers."""
    from tests.helpers.prefs import write_pref_recipe
    from tests.unit.test_grpo import REWARD

    (tmp_path / "grpo_rules_vllm.py").write_text(REWARD)
    monkeypatch.syspath_prepend(str(tmp_path))
    grpo = {"reward": "grpo_rules_vllm:vowels", "num_generations": 4, "max_completion_length": 16, "eval_prompts": 40,
            "eval_engine": "vllm"}
    path = write_pref_recipe(tmp_path, world["tmp"] / "tiny", "grpo", batch_size=8, lr=1e-2, max_steps=48, logging_steps=8,
                             scheduler="constant", grpo=grpo)
    run_stages(load(path), tmp_path / "runs", ["prepare", "train"])
    logs = tmp_path / "runs" / "grpo" / "logs"
    held = json.loads((logs / "grpo.json").read_text())["held_out"]
    print("grpo through vLLM", held)
    assert held["engine"] == "vllm" and held["before"]["prompts"] == held["after"]["prompts"] == 40
    assert held["before"]["unscored"] == held["after"]["unscored"] == 0
    assert held["after"]["mean_reward"] > held["before"]["mean_reward"] + 0.1
    assert (tmp_path / "runs" / "grpo" / "model" / "adapter_config.json").is_file()
    assert (logs / "vllm-held-out.log").stat().st_size > 0


def test_the_judge_can_be_a_model_we_serve_with_vllm(world):
    """judge.server.vllm: our launcher starts vLLM with the model as judge.model on judge.endpoint's port, the judge
    stage asks it, and stops it (the port is closed after). The tiny judge's scores are noise, so not checked; its
    unparsable replies must give 'not judged', never a pass."""
    import socket

    tmp = world["tmp"]
    port = free_port()
    judge = {"enabled": True, "endpoint": f"http://127.0.0.1:{port}/v1", "model": "judge", "samples": 4, "max_tokens": 8,
             "server": {"vllm": str(tmp / "tiny"), "stop_timeout": 30}}
    recipe = load(tmp / "a.yaml", [f"judge={json.dumps(judge)}"])
    if not (tmp / "runs" / "a" / "eval" / "samples.jsonl").is_file():
        run_stages(recipe, tmp / "runs", ["eval"])
    run_stages(recipe, tmp / "runs", ["judge"], force=True)
    out = tmp / "runs" / "a" / "judge"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge_model"] == "judge" and summary["replies"] == 4 and summary["errors"] == 0, summary
    assert summary["scored"] + summary["unparsable"] == 4
    assert summary["verdict"] in ("pass", "fail") if summary["unparsable"] == 0 else summary["verdict"] == "not judged"
    assert "vllm" in (out / "server.log").read_text().lower()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # stopped


def test_a_vllm_that_dies_under_the_server_is_reported_so_the_server_can_stop(world):
    """Last in the module: it kills the shared vLLM. `slmforge serve` turns the report into exit code 2 with this line."""
    import os
    import signal
    import time

    backend = next(iter(world["engines"].values())).backend
    os.killpg(backend.server.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not world["deaths"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(world["deaths"]) == 1 and world["deaths"][0].startswith("vLLM exited with code -9 while serving"), world["deaths"]
    assert "the server stops so that it can be restarted" in world["deaths"][0]
