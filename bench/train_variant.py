"""Training variants, measured: ours (the recipe through the prepare and train stages) or plain TRL SFTTrainer in
the original plan's configuration, the baseline that bench/train_throughput.py and bench/gpu_check.py compare with.

    python bench/train_variant.py '[SPEC, ...]'     # one line per spec on stdout: RESULT {...}

A SPEC is a dict: name (the run directory runs/<name>), mode (ours | baseline), recipe (a YAML path), runs,
overrides (--set lines; the baseline reads only model and data from the recipe), threads (torch threads, or null),
gc (the baseline's gradient checkpointing; null: TRL's default, on) and hp (plan | ours: the baseline's lr,
batch, warmup and weight decay). Every spec prepares its own run directory (same recipe data: same examples),
then trains; specs of one call run one after another in one process (a CPU check saves the imports; a GPU
check passes one spec per call, so no kernel patch or allocator state carries over and peak memory is its own).

The plan's baseline: full fine-tune, no packing, loss on the whole sequence, lr 2e-5, batch 32, warmup 0.05,
weight decay 0.01, cosine, TRL 1.x defaults otherwise (gradient checkpointing on); sdpa attention; fp32 on a CPU,
and on CUDA fp32 weights under the GPU's 16-bit autocast (bf16; fp16 before Ampere), as `SFTConfig(bf16=True)`
trains a plain `from_pretrained` model.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

PLAN = {"lr": 2e-5, "batch": 32, "warmup": 0.05, "wd": 0.01}


def _status_kb(key: str) -> int:
    return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith(key + ":"))


def step_clock(out: dict[str, Any]) -> Any:
    """A callback noting when each optimizer step ends (after a CUDA sync): the training loop's time leaves out the
    eval and checkpoint our train stage adds after the last step, which plain TRL in the plan's config does not do."""
    import torch
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            out["last_step_at"] = time.perf_counter()
            if state.global_step == 1:  # what follows is the steady state: kernels compiled (Triton), allocator warm
                out["first_step_at"], out["first_step_tokens"] = out["last_step_at"], out["tokens"]

    return StepClock()


