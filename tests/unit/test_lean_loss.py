"""The CPU lean loss (train/lean_loss.py): the same loss and gradients as full logits, less memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
import yaml

from slmforge.train.lean_loss import linear_cross_entropy


def plain_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = hidden @ weight.t()
    return F.cross_entropy(logits[:, :-1].reshape(-1, weight.shape[0]), labels[:, 1:].reshape(-1), ignore_index=-100)


def test_loss_and_gradients_equal_full_logits_cross_entropy_across_chunks():
    torch.manual_seed(0)
    hidden = torch.randn(3, 17, 24, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(301, 24, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 301, (3, 17))
    labels[0, :9] = -100  # a prompt
    labels[2, 12:] = -100  # padding
    expected = plain_loss(hidden, weight, labels)
    expected.backward()
    want_h, want_w = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    total, scored = linear_cross_entropy(hidden, weight, labels, chunk=5)  # 5 tokens per chunk: many chunks
    assert scored == int((labels[:, 1:] != -100).sum())
    (total / scored).backward()
    assert abs((total / scored).item() - expected.item()) < 1e-5
    assert torch.allclose(hidden.grad, want_h, atol=1e-5)
    assert torch.allclose(weight.grad, want_w, atol=1e-5)
    assert hidden.grad[2, 11:].abs().sum() == 0  # positions whose next label is masked get no gradient


def test_a_batch_without_loss_tokens_backpropagates_a_zero():
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    weight = torch.randn(40, 8, requires_grad=True)
    total, scored = linear_cross_entropy(hidden, weight, torch.full((2, 5), -100))
    total.backward()
    assert scored == 0 and total.item() == 0.0 and hidden.grad.abs().sum() == 0


PEAK = textwrap.dedent(
    """
    import json, sys, torch, torch.nn.functional as F
    from slmforge.train.lean_loss import linear_cross_entropy

    def peak_kb():
        # VmHWM: this process's own peak RSS. (ru_maxrss is not: Linux carries it over from the parent
        # across fork + exec, so under a large pytest process the child's "before" was already higher.)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    torch.manual_seed(0)
    vocab, tokens = 151_936, 512  # Qwen2.5's vocabulary
    hidden = torch.randn(1, tokens, 64, requires_grad=True)
    weight = torch.randn(vocab, 64, requires_grad=True)
    labels = torch.randint(0, vocab, (1, tokens))
    before = peak_kb()
    if sys.argv[1] == "plain":
        logits = hidden @ weight.t()
        loss = F.cross_entropy(logits[0, :-1], labels[0, 1:])
    else:
        total, n = linear_cross_entropy(hidden, weight, labels)
        loss = total / n
    loss.backward()
    print(json.dumps({"grown_mb": (peak_kb() - before) / 1024, "loss": loss.item()}))
    """
)


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_large_vocabulary_loss_needs_a_fraction_of_the_memory_of_full_logits():
    runs = {}
    for mode in ("plain", "lean"):
        out = subprocess.run([sys.executable, "-c", PEAK, mode], capture_output=True, text=True, check=True,
                             env={"OMP_NUM_THREADS": "1", "PATH": ""})
        runs[mode] = json.loads(out.stdout)
    assert abs(runs["plain"]["loss"] - runs["lean"]["loss"]) < 1e-4
    # Full logits for 512 × 152K: 311 MB each for logits, log-softmax and their gradient (measured ~1.2 GB
    # grown vs ~0.24 GB lean, 2026-11-27).
    assert runs["plain"]["grown_mb"] > 600
    assert runs["lean"]["grown_mb"] < 0.4 * runs["plain"]["grown_mb"], runs


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_trainer_lean_loss_equals_trls_loss_and_gradients_on_packed_batches(tmp_path, tiny_qwen2):
    from datasets import Dataset
    from trl import SFTConfig

    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir
    from slmforge.orchestrate.pipeline import run_stages
    from slmforge.runtime.models import load_model
    from slmforge.train.callbacks import TokenCounter
    from slmforge.train.data import load_split
    from slmforge.train.trainer import RunTrainer
    from tests.helpers.data import make_pairs

    raw = {"name": "lean", "model": {"id": str(tiny_qwen2)}, "data": {"path": str(make_pairs(tmp_path / "p.jsonl", 40)), "max_length": 64}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    recipe = load(tmp_path / "r.yaml")
    run_stages(recipe, tmp_path / "runs", ["prepare"])
    train_set: Dataset = load_split(RunDir(tmp_path / "runs" / "lean"), "train")
    results = {}
    for lean in (True, False):
        model, tok = load_model(recipe.model, dtype=torch.float32)
        args = SFTConfig(output_dir=str(tmp_path / "out"), packing=True, packing_strategy="bfd", max_length=64,
                         per_device_train_batch_size=2, use_cpu=True, report_to="none", completion_only_loss=None)
        trainer = RunTrainer(model=model, args=args, train_dataset=train_set, processing_class=tok,
                             counter=TokenCounter(), fingerprint="x", lean_loss=lean)
        assert trainer.lean_loss is lean
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        assert "position_ids" in batch and (batch["labels"] == -100).any()  # packed, prompts masked
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        results[lean] = (loss.item(), [p.grad.clone() for p in model.parameters()])
    assert abs(results[True][0] - results[False][0]) < 1e-5
    for ours, trls in zip(results[True][1], results[False][1]):
        assert torch.allclose(ours, trls, atol=1e-5)
