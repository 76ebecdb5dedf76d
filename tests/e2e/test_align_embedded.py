"""folksy-dpo-quick end to end on the embedded SmolLM2, shrunk with --set: SFT → prefs → DPO → eval → report.

Also `slmforge prefs` on the real model with the shipped rule scorer: every prompt is a pair or a
counted drop. (A prefs run cut short continuing with the same pairs is tests/unit/test_prefs.py's, on a tiny model:
here it cost a third model load, ~25 s of CI.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE = str(REPO / "recipes" / "folksy-dpo-quick.yaml")
SMALL = [
    "--set", "data.corpus.size=40", "--set", "data.split.train=0.7", "--set", "data.split.val=0.05", "--set", "data.split.test=0.25",
    "--set", "train.max_steps=2", "--set", "train.batch_size=4", "--set", "train.eval_steps=100", "--set", "train.logging_steps=1",
    "--set", "prefs.samples=8", "--set", "prefs.k=3", "--set", "prefs.max_new_tokens=16", "--set", "prefs.batch_size=4",
    "--set", "prefs.margin=0.5",
    "--set", "align.max_steps=2", "--set", "align.batch_size=2", "--set", "align.held_out=0.4",
    "--set", "eval.samples=4", "--set", "eval.max_new_tokens=8", "--set", "eval.batch_size=4", "--set", "eval.spotcheck=2",
]


def slmforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow
def test_folksy_dpo_quick_runs_sft_prefs_dpo_and_reports_before_and_after(tmp_path, embedded_dir):
    runs = tmp_path / "runs"
    done = slmforge("run", RECIPE, "--runs", str(runs), *SMALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = runs / "folksy-dpo-quick"
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert list(stages) == ["prepare", "train", "prefs", "align", "eval", "report"]

    prefs = json.loads((run / "prefs" / "report.json").read_text())
    assert prefs["read"] == 8 == prefs["pairs"] + prefs["dropped"] and prefs["scorer"] == "slmforge.prefs.rules:folksy_shape"
    pairs = [json.loads(x) for x in (run / "prefs" / "pairs.jsonl").read_text().splitlines()]
    assert all(p["chosen_score"] - p["rejected_score"] >= 0.5 for p in pairs)

    view = json.loads((run / "eval" / "preference.json").read_text())
    print("preference view", json.dumps({k: view[k] for k in ("held_out_pairs", "sft", "aligned", "implicit_reward_margin", "kl_to_sft")}))
    assert view["held_out_pairs"] > 0 and view["kl_to_sft"]["tokens"] > 0
    html = (run / "report.html").read_text()
    assert "Preference alignment: SFT vs aligned" in html and "SFT (before)" in html and "chosen over rejected" in html

