"""`slmforge prepare` / `run` through the real CLI: files, report, determinism, skipping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml


def make_data(path: Path, n_sayings: int = 120) -> Path:
    families = ["futile", "ironic", "denial"]
    with open(path, "w") as f:
        for s in range(n_sayings):
            for p in range(3):
                f.write(json.dumps({"input": f"Tell me thing {p} about item {s}.", "output": f"Saying number {s} is wise.", "meta_template": families[s % 3]}) + "\n")
    return path


def slmforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def recipe(tmp_path: Path, model: str, *, stages: dict | None = None, **data) -> Path:
    raw = {"name": "demo", "model": {"id": model}, "data": {"path": str(make_data(tmp_path / "data.jsonl")), "split": {"stratify": "meta_template"}, **data},
           **(stages or {})}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_prepare_writes_splits_tokens_report_and_manifest(tmp_path, tiny_qwen2):
    result = slmforge("prepare", str(recipe(tmp_path, str(tiny_qwen2))), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "demo"
    report = json.loads((run / "data" / "data_report.json").read_text())
    assert report["counts"] == {"read": 360, "kept": 360, "dropped": 0, "dropped_by_reason": {}}
    assert sum(report["splits"][s]["rows"] for s in ("train", "val", "test")) == 360
    assert set(report["splits"]["test"]["by_stratum"]) == {"futile", "ironic", "denial"}
    table = pq.read_table(run / "data" / "tokenized" / "train.parquet").to_pylist()
    assert len(table) == report["splits"]["train"]["rows"]
    assert all(any(label != -100 for label in row["labels"]) for row in table)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["prepare"]["status"] == "complete"
    assert "data/train.jsonl" in manifest["stages"]["prepare"]["outputs"]
    assert manifest["versions"]["transformers"] and list(manifest["stages"]["prepare"]["inputs"].values())[0]
    assert yaml.safe_load((run / "recipe.yaml").read_text())["data"]["split"]["group_by"] == "reply"
    assert "read 360 = kept 360 + dropped 0" in result.stderr


def test_same_seed_byte_identical_other_seed_differs(tmp_path, tiny_qwen2):
    path = recipe(tmp_path, str(tiny_qwen2))
    outs = []
    for seed, runs in ((0, "a"), (0, "b"), (1, "c")):
        assert slmforge("prepare", str(path), "--set", f"data.split.seed={seed}", "--runs", runs, cwd=tmp_path).returncode == 0
        outs.append((tmp_path / runs / "demo" / "data" / "test.jsonl").read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


# `run` also trains and evaluates: a couple of steps and a few short answers are enough to be skipped or redone
# (the recipe defaults, a full epoch and 200 answers of 64 tokens, cost ~30 s here and are not what is checked).
SMALL_STAGES = {"train": {"max_steps": 2, "batch_size": 4, "save_steps": 100, "eval_steps": 100},
                "eval": {"samples": 4, "max_new_tokens": 4, "batch_size": 4, "diversity_prompts": 0, "spotcheck": 0}}


def test_run_skips_a_complete_stage_and_redoes_it_when_inputs_change(tmp_path, tiny_qwen2):
    path = recipe(tmp_path, str(tiny_qwen2), stages=SMALL_STAGES)
    assert slmforge("run", str(path), cwd=tmp_path).returncode == 0
    second = slmforge("run", str(path), cwd=tmp_path)
    assert "prepare: skipped (inputs unchanged, outputs complete)" in second.stderr
    with open(tmp_path / "data.jsonl", "a") as f:
        f.write(json.dumps({"input": "new", "output": "new saying", "meta_template": "futile"}) + "\n")
    third = slmforge("run", str(path), cwd=tmp_path)
    assert "skipped" not in third.stderr and "read 361 = kept 361" in third.stderr


def test_bad_data_exits_2_with_file_and_line(tmp_path, tiny_qwen2):
    path = recipe(tmp_path, str(tiny_qwen2))
    with open(tmp_path / "data.jsonl", "a") as f:
        f.write("{broken\n")
    result = slmforge("prepare", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"error: {tmp_path / 'data.jsonl'}:361: malformed JSON" in result.stderr
    assert "Traceback" not in result.stderr
    skipped = slmforge("prepare", str(path), "--set", "data.on_error=skip", cwd=tmp_path)
    assert skipped.returncode == 0 and "read 361 = kept 360 + dropped 1 (malformed_json 1)" in skipped.stderr


@pytest.mark.slow
def test_prepare_with_the_embedded_model(tmp_path, embedded_dir):
    result = slmforge("prepare", str(recipe(tmp_path, "embedded:smollm2-135m")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = pq.read_table(tmp_path / "runs" / "demo" / "data" / "tokenized" / "val.parquet").to_pylist()[0]
    from slmforge.core.sections import ModelSection
    from slmforge.runtime.models import load_tokenizer

    tokenizer = load_tokenizer(ModelSection(id="embedded:smollm2-135m"))
    assert tokenizer.decode([t for t in row["labels"] if t != -100]).endswith(" is wise.<|im_end|>")
