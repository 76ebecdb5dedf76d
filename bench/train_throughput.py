"""Training throughput: our default configuration vs a plain TRL SFTTrainer as the original plan wrote it.

    python bench/train_throughput.py                          # tiny Qwen2 and the embedded SmolLM2
    python bench/train_throughput.py --models tiny --repeats 3
    python bench/train_throughput.py --models embedded --variants ours,ours-full,baseline

Every variant trains in its own process (bench/train_variant.py: the prepare and train stages for ours, plain
TRL for the baselines) on the same prepared data for the same number of epochs, so every variant sees exactly
the same training examples (packing changes how many optimizer steps that takes: both step counts are printed).
Variants run interleaved, `--repeats` times.
  ours            slmforge train as the recipe says (bfd packing, reply-only loss, precision auto,
                  fused AdamW, the CPU lean loss, micro-batches of ≤256 tokens per forward on CPU,
                  LoRA dropout 0); tiny: full fine-tune, embedded: LoRA (folksy-quick)
  ours-full/-lora the same with train.method overridden (same-method comparison)
  ours-nopack     packing off: the same optimizer steps as the baseline (isolates packing)
  ours-nomicro    the whole step's batch in one forward (isolates micro-batching)
  ours-qlora      train.method qlora: our LoRA recipe on a 4-bit NF4 base (bitsandbytes, CUDA or CPU)
  ours-bf16       train.precision bf16 and model.dtype bf16: bf16 autocast over fp32 master weights (a
                  full fine-tune and, on a CPU, an adapter's base keep fp32 weights; QLoRA computes in bf16)
  baseline        the original plan's SFTConfig on plain TRL: full fine-tune, no packing, loss on
                  the whole sequence, fp32 (CPU), lr 2e-5, batch 32, warmup 0.05, weight decay 0.01,
                  cosine; TRL 1.x defaults otherwise, which include gradient checkpointing
  baseline-nogc   the baseline with gradient checkpointing off (the plan: "no need for gradient
                  checkpointing"; faster, more memory)
  baseline-samelr the baseline with our lr, batch, warmup and weight decay, so only the method differs
                  (the stricter comparison for val loss)
Printed per variant (median, and min–max over repeats):
  reply tok/s     assistant-reply tokens of the examples trained on per second of the training loop
                  (trainer.train() up to the end of its last optimizer step: the eval and checkpoint our
                  train stage adds after it are left out; rows before 2026-12-01 timed all of train())
                  (the same numerator for every variant: what the user wants learned); also per
                  CPU-second of trainer.train(), which a noisy neighbour on a shared CPU inflates less
  loss tok/s      tokens that carried loss, counted from each batch's labels (the baseline's
                  loss covers prompt tokens too, so its figure is larger for the same examples)
  peak RSS        the process's high-water mark (VmHWM) after training (imports and model load
                  included; val after), and "in training": that mark minus the RSS when training started
  peak CUDA       torch.cuda.max_memory_allocated during trainer.train() (printed when on a GPU)
  val loss        mean cross entropy per reply token on the val split (evaluate.loss, same code)
  FLOP share      model FLOPs (6·N·T full, 4·N·T LoRA: no weight gradients; T = the examples' tokens, no
                  padding; recomputation not counted) per second, as a share of the measured fp32 and bf16
                  matmul peaks of this CPU
The same variants on one GPU, with MFU against the GPU's bf16 peak: bench/gpu_check.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("train_variant.py")  # trains and measures one variant (ours or the plain TRL baseline)

VARIANTS = {  # name: (mode, recipe overrides for ours, gradient checkpointing for the baseline, baseline hyperparameters)
    "ours": ("ours", [], None, None),
    "ours-full": ("ours", ["train.method=full"], None, None),
    "ours-lora": ("ours", ["train.method=lora"], None, None),
    "ours-nopack": ("ours", ["train.packing=false"], None, None),
    "ours-nomicro": ("ours", ["train.micro_batch_tokens=0"], None, None),
    "ours-qlora": ("ours", ["train.method=qlora"], None, None),
    "ours-bf16": ("ours", ["train.precision=bf16", "model.dtype=bf16"], None, None),
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
    from slmforge.runtime.placement import matmul_flops

    torch.set_num_threads(args.threads)
    peaks = {"fp32": matmul_flops(torch.float32, 2048, 4), "bf16": matmul_flops(torch.bfloat16, 2048, 4)}
    variants = args.variants.split(",")
    for name in args.models.split(","):
        raw = recipe_for(name, out, args.folksy_size)
        recipe_path = out / f"{name}.yaml"
        recipe_path.write_text(yaml.safe_dump(raw))
        recipe = load(recipe_path)
        results: dict[str, list[dict]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for variant in variants:  # interleaved: a noisy neighbour hits every variant alike
                mode, overrides, gc, hp = VARIANTS[variant]
                spec = {"name": f"{raw['name']}-{variant}", "mode": mode, "recipe": str(recipe_path), "runs": str(out / "runs"),
                        "threads": args.threads, "overrides": overrides + (args.set if mode == "ours" else []), "gc": gc, "hp": hp}
                proc = subprocess.run([sys.executable, str(CHILD), json.dumps([spec])], capture_output=True, text=True)
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
                  f"(+{spread([x['train_peak_gb'] for x in runs], '.2f')} in training)  "
                  + (f"peak CUDA {spread([x['cuda_peak_gb'] for x in runs], '.2f')} GB  " if r["cuda_peak_gb"] is not None else "")
                  + f"val {spread([x['val_loss'] for x in runs], '.4f')}  "
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
