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
