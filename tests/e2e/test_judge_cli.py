"""`slmforge judge` / `slmforge compare` as a user runs them, against a scripted judge on 127.0.0.1.

Covers what only the whole command shows: exit codes and one-line errors, a judge run killed
half-way and resumed, and the judge server that the recipe starts and stops for real.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.judge_fake import FakeJudge

FAKE_SCRIPT = Path(__file__).parents[1] / "helpers" / "judge_fake.py"
NAME = "judged"


def write_recipe(tmp: Path, **judge) -> Path:
    recipe = {"name": NAME, "data": {"path": "unused.jsonl"},
              "judge": {"rubric": "folksy", "timeout": 5, "retries": 1, "backoff": 0.01, **judge}}
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def write_samples(tmp: Path, outputs: list[str], name: str = "samples.jsonl") -> Path:
    path = tmp / "runs" / NAME / "eval" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"prompt": f"Say something wise #{i}", "output": o}) + "\n"
                            for i, o in enumerate(outputs)))
    return path


def slmforge(tmp: Path, *args: str, wait: bool = True, timeout: float = 60):
    cmd = [sys.executable, "-m", "slmforge", *args, "--runs", str(tmp / "runs")]
    env = {**os.environ, "COLUMNS": "200"}
    if not wait:
        return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)


def scores(tmp: Path) -> list[dict]:
    path = tmp / "runs" / NAME / "judge" / "scores.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_judge_writes_scores_summary_and_a_table(tmp_path: Path) -> None:
    write_samples(tmp_path, ["[[reply:Score: 4/5 — nice]]", "[[reply:**5**]]", "[[reply:garbage]]", "[[reply:2 - awkward]]"])
    with FakeJudge() as fake:
        out = slmforge(tmp_path, "judge", str(write_recipe(tmp_path, endpoint=fake.url)))
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "runs" / NAME / "judge" / "summary.json").read_text())
    assert (summary["scored"], summary["unparsable"], summary["mean"]["value"]) == (3, 1, pytest.approx(11 / 3, abs=1e-3))
    # 1 of 4 replies unparsable is more than judge.targets.max_unjudged (10 %): no pass/fail, and the table says why.
    assert summary["verdict"] == "not judged" and summary["pass"]["low_share"] is None
    assert "mean score" in out.stderr and "unparsable replies" in out.stderr and "not judged" in out.stderr


def test_a_judge_run_killed_half_way_continues_where_it_stopped(tmp_path: Path) -> None:
    write_samples(tmp_path, [f"[[sleep:0.1]][[reply:{i % 5 + 1}]]" for i in range(16)])
    with FakeJudge() as fake:
        recipe = str(write_recipe(tmp_path, endpoint=fake.url, concurrency=1))
        proc = slmforge(tmp_path, "judge", recipe, wait=False)
        deadline = time.monotonic() + 30
        while len(scores(tmp_path)) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.communicate(timeout=10)
        kept = len(scores(tmp_path))
        assert 5 <= kept < 16
        before = fake.requests
        out = slmforge(tmp_path, "judge", recipe)
        assert out.returncode == 0, out.stderr
        assert fake.requests - before == 16 - kept  # only the missing ones were asked
    assert [r["id"] for r in scores(tmp_path)] == [str(i) for i in range(1, 17)]
    assert f"{kept} of 16 replies already in" in out.stderr


def test_a_judge_that_is_down_is_one_red_line_and_exit_code_2(tmp_path: Path) -> None:
    write_samples(tmp_path, ["x"])
    out = slmforge(tmp_path, "judge", str(write_recipe(tmp_path, endpoint=f"http://127.0.0.1:{free_port()}/v1")))
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(errors) == 1 and "did not answer after 2 tries" in errors[0] and "start the judge" in errors[0]


def test_compare_judges_both_orders_and_writes_the_summary(tmp_path: Path) -> None:
    write_samples(tmp_path, [f"GOOD saying {i}" for i in range(4)])
    other = write_samples(tmp_path, [f"plain saying {i}" for i in range(4)], "other.jsonl")

    def prefers_good(content: str, seen: int) -> tuple[int, str, float]:
        first = content.split("Answer 2:")[0]
        return 200, "1" if "GOOD" in first else "2", 0.0

    with FakeJudge(prefers_good) as fake:
        out = slmforge(tmp_path, "compare", str(write_recipe(tmp_path, endpoint=fake.url)), "--a", "final", "--b", str(other))
        assert fake.requests == 8
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "runs" / NAME / "judge" / "compare.json").read_text())["final vs other"]
    assert (summary["wins"], summary["order_agreement"], summary["pass"]) == (4, 1.0, True)
    assert "order agreement" in out.stderr


def test_the_recipes_judge_server_is_started_health_checked_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    write_samples(tmp_path, ["[[reply:4]]", "[[reply:5]]"])
    recipe = write_recipe(tmp_path, endpoint=f"http://127.0.0.1:{port}/v1",
                          server={"command": f"{sys.executable} {FAKE_SCRIPT} {port}", "startup_timeout": 30, "stop_timeout": 5})
    out = slmforge(tmp_path, "judge", str(recipe))
    assert out.returncode == 0, out.stderr
    assert [r["score"] for r in scores(tmp_path)] == [4, 5]
    assert "judge: server stopped" in out.stderr
    assert not port_is_open(port)  # stopped for real, not left running
    assert "fake judge on" in (tmp_path / "runs" / NAME / "judge" / "server.log").read_text()


def test_a_judge_server_that_exits_at_once_is_one_line(tmp_path: Path) -> None:
    write_samples(tmp_path, ["x"])
    recipe = write_recipe(tmp_path, endpoint=f"http://127.0.0.1:{free_port()}/v1",
                          server={"command": "echo no GPU here; exit 3", "startup_timeout": 10})
    out = slmforge(tmp_path, "judge", str(recipe))
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and len(errors) == 1
    assert "exited with code 3" in errors[0] and "server.log" in errors[0]


def test_a_judge_server_that_never_answers_is_stopped_after_the_startup_timeout(tmp_path: Path) -> None:
    from rich.console import Console

    from slmforge.core.sections import JudgeSection
    from slmforge.runtime.judge.server import JudgeServerError, start_server

    marker = "37.25"  # a sleep nobody else runs: how the test finds leftovers
    cfg = JudgeSection(endpoint=f"http://127.0.0.1:{free_port()}/v1",
                       server={"command": f"sleep {marker} & sleep {marker}; wait", "startup_timeout": 0.5, "stop_timeout": 2})
    started = time.monotonic()
    with pytest.raises(JudgeServerError, match="did not answer within 0.5 s"):
        start_server(cfg, tmp_path / "server.log", Console(quiet=True))
    assert time.monotonic() - started < 2.5  # 0.5 s startup timeout, then a prompt stop, not the 2 s SIGKILL grace
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == f"sleep {marker}"]
    assert leftovers == []  # the backgrounded child went down with the group


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@pytest.mark.slow
def test_our_own_server_with_the_embedded_model_can_be_the_judge(embedded_dir, tmp_path: Path) -> None:
    """The flow, counts and files with a real model as judge; a 135M judge's scores are poor, so not checked."""
    port = free_port()
    write_samples(tmp_path, ["A stitch in time saves nine.", "cow cow the the", ""])
    recipe = write_recipe(
        tmp_path, endpoint=f"http://127.0.0.1:{port}/v1", model="smollm2-135m", max_tokens=8, concurrency=3, timeout=60,
        server={"command": f"{sys.executable} -m slmforge serve embedded:smollm2-135m --port {port}",
                "health": f"http://127.0.0.1:{port}/health", "startup_timeout": 90, "stop_timeout": 10},
    )
    started = time.monotonic()
    out = slmforge(tmp_path, "judge", str(recipe), timeout=150)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "runs" / NAME / "judge" / "summary.json").read_text())
    assert summary["replies"] == 3 and summary["scored"] + summary["unparsable"] == 3
    assert summary["judge_model"] == "smollm2-135m" and len(scores(tmp_path)) == 3
    assert "judge: server stopped" in out.stderr and not port_is_open(port)
    print(f"embedded judge run: {time.monotonic() - started:.1f} s", out.stderr[-1500:])
