"""Checkpoint scanning: only complete checkpoints count; half-written ones are named with what is wrong."""

from __future__ import annotations

from pathlib import Path

from slmforge.train import checkpoints


def fake_checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x" * 100)
    (path / "optimizer.pt").write_bytes(b"y" * 50)
    if complete:
        checkpoints.write_marker(path, "fp")
    return path


def test_newest_complete_checkpoint_wins_and_half_written_ones_are_reported(tmp_path):
    good = fake_checkpoint(tmp_path, 4)
    truncated = fake_checkpoint(tmp_path, 8)
    (truncated / "optimizer.pt").write_bytes(b"y" * 10)  # killed while copying
    fake_checkpoint(tmp_path, 12, complete=False)  # written in place by someone else, never marked
    (tmp_path / checkpoints.STAGING / "checkpoint-16").mkdir(parents=True)
    found = checkpoints.scan(tmp_path)
    assert found.latest == good
    problems = {p.name: why for p, why in found.broken}
    assert problems == {
        "checkpoint-8": "optimizer.pt has 10 bytes, expected 50",
        "checkpoint-12": "no completion marker (killed while saving?)",
        ".staging": "staging leftover of an interrupted save",
    }


def test_steps_sort_numerically_not_alphabetically(tmp_path):
    for step in (9, 10, 100):
        fake_checkpoint(tmp_path, step)
    assert [p.name for p in checkpoints.scan(tmp_path).complete] == ["checkpoint-9", "checkpoint-10", "checkpoint-100"]
