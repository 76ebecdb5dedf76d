"""Schemathesis fuzzes a real server on loopback from its own /openapi.json: no input gives a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slmforge.runtime.serve.app import build_app
from slmforge.runtime.serve.launch import build_engines
from slmforge.runtime.serve.loading import ModelSpec
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeOptions
from slmforge.runtime.serve.server import ServerThread

KEY = "sk-fuzz-0123456789abcdef"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(tiny_qwen2, tmp_path):
    # Tiny caps keep each generated request cheap: ~350 cases in ~30 s on 2 shared cores.
    opts = ServeOptions(port=0, api_keys=[KEY], max_tokens_cap=2, default_max_tokens=2, max_n=2, max_sequences=4,
                        max_prompt_tokens=64, batch_wait_ms=0)
    metrics = ServeMetrics()
    app = build_app(build_engines([ModelSpec("qwen", str(tiny_qwen2))], opts, metrics), opts, metrics)
    st = Path(sys.executable).with_name("st")
    assert st.is_file(), "schemathesis is missing: pip install -e '.[test]'"
    with ServerThread(app, opts) as url:
        run = subprocess.run(
            [str(st), "run", f"{url}/openapi.json", "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {KEY}",
             "--phases", "coverage,fuzzing", "--max-examples", "10", "--seed", "1", "--workers", "1",
             "--generation-database", "none", "--request-timeout", "30", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "generated" in run.stdout
