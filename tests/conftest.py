"""Shared fixtures: tiny random models (built once per session) and the embedded SmolLM2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download
# model.dtype auto on a CPU means fp32 in the tests, whatever this CPU measures: their references are fp32, and an AMX
# CPU (where the placement would pick bf16) must not fail what an AMD one passes. The bf16 choice itself is tested with a
# patched measurement (tests/unit/test_placement.py); the subprocesses the tests start inherit this.
os.environ.setdefault("SLMFORGE_CPU_DTYPE", "fp32")


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> Path:
    from slmforge.runtime.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", arch="qwen2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from slmforge.runtime.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", arch="llama")


@pytest.fixture(scope="module")
def sharp(tmp_path_factory):
    """(model, tokenizer) of a tiny llama with large random weights: peaked attention, so answers depend on positions
    and on each key (the default tiny model's near-uniform attention answers the same with positions off by twenty,
    and with a key in the wrong column or a stale value)."""
    from slmforge.core.sections import ModelSection
    from slmforge.runtime.models import load_model
    from slmforge.runtime.tiny_models import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("sharp"), arch="llama", initializer_range=0.5)
    return load_model(ModelSection(id=str(path)))


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """The embedded SmolLM2-135M, materialized once into the slmforge cache (~25 s the first time)."""
    from slmforge.runtime.models import embedded_gguf, local_dir, resolve_source

    embedded_gguf("smollm2-135m")
    return local_dir(resolve_source("embedded:smollm2-135m"))


def pytest_collection_modifyitems(config, items):
    """Everything under tests/e2e/ starts real processes or servers: it is slow by definition (unit tests that
    train carry the mark themselves)."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(e2e):
            item.add_marker(pytest.mark.slow)
