"""`make demo`'s recipe, for real: recipes/folksy-quick.yaml trains the embedded SmolLM2 and must clear its
floors on the test prompts phrased in ways training never saw (issue 21): degenerate ≤ 15 %, stops ≥ 95 %,
8-16 words on average, novelty ≥ 95 %, every template family covered.

The only override is export.formats=[]: export does not change the answers, and it costs minutes here.
It is the whole demo (~15 minutes on 2 cores), so it runs only when asked: SLMFORGE_DEMO_FLOORS=1 make test
(or pytest tests/e2e/test_demo_floors.py with that variable). The floors are measured with the recipe's decoding
(temperature 0.8, top_p 0.95, seeded), which the floors' title names. Measured 2026-12-01 on 42 unseen prompts:
the recipe as `slmforge sweep` ran it (one thread) clears every floor (degenerate 7.1 %, stopped 100 %, 11.5 words,
novel 100 %, 7 of 7 families); at lr 1e-3 this test failed (degenerate 28.6 %, novel 90.5 %); greedy answers
do not clear them at either rate (bench/RESULTS.md, "Demo quality").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE = str(REPO / "recipes" / "folksy-quick.yaml")
FLOORS = {"degenerate", "stopped", "mean_words", "novelty", "coverage_missing"}


def measured(floors: dict) -> str:
    return ", ".join(f"{r['metric']} {r['value']:.3g} ({'pass' if r['pass'] else 'FAIL'})" for r in floors["rows"])


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SLMFORGE_DEMO_FLOORS") != "1", reason="the whole demo (~15 min): SLMFORGE_DEMO_FLOORS=1 runs it")
def test_the_demo_model_clears_its_floors_on_unseen_phrasings(tmp_path, embedded_dir):
    runs = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "slmforge", "run", RECIPE, "--runs", str(runs), "--set", "export.formats=[]"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=3600, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-3000:]
    run = runs / "folksy-quick"
    report = json.loads((run / "data" / "data_report.json").read_text())
    assert report["unseen"]["test_rows"]["unseen"] > 0
    results = json.loads((run / "eval" / "results.json").read_text())
    floors = results["floors"]
    assert floors["part"] == "unseen" and floors["model"] == "final" and floors["prompts"] >= 20
    assert {r["metric"] for r in floors["rows"]} == FLOORS and all(r["value"] is not None for r in floors["rows"])
    assert "floors: final on the unseen test prompts" in done.stderr and "floors: final" in (run / "report.html").read_text()
    print(f"demo floors on {floors['prompts']} unseen prompts: {measured(floors)}")
    assert floors["pass"], f"the demo model is below its floors on {floors['prompts']} unseen prompts: {measured(floors)}"
