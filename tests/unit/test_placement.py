"""One placement decision for every loader and stage: device map, dtype and attention on a CPU, a T4 (sm75), a
4090 (sm89), an H100 (sm90) and rank 1 of 2 processes.

CUDA cannot exist on this machine, so it is mocked (torch.cuda's availability, count, capability, name and bf16
support) and `from_pretrained` is replaced by a recorder that stops the stage right after the model would load:
what is asserted is what each loader passes to transformers, decided by runtime/placement.py.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml
from rich.console import Console

from slmforge.core.recipe import load
from slmforge.core.rundir import RunDir
from slmforge.core.sections import ModelSection
from slmforge.runtime import placement as placement_module
from slmforge.runtime.placement import place
from tests.helpers.data import make_pairs

# name: (CUDA devices, capability, bf16 support, device name)
GPUS = {
    "cpu": None,
    "t4": (1, (7, 5), False, "Tesla T4"),
    "4090": (1, (8, 9), True, "NVIDIA GeForce RTX 4090"),
    "h100": (1, (9, 0), True, "NVIDIA H100 80GB HBM3"),
    "2 ranks": (2, (9, 0), True, "NVIDIA H100 80GB HBM3"),
}
# name: (device, dtype) every inference loader should pick
EXPECTED = {"cpu": ("cpu", "fp32"), "t4": ("cuda:0", "fp16"), "4090": ("cuda:0", "bf16"), "h100": ("cuda:0", "bf16"),
            "2 ranks": ("cuda:1", "bf16")}
DTYPE = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Loaded(Exception):
    """Raised by the recording from_pretrained: the stage got as far as loading its model."""


@contextmanager
def machine(monkeypatch, name: str, flash: bool = False):
    spec = GPUS[name]
    if spec is None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(placement_module, "cpu_bf16_speedup", lambda: 0.5)  # a CPU where bf16 is slower
        monkeypatch.delenv(placement_module.CPU_DTYPE_ENV, raising=False)  # the suite's pin (conftest): measured here
    else:
        count, capability, bf16, device_name = spec
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: device_name)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setenv("LOCAL_RANK", "1" if name == "2 ranks" else "0")
    real_find_spec = placement_module.importlib.util.find_spec
    monkeypatch.setattr(placement_module.importlib.util, "find_spec",
                        lambda mod, *a: object() if mod == "flash_attn" and flash else (None if mod == "flash_attn" else real_find_spec(mod, *a)))
    yield


@pytest.fixture
def recorder(monkeypatch):
    calls: list[dict] = []

    def from_pretrained(where, *args, **kwargs):
        calls.append({"where": str(where), **kwargs})
        raise Loaded()

    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    return calls


def device_of(call: dict) -> str:
    return call.get("device_map", {}).get("", "cpu")


@pytest.mark.parametrize("name", list(GPUS))
def test_place_picks_device_dtype_and_attention(name, monkeypatch):
    with machine(monkeypatch, name):
        p = place(ModelSection(id="m"))
        assert (p.device, p.dtype, p.attention) == (*EXPECTED[name], "sdpa")
        kwargs = p.load_kwargs()
        assert kwargs["dtype"] == DTYPE[EXPECTED[name][1]] and kwargs["attn_implementation"] == "sdpa"
        assert kwargs.get("device_map") == (None if name == "cpu" else {"": EXPECTED[name][0]})


@pytest.mark.parametrize("name", ["4090", "h100"])
def test_flash_attention_is_taken_on_cuda_when_installed_and_not_on_a_t4_in_fp32(name, monkeypatch):
    with machine(monkeypatch, name, flash=True):
        assert place(ModelSection(id="m")).attention == "flash_attention_2"
        assert place(ModelSection(id="m", dtype="fp32")).attention == "sdpa"  # the kernel is 16-bit only
    with machine(monkeypatch, "cpu", flash=True):
        assert place(ModelSection(id="m")).attention == "sdpa"


def test_forced_settings_win_and_an_impossible_device_is_one_line(monkeypatch):
    from slmforge.core.errors import ModelError

    with machine(monkeypatch, "h100"):
        p = place(ModelSection(id="m", device="cpu", dtype="fp32", attention="eager"))
        assert (p.device, p.dtype, p.attention) == ("cpu", "fp32", "eager")
    with machine(monkeypatch, "cpu"):
        with pytest.raises(ModelError, match=r"^model.device: cuda asked for, but no CUDA device is visible here"):
            place(ModelSection(id="m", device="cuda"))
    with machine(monkeypatch, "cpu"):
        monkeypatch.setattr(placement_module, "cpu_bf16_speedup", lambda: 6.5)  # an AMX CPU
        assert place(ModelSection(id="m")).dtype == "bf16"


def write_recipe(tmp_path: Path, model: Path, method: str) -> Path:
    raw = {"name": "p", "model": {"id": str(model)}, "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 20)), "max_length": 64},
           "train": {"method": method, "max_steps": 1, "batch_size": 4}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name", list(GPUS))
@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_training_loads_its_base_where_the_placement_says(name, method, monkeypatch, recorder, tmp_path, tiny_qwen2):
    from slmforge.orchestrate.pipeline import run_stages

    if method == "qlora" and name == "cpu":
        pytest.importorskip("bitsandbytes")
    recipe = load(write_recipe(tmp_path, tiny_qwen2, method))
    run_stages(recipe, tmp_path / "runs", ["prepare"])  # prepare loads no model, only the tokenizer
    with machine(monkeypatch, name), pytest.raises(Loaded):
        run_stages(recipe, tmp_path / "runs", ["train"], force=True)
    [call] = recorder
    device, dtype = EXPECTED[name]
    assert device_of(call) == (device if device != "cpu" or method == "qlora" else "cpu")
    # full fine-tunes keep fp32 master weights (bf16/fp16 is autocast); an adapter's frozen base is 16-bit on a GPU
    assert call["dtype"] == DTYPE["fp32" if method == "full" or name == "cpu" else dtype]
    assert ("quantization_config" in call) == (method == "qlora")
    if method == "qlora":
        assert call["quantization_config"].bnb_4bit_compute_dtype == DTYPE[dtype]
    manifest = json.loads((tmp_path / "runs" / "p" / "manifest.json").read_text())
    recorded = manifest["stages"]["train"]["placement"]["model"]
    assert (recorded["device"], recorded["dtype"], recorded["four_bit"]) == (device, dtype, method == "qlora")


@pytest.mark.parametrize("name", list(GPUS))
def test_eval_prefs_and_serve_load_models_where_the_placement_says(name, monkeypatch, recorder, tmp_path, tiny_qwen2):
    from slmforge.evaluate.stage import load_side
    from slmforge.prefs.pairs import load_sampler
    from slmforge.runtime.serve.loading import load_for_serving

    recipe = load(write_recipe(tmp_path, tiny_qwen2, "lora"))
    run = RunDir(tmp_path / "runs" / "p")
    run.ensure(recipe)
    quiet = Console(quiet=True)
    with machine(monkeypatch, name):
        for load_one in (lambda: load_side("base", recipe, run, quiet), lambda: load_sampler(recipe, run, quiet),
                         lambda: load_for_serving(str(tiny_qwen2))):
            with pytest.raises(Loaded):
                load_one()
    assert len(recorder) == 3
    for call in recorder:
        assert (device_of(call), call["dtype"], call["attn_implementation"]) == (*EXPECTED[name][:1], DTYPE[EXPECTED[name][1]], "sdpa")
    assert set(json.loads(run.manifest_path.read_text())["stages"]) >= {"eval", "prefs"}


@pytest.mark.parametrize("name", ["cpu", "h100"])
def test_export_and_verify_compare_in_fp32_on_the_cpu_wherever_training_ran(name, monkeypatch, recorder, tmp_path, tiny_qwen2):
    from slmforge.export.stage import load_merged

    recipe = load(write_recipe(tmp_path, tiny_qwen2, "full"))
    run = RunDir(tmp_path / "runs" / "p")
    run.ensure(recipe)
    (run.model / "config.json").parent.mkdir(parents=True)
    (run.model / "config.json").write_text("{}")
    with machine(monkeypatch, name), pytest.raises(Loaded):
        load_merged(recipe, run, Console(quiet=True))
    [call] = recorder
    assert (device_of(call), call["dtype"]) == ("cpu", torch.float32)


def test_the_cpu_dtype_can_be_pinned_instead_of_measured_and_a_bad_value_is_one_line(monkeypatch):
    from slmforge.core.errors import ModelError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(placement_module, "cpu_bf16_speedup", lambda: 6.5)  # an AMX CPU
    monkeypatch.setenv(placement_module.CPU_DTYPE_ENV, "fp32")
    assert place(ModelSection()).dtype == "fp32"
    monkeypatch.setenv(placement_module.CPU_DTYPE_ENV, "bf16")
    assert place(ModelSection()).dtype == "bf16" and place(ModelSection(dtype="fp32")).dtype == "fp32"
    monkeypatch.setenv(placement_module.CPU_DTYPE_ENV, "half")
    with pytest.raises(ModelError, match="SLMFORGE_CPU_DTYPE=half: it takes fp32 or bf16"):
        place(ModelSection())
