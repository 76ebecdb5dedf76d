"""report.html: self-contained plots, the base-vs-fine-tuned table, samples, data report; opened in Chromium when present."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from slmforge.evaluate.stage import evaluate
from slmforge.report.page import write_report
from tests.helpers.eval_runs import folksy_rows, prepared_run, quiet, save_adapter

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_training_logs(run_root: Path, steps: int = 40) -> None:
    logs = run_root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "metrics.jsonl", "w") as f:
        for step in range(5, steps + 1, 5):
            f.write(json.dumps({"step": step, "loss": 3.0 / step ** 0.3, "lr": 3e-4 * (1 - step / steps),
                                "tokens_per_s": 900 + step, "grad_norm": 1.0}) + "\n")
            if step % 20 == 0:
                f.write(json.dumps({"step": step, "eval_loss": 2.5 / step ** 0.25}) + "\n")
        f.write('{"step": 41, "loss": 1.')  # a line cut off by a crash is skipped, not fatal


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, tiny_qwen2):
    tmp = tmp_path_factory.mktemp("report")
    recipe, run = prepared_run(tmp, tiny_qwen2, folksy_rows(), samples=12)
    save_adapter(tiny_qwen2, run.model)
    evaluate(recipe, run, quiet)
    write_training_logs(run.root)
    return run


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_report_embeds_plots_and_shows_the_table_samples_and_data(evaluated_run):
    page = write_report(evaluated_run.root).read_text()
    pngs = images(page)
    assert len(pngs) == 4  # loss, learning rate, tokens/s, label coverage
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    assert 'alt="Loss"' in page and 'alt="Learning rate"' in page and 'alt="coverage"' in page
    assert "Metrics: base vs fine-tuned" in page and "Δ fine-tuned − base" in page
    assert "perplexity" in page and "distinct-2" in page and "novel (not a training copy)" in page
    samples_table = page.split("<h2>Samples</h2>")[1].split("</table>")[0]
    assert samples_table.count("<tr>") == 1 + 10  # header + 10 samples side by side
    assert "<th>base</th><th>fine-tuned</th><th>reference</th>" in samples_table
    assert "read 60, kept 60, dropped 0" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained


def test_report_without_training_logs_or_eval_says_what_is_missing(tmp_path):
    run = tmp_path / "runs" / "bare"
    run.mkdir(parents=True)
    page = write_report(run).read_text()
    assert "No logs/metrics.jsonl" in page and "No eval/results.json" in page
    assert images(page) == []


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_report_renders_in_headless_chromium_with_plots_and_table(evaluated_run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the structural test above checked the HTML")
    page = write_report(evaluated_run.root).read_text()
    # Count, after load, the images the browser actually decoded and the metric rows it laid out.
    probe = ("<script>window.addEventListener('load',()=>{document.body.dataset.decoded=[...document.images]"
             ".filter(i=>i.complete&&i.naturalWidth>0).length;document.body.dataset.rows="
             "document.querySelectorAll('table.metrics tr').length;});</script></body>")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe))
    shot = tmp_path / "report.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run([*common, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=90).stdout
    assert 'data-decoded="4"' in dom
    rows = int(re.search(r'data-rows="(\d+)"', dom).group(1))
    assert rows >= 10
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2400", evaluated_run.report.as_uri()],
                   capture_output=True, timeout=90)
    assert shot.read_bytes().startswith(PNG_MAGIC)


# --------------------------------------------------------------------------- hand-built results (no model)
def _scores(**over) -> dict:
    base = {"loss": 2.0, "bleu": 5.0, "distinct_2": 0.68, "degenerate": 0.05, "top_frame": "i think the", "top_frame_share": 0.1,
            "mean_words": 31.0, "stopped": 0.2, "novelty": 1.0, "exact_copies": 0, "near_copies": 0, "sample_distinctness": 0.8,
            "degenerate_examples": [], "copied_examples": []}
    return {**base, **over}


def hollow_results() -> dict:
    final = _scores(distinct_2=0.45, degenerate=0.5, top_frame="is just a", top_frame_share=0.45, mean_words=10.1, stopped=1.0,
                    degenerate_examples=[["A sock is just a sock.", "tautology: a sock is just a sock"]])
    reference = {"distinct_2": 0.7, "degenerate": 0.0, "top_frame": "and a prayer", "top_frame_share": 0.08, "mean_words": 10.5, "novelty": 1.0}
    return {
        "task": "text", "prompts": 40, "models": {"base": _scores(), "final": final, "reference": reference},
        "parts": {"seen": {"prompts": 27, "models": {"base": _scores(), "final": final, "reference": reference}},
                  "unseen": {"prompts": 13, "models": {"base": _scores(), "final": {**final, "degenerate": 0.6}, "reference": reference}}},
        "floors": {"part": "unseen", "model": "final", "prompts": 13, "pass": False,
                   "rows": [{"metric": "degenerate", "min": None, "max": 0.15, "value": 0.6, "pass": False},
                            {"metric": "mean_words", "min": 8, "max": 16, "value": 10.1, "pass": True}]},
        "notes": ["distinct-2 fell from 0.68 (base) to 0.45 (final): a frame is reused: 'is just a' in 45% of answers"],
        "spotcheck": {"file": "runs/x/eval/spotcheck.csv", "rows": 20, "targets": {"min_good": 0.6, "max_bad": 0.1},
                      "command": "slmforge rate runs/x runs/x/eval/spotcheck.csv"},
    }


def bare_run(tmp_path: Path, results: dict) -> Path:
    run = tmp_path / "runs" / "hand"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "results.json").write_text(json.dumps(results))
    return run


def test_report_shows_emptiness_parts_floors_and_the_note_that_explains_a_fall(tmp_path):
    page = write_report(bare_run(tmp_path, hollow_results())).read_text()
    metrics = page.split("<h2>Metrics")[1]
    for text in ("degenerate answers (say nothing)", "most common 3-word frame", "45% &#x27;is just a&#x27;", "words per answer",
                 "stopped on end of turn", "distinctness of sampled answers to one prompt"):
        assert text in metrics, text
    assert "distinct-2 fell from 0.68 (base) to 0.45 (final)" in metrics
    assert "By part of the test split" in metrics and "final · unseen" in metrics and "Δ final: unseen − seen" in metrics
    assert "floors: final on the unseen test prompts (13): FAIL" in metrics
    assert "≤ 15.0%" in metrics and "8.0 – 16.0" in metrics
    assert "Degenerate answers (first few, with the reason)" in metrics and "tautology: a sock is just a sock" in metrics


def test_report_puts_the_human_targets_beside_the_metrics_rated_or_not(tmp_path):
    run = bare_run(tmp_path, hollow_results())
    page = write_report(run).read_text()
    spot = page.split("<h3>Human spot-check</h3>")[1].split("</p>")[0]
    assert "not rated yet (targets &gt; 60% Good, &lt; 10% Bad)" in spot and "slmforge rate runs/x runs/x/eval/spotcheck.csv" in spot
    assert page.index("Human spot-check") < page.index("By part of the test split")  # beside the automatic metrics
    ratings = {"counts": {"Good": 13, "Okay": 5, "Bad": 2}, "total": 20, "good": 0.65, "bad": 0.1, "min_good": 0.6, "max_bad": 0.1,
               "passed": False}
    (run / "eval" / "ratings.json").write_text(json.dumps(ratings))
    spot = write_report(run).read_text().split("<h3>Human spot-check</h3>")[1].split("</p>")[0]
    assert "20 rated, Good 65%, Bad 10%" in spot and "below target" in spot and "not rated" not in spot


def test_a_number_task_shows_no_rows_that_do_not_apply_to_numbers(tmp_path):
    from rich.console import Console

    from slmforge.runtime.tables import metric_rows, print_results

    scores = {"loss": 1.0, "exact_match": 0.1, "novelty": 0.0, "exact_copies": 75, "near_copies": 3, "distinct_2": 0.1, "bleu": 40.0,
              "mae": 300.0, "mae_all": 310.0, "parse_failures": 2, "stopped": 1.0, "copied_examples": [["Price is $10.00", "Price is $10.00"]]}
    results = {"task": "number", "prompts": 100, "models": {"base": scores, "final": scores}}
    keys = [r.key for r in metric_rows(results)[1]]
    assert "mae" in keys and "stopped" in keys and "exact_match" in keys
    assert not {"novelty", "exact_copies", "near_copies", "distinct_2", "bleu"} & set(keys)
    page = write_report(bare_run(tmp_path, results)).read_text()
    assert "Copies of training outputs" not in page and "novel (not a training copy)" not in page and "MAE (parsed)" in page
    console = Console(record=True, width=200)
    print_results(results, console)
    text = console.export_text()
    assert "exact copies" not in text and "novel" not in text and "MAE (parsed)" in text


def test_the_terminal_shows_parts_floors_notes_and_the_spotcheck_to_do():
    from rich.console import Console

    from slmforge.runtime.tables import print_results

    console = Console(record=True, width=220)
    print_results(hollow_results(), console)
    text = console.export_text()
    assert "degenerate answers (say nothing)" in text and "distinct-2 fell from 0.68 (base) to 0.45 (final)" in text
    assert "final · unseen" in text and "floors: final on the unseen test prompts (13): FAIL" in text
    assert "human spot-check: not rated yet" in text


def test_the_report_says_when_the_judge_earned_no_verdict(tmp_path):
    run = bare_run(tmp_path, hollow_results())
    (run / "judge").mkdir()
    summary = {"samples": 16, "scored": 8, "unparsable": 8, "mean": {"value": 4.0, "low": 3.5, "high": 4.5}, "verdict": "not judged",
               "verdict_reason": "8 of 16 samples have no score (8 unparsable, 0 errors)", "pass": {"mean": None, "low_share": None, "all": None}}
    (run / "judge" / "summary.json").write_text(json.dumps(summary))
    page = write_report(run).read_text()
    assert "Verdict: <b>not judged</b>: 8 of 16 samples have no score (8 unparsable, 0 errors)" in page
