"""GPU check (issue 17): the GPU matrix in one command on one GPU, in under 8 minutes; or every step at toy size on the CPU.

    python bench/gpu_check.py                        # a GPU machine: bench/gpu_check.json and a table
    python bench/gpu_check.py --cpu --out /tmp/gc    # toy size on the CPU (CI runs this: the script's code, not its figures)

Steps; each ran, was skipped (one line why) or failed (its error), and the rest go on:
  baseline       plain TRL SFTTrainer in the original plan's configuration (bench/train_variant.py's baseline)
  full/lora/qlora  ours: the recipe through the prepare and train stages (train.method full / lora / qlora)
  liger          ours full with Liger (train.liger_kernel auto: on) vs train.liger_kernel off: tok/s, peak memory,
                 and the first step's loss (same weights, same first batch), equal within 1e-3 relative
  flash          ours full with flash-attention 2 packed padding-free vs padded (train.packing false): tok/s, peak
                 memory, val loss within 2 % (other batches per step, so not equal to the bit)
  generation     slmforge.runtime.generation.generate, batched, on the full run's model: tokens/s
  export_verify  the qlora run through run_stages(["export", "verify"]) (merged export, every parity row)
  serve          `slmforge serve` on the full run, on loopback, concurrent clients (bench/serve_load.py): tokens/s, p50
The model: a Qwen2 of Qwen2.5-0.5B's shape (494M parameters, vocab 151,936, tied), random init, built offline with
the project's small tokenizer; the train settings of recipes/folksy-qwen0.5b.yaml (the plan's: full, batch 32, lr
2e-5, cosine, warmup 0.05, weight decay 0.01), 1 epoch of examples of 100-900 tokens.
  tok/s   the examples' tokens (no padding: one numerator for ours and the baseline) per second of the training loop
          after its first optimizer step (which compiles Triton kernels and warms the allocator); "all steps" counts
          from the start of trainer.train(). Neither includes the eval and checkpoint our stage adds after the loop.
  MFU     model FLOPs (6·N·T full, 4·N·T adapters; T = tok/s above) over the GPU's dense bf16 peak (data-sheet table by
          device name, else a measured matmul); on a CPU over the measured matmul peak of the training dtype
  peak    torch.cuda.max_memory_allocated during trainer.train(), weights and optimizer included (none on a CPU)
  val     mean cross entropy per reply token on the val split, the same code for every variant
Floors (GPU, the 0.5B full fine-tune): ours >= 1.5x the baseline's tok/s at <= 0.7x its peak memory, val loss <= its;
MFU >= 40 %. The --cpu run prints them as n/a. gpu_check.json is rewritten after every step (a run stopped at a time
limit keeps what it measured); --skip leaves out steps; stage logs go to stderr and WORK/logs/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gpu_check_report as report

BENCH = Path(__file__).parent
WORDS = ("penny saved earned found better story early bird worm second mouse cheese count chickens hatch eggs basket "
         "watched pot boils forgotten burns lead horse water drink lemonade tractor barn fence river kettle hammer grumpy "
         "farmer weather price corn neighbor goat flour sugar butter milk salt cups quick brown fox lazy dog cat sleeps "
         "warm stove").split()


@dataclass(frozen=True)
class Size:
    model: dict[str, Any]  # build_tiny_model keywords
    examples: int
    reply_words: tuple[int, int]  # each reply's length is drawn from this range
    max_length: int
    split: dict[str, float]
    gen: tuple[int, int, int]  # prompts, batch size, new tokens
    serve: tuple[int, float, int]  # clients, seconds, max_tokens
    verify_tokens: int  # eval.max_new_tokens: how far verify compares greedy answers (on the CPU, in fp32)


def sizes() -> dict[str, Size]:
    from slmforge.runtime.tiny_models import QWEN25_05B_SHAPE

    return {
        # ~1,000 examples of ~450 tokens (≤ ~800): ~31 steps of 32 for steady tokens/s; val/test small because export and
        # verify compare in fp32 on the CPU (verify's design), where a 0.5B forward pass is slow.
        "gpu": Size(dict(QWEN25_05B_SHAPE), 1024, (40, 420), 1024, {"train": 0.98, "val": 0.01, "test": 0.01},
                    (64, 64, 128), (16, 20.0, 64), 16),
        "cpu": Size({"hidden_size": 64, "layers": 2}, 48, (3, 20), 64, {"train": 0.8, "val": 0.1, "test": 0.1}, (4, 4, 4), (2, 2.0, 4), 4),
    }


@dataclass
class Step:
    status: str = "skipped"  # ran | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "wall_s": round(self.seconds, 2), **self.data}


def attempt(fn: Callable[[], Step]) -> Step:
    """Run one step; a failure is its own row (the first line of the error), and the next step still runs."""
    started = time.perf_counter()
    try:
        step = fn()
    except (Exception, SystemExit) as exc:  # serve_load's start_server exits with its reason
        step = Step("failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    step.seconds = time.perf_counter() - started
    return step


def varied_pairs(path: Path, n: int, reply_words: tuple[int, int], seed: int = 0) -> Path:
    """n input/output pairs whose replies vary in length (a padded batch pays for its longest; packing does not)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            reply = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*reply_words)))
            f.write(json.dumps({"input": f"Tell me a story about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}, number {i}.",
                                "output": reply.capitalize() + "."}) + "\n")
    return path