@contextmanager
def measured(out: dict[str, Any]) -> Iterator[None]:
    """Count the tokens every training step sees and time trainer.train() and its training loop (SFTTrainer and every
    subclass of it)."""
    import torch
    from trl import SFTTrainer

    inner_step, inner_train = SFTTrainer.training_step, SFTTrainer.train
    out.update(tokens=0, loss_tokens=0)

    def counted(self: Any, model: Any, inputs: dict[str, Any], *a: Any, **k: Any) -> Any:
        mask = inputs.get("attention_mask")
        out["tokens"] += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        out["loss_tokens"] += int((inputs["labels"] != -100).sum())
        return inner_step(self, model, inputs, *a, **k)

    def timed(self: Any, *a: Any, **k: Any) -> Any:
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()  # the weights already placed count, earlier specs' freed memory does not
        out["trainer"], out["start_kb"] = self, _status_kb("VmRSS")
        out["cuda_start"] = torch.cuda.memory_allocated() if cuda else None  # the weights, and anything an earlier spec left
        self.add_callback(step_clock(out))
        cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731
        c, t = cpu(), time.perf_counter()
        out["last_step_at"] = t
        result = inner_train(self, *a, **k)
        if cuda:
            torch.cuda.synchronize()
        out["train_seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu() - c
        out["seconds"] = out["last_step_at"] - t
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
        out["peak_kb"] = _status_kb("VmHWM")
        out["cuda_peak"] = torch.cuda.max_memory_allocated() if cuda else None
        return result

    SFTTrainer.training_step, SFTTrainer.train = counted, timed
    try:
        yield
    finally:
        SFTTrainer.training_step, SFTTrainer.train = inner_step, inner_train


def train_plain_trl(recipe: Any, run: Any, output_dir: Path, hp: str = "plan", gc: bool | None = None) -> None:
    """Plain TRL SFTTrainer as the plan configured it (module docstring); `hp` ours: the recipe's lr/batch/warmup/decay."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from slmforge.runtime.models import load_model
    from slmforge.runtime.placement import Placement, place
    from slmforge.train.data import load_split

    t = recipe.train
    where = place(recipe.model)
    autocast = where.dtype if where.cuda else "fp32"
    model, tok = load_model(recipe.model, Placement(where.device, "fp32", "sdpa", False, "plain TRL"), dtype="fp32")
    plain = Dataset.from_dict({"input_ids": load_split(run, "train")["input_ids"]})  # no labels: loss on the whole sequence
    extra = {} if gc is None else {"gradient_checkpointing": gc}
    h = PLAN if hp == "plan" else {"lr": t.lr, "batch": t.batch_size, "warmup": t.warmup_ratio, "wd": t.weight_decay}
    cfg = SFTConfig(output_dir=str(output_dir), max_length=recipe.data.max_length, packing=False,
                    bf16=autocast == "bf16", fp16=autocast == "fp16", per_device_train_batch_size=h["batch"],
                    num_train_epochs=t.epochs, max_steps=t.max_steps, learning_rate=h["lr"], lr_scheduler_type="cosine",
                    warmup_steps=h["warmup"], weight_decay=h["wd"], report_to="none", save_strategy="no",
                    logging_steps=t.logging_steps, use_cpu=not where.cuda, disable_tqdm=True, seed=t.seed, data_seed=t.seed, **extra)
    SFTTrainer(model=model, args=cfg, train_dataset=plain, processing_class=tok).train()


def val_loss(model: Any, run: Any) -> float:
    """Mean cross entropy per reply token on the val split (the same code for every variant); 16-bit autocast on CUDA,
    where flash attention has no fp32 kernel."""
    import torch

    from slmforge.runtime.loss import read_tokenized, token_loss

    device = next(model.parameters()).device
    if device.type != "cuda":
        return token_loss(model, *read_tokenized(run.tokenized_file("val"))).loss
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    with torch.autocast("cuda", dtype=dtype):
        return token_loss(model, *read_tokenized(run.tokenized_file("val"))).loss


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Prepare and train one variant; what it measured."""
    import torch

    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import run_stages
    from slmforge.train.data import load_split, token_stats

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    ours = spec["mode"] == "ours"
    recipe = load(spec["recipe"], (spec.get("overrides", []) if ours else []) + [f"name={spec['name']}"])
    run = run_stages(recipe, Path(spec["runs"]), ["prepare"])
    stats = token_stats(load_split(run, "train"))
    seen: dict[str, Any] = {}
    with measured(seen):
        if ours:
            run_stages(recipe, Path(spec["runs"]), ["train"], force=True)
        else:
            train_plain_trl(recipe, run, Path(spec["runs"]) / spec["name"] / "baseline", spec.get("hp", "plan"), spec.get("gc"))
    trainer = seen["trainer"]
    model, args = trainer.model, trainer.args
    full = not ours or recipe.train.method == "full"
    n_params = sum(_logical_numel(p) for n, p in model.named_parameters() if "lora_" not in n)
    epochs, seconds = trainer.state.epoch, seen["seconds"]
    example_tokens = stats.tokens * epochs  # every token of the examples trained on, no padding: the useful work
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    # After the first optimizer step: its share of the examples' tokens is the share of the counted tokens it saw.
    steady_s = seen["last_step_at"] - seen.get("first_step_at", seen["last_step_at"])
    steady_share = 1 - seen.get("first_step_tokens", 0) / max(1, seen["tokens"])
    steady_tok_s = example_tokens * steady_share / steady_s if steady_s > 0 and steady_share > 0 else example_tokens / seconds
    config = getattr(model, "config", None)
    result = {
        "name": spec["name"], "mode": spec["mode"], "method": "full" if not ours else recipe.train.method,
        "tok_s": example_tokens / seconds, "steady_tok_s": steady_tok_s, "reply_tok_s": stats.loss_tokens * epochs / seconds,
        "loss_tok_s": seen["loss_tokens"] / seconds, "reply_tok_cpu_s": stats.loss_tokens * epochs / seen["cpu_seconds"],
        "cpu_seconds": seen["cpu_seconds"], "seconds": seconds, "train_seconds": seen["train_seconds"], "steps": trainer.state.global_step, "epochs": epochs,
        # Model FLOPs: 6·N·T full, 4·N·T adapters (no weight gradients); T without padding; recomputation not counted.
        "flop_s": (6 if full else 4) * n_params * example_tokens / seconds, "n_params": n_params, "full": full,
        "tokens": seen["tokens"], "example_tokens": example_tokens, "loss_tokens": seen["loss_tokens"],
        "reply_tokens": stats.loss_tokens * epochs, "gc": bool(args.gradient_checkpointing),
        "peak_rss_gb": seen["peak_kb"] / 1024**2, "train_peak_gb": (seen["peak_kb"] - seen["start_kb"]) / 1024**2,
        "cuda_peak_gb": seen["cuda_peak"] / 1024**3 if seen["cuda_peak"] is not None else None,
        "cuda_start_gb": seen["cuda_start"] / 1024**3 if seen["cuda_start"] is not None else None,
        "device": str(next(model.parameters()).device), "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "attention": getattr(config, "_attn_implementation", None), "liger": bool(args.use_liger_kernel),
        "packing": bool(getattr(args, "packing", False)), "first_loss": losses[0] if losses else None,
        "val_loss": val_loss(model, run),
    }
    del trainer, model, seen
    import gc

    gc.collect()  # the trainer, its optimizer and the model hold cycles: free them before the next spec
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def _logical_numel(param: Any) -> int:
    """Weights a parameter stands for: a bitsandbytes NF4 tensor stores two per byte, its quant_state knows the shape."""
    state = getattr(param, "quant_state", None)
    return int(state.shape.numel()) if state is not None else param.numel()


def main(argv: list[str]) -> int:
    failed = 0
    for spec in json.loads(argv[1]):
        try:
            result = run_spec(spec)
        except Exception as exc:  # one variant's failure is its own row; the next spec still runs
            import traceback

            traceback.print_exc()
            result, failed = {"name": spec["name"], "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}, 1
        print("RESULT " + json.dumps(result), flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
