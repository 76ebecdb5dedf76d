"""`slmforge train` for train.method grpo: online RL against a reward (TRL's GRPOTrainer or RLOOTrainer).

Reads like preference.py: check → prompts → reward → reward on held-out prompts before → trainer →
(resume) train → held-out reward after → save model/ and logs/grpo.json. The reward is a Python
`module:function` or a full sequence-classification reward model (`train.method: reward`).

Neither GRPO nor RLOO has a value model: the baseline is the mean reward of the other completions
of the same prompt, which is why TRL 1.x dropped PPO (see docs/alignment.md). With beta 0 (the
default) there is no reference pass either; with beta > 0 and LoRA the reference is the frozen base.

`reward: judge` scores with the recipe's judge section through the runtime's judge scorer (the same
one prefs uses), connected before the model loads so a judge that is down fails in one line.
A scorer returns None for an answer it could not score (failed call, unreadable score); TRL leaves
those out of the group statistics, and logs/grpo.json counts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe, import_callable
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.runtime.pair_metrics import read_pairs
from slmforge.runtime.placement import announce, choose_precision, place
from slmforge.train.callbacks import GracefulStop, RichProgress, TokenCounter, start_metrics_log
from slmforge.train.sft import checkpoint_fingerprint, find_resume_checkpoint, lora_config, save_model, shared_trainer_args, train_until_done_or_stopped

# Mean reward of the first / last this-many logged steps in logs/grpo.json.
EDGE_LOGS = 2


def prompt_turns(row: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation up to the answer: every format's prepared rows carry messages (pairs end with the answer)."""
    turns = list(row.get("messages") or [])
    while turns and turns[-1].get("role") == "assistant":
        turns.pop()
    return turns


def read_prompts(path: Path, limit: int | None = None) -> list[list[dict[str, str]]]:
    prompts = [p for p in (prompt_turns(r) for r in read_pairs(path)) if p]
    return prompts[:limit] if limit else prompts


def check_grpo_recipe(recipe: Recipe, run: RunDir) -> None:
    # The reward and the group size were checked when the recipe loaded (core/recipe.py's rules).
    if not run.split_file("train").is_file():
        raise SlmforgeError(f"{run.split_file('train')} is missing; run `slmforge prepare RECIPE` first")


def _text(x: Any) -> str:
    """TRL hands conversational prompts/completions as message lists; user functions get the text."""
    if isinstance(x, list):
        return x[-1]["content"] if x else ""
    return str(x)


Scorer = Callable[[list[Any], list[str]], list[float | None]]


def reward_function(recipe: Recipe) -> tuple[Any, Scorer]:
    """(what GRPOTrainer takes as reward_funcs, a scorer of (prompts, completion texts) for before/after)."""
    spec = recipe.train.grpo.reward or ""
    if spec == "judge":
        fn: Callable[..., Any] = judge_reward(recipe)
    else:
        found = _function_or_model(recipe, spec)
        if isinstance(found, tuple):  # a reward model: TRL runs it itself
            return found
        fn = found
    return _as_trl(fn, "judge" if spec == "judge" else spec.partition(":")[2])


def judge_reward(recipe: Recipe) -> Callable[..., list[float | None]]:
    """train.grpo.reward: judge — the judge scorer (1-5 per answer; None when a call fails or the score is unreadable)."""
    from slmforge.runtime.judge.client import JudgeError
    from slmforge.runtime.judge.scorer import JudgeScorer

    judge = JudgeScorer(recipe)
    try:
        judge.connect()  # a judge that is down fails before the model loads
    except JudgeError as exc:
        raise JudgeError(str(exc).replace("prefs.scorer: judge", "train.grpo.reward: judge")) from None

    def reward(prompts: list[str], completions: list[str]) -> list[float | None]:
        scored = judge([[{"role": "user", "content": p}] for p in prompts], [[c] for c in completions])
        return [row[0][0] for row in scored]

    return reward


