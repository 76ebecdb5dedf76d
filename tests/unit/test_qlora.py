"""QLoRA for real on this machine: bitsandbytes' NF4 base on the CPU, trained, then one model everywhere —
the adapter merged into the dequantized 4-bit base is what eval scores, export writes and verify checks."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app
from tests.helpers.data import make_pairs

pytestmark = pytest.mark.slow  # trains


def qlora_recipe(tmp_path, model) -> str:
    raw = {"name": "q", "model": {"id": str(model)},
           "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 60)), "max_length": 64, "split": {"train": 0.8, "val": 0.1, "test": 0.1}},
           "train": {"method": "qlora", "max_steps": 6, "batch_size": 8, "lr": 5e-3, "eval_steps": 3, "save_steps": 100, "logging_steps": 1},
           "eval": {"samples": 4, "max_new_tokens": 4, "batch_size": 4, "spotcheck": 0},
           "export": {"formats": ["merged"]}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


# alone: twice, run beside a second pytest process (pytest-xdist's worker, then tests/parallel.py's group), this test
# ended in "ValueError: I/O operation on closed file" at a context manager's exit and took its pytest process down
# with it ("lost sys.stderr"); it never did in a serial run, nor alone. Cause not found yet: it runs by itself.
@pytest.mark.alone
def test_qlora_trains_on_a_4_bit_base_and_eval_export_and_verify_see_one_model(tmp_path, tiny_qwen2):
    result = CliRunner().invoke(app, ["run", qlora_recipe(tmp_path, tiny_qwen2), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "q"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["train"]["placement"]["model"]["four_bit"] is True  # trained on the NF4 base
    assert "4-bit NF4 base" in result.output
    losses = [x["loss"] for x in map(json.loads, (run / "logs" / "metrics.jsonl").read_text().splitlines()) if "loss" in x]
    assert losses[-1] < losses[0]
    assert (run / "model" / "adapter_model.safetensors").is_file() and not (run / "model" / "model.safetensors").exists()
    rows = {r["runtime"]: r for r in json.loads((run / "export" / "parity.json").read_text())["rows"]}
    merge = rows["merge (QLoRA → dequantized NF4 base, eval's model → export/merged)"]
    assert merge["status"] == "passed", merge["detail"]  # eval's model and export/merged: same val loss within 1e-4
    assert rows["QLoRA (4-bit as trained → dequantized + merged)"]["status"] == "passed"
    # the merged export holds plain 16/32-bit linears, no 4-bit leftovers
    config = json.loads((run / "export" / "merged" / "config.json").read_text())
    assert "quantization_config" not in config
