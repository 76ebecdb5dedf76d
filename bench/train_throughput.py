"""Training throughput: our default configuration vs a plain TRL SFTTrainer as the original plan wrote it.

    python bench/train_throughput.py                          # tiny Qwen2 and the embedded SmolLM2
    python bench/train_throughput.py --models tiny --repeats 3
    python bench/train_throughput.py --models embedded --variants ours,ours-full,baseline

Every variant trains in its own process on the same prepared data for the same number of epochs,
so every variant sees exactly the same training examples (packing changes how many optimizer
steps that takes: both step counts are printed). Variants run interleaved, `--repeats` times.
  ours            slmforge train as the recipe says (bfd packing, reply-only loss, precision auto,
                  fused AdamW, the CPU lean loss, micro-batches of ≤256 tokens per forward on CPU,
                  LoRA dropout 0); tiny: full fine-tune, embedded: LoRA (folksy-quick)
  ours-full/-lora the same with train.method overridden (same-method comparison)
  ours-nopack     packing off: the same optimizer steps as the baseline (isolates packing)
  ours-nomicro    the whole step's batch in one forward (isolates micro-batching)
  baseline        the original plan's SFTConfig on plain TRL: full fine-tune, no packing, loss on
                  the whole sequence, fp32 (CPU), lr 2e-5, batch 32, warmup 0.05, weight decay 0.01,
                  cosine; TRL 1.x defaults otherwise, which include gradient checkpointing
  baseline-nogc   the baseline with gradient checkpointing off (the plan: "no need for gradient
                  checkpointing"; faster, more memory)
  baseline-samelr the baseline with our lr, batch, warmup and weight decay, so only the method differs
                  (the stricter comparison for val loss)
Printed per variant (median, and min–max over repeats):
  reply tok/s     assistant-reply tokens of the examples trained on per second of trainer.train()
                  (the same numerator for every variant: what the user wants learned); also per
                  CPU-second of the process, which a noisy neighbour on a shared CPU inflates less
  loss tok/s      tokens that carried loss, counted from each batch's labels (the baseline's
                  loss covers prompt tokens too, so its figure is larger for the same examples)
  peak RSS        the process's high-water mark (VmHWM) after training (imports and model load
                  included; val after), and "in training": that mark minus the RSS when training started
  val loss        mean cross entropy per reply token on the val split (evaluate.loss, same code)
  FLOP share      model FLOPs (6·N·T full, 4·N·T LoRA: no weight gradients; T = non-pad tokens,
                  recomputation not counted) per second, as a share of the measured fp32 and bf16
                  matmul peaks of this CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    import torch
    from rich.console import Console
    from trl import SFTTrainer
    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir
    from slmforge.train.data import load_split, token_stats
    from slmforge.runtime.loss import read_tokenized, token_loss
    spec = json.loads(sys.argv[1])
    PLAN = {"lr": 2e-5, "batch": 32, "warmup": 0.05, "wd": 0.01}
    torch.set_num_threads(spec["threads"])
    recipe = load(spec["recipe"], spec["overrides"])
    run = RunDir(Path(spec["runs"]) / recipe.name)
    train_set = load_split(run, "train")
    stats = token_stats(train_set)
    seen = {"tokens": 0, "loss_tokens": 0, "steps": 0}
    inner = SFTTrainer.training_step
    def counted(self, model, inputs, *a, **k):
        mask = inputs.get("attention_mask")
        seen["tokens"] += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        seen["loss_tokens"] += int((inputs["labels"] != -100).sum())
        return inner(self, model, inputs, *a, **k)
    SFTTrainer.training_step = counted
    timing = {}
    original_train = SFTTrainer.train
    def timed(self, *a, **k):
        timing["trainer"] = self
        cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        timing["start_kb"] = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmRSS:"))
        c, t = cpu(), time.perf_counter(); out = original_train(self, *a, **k)
        timing["seconds"], timing["cpu_seconds"] = time.perf_counter() - t, cpu() - c
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
        timing["peak_kb"] = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
        return out
    SFTTrainer.train = timed
    if spec["mode"] == "ours":
        from slmforge.train import sft
        sft.train(recipe, run, Console(stderr=True, quiet=True))
        full = recipe.train.method == "full"
    else:
        from datasets import Dataset
        from trl import SFTConfig
        from slmforge.runtime.models import load_model
        t = recipe.train
        model, tok = load_model(recipe.model, dtype=torch.float32)
        plain = Dataset.from_dict({"input_ids": train_set["input_ids"]})  # no labels: loss on the whole sequence
        extra = {} if spec["gc"] is None else {"gradient_checkpointing": spec["gc"]}
        # The plan's SFTConfig (lr 2e-5, batch 32, warmup 0.05, weight decay 0.01, cosine), or ours for "samelr".
        hp = PLAN if spec["hp"] == "plan" else {"lr": t.lr, "batch": t.batch_size, "warmup": t.warmup_ratio, "wd": t.weight_decay}
        cfg = SFTConfig(output_dir=str(Path(spec["runs"]) / "baseline"), max_length=recipe.data.max_length, packing=False,
                        bf16=False, per_device_train_batch_size=hp["batch"], num_train_epochs=t.epochs, max_steps=t.max_steps,
                        learning_rate=hp["lr"], lr_scheduler_type="cosine", warmup_steps=hp["warmup"], weight_decay=hp["wd"],
                        report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True, seed=t.seed, data_seed=t.seed, **extra)
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=plain, processing_class=tok)
        trainer.train()
        full = True
    trainer = timing["trainer"]
    model = trainer.model
    n_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    epochs = trainer.state.epoch
    flops = (6 if full else 4) * n_params * seen["tokens"]
    val = token_loss(model, *read_tokenized(run.tokenized_file("val"))).loss
    seconds = timing["seconds"]
    print("RESULT " + json.dumps({
        "reply_tok_s": stats.loss_tokens * epochs / seconds, "loss_tok_s": seen["loss_tokens"] / seconds,
        "reply_tok_cpu_s": stats.loss_tokens * epochs / timing["cpu_seconds"], "cpu_seconds": timing["cpu_seconds"],
        "seconds": seconds, "flop_s": flops / seconds, "steps": trainer.state.global_step, "epochs": epochs,
        "loss_tokens": seen["loss_tokens"], "reply_tokens": stats.loss_tokens * epochs, "tokens": seen["tokens"],
        "gc": bool(trainer.args.gradient_checkpointing), "peak_rss_gb": timing["peak_kb"] / 1024**2,
        "train_peak_gb": (timing["peak_kb"] - timing["start_kb"]) / 1024**2, "val_loss": val}))
    """
)