def _as_trl(fn: Callable[..., Any], name: str) -> tuple[Any, Scorer]:
    def score_fn(prompts: list[Any], completions: list[str]) -> list[float | None]:
        return [None if x is None else float(x) for x in fn(prompts=[_text(p) for p in prompts], completions=completions)]

    def for_trl(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float | None]:
        return score_fn(prompts, [_text(c) for c in completions])

    for_trl.__name__ = name  # TRL logs rewards/<name>/mean
    return for_trl, score_fn


def _function_or_model(recipe: Recipe, spec: str) -> Any:
    """A module:function, or (reward_funcs, scorer) for a reward-model directory."""
    where = Path(spec).expanduser()
    if where.is_dir():
        from slmforge.runtime.scorers import load_reward_scorer

        # TRL scores with the model itself (its own tokenizer via processing class); held-out uses score.
        return load_reward_scorer(where, recipe.data.max_length, "train.grpo.reward", recipe.model.allow_pickle)
    return import_callable(spec, "train.grpo.reward", "mypkg.rewards:short")


def held_out_reward(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], score: Callable, max_new: int,
                    batch_size: int, temperature: float, seed: int) -> dict[str, Any]:
    """Sampled answers to held-out prompts, rewarded: the figure that should rise with training.

    Sampled like training (greedy answers of a small model collapse to one repeated token), under a
    fixed seed so before and after see the same random stream."""
    from slmforge.runtime.generation import Sampling, generate

    completions = generate(model, tokenizer, prompts, Sampling(max_new, temperature, 1.0, seed, batch_size)).texts if prompts else []
    return reward_summary(prompts, completions, score)


def vllm_held_out(recipe: Recipe, run: RunDir, prompts: list[list[dict[str, str]]], score: Callable, tokenizer: Any,
                  stops: set[int], placement: Any, console: Console) -> tuple[dict[str, Any], dict[str, Any]]:
    """train.grpo.eval_engine vllm: (before, after) from vLLM, once model/ is saved and the trainer's memory is free.

    The same prompts, sampling and seeds for both passes, so before and after differ only in the weights. An adapter is
    served on its starting model, so one server answers both (the plain model for before); full weights need two."""
    from slmforge.runtime import vllm
    from slmforge.runtime.generation import Sampling
    from slmforge.runtime.prompts import prompt_ids

    g, t = recipe.train.grpo, recipe.train
    sampling = Sampling(g.max_completion_length, g.temperature, 1.0, t.seed, t.batch_size)
    ids = [prompt_ids(tokenizer, p) for p in prompts]
    model_dir, adapter = vllm.trained_files(run.model, recipe.model.id, False, run.export / "merged")
    start = model_dir if adapter is not None else vllm.plain_dir(recipe.model.id)  # the adapter's base is the start
    log = run.logs / "vllm-held-out.log"
    console.print(f"held-out reward with vLLM: {start}" + (f" + adapter {adapter}" if adapter else f", then {model_dir}") + f" · log {log}")

    def scored(gens: Any) -> dict[str, Any]:
        return reward_summary(prompts, gens.texts, score)

    with vllm.VllmGenerator(model_dir, tokenizer, placement, stops, adapter, log) as engine:
        after = scored(engine.generate(ids, sampling))
        if adapter is not None:
            return scored(engine.generate(ids, sampling, base=True)), after
    with vllm.VllmGenerator(start, tokenizer, placement, stops, None, log) as engine:
        return scored(engine.generate(ids, sampling)), after


def reward_summary(prompts: list[list[dict[str, str]]], completions: list[str], score: Callable) -> dict[str, Any]:
    scored = [r for r in (score(prompts, completions) if prompts else []) if r is not None]
    return {"prompts": len(prompts), "unscored": len(prompts) - len(scored),
            "mean_reward": sum(scored) / len(scored) if scored else None,
            "example": completions[0] if completions else None}


def grpo_args(recipe: Recipe, run: RunDir, precision: str, cuda: bool) -> Any:
    t, g = recipe.train, recipe.train.grpo
    if g.algorithm == "rloo":
        from trl import RLOOConfig as Config
    else:
        from trl import GRPOConfig as Config
    shared = shared_trainer_args(recipe, run, precision, False, cuda)
    shared.pop("dataset_num_proc")  # online methods tokenize prompts as they sample; the key does not exist there
    return Config(**shared, per_device_train_batch_size=t.batch_size,
                  num_generations=g.num_generations, max_completion_length=g.max_completion_length,
                  temperature=g.temperature, beta=g.beta, log_completions=False)


