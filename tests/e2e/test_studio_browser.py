"""`slmforge studio` in a real browser: headless chromium (playwright) against a real studio process on loopback.

Screenshots of every page go to tests/e2e/screenshots/ (printed at the end of the module).
Training is the real `slmforge run` child on a tiny random Qwen2; the run the test stops is slowed
by tests/helpers/studio_slow_steps (a sleep per training step), so it is still training when Stop is pressed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.studio_browser import (
    CHROMIUM_ARGS,
    SCREENSHOTS,
    StudioProcess,
    chromium_path,
    cli,
    missing_browser,
    shot,
    stratified_pairs_with_bad_lines,
    tiny_recipe,
)
from tests.unit.studio_helpers import synthetic_run
from tests.unit.test_train import make_pairs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))]
LONG = 240_000  # ms: a shared 2-core CPU trains, evaluates and loads models meanwhile


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_qwen2):
    """recipes/ with a tiny recipe, and two runs trained by the CLI (compare-a; compare-b with drops and strata)."""
    root = tmp_path_factory.mktemp("studio")
    pairs = make_pairs(root / "pairs.jsonl", 80)
    tiny_recipe(root / "recipes" / "tiny-studio.yaml", "tiny-studio", tiny_qwen2, pairs, max_steps=40, eval_steps=10)
    a = tiny_recipe(root / "cli" / "a.yaml", "compare-a", tiny_qwen2, pairs, lr=5e-3)
    b = tiny_recipe(root / "cli" / "b.yaml", "compare-b", tiny_qwen2, stratified_pairs_with_bad_lines(root / "bad.jsonl"), lr=1e-3,
                    data={"on_error": "skip", "split": {"stratify": "animal", "train": 0.8, "val": 0.1, "test": 0.1}})
    procs = [subprocess.Popen([sys.executable, "-m", "slmforge", "run", str(r), "--runs", str(root / "runs")], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (a, b)]
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out[-3000:]
    # Two runs with known per-example outcomes (a tiny random model scores ROUGE-L 0 everywhere): synth-x is
    # better than the base on prompt 0, worse on prompt 1; synth-y answers exactly like the base.
    x = synthetic_run(root / "runs", "synth-x")
    (x / "export").mkdir()
    (x / "export" / "parity.json").write_text(json.dumps({"end_of_turn": {"token": "<|im_end|>", "id": 7}, "prompts": ["p"], "rows": [
        {"runtime": "merged", "check": "prompt ids", "status": "passed", "detail": "3 prompts identical"},
        {"runtime": "gguf f16", "check": "stop token", "status": "failed", "detail": "eos is 2", "fix": "re-export"}]}))
    (x / "judge").mkdir()
    (x / "judge" / "summary.json").write_text(json.dumps({"mean": {"value": 3.8, "low": 3.5, "high": 4.1}, "low_share": {"value": 0.05},
                                                          "distribution": {"1": 0, "2": 1, "3": 4, "4": 9, "5": 6}, "pass": {"all": True}}))
    y = synthetic_run(root / "runs", "synth-y", seed=2)
    (y / "eval" / "samples.jsonl").write_text((y / "eval" / "base_samples.jsonl").read_text())
    yield root
    print(f"\nstudio screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="module")
def studio(workspace):
    process = StudioProcess(workspace, workspace / "runs", step_sleep=0.3)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    assert not page.errors, page.errors  # a script error on any page fails the test that opened it
    context.close()


def points(page) -> int:
    return int(page.eval_on_selector("#charts", "el => Number(el.dataset.points || 0)"))


# First in the file: it needs no trained runs, so it is timed before the module's studio and its training start.
def test_runs_page_with_50_runs_renders_in_under_a_second_behind_a_token(tmp_path, browser):
    runs = tmp_path / "runs"
    for i in range(50):
        synthetic_run(runs, f"run-{i:02d}", steps=200, seed=i, status="complete" if i % 7 else "failed")
    studio = StudioProcess(tmp_path, runs, token="studio-test-token")
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 950})
        page = context.new_page()
        page.goto(f"{studio.url}/")
        assert "needs its token" in page.inner_text("body")
        page.goto(f"{studio.url}/?token=studio-test-token")  # the link the studio prints: token → HttpOnly cookie
        # The first visit of a fresh browser context also starts its renderer process (0.5 s alone on a busy 2-core
        # machine): it is printed, not held to the budget. Each reload is the page itself, all of it: the document,
        # every module (revalidated), /api/runs and the 50 rows drawn.
        for visit in ("first visit (token redirect included)", "reload 1", "reload 2", "reload 3"):
            if visit.startswith("reload"):
                page.reload()
            page.wait_for_selector("#runs-table tr[data-run='run-49']")
            assert "token" not in page.url and page.locator("#runs-table tbody tr").count() == 50
            # From navigation start to the table's 50 rows in the DOM (the page marks it right after rendering them).
            rendered = page.evaluate("performance.getEntriesByName('runs-rendered')[0].startTime")
            parts = page.evaluate("""() => { const nav = performance.getEntriesByType('navigation')[0];
                const runs = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/runs'));
                return `page ${Math.round(nav.responseEnd)} ms, modules parsed ${Math.round(nav.domContentLoadedEventEnd)} ms, ` +
                       `/api/runs ${Math.round(runs.startTime)}-${Math.round(runs.responseEnd)} ms`; }""")
            print(f"\nruns page with 50 runs, {visit}: rendered {rendered:.0f} ms after navigation start ({parts})")
            assert visit.startswith("first") or rendered < 1000, f"{visit}: rendered after {rendered:.0f} ms ({parts})"
        shot(page, "00-runs-50")
        context.close()
    finally:
        studio.stop()


def test_start_a_run_from_the_form_watch_it_train_stop_at_a_checkpoint_and_resume_to_completion(studio, page, workspace):
    page.goto(f"{studio.url}/#/runs")
    page.wait_for_selector("#runs-table tr[data-run='compare-a']")
    shot(page, "01-runs")
    page.click("a[href='#/new']")
    page.select_option("#recipe-pick", "tiny-studio")
    page.wait_for_function("() => document.querySelector('#f-name')?.value === 'tiny-studio'")
    page.fill("#f-name", "browser-run")
    page.wait_for_selector("#check-status .ok", timeout=60_000)
    page.wait_for_selector("#plan-table")
    shot(page, "02-new-run")
    page.click("#start")
    page.wait_for_url("**/#/run/browser-run")

    page.wait_for_function("() => Number(document.querySelector('#charts')?.dataset.points || 0) >= 3", timeout=LONG)
    seen = points(page)
    page.wait_for_function(f"() => Number(document.querySelector('#charts').dataset.points) > {seen}", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#charts canvas').length >= 4")  # loss, lr, grad norm, tokens/s by uPlot
    assert page.inner_text("#stat-eta") != "–"  # seconds per step are known: an ETA is shown while it trains
    # Training runs in a child process: the studio answers the page meanwhile (the whole table, five times over).
    slowest = page.evaluate("""async () => { let worst = 0; for (let i = 0; i < 5; i++) {
        const t = performance.now(); await (await fetch('/api/runs')).json(); worst = Math.max(worst, performance.now() - t); } return worst; }""")
    assert slowest < 2000, f"/api/runs took {slowest:.0f} ms while a run trained"
    shot(page, "03-run-training")

    page.click("#stop")
    page.wait_for_selector(".page-head .badge.stopped", timeout=LONG)
    stopped_at = max(json.loads(x)["step"] for x in (workspace / "runs" / "browser-run" / "logs" / "metrics.jsonl").read_text().splitlines())
    assert stopped_at < 40
    checkpoint = workspace / "runs" / "browser-run" / "checkpoints" / f"checkpoint-{stopped_at}"
    assert (checkpoint / "slmforge_complete.json").is_file()
    page.click("button[data-tab='checkpoints']")
    page.wait_for_selector(f"table.checkpoints >> text=checkpoint-{stopped_at}")
    assert "resume starts here" in page.inner_text("table.checkpoints")
    shot(page, "04-run-stopped")

    page.click("#resume")
    page.wait_for_selector(".page-head .badge.complete", timeout=LONG)
    lines = [json.loads(x) for x in (workspace / "runs" / "browser-run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert sorted(x["step"] for x in lines if "loss" in x) == list(range(1, 41))  # each step once: resumed, not restarted
    log = (workspace / "runs" / "_studio" / "logs" / "browser-run.log").read_text()
    assert "SIGTERM: stopped at step" in log and "resuming from" in log and f"checkpoint-{stopped_at}" in log
    page.click("button[data-tab='log']")
    page.wait_for_function("() => document.querySelector('#log').textContent.includes('resuming from')")
    page.wait_for_function("() => Number(document.querySelector('#charts').dataset.points) === 40")
    page.click("button[data-tab='report']")
    assert page.frame_locator("iframe.report").locator("h1").inner_text(timeout=30_000) == "browser-run"  # report.html in place
    shot(page, "05-run-complete")
    shot(page, "05b-run-report-in-place", element="iframe.report")


def test_a_bad_field_shows_the_cli_message_and_the_plan_follows_the_batch(studio, page, workspace):
    recipe = workspace / "recipes" / "tiny-studio.yaml"
    cli_out = cli(workspace, "show-recipe", str(recipe), "--set", "train.lr=-1")
    assert cli_out.returncode == 2
    expected = next(line.removeprefix("error: ") for line in cli_out.stderr.splitlines() if line.startswith("error: "))
    page.goto(f"{studio.url}/#/new")
    page.select_option("#recipe-pick", "tiny-studio")
    page.wait_for_selector("#plan-table")
    page.fill("#f-train-lr", "-1")
    page.wait_for_function("exp => document.querySelector(\".field[data-path='train.lr'] .err\").textContent === exp", arg=expected)
    assert page.inner_text("#check-errors") == expected and page.is_disabled("#start")
    shot(page, "06-new-run-bad-field")
    page.fill("#f-train-lr", "0.005")
    page.wait_for_selector("#check-status .ok")
    before = page.inner_text("#plan-table tr[data-part='activations']")
    page.fill("#f-train-micro_batch_tokens", "0")
    page.fill("#f-train-batch_size", "64")
    page.wait_for_function("b => document.querySelector(\"#plan-table tr[data-part='activations']\").innerText !== b", arg=before)
    assert "batch 64" in page.inner_text("#plan")

    page.set_input_files("#data-file", str(workspace / "pairs.jsonl"))
    page.wait_for_function("() => (document.querySelector('#f-data-path')?.value || '').includes('_studio/uploads/pairs')")
    page.fill("#f-model-id", str(workspace / "no-such-model"))
    page.wait_for_selector("#check-status .ok")  # a path is checked when prepare reads it, as with the CLI
    page.wait_for_function("() => document.querySelector('#plan').innerText.includes('no config.json to plan from')")
    shot(page, "06b-new-run-uploaded-data")


def test_compare_two_runs_overlays_their_curves_and_marks_better_and_worse_examples(studio, page):
    page.goto(f"{studio.url}/#/runs")
    page.check("tr[data-run='compare-a'] input[type=checkbox]")
    page.check("tr[data-run='compare-b'] input[type=checkbox]")
    page.click("text=Compare selected")
    page.wait_for_selector("#examples tbody tr")
    assert page.get_attribute(".panel[data-series]", "data-series") == "4"  # train + val loss of each run
    assert page.locator("#compare-metrics th", has_text="compare-b").count() == 1
    assert "ROUGE-L F1 vs the reference" in page.inner_text("#score-note")
    shot(page, "07-compare")

    page.goto(f"{studio.url}/#/compare/synth-x,synth-y")
    page.wait_for_selector("#examples tbody tr")
    assert page.locator("#examples td[data-mark='better']").count() == 1
    assert page.locator("#examples td[data-mark='worse']").count() == 1
    assert page.locator("#examples td[data-mark='same']").count() == 4  # synth-x's third answer, synth-y's three
    page.click("button:text-is('worse')")
    assert page.locator("#examples tbody tr").count() == 1 and "prompt 1" in page.inner_text("#examples tbody")
    page.click("button:text-is('all')")
    shot(page, "07b-compare-marks")


def test_a_run_page_shows_its_parity_judge_eval_and_samples_in_place(studio, page):
    page.goto(f"{studio.url}/#/run/synth-x")
    page.click("button[data-tab='parity']")
    page.wait_for_selector("text=1 passed · 1 failed · 0 skipped")
    assert "eos is 2 → re-export" in page.inner_text(".tabs + div")
    shot(page, "08b-run-parity")
    page.click("button[data-tab='judge']")
    page.wait_for_selector("text=mean 3.8 (95 % CI 3.5–4.1)")
    page.click("button[data-tab='eval']")
    page.wait_for_selector("text=ROUGE-L F1")
    page.click("button[data-tab='samples']")
    page.wait_for_selector("td:text-is('the hen sleeps by the stove')")
    assert page.locator("td:text-is('no idea')").count() == 1  # the base model's answer beside the tuned one


def test_data_page_shows_drops_with_file_and_line_strata_and_token_lengths(studio, page, workspace):
    page.goto(f"{studio.url}/#/data/compare-b")
    page.wait_for_selector("#drops")
    problems = page.inner_text("#problems")
    assert f"{workspace / 'bad.jsonl'}:3" in problems and f"{workspace / 'bad.jsonl'}:6" in problems
    assert page.locator("#strata tbody tr").count() == 3 + 2  # goat, hen, mule + rows + groups
    assert page.locator("svg.hist rect").count() > 0
    page.click("button[data-split='test']")
    page.wait_for_function("() => document.querySelector('#rows tbody').innerText.includes('USER')")
    shot(page, "08-data")


def test_chat_side_by_side_and_a_blind_vote_that_prefs_and_rate_accept(studio, page, workspace, tiny_qwen2):
    base = f"base:{tiny_qwen2}"  # the base model the runs' recipes name
    page.goto(f"{studio.url}/#/play/run:compare-a")
    page.wait_for_selector("#model-a")
    page.fill("#prompt", "Tell me about the goat number 3.")
    page.click("#send")
    page.wait_for_selector(".bubble.assistant .meta", timeout=LONG)
    assert "tokens" in page.inner_text(".bubble.assistant .meta")
    shot(page, "09-playground-chat")

    page.click("button[data-mode='side']")
    page.select_option("#model-b", base)
    page.fill("#prompt", "Tell me about the hen number 4.")
    page.click("#send")
    page.wait_for_function("() => document.querySelectorAll('.bubble.assistant .meta').length === 2", timeout=LONG)
    shot(page, "10-playground-side-by-side")

    page.click("button[data-mode='blind']")
    page.select_option("#ab-a", "run:compare-a")
    page.select_option("#ab-b", base)
    page.select_option("#ab-from", "compare-a")
    prefs_file = workspace / "runs" / "_studio" / "votes" / "preferences.jsonl"
    page.fill("#temperature", "1.0")  # the tiny random base often ends at once (an empty answer): sample more freely
    for _ in range(6):  # an empty or twice-the-same answer makes no pair (prefs would refuse it): vote on a fresh pair
        page.click("#ab-next")
        page.wait_for_selector("#answer-2", timeout=LONG)
        page.click("button.vote[data-vote='first']")
        page.wait_for_selector("#ab-result")
        if prefs_file.is_file():
            break
        page.click("text=Next pair")
    assert "preferences.jsonl" in page.inner_text("#ab-result")
    shot(page, "11-playground-blind-vote")

    recipe = tiny_recipe(workspace / "cli" / "votes.yaml", "from-votes", tiny_qwen2, workspace / "pairs.jsonl")
    prefs = cli(workspace, "prefs", str(recipe), "--runs", str(workspace / "runs"), "--set", "prefs.source=file",
                "--set", f"prefs.path={prefs_file}")
    assert prefs.returncode == 0, prefs.stderr[-2000:]
    pairs = (workspace / "runs" / "from-votes" / "prefs" / "pairs.jsonl").read_text().splitlines()
    assert len(pairs) >= 1 and json.loads(pairs[0])["chosen"]
    rate = cli(workspace, "rate", str(workspace / "runs" / "compare-a"), str(workspace / "runs" / "_studio" / "votes" / "compare-a.spotcheck.csv"))
    assert rate.returncode in (0, 1) and "rated" in rate.stderr + rate.stdout, rate.stderr  # 1 = below target, still read
