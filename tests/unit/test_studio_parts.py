"""The studio's pure parts: metrics feed, ETA, recipe checks = CLI lines, plan table, votes, compare marks, runs index."""

from __future__ import annotations

import json
import shutil

import yaml
from studio_helpers import synthetic_run
from typer.testing import CliRunner

from slmforge.core.recipe import load
from slmforge.orchestrate.cli import app as cli_app
from slmforge.orchestrate.studio.compare import compare
from slmforge.orchestrate.studio.jobs import JobManager
from slmforge.orchestrate.studio.metrics_feed import progress, read_from
from slmforge.orchestrate.studio.recipe_form import check, memory_table
from slmforge.orchestrate.studio.runs_index import RunIndex, run_ids
from slmforge.orchestrate.studio.votes import Side, VoteBook


def test_metrics_feed_returns_only_complete_lines_and_resets_when_the_file_is_cut_back(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.9}\n{"step": 3, "lo')
    first = read_from(path, 0)
    assert [x["step"] for x in first.lines] == [1, 2] and not first.reset
    with open(path, "a") as f:
        f.write('ss": 1.8}\n')
    second = read_from(path, first.cursor)
    assert [x["step"] for x in second.lines] == [3]
    path.write_text('{"step": 1, "loss": 2.0}\n')  # a resumed run cut the file back to its checkpoint
    third = read_from(path, second.cursor)
    assert third.reset and [x["step"] for x in third.lines] == [1]
    assert read_from(tmp_path / "missing.jsonl", 0).lines == []


def test_eta_is_remaining_steps_times_the_median_seconds_per_step():
    lines = [{"step": s, "epoch": s / 20, "time": 100.0 + 2 * s, "loss": 1.0} for s in range(1, 11)]
    lines.insert(5, {"step": 5, "epoch": 0.25, "time": 111.0, "eval_loss": 1.1})  # eval lines carry no step time
    by_steps = progress(lines, max_steps=30)
    assert by_steps.total_steps == 30 and by_steps.seconds_per_step == 2.0 and by_steps.eta_s == 40.0
    by_epochs = progress(lines, max_steps=-1, epochs=2.0)
    assert by_epochs.total_steps == 40 and by_epochs.eta_s == 60.0
    assert by_epochs.eval_loss == 1.1 and by_epochs.loss == 1.0
    assert progress([{"step": 3, "loss": 1.0}], 10).eta_s is None  # logs from before the time field: no ETA, no guess


def _raw(tmp_path) -> dict:
    return {"name": "t", "model": {"id": "embedded:smollm2-135m"}, "data": {"path": str(tmp_path / "d.jsonl")},
            "train": {"method": "lora", "batch_size": 8, "lr": -1, "lora": {"rr": 3}}}


def test_a_bad_recipe_gets_exactly_the_lines_the_cli_prints(tmp_path):
    raw = _raw(tmp_path)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    cli = CliRunner().invoke(cli_app, ["show-recipe", str(tmp_path / "r.yaml")])
    assert cli.exit_code == 2
    cli_lines = [line.removeprefix("error: ") for line in cli.output.splitlines() if line.startswith("error: ")]
    result = check(raw)
    assert [e["line"] for e in result.errors] == cli_lines
    assert {e["key"] for e in result.errors} == {"train.lr", "train.lora.rr"}
    assert result.yaml is None and not result.as_dict()["ok"]


def test_the_plan_table_follows_batch_size_and_method(tmp_path):
    raw = _raw(tmp_path)
    raw["train"] = {"method": "lora", "batch_size": 8, "micro_batch_tokens": 0}  # 0: never split, activations grow with the batch
    small = memory_table(check(raw).recipe)
    raw["train"]["batch_size"] = 64
    big = memory_table(check(raw).recipe)
    assert small["columns"] == ["full", "lora", "qlora"]
    activations = lambda t: next(r["gib"] for r in t["rows"] if r["part"] == "activations")  # noqa: E731
    assert activations(big)[1] > activations(small)[1] > 0
    assert "batch 64 × length 512" in big["title"]
    raw["train"]["micro_batch_tokens"] = "auto"  # the trainer's split, as `slmforge plan` shows it
    assert "micro-batches of" in memory_table(check(raw).recipe)["title"]
    raw["train"]["method"] = "dpo"
    assert memory_table(check(raw).recipe)["columns"] == ["dpo · lora", "dpo · full"]
    raw["model"]["id"] = "no/such-model"
    assert "no config.json to plan from" in memory_table(check(raw).recipe)["error"]


def test_a_blind_vote_is_a_preference_row_prefs_reads_and_a_rating_rate_reads(tmp_path):
    from slmforge.evaluate.spotcheck import read_ratings
    from slmforge.prefs.sources import pairs_from_file

    root = tmp_path / "runs"
    synthetic_run(root, "r1")
    book = VoteBook(root, seed=1)
    messages = [{"role": "user", "content": "prompt 0"}]
    pair = book.open(messages, "the hen sleeps by the stove", Side("run:r1", "the hen sleeps", 0), Side("base:m", "no idea"))
    first_is_run = pair.sides[0].model == "run:r1"
    out = book.vote(pair.id, "first" if first_is_run else "second")  # the run's answer wins
    assert {out["first"], out["second"]} == {"run:r1", "base:m"}
    row = json.loads(book.preferences.read_text().splitlines()[0])
    assert row["chosen"] == "the hen sleeps" and row["rejected"] == "no idea" and row["prompt"] == messages

    raw = {"name": "p", "data": {"path": "x.jsonl"}, "prefs": {"source": "file", "path": str(book.preferences)}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    pairs = pairs_from_file(load(tmp_path / "p.yaml"), book.preferences)
    assert len(pairs.pairs) == 1 and pairs.pairs[0]["chosen"] == "the hen sleeps" and not pairs.drops

    known = {str(json.loads(x)["id"]) for x in (root / "r1" / "eval" / "samples.jsonl").read_text().splitlines()}
    assert read_ratings(book.spotcheck("r1"), known).counts == {"Good": 1, "Okay": 0, "Bad": 0}
    again = book.open(messages, None, Side("run:r1", "the hen sleeps", 0), Side("base:m", "no idea"))
    book.vote(again.id, "tie")  # a second vote on the same prompt replaces the rating: rate refuses an id rated twice
    assert read_ratings(book.spotcheck("r1"), known).counts == {"Good": 0, "Okay": 1, "Bad": 0}
    assert len(book.preferences.read_text().splitlines()) == 1  # a tie makes no pair
    empty = book.open(messages, None, Side("run:r1", "the hen sleeps", 1), Side("base:m", "  "))
    out = book.vote(empty.id, "first" if empty.sides[0].model == "run:r1" else "second")
    assert "one answer is empty" in out["skipped"] and len(book.preferences.read_text().splitlines()) == 1  # prefs would refuse it
    tally = book.tally()["pairs"][0]
    assert (tally["a"], tally["b"], tally["ties"], tally["b_wins"]) == ("base:m", "run:r1", 1, 2)  # every vote counts in the tally


def test_compare_marks_examples_better_or_worse_by_rouge_l_against_the_base_answer(tmp_path):
    root = tmp_path / "runs"
    a, b = synthetic_run(root, "a"), synthetic_run(root, "b", seed=3)
    (b / "eval" / "samples.jsonl").write_text((a / "eval" / "base_samples.jsonl").read_text())  # b answers like the base
    out = compare({"a": a, "b": b})
    assert out["basis"] == "base" and out["score"].startswith("ROUGE-L")
    marks = {ex["prompt"]: [o["mark"] for o in ex["outputs"]] for ex in out["examples"]}
    assert marks == {"prompt 0": ["better", "same"], "prompt 1": ["worse", "same"], "prompt 2": ["same", "same"]}
    assert out["examples"][0]["outputs"][0]["score"] == 1.0 and out["examples"][0]["base"]["score"] < 0.2
    assert [r["id"] for r in out["runs"]] == ["a", "b"] and out["runs"][0]["curves"]["eval_loss"][0][0] == 10
    assert out["runs"][1]["metrics"]["loss"] == 2.23 and out["base_metrics"]["rouge_l"] == 0.10


def test_runs_index_finds_sweep_trials_and_reads_status_from_the_manifest(tmp_path):
    root = tmp_path / "runs"
    synthetic_run(root, "done")
    synthetic_run(root, "halted", status="failed")
    manifest = json.loads((root / "halted" / "manifest.json").read_text())
    manifest["stages"]["train"]["error"] = "SIGTERM: stopped at step 6, checkpoint saved in runs/halted/checkpoints"
    (root / "halted" / "manifest.json").write_text(json.dumps(manifest))
    synthetic_run(root / "sweep1" / "trials", "trial-000")
    (root / "_studio" / "uploads").mkdir(parents=True)
    shutil.copytree(root / "done", root / "_studio" / "not-a-run")
    assert run_ids(root) == ["done", "halted", "sweep1", "sweep1/trials/trial-000"]
    index = RunIndex(root, JobManager(root, tmp_path))
    by_id = {s["id"]: s for s in index.summaries()}
    assert by_id["done"]["status"] == "complete" and by_id["halted"]["status"] == "stopped"
    assert by_id["sweep1"]["is_sweep"] and by_id["sweep1/trials/trial-000"]["sweep"] == "sweep1"
    assert by_id["done"]["headline"]["loss"] == {"final": 2.2, "base": 3.1}
    assert by_id["done"]["progress"]["step"] == 40 and len(by_id["done"]["spark"]) <= 48


def test_a_run_whose_studio_child_died_mid_stage_is_interrupted_not_running(tmp_path):
    import time

    root = tmp_path / "runs"
    run = synthetic_run(root, "killed", status="running")
    jobs = JobManager(root, tmp_path)
    job = jobs.start("killed", run / "recipe.yaml", root)
    jobs.stop("killed")  # SIGTERM during imports: the child dies before any stage can record it
    for _ in range(200):
        if not jobs.get("killed").alive:
            break
        time.sleep(0.05)
    index = RunIndex(root, jobs)
    assert jobs.get("killed").returncode == -15 and job.pid
    assert index.summary("killed")["status"] == "interrupted"