def train(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Train with GRPO / RLOO on the prepared train prompts; returns the files written."""
    from datasets import Dataset

    from slmforge.runtime.trained import load_base
    from slmforge.train.pref_trainers import TRAINERS, PrefMetricsJsonl

    check_grpo_recipe(recipe, run)
    placement = announce(place(recipe.model), console, run, "train")
    cuda = placement.cuda
    t, g = recipe.train, recipe.train.grpo
    prompts = read_prompts(run.split_file("train"))
    held_out = read_prompts(run.split_file("test"), g.eval_prompts) or read_prompts(run.split_file("val"), g.eval_prompts)
    if not prompts:
        raise SlmforgeError(f"{run.split_file('train')}: no prompts (rows need messages with a user turn)")
    precision = choose_precision(t.precision, placement)
    on_vllm = g.eval_engine == "vllm" and bool(held_out)
    if on_vllm:
        from slmforge.runtime.vllm import vllm_python

        vllm_python()  # not installed: one line before anything loads
    reward_funcs, score = reward_function(recipe)
    console.print(f"train [bold]{g.algorithm}[/bold] · {len(prompts):,} prompts × {g.num_generations} completions "
                  f"(≤ {g.max_completion_length} tokens, T {g.temperature:g}) · reward {g.reward} · beta {g.beta:g} · "
                  f"{len(held_out)} held-out prompts · precision {precision.name} · lr {t.lr:g}")
    resume = find_resume_checkpoint(recipe, run, console)

    model, tokenizer = load_base(recipe.model, "full" if t.pref.adapter == "full" else "lora", placement)
    if not on_vllm:
        before = held_out_reward(model, tokenizer, held_out, score, g.max_completion_length, t.batch_size, g.temperature, t.seed)
    counter = TokenCounter()
    metrics = start_metrics_log(run.logs, resume)
    stop = GracefulStop()
    trainer = TRAINERS[g.algorithm](
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_args(recipe, run, precision.name, cuda),
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        processing_class=tokenizer,
        peft_config=None if t.pref.adapter == "full" else lora_config(recipe),
        callbacks=[PrefMetricsJsonl(metrics, counter), RichProgress(console, counter), stop],
        counter=counter,
        fingerprint=checkpoint_fingerprint(recipe),
    )
    train_until_done_or_stopped(trainer, resume, stop, run)
    if not on_vllm:
        after = held_out_reward(trainer.model, tokenizer, held_out, score, g.max_completion_length, t.batch_size, g.temperature, t.seed)
    written = save_model(trainer, tokenizer, run)
    logged = [x["reward"] for x in trainer.state.log_history if "reward" in x]
    if on_vllm:
        import gc

        import torch

        from slmforge.runtime.generation import stop_ids

        stops = stop_ids(trainer.model, tokenizer)
        del trainer, model  # vLLM takes the accelerator next: the policy's weights and optimizer state go first
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        before, after = vllm_held_out(recipe, run, held_out, score, tokenizer, stops, placement, console)
    first, last = logged[:EDGE_LOGS], logged[-EDGE_LOGS:]
    summary = run.logs / "grpo.json"
    write_json_atomic(summary, {
        "algorithm": g.algorithm, "reward": g.reward,
        "train_reward": {"first_steps": sum(first) / len(first) if first else None,
                         "last_steps": sum(last) / len(last) if last else None, "logged": len(logged)},
        "held_out": {"before": before, "after": after, "engine": g.eval_engine if held_out else None},
    })
    if first:
        console.print(f"mean reward while training {first[0]:.3f} → [bold]{last[-1]:.3f}[/bold]; held-out "
                      f"{before['mean_reward']} → {after['mean_reward']}")
    console.print(f"model → {run.model}")
    return written + [metrics, summary]
