"""A careless user's or an attacker's data and recipes (issue 20, items 8-13 and 16): each is one line naming the
file, line or key, never a traceback, never a hang, and the counts still add up. Real `slmforge` processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.data import make_pairs


def slmforge(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def recipe(tmp_path: Path, model: Path, data_path: str, **data) -> Path:
    raw = {"name": "bad", "model": {"id": str(model)}, "data": {"path": data_path, "max_length": 64, **data}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def one_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "runs" / "bad" / "data" / "data_report.json").read_text())


# --------------------------------------------------------------------------- 8: data.path that is not a data file
def test_a_mistyped_data_path_is_one_line_whatever_it_names(tmp_path, tiny_qwen2):
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo.jsonl")
    cases = {"nope.jsonl": "not found", "a_dir": "is a directory", "loop": "is a symlink loop",
             "fifo.jsonl": "is not a regular file", "/dev/zero": "is not a regular file"}
    for value, what in cases.items():
        started = time.monotonic()
        line = one_error(slmforge("prepare", str(recipe(tmp_path, tiny_qwen2, value)), cwd=tmp_path, timeout=60))
        assert line.startswith(f"error: data.path: {value} {what}"), line
        assert time.monotonic() - started < 30  # a FIFO or /dev/zero used to hang the hash forever


# --------------------------------------------------------------------------- 9, 10: rows too deep or too long
def test_a_row_nested_30000_deep_and_a_20_mb_row_are_counted_drops(tmp_path, tiny_qwen2):
    data = make_pairs(tmp_path / "pairs.jsonl", 30)
    with open(data, "a") as f:
        f.write('{"input": "deep", "output": ' + "[" * 30_000 + "]" * 30_000 + "}\n")  # past Python's recursion limit
        f.write(json.dumps({"input": "long", "output": "word " * 4_000_000}) + "\n")  # 20 MB on one line
    started = time.monotonic()
    done = slmforge("prepare", str(recipe(tmp_path, tiny_qwen2, str(data), on_error="skip")), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = report(tmp_path)["counts"]
    assert counts["read"] == 32 == counts["kept"] + counts["dropped"]
    assert counts["dropped_by_reason"] == {"too_deep": 1, "too_long": 1}
    assert time.monotonic() - started < 120  # the 20 MB row used to take 38 s and 4.3 GB to be cut to 64 tokens
    # with on_error: fail the same rows are listed, each with its line
    failed = slmforge("prepare", str(recipe(tmp_path, tiny_qwen2, str(data))), cwd=tmp_path)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert "pairs.jsonl:31: JSON nested deeper than 64 levels" in errors[0] and "pairs.jsonl:32: 19.1 MiB in one row" in errors[1]


# --------------------------------------------------------------------------- 11: an unterminated CSV quote
def test_a_csv_quote_that_never_closes_names_its_line_instead_of_swallowing_the_file(tmp_path, tiny_qwen2):
    lines = ["input,output"] + [f"question {i},answer {i}" for i in range(50)]
    lines[6] = 'question 5,"answer 5 starts a quote'
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    line = one_error(slmforge("prepare", str(recipe(tmp_path, tiny_qwen2, str(tmp_path / "d.csv"), on_error="skip")), cwd=tmp_path))
    assert "d.csv:7: a quoted field opened on this line is never closed" in line


# --------------------------------------------------------------------------- 12: recipes that blow up when printed
def test_an_alias_bomb_and_a_huge_value_are_refused_in_one_short_line(tmp_path):
    bomb = ["name: bomb", "data: {path: x.jsonl}", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb += ["train: {lr: *a9}"]
    (tmp_path / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    started = time.monotonic()
    result = slmforge("show-recipe", str(tmp_path / "bomb.yaml"), cwd=tmp_path, timeout=60)
    line = one_error(result)
    assert "expands to more than 100,000 values" in line and len(result.stderr) < 2000
    assert time.monotonic() - started < 30
    (tmp_path / "long.yaml").write_text(yaml.safe_dump({"name": "x", "data": {"path": "x.jsonl"}, "train": {"lr": "1e-4" * 100_000}}))
    result = slmforge("show-recipe", str(tmp_path / "long.yaml"), cwd=tmp_path, timeout=60)
    line = one_error(result)
    assert line.startswith("error: train.lr: must be a valid number") and "(400,002 characters)" in line and len(line) < 300


# --------------------------------------------------------------------------- 13: a full disk
@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill ({done.stderr.strip()[:100]})")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_a_full_disk_is_one_line_the_stage_is_failed_and_nothing_half_written_is_left(tmp_path, tiny_qwen2, small_disk):
    data = tmp_path / "big.jsonl"
    with open(data, "w") as f:
        for i in range(4000):  # ~1 MB of splits: more than the 600 KiB disk holds
            f.write(json.dumps({"input": f"Tell me about item {i} of the list, please.", "output": f"Item {i} is a fine item indeed."}) + "\n")
    line = one_error(slmforge("prepare", str(recipe(tmp_path, tiny_qwen2, str(data))), "--runs", str(small_disk), cwd=tmp_path))
    assert "no space left on the device" in line and "MiB free now" in line
    run = small_disk / "bad"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["prepare"]["status"] == "failed"
    leftovers = [p.name for p in run.rglob("*") if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0)]
    assert leftovers == []
    written = {p.name for p in (run / "data").glob("*.jsonl")} if (run / "data").is_dir() else set()
    assert written <= {"train.jsonl", "val.jsonl", "test.jsonl"}  # whole files only (each written aside, then renamed)
    for name in written:
        rows = (run / "data" / name).read_text().splitlines()
        assert all(json.loads(r) for r in rows)


# --------------------------------------------------------------------------- 16: pickle weights on every load path
def test_pickle_weights_are_refused_in_a_run_model_an_adapter_and_a_reward_model(tmp_path, tiny_qwen2):
    import torch
    from safetensors.torch import load_file

    from slmforge.core.errors import ModelError
    from slmforge.core.recipe import validate
    from slmforge.runtime.scorers import load_reward_scorer
    from slmforge.runtime.trained import load_trained

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in tiny_qwen2.iterdir():
        if f.suffix != ".safetensors":
            (pickled / f.name).write_bytes(f.read_bytes())
    torch.save(load_file(str(tiny_qwen2 / "model.safetensors")), pickled / "pytorch_model.bin")
    section = validate({"name": "x", "data": {"path": "x"}, "model": {"id": str(tiny_qwen2)}}).model
    with pytest.raises(ModelError, match=r"only pickle weights \(pytorch_model.bin\).*model.allow_pickle: true"):
        load_trained(pickled, section)
    with pytest.raises(ModelError, match=r"^prefs.scorer: .* only pickle weights"):
        load_reward_scorer(pickled, 64, "prefs.scorer")
    served = slmforge("serve", str(pickled), "--port", "0", cwd=tmp_path, timeout=120)
    assert "only pickle weights" in one_error(served)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_qwen2), LoraConfig(r=2, target_modules="all-linear"))
    peft_model.save_pretrained(adapter, safe_serialization=False)  # adapter_model.bin: a pickle
    assert (adapter / "adapter_model.bin").is_file()
    served = slmforge("serve", str(adapter), "--port", "0", cwd=tmp_path, timeout=120)
    assert "only pickle weights (adapter_model.bin)" in one_error(served)
    model, _ = load_trained(pickled, section.model_copy(update={"allow_pickle": True}))  # trusted on purpose: loads
    assert model.config.model_type == "qwen2"


# --------------------------------------------------------------------------- 14: a native runtime that crashes
FAKE_LLAMA_CPP = '''
"""A llama-cpp-python whose native build dies with SIGILL when a model loads, as a build with AMX does on a VM
that advertises AMX without enabling it (the real crash cannot be had on purpose here)."""
import os, signal


class Llama:
    def __init__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGILL)
'''


def test_llama_cpp_dying_of_sigill_is_a_crashed_row_with_the_fix_and_the_run_goes_on(tmp_path, tiny_qwen2):
    fake = tmp_path / "fake_site" / "llama_cpp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_LLAMA_CPP)
    raw = {"name": "crash", "model": {"id": str(tiny_qwen2)},
           "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 30)), "max_length": 64},
           "train": {"method": "full", "max_steps": 1, "batch_size": 4, "save_steps": 100},
           "eval": {"enabled": False}, "export": {"formats": ["merged", "gguf"], "quant": ["f16"]}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake_site")}
    done = subprocess.run([sys.executable, "-m", "slmforge", "run", str(tmp_path / "r.yaml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "report: done" in done.stderr
    rows = json.loads((tmp_path / "runs" / "crash" / "export" / "parity.json").read_text())["rows"]
    crashed = [r for r in rows if r["status"] == "crashed"]
    assert {r["check"] for r in crashed} == {"prompt", "output"}
    assert all("llama.cpp crashed (SIGILL)" in r["detail"] and "-DGGML_AMX_TILE=OFF" in r["detail"] for r in crashed)
    assert all(r["status"] == "passed" for r in rows if "llama.cpp" not in r["runtime"] and r["status"] != "skipped")
    checks = json.loads((tmp_path / "runs" / "crash" / "export" / "verify.json").read_text())["checks"]
    assert [c["crashed"] is not None for c in checks if c["kind"] == "llamacpp"] == [True]


# --------------------------------------------------------------------------- 15: progress without a terminal
def test_training_prints_plain_progress_lines_when_output_is_not_a_terminal(tmp_path, tiny_qwen2):
    raw = {"name": "plain", "model": {"id": str(tiny_qwen2)},
           "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 40)), "max_length": 64},
           "train": {"method": "full", "max_steps": 4, "batch_size": 4, "save_steps": 100, "logging_steps": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    # A line every 10 s by default; the test makes it every step so four steps are enough to see it.
    env = {**os.environ, "SLMFORGE_PROGRESS_EVERY_S": "0"}
    done = subprocess.run([sys.executable, "-m", "slmforge", "train", str(tmp_path / "r.yaml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # stderr is a pipe, as with `make demo > log`
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if re.match(r"train: \d+/4 ", line)]
    assert any(line.startswith("train: 2/4 (50%) · loss ") and "useful tok/s" in line and "elapsed" in line for line in lines), lines
    assert lines[-1].startswith("train: 4/4 (100%)")
