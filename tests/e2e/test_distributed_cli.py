"""`slmforge train --nproc 2`: DDP and FSDP2 on two CPU processes (gloo) through accelerate's launcher, on a tiny model.

accelerate enables FSDP only for GPU process groups (on CPU workers the same config used to train plain
DDP); `slmforge.orchestrate.distributed.allow_fsdp_on_cpu` marks CPU workers FSDP, and the FSDP checkpoint
file (pytorch_model_fsdp.bin, written only by accelerate's FSDP save) shows the run really sharded.

Tolerance: the training losses of 2 processes × 2 examples and 1 process × 4 examples (same global
batch, same data order) agree to 1e-4 relative (float32 all-reduce order is the only difference);
eval loss to 1e-3 (the eval set is sharded and its batch means are combined differently).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from slmforge.core.errors import SlmforgeError
from slmforge.orchestrate.distributed import accelerate_config, check_strategy, split_global_batch
from tests.helpers.data import make_pairs


def slmforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_global_batch_stays_global_whatever_the_process_count():
    assert split_global_batch(8, 1, 2) == split_global_batch(8, 1, 2)
    s = split_global_batch(8, 1, 2)
    assert (s.per_device, s.grad_accum, s.per_device * s.grad_accum * s.nproc) == (4, 1, 8)
    s = split_global_batch(4, 4, 8)  # 16 examples on 8 processes: 2 each, no accumulation needed
    assert (s.per_device, s.grad_accum) == (2, 1)
    s = split_global_batch(2, 8, 2)  # per-device batch never grows past the recipe's: accumulate instead
    assert (s.per_device, s.grad_accum) == (2, 4)


def test_a_global_batch_that_does_not_split_evenly_says_what_to_set():
    with pytest.raises(SlmforgeError, match=r"train.batch_size × train.grad_accum = 6 is not divisible by --nproc 4"):
        split_global_batch(6, 1, 4)


def test_generated_accelerate_config_names_the_strategy_and_the_rendezvous():
    ddp = accelerate_config("ddp", 2, master="10.0.0.1:29400")
    assert (ddp["distributed_type"], ddp["num_processes"], ddp["main_process_ip"], ddp["main_process_port"]) == ("MULTI_GPU", 2, "10.0.0.1", 29400)
    fsdp = accelerate_config("fsdp", 4, nnodes=2, node_rank=1)
    assert (fsdp["distributed_type"], fsdp["num_processes"], fsdp["machine_rank"]) == ("FSDP", 8, 1)
    assert fsdp["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert accelerate_config("deepspeed", 2)["deepspeed_config"]["zero_stage"] == 2
    zero3 = accelerate_config("deepspeed", 2, zero_stage=3, offload="cpu")["deepspeed_config"]
    assert (zero3["zero_stage"], zero3["offload_optimizer_device"], zero3["offload_param_device"], zero3["zero3_save_16bit_model"]) == (3, "cpu", "cpu", True)
    with pytest.raises(SlmforgeError, match="--master: expected ADDR:PORT"):
        accelerate_config("ddp", 2, master="localhost")


def test_checkpoints_record_the_global_batch_so_any_process_count_may_resume(monkeypatch):
    from slmforge.core.recipe import validate
    from slmforge.orchestrate.distributed import with_batch
    from slmforge.train.sft import checkpoint_fingerprint

    recipe = validate({"name": "x", "data": {"path": "x.jsonl"}, "train": {"batch_size": 4, "distributed": "ddp"}})
    one = checkpoint_fingerprint(recipe)
    monkeypatch.setenv("WORLD_SIZE", "2")  # what each worker of `train --nproc 2` sees, with 2 examples per device
    assert checkpoint_fingerprint(with_batch(recipe, split_global_batch(4, 1, 2))) == one
    assert checkpoint_fingerprint(recipe) != one  # 4 per device on 2 processes: a global batch of 8, another run


def test_deepspeed_without_a_gpu_is_one_clear_line():
    with pytest.raises(SlmforgeError, match=r"deepspeed needs CUDA GPUs; on CPU use --set train.distributed=fsdp \(or ddp\)"):
        check_strategy("deepspeed", cuda=False)
    check_strategy("fsdp", cuda=False)
    check_strategy("ddp", cuda=False)


def resume_recipe(tmp: Path, model: Path, strategy: str, eval_steps: int) -> Path:
    raw = {
        "name": "rs", "model": {"id": str(model)},
        "data": {"path": str(make_pairs(tmp / "pairs.jsonl")), "max_length": 64, "num_proc": 1,
                 "split": {"train": 0.7, "val": 0.2, "test": 0.1}},
        # packing off: packs per device depend on the per-device batch, which would change the examples per step
        "train": {"method": "full", "max_steps": 6, "batch_size": 4, "lr": 5e-3, "precision": "fp32", "eval_steps": eval_steps,
                  "save_steps": 3, "logging_steps": 1, "packing": False, "warmup_ratio": 0, "distributed": strategy},
        "eval": {"enabled": False},
    }
    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    return recipe


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, tiny_qwen2) -> Path:
    """The uninterrupted 1-process run both strategies are held to: their recipe with train.distributed none, run once."""
    tmp = tmp_path_factory.mktemp("one")
    one = slmforge("train", str(resume_recipe(tmp, tiny_qwen2, "none", eval_steps=3)), "--runs", "one", cwd=tmp)
    assert one.returncode == 0, one.stderr[-3000:]
    return tmp / "one" / "rs"


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_only_rank_0_writes_and_a_checkpoint_resumes_on_one(tmp_path, tiny_qwen2, one_process, strategy):
    """2 processes match 1 process step for step; killed after the step-3 checkpoint, the run resumes on 1 process.

    One test per strategy runs the expensive part (2 processes, then 1) once: under ddp it also checks what a user reads
    (one metrics writer, the global batch line, eval losses, `run` skipping the trained stage), which a separate
    3-step DDP test used to check on runs of its own.

    Tolerance 1e-4 relative, as between 2 and 1 processes above: the checkpoint holds the full optimizer
    and scheduler state (DDP replicates them; FSDP's is consolidated: FULL_STATE_DICT) and the data order
    comes from a seeded sampler that does not depend on the process count; the tiny model has no dropout,
    so the per-rank RNG files (rng_state_0.pth, not rng_state.pth) that one process cannot use change nothing.
    DDP checkpoints are plain and resume without any launcher; FSDP ones resume under FSDP, which
    `slmforge train` without --nproc gives (one process through accelerate's launcher).
    """
    # eval every 3 steps under ddp, as in the 1-process run (evaluating changes no training loss; fsdp skips it)
    recipe = resume_recipe(tmp_path, tiny_qwen2, strategy, eval_steps=3 if strategy == "ddp" else 100)
    port = {"ddp": "29551", "fsdp": "29553"}[strategy]
    two = slmforge("train", str(recipe), "--nproc", "2", "--master", f"127.0.0.1:{port}", "--runs", "two", cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    run2, run1 = tmp_path / "two" / "rs", one_process
    loss_one = {m["step"]: m["loss"] for m in metrics(run1) if "loss" in m}
    loss_two = {m["step"]: m["loss"] for m in metrics(run2) if "loss" in m}
    assert sorted(loss_two) == sorted(loss_one) == [1, 2, 3, 4, 5, 6] and loss_one[6] < loss_one[1]
    assert [loss_two[s] for s in range(1, 7)] == pytest.approx([loss_one[s] for s in range(1, 7)], rel=1e-4)
    checkpoint = run2 / "checkpoints" / "checkpoint-3"
    assert (checkpoint / "rng_state_0.pth").is_file()  # written by 2 processes
    assert (checkpoint / "pytorch_model_fsdp.bin").is_file() == (strategy == "fsdp")
    assert not (run2 / ".ranks").exists() and len(list((run2 / "logs").glob("events.out.tfevents.*"))) == 1
    if strategy == "ddp":
        assert "global batch 4 = 2 per device × accum 1 × 2 processes" in " ".join(two.stderr.split())
        eval2 = [m["eval_loss"] for m in metrics(run2) if "eval_loss" in m]
        eval1 = [m["eval_loss"] for m in metrics(run1) if "eval_loss" in m]
        assert len(eval2) == 2 and eval2 == pytest.approx(eval1, rel=1e-3)
        # What a user reads came from rank 0 alone: one metrics writer, one TensorBoard file, no rank scratch left.
        assert len(metrics(run2)) == len(metrics(run1))
        assert (run2 / "model" / "model.safetensors").is_file()
        config = yaml.safe_load((run2 / "accelerate.yaml").read_text())
        assert (config["distributed_type"], config["num_processes"]) == ("MULTI_GPU", 2)
        assert json.loads((run2 / "manifest.json").read_text())["stages"]["train"]["status"] == "complete"
        assert "Traceback" not in two.stderr
        # The manifest holds the recipe as written (global batch), so `run` goes on from the trained model.
        again = slmforge("run", str(recipe), "--runs", "two", cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "train: skipped (inputs unchanged, outputs complete)" in " ".join((again.stdout + again.stderr).split())

    shutil.rmtree(run2 / "checkpoints" / "checkpoint-6")
    shutil.rmtree(run2 / "model")
    resumed = slmforge("train", str(recipe), "--runs", "two", "--master", f"127.0.0.1:{int(port) + 1}", cwd=tmp_path)  # one process
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-3" in resumed.stderr
    if strategy == "fsdp":
        assert "train on 1 processes (fsdp, gloo)" in " ".join(resumed.stderr.split())
    loss_resumed = {m["step"]: m["loss"] for m in metrics(run2) if "loss" in m}
    assert sorted(loss_resumed) == [1, 2, 3, 4, 5, 6]
    assert [loss_resumed[s] for s in (4, 5, 6)] == pytest.approx([loss_one[s] for s in (4, 5, 6)], rel=1e-4)
    assert (run2 / "model" / "model.safetensors").is_file()
