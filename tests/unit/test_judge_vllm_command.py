"""judge.server.vllm: the command our launcher runs for a judge served with vLLM (no vLLM needed to build it; the
e2e test in tests/e2e/test_vllm.py starts it for real). On this CPU: eager, the KV cache capped, no API key."""

from __future__ import annotations

import sys

import pytest

from slmforge.core.sections import JudgeSection
from slmforge.runtime.judge.server import JudgeServerError, vllm_command


def judge_on(model: str) -> JudgeSection:
    return JudgeSection(enabled=True, endpoint="http://127.0.0.1:8011/v1", model="judge", server={"vllm": model})


def test_the_judge_is_served_as_judge_model_on_the_endpoints_port(tiny_qwen2, monkeypatch):
    monkeypatch.setenv("SLMFORGE_VLLM_PYTHON", sys.executable)
    monkeypatch.setenv("VLLM_API_KEY", "a key meant for another vLLM")
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    argv, env = vllm_command(judge_on(str(tiny_qwen2)))

    def value(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert argv[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert (value("--model"), value("--served-model-name"), value("--host"), value("--port")) == (str(tiny_qwen2), "judge", "127.0.0.1", "8011")
    assert value("--max-model-len") == "1024" and value("--dtype") == "float32" and "--enforce-eager" in argv
    assert "VLLM_API_KEY" not in env and env["VLLM_CPU_KVCACHE_SPACE"] == "1"  # the judge client sends no key of ours


def test_a_judge_on_vllm_without_vllm_is_one_line(tiny_qwen2, monkeypatch, tmp_path):
    monkeypatch.setenv("SLMFORGE_VLLM_PYTHON", str(tmp_path / "nothing" / "python"))
    with pytest.raises(JudgeServerError, match=r"^judge.server.vllm: SLMFORGE_VLLM_PYTHON: .* is not a python executable; make vllm") as err:
        vllm_command(judge_on(str(tiny_qwen2)))
    assert "\n" not in str(err.value)
