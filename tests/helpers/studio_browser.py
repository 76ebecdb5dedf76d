"""A real `slmforge studio` process on loopback and a real headless chromium driving it (playwright)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.unit.studio_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SLOW_STEPS = Path(__file__).parent / "studio_slow_steps"
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"  # ignored by git: look at them after a run
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; it drives Debian's chromium)"
    if chromium_path() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    return None


class StudioProcess:
    """`python -m slmforge studio --runs RUNS --port P` started in `cwd`; stop() ends it and the runs it started."""

    def __init__(self, cwd: Path, runs: Path, step_sleep: float = 0.0, token: str | None = None) -> None:
        self.cwd, self.runs, self.port = cwd, runs, free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SLOW_STEPS), str(ROOT)]), "STUDIO_TEST_STEP_SLEEP": str(step_sleep),
               "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        argv = [sys.executable, "-m", "slmforge", "studio", "--runs", str(runs), "--port", str(self.port)]
        if token:
            argv += ["--token", token]
        self.log = open(cwd / f"studio-{self.port}.log", "wb")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self._wait_up()

    def _wait_up(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"studio exited: {(self.cwd / f'studio-{self.port}.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/api/runs", headers=headers, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("studio did not answer in time")

    def stop(self) -> None:
        # Children of the studio run in their own sessions (they outlive a studio restart by design): end them by pid.
        for record in (self.runs / "_studio" / "jobs").glob("*.json") if (self.runs / "_studio" / "jobs").is_dir() else []:
            try:
                os.kill(json.loads(record.read_text())["pid"], signal.SIGKILL)
            except (OSError, KeyError, ValueError):
                pass
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def cli(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def tiny_recipe(path: Path, name: str, model: Path, data_path: Path, data: dict | None = None, **train: Any) -> Path:
    raw = {
        "name": name,
        "model": {"id": str(model)},
        "data": {"path": str(data_path), "format": "pairs", "max_length": 64, **(data or {})},
        "train": {"method": "full", "max_steps": 12, "batch_size": 8, "lr": 5e-3, "precision": "fp32", "logging_steps": 1,
                  "eval_steps": 4, "save_steps": 1000, **train},
        "eval": {"samples": 8, "max_new_tokens": 8},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {name}: a tiny random Qwen2, trained in seconds (studio browser tests)\n" + yaml.safe_dump(raw, sort_keys=False))
    return path


def stratified_pairs_with_bad_lines(path: Path, n: int = 60) -> Path:
    """Pairs with an `animal` field to stratify on, and two lines prepare must drop (with file:line)."""
    animals = ["goat", "mule", "hen"]
    lines = [json.dumps({"input": f"Tell me about the {animals[i % 3]} number {i}.", "output": f"The {animals[i % 3]} {i} naps.",
                         "animal": animals[i % 3]}) for i in range(n)]
    lines.insert(2, '{"input": "broken json",')
    lines.insert(5, json.dumps({"input": "no reply here"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def shot(page: Any, name: str, element: str | None = None) -> Path:
    """The whole page, or the viewport scrolled to one element: full-page and element shots leave a sandboxed
    iframe (an out-of-process frame, as report.html is shown) blank; a viewport shot after it painted does not."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if element:
        page.locator(element).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(path))
        return path
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot draws the sticky header where the page was scrolled to
    page.screenshot(path=str(path), full_page=True)
    return path