def write_recipe(work: Path, size: Size) -> Path:
    """The check's recipe: the built model, the varied pairs and recipes/folksy-qwen0.5b.yaml's train settings."""
    import yaml

    from slmforge.runtime.tiny_models import build_tiny_model

    model = build_tiny_model(work / "model", arch="qwen2", **size.model)
    train = yaml.safe_load((BENCH.parent / "recipes" / "folksy-qwen0.5b.yaml").read_text())["train"]
    train.pop("precision")  # auto: bf16 where the GPU has it, fp16 on a T4, the measured choice on a CPU
    train.update(epochs=1, max_steps=-1, resume="never", eval_steps=10**6, save_steps=10**6, logging_steps=1)
    raw = {"name": "gpu-check", "model": {"id": str(model)},
           "data": {"path": str(varied_pairs(work / "pairs.jsonl", size.examples, size.reply_words)), "max_length": size.max_length,
                    "split": size.split},
           "train": train, "eval": {"samples": 4, "max_new_tokens": size.verify_tokens, "batch_size": 4, "spotcheck": 0},
           "export": {"formats": ["merged"]}}
    path = work / "gpu-check.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# name: (mode, overrides). The adapters get a LoRA-sized rate; the plan's 2e-5 is for a full fine-tune.
VARIANTS = {
    "baseline": ("baseline", []),
    "full": ("ours", ["train.method=full"]),
    "lora": ("ours", ["train.method=lora", "train.lr=2e-4"]),
    "qlora": ("ours", ["train.method=qlora", "train.lr=2e-4"]),
    "liger-off": ("ours", ["train.method=full", "train.liger_kernel=off"]),
    "flash-padded": ("ours", ["train.method=full", "train.packing=false"]),
}


def optional_cuda_steps(cuda: bool) -> dict[str, str]:
    """Why the liger and flash steps cannot run here ({} when both can)."""
    import torch

    why = {}
    if not cuda:
        return {"liger": "needs CUDA: Liger's kernels are Triton", "flash": "needs CUDA: flash-attention 2 is a CUDA kernel"}
    if importlib.util.find_spec("liger_kernel") is None:
        why["liger"] = "liger-kernel is not installed (pip install liger-kernel)"
    if importlib.util.find_spec("flash_attn") is None:
        why["flash"] = "flash-attn is not installed (pip install flash-attn)"
    elif torch.cuda.get_device_capability(0) < (8, 0):
        why["flash"] = f"flash-attention 2 needs an Ampere or newer GPU (sm80+); this is {torch.cuda.get_device_name(0)}"
    return why