VARIANTS = {  # name: (mode, recipe overrides for ours, gradient checkpointing for the baseline, baseline hyperparameters)
    "ours": ("ours", [], None, None),
    "ours-full": ("ours", ["train.method=full"], None, None),
    "ours-lora": ("ours", ["train.method=lora"], None, None),
    "ours-nopack": ("ours", ["train.packing=false"], None, None),
    "ours-nomicro": ("ours", ["train.micro_batch_tokens=0"], None, None),
    "baseline": ("baseline", [], None, "plan"),
    "baseline-nogc": ("baseline", [], False, "plan"),
    "baseline-samelr": ("baseline", [], None, "ours"),
}


def pairs(path: Path, n: int) -> Path:
    animals = ["goat", "mule", "hen", "hog", "cow", "cat", "rooster", "tractor"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            a = animals[i % len(animals)]
            f.write(json.dumps({"input": f"Give me a folksy saying about the {a} number {i}.",
                                "output": f"A {a} that counts its hay in June, number {i}, goes hungry in March."}) + "\n")
    return path


def recipe_for(name: str, out: Path, folksy_size: int) -> dict:
    quiet = {"resume": "never", "eval_steps": 10**6, "save_steps": 10**6, "logging_steps": 10, "max_steps": -1}
    if name == "tiny":
        from slmforge.runtime.tiny_models import build_tiny_model

        model_id = str(build_tiny_model(out / "tiny-qwen2", arch="qwen2", hidden_size=256, layers=4))
        return {"name": "bench-tiny", "model": {"id": model_id},
                "data": {"path": str(pairs(out / "pairs.jsonl", 600)), "max_length": 128},
                "train": {"method": "full", "epochs": 1, "batch_size": 16, "lr": 5e-4, **quiet}}
    import yaml

    # folksy-quick's data and train settings, on a smaller corpus so a full fine-tune fits minutes on 2 cores.
    raw = yaml.safe_load((Path(__file__).parents[1] / "recipes" / "folksy-quick.yaml").read_text())
    raw["data"]["corpus"]["size"] = folksy_size
    return {"name": "bench-embedded", "model": raw["model"], "data": raw["data"], "train": {**raw["train"], **quiet}}


def spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return format(med, fmt) if len(values) == 1 else f"{format(med, fmt)} [{format(min(values), fmt)}–{format(max(values), fmt)}]"


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny,embedded")
    parser.add_argument("--variants", default="ours,baseline")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads in every variant (1: CPU seconds then measure work even on a shared CPU)")
    parser.add_argument("--folksy-size", type=int, default=32, help="folksy sayings (~4 pairs each) for the embedded model")
    parser.add_argument("--set", action="append", default=[], help="extra recipe override for every ours variant")
    parser.add_argument("--out", default="/tmp/slmforge-bench")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import run_stages
    from slmforge.runtime.placement import matmul_flops

    torch.set_num_threads(args.threads)
    peaks = {"fp32": matmul_flops(torch.float32, 2048, 4), "bf16": matmul_flops(torch.bfloat16, 2048, 4)}
    variants = args.variants.split(",")
    for name in args.models.split(","):
        raw = recipe_for(name, out, args.folksy_size)
        recipe_path = out / f"{name}.yaml"
        recipe_path.write_text(yaml.safe_dump(raw))
        recipe = load(recipe_path)
        run_stages(recipe, out / "runs", ["prepare"])
        results: dict[str, list[dict]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for variant in variants:  # interleaved: a noisy neighbour hits every variant alike
                mode, overrides, gc, hp = VARIANTS[variant]
                spec = {"mode": mode, "recipe": str(recipe_path), "runs": str(out / "runs"), "threads": args.threads,
                        "overrides": overrides + (args.set if mode == "ours" else []), "gc": gc, "hp": hp}
                proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{name} {variant}:\n{proc.stderr[-3000:]}")
                results[variant].append(json.loads(proc.stdout.split("RESULT ")[-1]))
        first = results[variants[0]][0]
        print(f"\n{name} ({recipe.model.id}, {recipe.train.method} by default), {first['epochs']:g} epoch(s) of "
              f"{first['reply_tokens'] / first['epochs']:,.0f} reply tokens, batch {recipe.train.batch_size}, "
              f"{args.threads} threads; matmul peak fp32 {peaks['fp32'] / 1e9:.0f} / bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s; "
              f"{args.repeats} repeats, median [min–max]")
        for variant, runs in results.items():
            r = runs[0]
            print(f"  {variant:14s} reply {spread([x['reply_tok_s'] for x in runs], '.0f')} tok/s "
                  f"({spread([x['reply_tok_cpu_s'] for x in runs], '.0f')} per CPU-s)  "
                  f"loss-bearing {spread([x['loss_tok_s'] for x in runs], '.0f')} tok/s  "
                  f"peak RSS {spread([x['peak_rss_gb'] for x in runs], '.2f')} GB "
                  f"(+{spread([x['train_peak_gb'] for x in runs], '.2f')} in training)  val {spread([x['val_loss'] for x in runs], '.4f')}  "
                  f"FLOP share fp32 {statistics.median(x['flop_s'] for x in runs) / peaks['fp32']:.1%} / bf16 "
                  f"{statistics.median(x['flop_s'] for x in runs) / peaks['bf16']:.1%}  "
                  f"({r['steps']} steps, {spread([x['seconds'] for x in runs], '.1f')} s, gc {r['gc']})")
        for base in (v for v in variants if v.startswith("baseline")):
            b = results[base]
            for variant in (v for v in variants if v.startswith("ours")):
                a = results[variant]
                ratio = lambda key: statistics.median(x[key] for x in a) / statistics.median(x[key] for x in b)  # noqa: E731
                print(f"  {variant}/{base}: reply tok/s {ratio('reply_tok_s'):.2f}x (per CPU-s {ratio('reply_tok_cpu_s'):.2f}x)  loss-bearing tok/s "
                      f"{ratio('loss_tok_s'):.2f}x  peak RSS {ratio('peak_rss_gb'):.2f}x (training's own {ratio('train_peak_gb'):.2f}x)  "
                      f"val loss {ratio('val_loss'):.3f}x")


if __name__ == "__main__":
    main()
