"""Which checkpoints resume where: an FSDP checkpoint outside FSDP is one line, not transformers' traceback."""

from __future__ import annotations

import pytest
from rich.console import Console

from slmforge.core.errors import RunDirError
from slmforge.core.recipe import validate
from slmforge.core.rundir import RunDir
from slmforge.train import checkpoints
from slmforge.train.sft import checkpoint_fingerprint, find_resume_checkpoint


def checkpoint(run: RunDir, recipe, files: dict[str, bytes]):
    path = run.checkpoints / "checkpoint-3"
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    checkpoints.write_marker(path, checkpoint_fingerprint(recipe))
    return path


def test_an_fsdp_checkpoint_resumed_without_fsdp_says_how_to_resume_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    recipe = validate({"name": "x", "data": {"path": "x.jsonl"}, "train": {"method": "full"}})
    run = RunDir(tmp_path / "x")
    # What accelerate's FULL_STATE_DICT save writes under FSDP (tests/e2e/test_distributed_cli.py writes a real one).
    checkpoint(run, recipe, {"pytorch_model_fsdp.bin": b"w", "optimizer.bin": b"o", "trainer_state.json": b"{}"})
    with pytest.raises(RunDirError, match=r"checkpoint-3 was saved by FSDP .* resumes only under FSDP: keep train.distributed=fsdp and run slmforge train RECIPE"):
        find_resume_checkpoint(recipe, run, Console(quiet=True))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # a worker launched with the FSDP config
    assert find_resume_checkpoint(recipe, run, Console(quiet=True)).endswith("checkpoint-3")


def test_a_plain_checkpoint_resumes_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    recipe = validate({"name": "x", "data": {"path": "x.jsonl"}, "train": {"method": "full"}})
    run = RunDir(tmp_path / "x")
    checkpoint(run, recipe, {"model.safetensors": b"w", "optimizer.pt": b"o", "trainer_state.json": b"{}"})
    assert find_resume_checkpoint(recipe, run, Console(quiet=True)).endswith("checkpoint-3")