def train_all(recipe: Path, work: Path, skip: dict[str, str], cuda: bool) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Every training variant, and the processes they ran in. On CUDA two: Liger patches transformers' modules when
    it is on, so the variants without it (the baseline, liger-off) never share a process with those that use it.
    On a CPU (no Liger) one, which saves an import of the training stack."""
    groups = [["baseline"] + ([] if "liger" in skip else ["liger-off"]),
              ["full", "lora", "qlora"] + ([] if "flash" in skip else ["flash-padded"])]
    if not cuda:
        groups = [groups[0] + groups[1]]
    results: dict[str, dict[str, Any]] = {}
    processes = []
    (work / "logs").mkdir(exist_ok=True)
    for i, group in enumerate(groups):
        specs = [{"name": f"gpu-check-{v}", "mode": VARIANTS[v][0], "overrides": VARIANTS[v][1], "recipe": str(recipe),
                  "runs": str(work / "runs"), "threads": None} for v in group]
        log = work / "logs" / f"train-{i + 1}.log"
        started = time.perf_counter()
        with open(log, "w") as err:
            try:
                proc = subprocess.run([sys.executable, str(BENCH / "train_variant.py"), json.dumps(specs)], stdout=subprocess.PIPE,
                                      stderr=err, text=True, timeout=1200)
                stdout, ended = proc.stdout, f"exit {proc.returncode}"
            except subprocess.TimeoutExpired as exc:  # its captured output is bytes, whatever text= said
                stdout, ended = (exc.stdout or b"").decode(errors="replace"), "killed after 1200 s"
        processes.append({"variants": group, "wall_s": round(time.perf_counter() - started, 1), "ended": ended, "log": str(log)})
        lines = [json.loads(x[len("RESULT "):]) for x in stdout.splitlines() if x.startswith("RESULT ")]
        for variant, spec in zip(group, specs):
            found = next((r for r in lines if r["name"] == spec["name"]), None)
            results[variant] = found or {"error": f"the training process ended ({ended}) before it"}
            if "error" in results[variant]:
                results[variant]["error"] += f" (log: {log})"
    return results, processes


def training_steps(results: dict[str, dict[str, Any]], peak: report.Peak) -> dict[str, Step]:
    base = results["baseline"]
    steps = {}
    for name in ("baseline", "full", "lora", "qlora"):
        r = results[name]
        if "error" in r:
            steps[name] = Step("failed", r["error"])
            continue
        # MFU from the steady tokens/s (after the first step, which compiles Triton kernels and warms the allocator).
        row = {**r, "mfu": (6 if r["full"] else 4) * r["n_params"] * r["steady_tok_s"] / peak.for_precision(r["precision"])}
        if name != "baseline" and "error" not in base:
            row["vs_baseline"] = report.ratios(r, base)
        steps[name] = Step("ran", data=row)
    return steps


def liger_step(results: dict[str, dict[str, Any]], skip: dict[str, str]) -> Step:
    if "liger" in skip:
        return Step("skipped", skip["liger"])
    on, off = results["full"], results["liger-off"]
    if "error" in on or "error" in off:
        return Step("failed", (on.get("error") or off.get("error")))
    if not on["liger"] or off["liger"]:
        return Step("failed", f"Liger was {'on' if on['liger'] else 'off'} in full and {'on' if off['liger'] else 'off'} in liger-off")
    delta = abs(on["first_loss"] - off["first_loss"]) / max(abs(off["first_loss"]), 1e-9)
    return Step("ran", data={"on": report.brief(on), "off": report.brief(off), "first_loss_rel_delta": delta,
                             "same_loss": delta <= 1e-3, "speedup": on["steady_tok_s"] / off["steady_tok_s"]})


def flash_step(results: dict[str, dict[str, Any]], skip: dict[str, str]) -> Step:
    if "flash" in skip:
        return Step("skipped", skip["flash"])
    packed, padded = results["full"], results["flash-padded"]
    if "error" in packed or "error" in padded:
        return Step("failed", (packed.get("error") or padded.get("error")))
    if packed["attention"] != "flash_attention_2" or padded["attention"] != "flash_attention_2":
        return Step("failed", f"placement chose {packed['attention']} / {padded['attention']}, not flash_attention_2, with flash-attn installed")
    delta = abs(packed["val_loss"] - padded["val_loss"]) / max(abs(padded["val_loss"]), 1e-9)
    return Step("ran", data={"packed": report.brief(packed), "padded": report.brief(padded), "val_loss_rel_delta": delta,
                             "same_loss": delta <= 0.02, "speedup": packed["steady_tok_s"] / padded["steady_tok_s"]})


def run_recipe(recipe_path: Path, work: Path, variant: str) -> tuple[Any, Any]:
    """(recipe, run directory) of a variant that trained."""
    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir

    recipe = load(recipe_path, VARIANTS[variant][1] + [f"name=gpu-check-{variant}"])
    run = RunDir.for_recipe(recipe, work / "runs")
    if not (run.model / "config.json").is_file() and not (run.model / "adapter_config.json").is_file():
        raise RuntimeError(f"the {variant} run has no trained model ({run.model}); see its training step")
    return recipe, run


def generation_step(recipe_path: Path, work: Path, size: Size) -> Step:
    import torch

    from slmforge.runtime.generation import Sampling, generate
    from slmforge.runtime.placement import place
    from slmforge.runtime.trained import load_final

    recipe, run = run_recipe(recipe_path, work, "full")
    placement = place(recipe.model)
    model, tokenizer = load_final(recipe, run, merge=True, placement=placement)
    prompts, batch, new = size.gen
    conversations = [[{"role": "user", "content": f"Tell me a story about the {WORDS[i % len(WORDS)]}, number {i}."}] for i in range(prompts)]
    generate(model, tokenizer, conversations[:2], Sampling(max_new_tokens=4, batch_size=2))  # warm-up: kernels, allocator
    out = generate(model, tokenizer, conversations, Sampling(max_new_tokens=new, batch_size=batch))
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the server loads the model next, in its own process
    return Step("ran", data={"placement": placement.describe(), "prompts": prompts, "batch_size": batch, "max_new_tokens": new,
                             "new_tokens": sum(out.new_tokens), "tokens_per_s": out.tokens_per_s})


def export_verify_step(recipe_path: Path, work: Path) -> Step:
    from slmforge.orchestrate.pipeline import run_stages

    recipe, run = run_recipe(recipe_path, work, "qlora")
    run_stages(recipe, work / "runs", ["export", "verify"], force=True)
    rows = json.loads((run.export / "parity.json").read_text())["rows"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("passed", "skipped", "failed")}
    merge = next((r for r in rows if r["runtime"].startswith("merge")), None)
    return Step("ran", data={"parity": counts, "merge": merge and {k: merge[k] for k in ("runtime", "status", "detail")},
                             "skipped_rows": [f"{r['runtime']}: {r['detail']}" for r in rows if r["status"] == "skipped"]})


def start_serving(recipe_path: Path, work: Path) -> tuple[Any, str, str]:
    """`slmforge serve` on the full run in its own process (its event loop shares no GIL with the clients'):
    (process, url, model name) once /health answers."""
    from serve_load import start_server

    _, run = run_recipe(recipe_path, work, "full")
    return (*start_server(str(run.root), 32, None), run.root.name)


def serve_step(server: Future, size: Size) -> Step:
    import asyncio

    import httpx
    from serve_load import pct, run_load

    proc, url, name = server.result()
    clients, seconds, max_tokens = size.serve
    try:
        asyncio.run(run_load(url, name, 2, 1, 4))  # warm-up: first-call allocations, tokenizer caches
        load = asyncio.run(run_load(url, name, clients, seconds, max_tokens))
        metrics = httpx.get(url + "/metrics").text
    finally:
        proc.terminate()
        proc.wait(60)
    biggest = [line.split()[-1] for line in metrics.splitlines() if line.startswith("slmforge_batch_size_max")]
    return Step("ran", data={"clients": clients, "seconds_asked": seconds, "max_tokens": max_tokens, "ok": len(load.latencies),
                             "errors": len(load.errors), "lost": load.sent - len(load.latencies) - len(load.errors),
                             "tokens_per_s": load.tokens / load.seconds, "p50_s": pct(load.latencies, 50), "p95_s": pct(load.latencies, 95),
                             "largest_batch": float(biggest[0]) if biggest else None, "first_errors": load.errors[:3]})


SKIPPABLE = ("liger", "flash", "generation", "export_verify", "serve")


class Check:
    """The result so far: gpu_check.json is rewritten after every step, so a run stopped at a time limit keeps its figures."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path, self.result, self.steps = path, {**header, "steps": {}}, {}
        self.started = time.perf_counter()

    def record(self, name: str, step: Step) -> None:
        self.steps[name] = step
        self.result["steps"][name] = step.as_dict()
        self.result["seconds"] = time.perf_counter() - self.started
        self.save()
        print(f"[gpu_check {self.result['seconds']:.0f} s] {name}: {step.status}" + (f" ({step.reason})" if step.reason else ""),
              file=sys.stderr, flush=True)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.result, indent=2, default=str) + "\n")


