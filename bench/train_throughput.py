"""Training throughput: our default configuration vs a plain TRL SFTTrainer as the original plan wrote it.

    python bench/train_throughput.py                 # tiny Qwen2 and the embedded SmolLM2
    python bench/train_throughput.py --models tiny   # tiny Qwen2 only (seconds)

Each configuration trains in its own process on the same prepared data and the same number of
training examples: (a) slmforge train (bfd packing, reply-only loss, precision auto, fused loss);
(b) SFTTrainer without packing, loss on the whole sequence, fp32, TRL defaults otherwise.
Prints useful tokens/s (assistant-reply tokens of the examples trained on, per second of
training), peak RSS, val loss (reply tokens only, same code for both) and the ratios, plus
achieved FLOP/s as a share of this machine's measured matmul peak.
"""

from __future__ import annotations

import argparse
import json
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
    from slmforge.recipe import load
    from slmforge.rundir import RunDir
    from slmforge.train.data import load_split, token_stats
    from slmforge.evaluate.loss import read_tokenized, token_loss
    mode, recipe_path, runs = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    recipe = load(recipe_path)
    run = RunDir(runs / recipe.name)
    train_set = load_split(run, "train")
    stats = token_stats(train_set)
    steps = recipe.train.max_steps
    if mode == "ours":
        from slmforge.train import sft
        from slmforge.train.trainer import RunTrainer
        spans = []
        orig = RunTrainer.train
        def timed(self, *a, **k):
            t = time.perf_counter(); out = orig(self, *a, **k); spans.append(time.perf_counter() - t); return out
        RunTrainer.train = timed
        sft.train(recipe, run, Console(stderr=True, quiet=True))
        from slmforge.models import load_trained
        model, _ = load_trained(run.model, recipe.model)
        seconds = spans[0]
        examples = recipe.train.batch_size * steps
    else:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer
        from slmforge.models import load_model
        model, tok = load_model(recipe.model, dtype=torch.float32)
        plain = Dataset.from_dict({"input_ids": train_set["input_ids"]})  # no labels: loss on the whole sequence
        cfg = SFTConfig(output_dir=str(runs / "baseline"), max_length=recipe.data.max_length, packing=False, bf16=False,
                        per_device_train_batch_size=recipe.train.batch_size, max_steps=steps, learning_rate=recipe.train.lr,
                        report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True, seed=recipe.train.seed)
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=plain, processing_class=tok)
        t = time.perf_counter(); trainer.train(); seconds = time.perf_counter() - t
        examples = recipe.train.batch_size * steps
    useful = stats.loss_tokens / stats.examples * examples
    n_params = sum(p.numel() for p in model.parameters())
    flops = 6 * n_params * (stats.tokens / stats.examples) * examples
    val = token_loss(model, *read_tokenized(run.tokenized_file("val"))).loss
    print("RESULT " + json.dumps({"useful_tok_s": useful / seconds, "seconds": seconds, "flop_s": flops / seconds,
                                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, "val_loss": val}))
    """
)


def pairs(path: Path, n: int) -> Path:
    animals = ["goat", "mule", "hen", "hog", "cow", "cat", "rooster", "tractor"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            a = animals[i % len(animals)]
            f.write(json.dumps({"input": f"Give me a folksy saying about the {a} number {i}.",
                                "output": f"A {a} that counts its hay in June, number {i}, goes hungry in March."}) + "\n")
    return path


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny,embedded")
    parser.add_argument("--out", default="/tmp/slmforge-bench")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from slmforge.pipeline import run_stages
    from slmforge.recipe import load
    from slmforge.train.precision import matmul_flops
    import torch

    peak = max(matmul_flops(torch.float32, 2048, 4), matmul_flops(torch.bfloat16, 2048, 4))
    for name in args.models.split(","):
        if name == "tiny":
            from slmforge.tiny_models import build_tiny_model

            model_id = str(build_tiny_model(out / "tiny-qwen2", arch="qwen2", hidden_size=256, layers=4))
        else:
            model_id = "embedded:smollm2-135m"
        raw = {"name": f"bench-{name}", "model": {"id": model_id},
               "data": {"path": str(pairs(out / "pairs.jsonl", 600)), "max_length": 128},
               "train": {"method": "full" if name == "tiny" else "lora", "max_steps": args.steps, "batch_size": 16, "lr": 5e-4,
                         "resume": "never", "eval_steps": 10**6, "save_steps": 10**6, "logging_steps": 10}}
        recipe_path = out / f"{name}.yaml"
        recipe_path.write_text(yaml.safe_dump(raw))
        run_stages(load(recipe_path), out / "runs", ["prepare"])
        results = {}
        for mode in ("ours", "baseline"):
            proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(recipe_path), str(out / "runs")], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
            results[mode] = json.loads(proc.stdout.split("RESULT ")[-1])
        a, b = results["ours"], results["baseline"]
        print(f"\n{name} ({model_id}), {args.steps} steps × 16 examples, matmul peak {peak / 1e9:.0f} GFLOP/s")
        for mode, r in results.items():
            print(f"  {mode:9s} useful {r['useful_tok_s']:8.1f} tok/s  peak RSS {r['peak_rss_gb']:.2f} GB  val loss {r['val_loss']:.4f}  "
                  f"MFU {r['flop_s'] / peak:.1%}  ({r['seconds']:.1f} s)")
        print(f"  ratios (ours/baseline): useful tok/s {a['useful_tok_s'] / b['useful_tok_s']:.2f}x  "
              f"peak RSS {a['peak_rss_gb'] / b['peak_rss_gb']:.2f}x  val loss {a['val_loss'] / b['val_loss']:.3f}x")


if __name__ == "__main__":
    main()
