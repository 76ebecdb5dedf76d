"""`slmforge sweep` through the real CLI on a tiny model with a real Optuna study on SQLite.

The test enqueues the first three trials in the study (Optuna's own enqueue_trial) so that their
outcome is known: a good learning rate completes, a tiny one is pruned at its first eval (worse
than the median of the first trial at the same step), and one that crashes in training (a
checkpoint that does not exist) is recorded as failed with its error while the study goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from slmforge.core.recipe import load
from tests.helpers.data import make_pairs
from tests.helpers.sweeps import two_sweeps


def slmforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


PARAMS = ["--param", "train.lr=loguniform:1e-5:1e-2", "--param", "train.resume=categorical:auto,/no/such/checkpoint-9"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_qwen2):
    import optuna

    tmp = tmp_path_factory.mktemp("sweep")
    raw = {
        "name": "demo",
        "model": {"id": str(tiny_qwen2)},
        "data": {"path": str(make_pairs(tmp / "pairs.jsonl")), "max_length": 64, "num_proc": 1,
                 "split": {"train": 0.7, "val": 0.2, "test": 0.1}},
        "train": {"method": "lora", "max_steps": 4, "batch_size": 4, "lr": 5e-3, "precision": "fp32", "eval_steps": 2,
                  "save_steps": 100, "logging_steps": 1},
        "eval": {"enabled": False},
        "sweep": {"trials": 3},
    }
    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    (tmp / "runs" / "demo").mkdir(parents=True)
    study = optuna.create_study(storage=f"sqlite:///{tmp / 'runs' / 'demo' / 'sweep.db'}", study_name="demo", direction="minimize")
    study.enqueue_trial({"train.lr": 5e-3, "train.resume": "auto"})
    study.enqueue_trial({"train.lr": 1e-5, "train.resume": "auto"})
    study.enqueue_trial({"train.lr": 5e-3, "train.resume": "/no/such/checkpoint-9"})
    result = slmforge("sweep", str(recipe), *PARAMS, cwd=tmp)
    return tmp, recipe, result


def test_sweep_records_complete_pruned_and_failed_trials_and_goes_on(swept):
    tmp, _, result = swept
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp / "runs" / "demo" / "sweep.json").read_text())
    states = {t["number"]: t["state"] for t in summary["trials"]}
    assert states == {0: "complete", 1: "pruned", 2: "fail"}
    by_number = {t["number"]: t for t in summary["trials"]}
    assert by_number[1]["note"] == "pruned at step 2"
    assert by_number[2]["note"].startswith("train.resume: /no/such/checkpoint-9: not a directory")
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2]  # sorted: complete, pruned, failed
    assert "trial 1: pruned at step 2" in result.stderr and "trial 2 failed:" in result.stderr
    assert "Traceback" not in result.stderr
    page = (tmp / "runs" / "demo" / "sweep.html").read_text()
    assert 'alt="objective history"' in page and "pruned at step 2" in page
    assert "No parameter importance: 1 complete trial(s)" in page  # the plot itself: tests/unit/test_sweep_page.py


def test_each_trial_is_a_run_directory_that_reuses_the_prepared_data(swept):
    tmp, _, result = swept
    sweep_dir = tmp / "runs" / "demo"
    trial = sweep_dir / "trials" / "trial-000"
    assert load(trial / "recipe.yaml").name == "trial-000"
    manifest = json.loads((trial / "manifest.json").read_text())
    assert manifest["stages"]["prepare"]["status"] == "complete" and manifest["stages"]["train"]["status"] == "complete"
    assert (trial / "logs" / "metrics.jsonl").is_file() and (trial / "report.html").is_file()
    # Same file, not a re-prepared copy: data was prepared once for the whole sweep.
    parquet = Path("data") / "tokenized" / "train.parquet"
    assert os.path.samefile(sweep_dir / parquet, trial / parquet)
    assert result.stderr.count("prepare: skipped") >= 3 and result.stderr.count("── prepare") <= 1


def test_best_recipe_is_valid_yaml_with_the_best_params_and_the_command_reproduces_it(swept):
    tmp, recipe, result = swept
    best = load(tmp / "runs" / "demo" / "best.yaml")
    assert (best.name, best.train.lr, best.train.resume, best.sweep) == ("demo-best", 5e-3, "auto", None)
    summary = json.loads((tmp / "runs" / "demo" / "sweep.json").read_text())
    assert summary["command"] == f"slmforge run {recipe} --set train.lr=0.005 --set train.resume=auto"
    assert "best: trial 0 · val_loss" in result.stderr and "reproduce: slmforge run" in result.stderr
    ran = slmforge("run", str(tmp / "runs" / "demo" / "best.yaml"), "--runs", "best-runs", cwd=tmp)
    assert ran.returncode == 0, ran.stderr[-3000:]
    trained = tmp / "best-runs" / "demo-best"
    assert (trained / "model" / "adapter_model.safetensors").is_file() and (trained / "report.html").is_file()


def test_rerunning_continues_the_study_instead_of_starting_over(swept):
    tmp, recipe, _ = swept
    result = slmforge("sweep", str(recipe), *PARAMS, "--trials", "4", cwd=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 trials (1 to run)" in result.stderr
    summary = json.loads((tmp / "runs" / "demo" / "sweep.json").read_text())
    assert sorted(t["number"] for t in summary["trials"]) == [0, 1, 2, 3]
    assert (tmp / "runs" / "demo" / "trials" / "trial-003" / "manifest.json").is_file()


def test_bad_param_exits_2_with_one_line_and_no_traceback(swept):
    tmp, recipe, _ = swept
    result = slmforge("sweep", str(recipe), "--param", "train.lrr=float:0.1:0.2", cwd=tmp)
    assert result.returncode == 2
    assert "error: " in result.stderr and "train.lrr: unknown key, did you mean lr?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("storage", ["journal", None], ids=["journal", "default-sqlite"])
def test_two_sweep_processes_sharing_a_local_study_split_the_trials_without_overshooting(tmp_path, tiny_qwen2, storage):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    ran = two_sweeps(tmp_path, tiny_qwen2, "pair", {"trials": 5, "storage": storage}, [[], []])
    assert ran[0] and ran[1], "both processes should have run trials"
    assert not ran[0] & ran[1] and len(ran[0] | ran[1]) == 5  # split, none twice, none missing
    sweep_dir = tmp_path / "runs" / "pair"
    url = (optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / "sweep.journal"))) if storage
           else f"sqlite:///{sweep_dir / 'sweep.db'}")
    study = optuna.load_study(study_name="pair", storage=url)
    real = [t for t in study.trials if t.user_attrs.get("slot") != "surplus"]
    assert len(real) == 5 and all(t.state.name == "COMPLETE" for t in real)  # exactly the count asked for
    assert sorted(p.name for p in (tmp_path / "runs" / "pair" / "trials").iterdir()) == [f"trial-{t.number:03d}" for t in real]
    assert len({t.params["train.lr"] for t in real}) == 5  # the processes did not draw the same points