def check(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    size = sizes()["cpu" if args.cpu else "gpu"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    peak = report.peak_flops(cuda)
    command = "python bench/gpu_check.py" + (" --cpu" if args.cpu else "") + (f" --skip {','.join(args.skip)}" if args.skip else "")
    run = Check(out / "gpu_check.json", {"mode": "cpu (toy size: the code runs, the figures mean nothing)" if args.cpu else "gpu",
                                         "device": peak.device, "peak_flops": peak.flops, "peak_source": peak.source,
                                         "examples": size.examples, "max_length": size.max_length, "command": command})
    recipe = write_recipe(work, size)
    skip = {**optional_cuda_steps(cuda), **{name: "skipped by --skip" for name in args.skip}}
    results, run.result["training_processes"] = train_all(recipe, work, skip, cuda)
    run.result["model"] = report.model_summary(recipe.parent / "model", results)
    for name, step in training_steps(results, peak).items():
        run.record(name, step)
    run.record("liger", liger_step(results, skip))
    run.record("flash", flash_step(results, skip))
    skipped = lambda name: Step("skipped", skip[name])  # noqa: E731
    run.record("generation", skipped("generation") if "generation" in skip else attempt(lambda: generation_step(recipe, work, size)))
    with ThreadPoolExecutor(1) as pool:
        # The server starts while export and verify run (they time nothing); generation above had the GPU to itself.
        server = None if "serve" in skip else pool.submit(start_serving, recipe, work)
        run.record("export_verify", skipped("export_verify") if "export_verify" in skip else attempt(lambda: export_verify_step(recipe, work)))
        run.record("serve", skipped("serve") if server is None else attempt(lambda: serve_step(server, size)))
    run.result["floors"] = report.floors(run.steps, gpu=not args.cpu)
    run.save()
    return run.result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="every step at toy size on the CPU (CUDA hidden)")
    parser.add_argument("--out", default=str(BENCH), help="where gpu_check.json is written (default: bench/)")
    parser.add_argument("--work", default=None, help="runs, models and logs (default: OUT/gpu_check_work, or /tmp/slmforge-gpu-check)")
    parser.add_argument("--skip", default="", help=f"steps to leave out, comma-separated: {', '.join(SKIPPABLE)}")
    args = parser.parse_args()
    args.skip = [name for name in args.skip.split(",") if name]
    unknown = [name for name in args.skip if name not in SKIPPABLE]
    if unknown:
        parser.error(f"--skip {','.join(unknown)}: not a step that can be left out; use {', '.join(SKIPPABLE)}")
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch loads: this process and every child see no GPU
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    args.work = args.work or str(Path("/tmp/slmforge-gpu-check") if out.resolve() == BENCH.resolve() else out / "gpu_check_work")
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run `python bench/gpu_check.py --cpu` for the toy-size check of the code", file=sys.stderr)
        return 2
    result = check(args, out)
    report.print_table(result)
    print(f"written: {out / 'gpu_check.json'}")
    return 1 if any(s["status"] == "failed" for s in result["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
