"""`slmforge train --nproc N`: the same training on N processes through accelerate's launcher.

The parent process prepares the data once, writes runs/<name>/accelerate.yaml (the config a user
would otherwise write by hand) and runs `accelerate launch -m slmforge.orchestrate.distributed ...`.
Every worker trains with the per-device batch and gradient accumulation derived from the
recipe's global batch (train.batch_size × train.grad_accum, as on one process). Rank 0 trains
in the run directory; the other ranks write only into a scratch directory (runs/<name>/.ranks/)
that is removed when they finish, so every file a user reads came from rank 0.
On a machine without GPUs the workers use the gloo backend on CPU processes: DDP as accelerate runs it,
FSDP2 through `allow_fsdp_on_cpu` (accelerate enables FSDP only for GPU process groups); deepspeed needs
CUDA. Checkpoints record the global batch, so a run saved by N processes resumes on any other number
(tests/e2e/test_distributed_cli.py: DDP 2 → 1; FSDP 2 → 1 process under FSDP).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir


@dataclass(frozen=True)
class BatchSplit:
    global_batch: int  # examples per optimizer step, all processes together
    nproc: int
    per_device: int  # train.batch_size each process uses
    grad_accum: int  # train.grad_accum each process uses

    def describe(self) -> str:
        return f"global batch {self.global_batch} = {self.per_device} per device × accum {self.grad_accum} × {self.nproc} processes"


def split_global_batch(batch_size: int, grad_accum: int, nproc: int) -> BatchSplit:
    """Keep batch_size × grad_accum global: the largest per-device batch ≤ batch_size that divides each process's share."""
    total = batch_size * grad_accum
    if nproc < 1:
        raise SlmforgeError(f"--nproc: must be >= 1, got {nproc}")
    if total % nproc:
        raise SlmforgeError(
            f"train.batch_size × train.grad_accum = {total} is not divisible by --nproc {nproc}; "
            f"choose a global batch that is (e.g. --set train.grad_accum={nproc})"
        )
    share = total // nproc
    per_device = max(d for d in range(1, min(batch_size, share) + 1) if share % d == 0)
    return BatchSplit(total, nproc, per_device, share // per_device)


def accelerate_config(strategy: str, nproc: int, nnodes: int = 1, node_rank: int = 0, master: str = "127.0.0.1:29500",
                      cuda: bool = False, zero_stage: int = 2, offload: str = "none") -> dict[str, Any]:
    """The accelerate config file for the strategy (what `accelerate config` would ask for)."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        raise SlmforgeError(f"--master: expected ADDR:PORT, got {master!r}")
    # torchrun-style launch for ddp even on CPU: accelerate's MULTI_CPU launcher needs mpirun, while the
    # trainer's use_cpu=True already makes each worker join with the gloo backend.
    kind = {"none": "MULTI_GPU", "ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}[strategy]
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE", "distributed_type": kind, "num_processes": nproc * nnodes,
        "num_machines": nnodes, "machine_rank": node_rank, "main_process_ip": host, "main_process_port": int(port),
        "mixed_precision": "no",  # the trainer sets bf16/fp16 from train.precision
        "rdzv_backend": "static", "same_network": True, "use_cpu": False,
    }
    if strategy == "fsdp":
        # FSDP2 with FULL_STATE_DICT: model/ is consolidated (plain model.safetensors, loads anywhere); a checkpoint
        # holds the consolidated weights (pytorch_model_fsdp.bin) and the full optimizer state (optimizer.bin), which
        # reload under FSDP on any number of GPUs, but not in a run without FSDP (transformers refuses FSDP
        # checkpoints there). DDP checkpoints are plain and resume on any number of processes, one included.
        config["fsdp_config"] = {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                 "fsdp_state_dict_type": "FULL_STATE_DICT", "fsdp_cpu_ram_efficient_loading": True,
                                 "fsdp_reshard_after_forward": True}
    if strategy == "deepspeed":
        # Stage 3 also saves the gathered 16-bit weights, so model/ is a plain checkpoint rather than DeepSpeed shards.
        config["deepspeed_config"] = {"zero_stage": zero_stage, "offload_optimizer_device": offload,
                                      "offload_param_device": offload if zero_stage == 3 else "none", "gradient_clipping": 1.0,
                                      "zero3_init_flag": zero_stage == 3, "zero3_save_16bit_model": zero_stage == 3}
    return config


def check_strategy(strategy: str, cuda: bool) -> None:
    if strategy == "deepspeed":
        if not cuda:
            raise SlmforgeError("train.distributed: deepspeed needs CUDA GPUs; on CPU use --set train.distributed=fsdp (or ddp)")
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise SlmforgeError("train.distributed: deepspeed is not installed: pip install deepspeed (or use ddp / fsdp)")


def launch(recipe_path: Path, overrides: list[str], runs: Path, recipe: Recipe, nproc: int, console: Console, nnodes: int = 1,
           node_rank: int = 0, master: str = "127.0.0.1:29500") -> Path:
    """Prepare once, write the accelerate config into the run directory and launch the workers; returns the run directory."""
    import torch

    from slmforge.orchestrate.pipeline import run_stages

    strategy = recipe.train.distributed
    if strategy == "none":
        console.print("train.distributed is none: using ddp for --nproc > 1")
        strategy = "ddp"
    cuda = torch.cuda.is_available()
    check_strategy(strategy, cuda)
    split = split_global_batch(recipe.train.batch_size, recipe.train.grad_accum, nproc * nnodes)
    if node_rank == 0:
        run_stages(recipe, runs, ["prepare"])  # one process prepares; the workers only read
    run = RunDir.for_recipe(recipe, runs)
    config_path = run.root / "accelerate.yaml"
    run.root.mkdir(parents=True, exist_ok=True)
    config = accelerate_config(strategy, nproc, nnodes, node_rank, master, cuda, recipe.train.zero_stage, recipe.train.offload)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    console.print(f"train on {nproc * nnodes} processes ({strategy}, {'nccl' if cuda else 'gloo'}) · {split.describe()} · "
                  f"config {config_path} (reuse: accelerate launch --config_file {config_path} ...)")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_path), "--num_processes",
           str(nproc * nnodes), "-m", "slmforge.orchestrate.distributed", str(recipe_path), "--runs", str(runs), "--nproc", str(nproc * nnodes)]
    for assignment in overrides:
        cmd += ["--set", assignment]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # N workers must not each take every core
    done = subprocess.run(cmd, env=env)
    if done.returncode != 0:
        raise SlmforgeError(f"train --nproc {nproc}: a worker exited with code {done.returncode}; see its lines above")
    return run.root


def with_batch(recipe: Recipe, split: BatchSplit) -> Recipe:
    train = recipe.train.model_copy(update={"batch_size": split.per_device, "grad_accum": split.grad_accum})
    return recipe.model_copy(update={"train": train})


def _scratch_run(run: RunDir, rank: int) -> RunDir:
    """A private run directory for rank > 0 whose data/ links to the prepared data (read only)."""
    scratch = RunDir(run.root / ".ranks" / f"rank-{rank}")
    shutil.rmtree(scratch.root, ignore_errors=True)
    for src in (p for p in run.data.rglob("*") if p.is_file()):
        dst = scratch.data / src.relative_to(run.data)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return scratch


def allow_fsdp_on_cpu() -> None:
    """Let accelerate run FSDP2 on CPU processes (gloo), as it does on GPUs.

    accelerate turns FSDP on only for GPU-like process groups (MULTI_GPU, ...): on CPU workers the same
    config silently trains plain DDP. torch's FSDP2 itself shards on a CPU device mesh over gloo, so this
    glue marks the state FSDP when the launcher asked for it (accelerate built the plugin from its env);
    everything after that — fully_shard, gathering the full state dict, saving and loading checkpoints — is
    accelerate's and transformers' own code, the same as on GPUs. PartialState's copy is set too, because
    every later AcceleratorState() re-reads distributed_type from it.
    """
    import accelerate.state
    from accelerate.utils import DistributedType

    cls = accelerate.state.AcceleratorState
    if getattr(cls.__init__, "_slmforge_cpu_fsdp", False):
        return
    original = cls.__init__

    def init(self: Any, *args: Any, fsdp_plugin: Any = None, **kwargs: Any) -> None:
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            accelerate.state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    init._slmforge_cpu_fsdp = True  # type: ignore[attr-defined]
    cls.__init__ = init


def worker(recipe_path: Path, overrides: list[str], runs: Path, nproc: int) -> None:
    """One rank: rank 0 runs the train stage in the run directory, the others train beside it in scratch."""
    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import STAGES, run_stages
    from slmforge.train.sft import SFT_METHODS, train

    rank = int(os.environ.get("RANK", "0"))
    recipe = load(recipe_path, overrides)
    if recipe.train.distributed == "fsdp" and os.environ.get("ACCELERATE_USE_FSDP", "false") == "true":
        import torch

        if not torch.cuda.is_available():
            allow_fsdp_on_cpu()
    if recipe.train.method not in SFT_METHODS:
        raise SlmforgeError(f"train.distributed: {recipe.train.method} trains on one process for now; drop --nproc")
    derived = with_batch(recipe, split_global_batch(recipe.train.batch_size, recipe.train.grad_accum, nproc))
    if rank == 0:
        # The manifest records the recipe as written (global batch), so a later `slmforge run` of the same
        # recipe sees train complete instead of retraining; only the training itself uses the per-device split.
        train_stage = next(stage for stage in STAGES if stage.name == "train")
        run_stages(recipe, runs, ["train"], force=True, replace={"train": lambda ctx: train_stage.run(dataclasses.replace(ctx, recipe=derived))})
        return
    run = RunDir.for_recipe(recipe, runs)
    if derived.train.resume == "auto":
        # Every rank must resume from the step rank 0 resumes from, or the collectives desynchronize.
        from slmforge.train import checkpoints

        latest = checkpoints.scan(run.checkpoints).latest
        derived = derived.model_copy(update={"train": derived.train.model_copy(update={"resume": str(latest) if latest else "never"})})
    scratch = _scratch_run(run, rank)
    try:
        train(derived, scratch, Console(stderr=True, quiet=True))
    finally:
        shutil.rmtree(scratch.root, ignore_errors=True)
        try:
            scratch.root.parent.rmdir()  # the last rank out removes .ranks/
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slmforge.orchestrate.distributed", description="one worker of `slmforge train --nproc N`")
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        worker(args.recipe, args.sets, args.runs, args.nproc)
    except SlmforgeError as exc:
        rank = os.environ.get("RANK", "0")
        for line in str(exc).splitlines():
            print(f"error (rank {rank}): {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
