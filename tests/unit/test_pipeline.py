"""`run` ordering rules: skip what is complete, redo what changed, go on past an optional failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import validate
from slmforge.orchestrate import pipeline
from slmforge.orchestrate.pipeline import Stage, run_stages


def _recipe(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(40)))
    return validate({"name": "p", "data": {"path": str(data)}})


def _writer(name: str, calls: list[str]):
    def run(ctx):
        calls.append(name)
        out = ctx.run.root / f"{name}.txt"
        out.write_text(name)
        return [out]

    return run


def _failing(exc: BaseException, calls: list[str]):
    def run(ctx):
        calls.append("flaky")
        raise exc

    return run


def test_optional_stage_failure_is_reported_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [
        Stage("first", ("data",), (), _writer("first", calls)),
        Stage("flaky", (), ("first",), _failing(SlmforgeError("judge: endpoint http://127.0.0.1:9 did not answer"), calls), optional=True),
        Stage("last", (), ("first", "flaky"), _writer("last", calls)),
    ])
    run = run_stages(_recipe(tmp_path), tmp_path / "runs")
    assert calls == ["first", "flaky", "last"]
    assert run.stage("flaky").status == "failed" and "did not answer" in run.stage("flaky").error
    assert run.stage("last").status == "complete"
    # the failed stage is retried on the next run; the complete ones are skipped
    calls.clear()
    run_stages(_recipe(tmp_path), tmp_path / "runs")
    assert calls == ["flaky"]


def test_required_stage_failure_stops_the_run(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [
        Stage("first", ("data",), (), _failing(SlmforgeError("broken"), calls)),
        Stage("last", (), ("first",), _writer("last", calls)),
    ])
    with pytest.raises(SlmforgeError):
        run_stages(_recipe(tmp_path), tmp_path / "runs")
    assert calls == ["flaky"]


def test_a_bug_in_an_optional_stage_is_not_swallowed(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [Stage("flaky", (), (), _failing(KeyError("bug"), calls), optional=True)])
    with pytest.raises(KeyError):
        run_stages(_recipe(tmp_path), tmp_path / "runs")


def test_changed_recipe_section_redoes_the_stage_and_the_ones_after(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [
        Stage("first", ("train",), (), _writer("first", calls)),
        Stage("last", (), ("first",), _writer("last", calls)),
    ])
    recipe = _recipe(tmp_path)
    run_stages(recipe, tmp_path / "runs")
    run_stages(recipe, tmp_path / "runs")
    assert calls == ["first", "last"]
    recipe.train.lr = 1e-3
    (tmp_path / "runs" / "p" / "first.txt").write_text("tampered")
    run_stages(recipe, tmp_path / "runs")
    assert calls == ["first", "last", "first"]  # 'last' reads first.txt, whose bytes are back to the same


def test_pipeline_has_the_stages_in_data_flow_order():
    names = [s.name for s in pipeline.STAGES]
    assert names[0] == "prepare" and names[-1] == "report"
    assert names.index("train") < names.index("eval") < names.index("judge")
    judge = next(s for s in pipeline.STAGES if s.name == "judge")
    assert judge.optional
