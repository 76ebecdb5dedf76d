"""Start the judge (judge.server.command, or judge.server.vllm: a model we serve with vLLM), wait for its health URL, and stop it for real afterwards.

On one GPU the judge and the trainer must never hold memory at the same time, so stopping
means: SIGTERM to the command's whole process group (vLLM and llama.cpp fork workers that hold
the GPU memory), SIGKILL after judge.server.stop_timeout, and return only once every process
of the group is gone, so the memory is free when the next stage starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console

from slmforge.core.sections import JudgeSection
from slmforge.runtime.judge.client import JudgeError


class JudgeServerError(JudgeError):
    """The judge server did not come up (or would not stop); the message names the log to read."""


def health_url(judge: JudgeSection) -> str:
    if judge.server and judge.server.health:
        return judge.server.health
    if not judge.endpoint:
        raise JudgeServerError("judge.server: set judge.endpoint (or judge.server.health) so slmforge knows when the judge is up")
    return judge.endpoint.rstrip("/") + "/models"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _group_alive(pgid: int) -> bool:
    """True while a process of the group still runs. Zombies hold no memory and do not count:
    orphaned children are reaped by init on its own schedule (about once a second here)."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # exited while we looked
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: the id now belongs to someone else
        return False
    return True


def stop_server(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL what is left after `timeout`, return when all of it is gone."""
    pgid = proc.pid  # start_new_session=True made the shell the leader of a new group
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so the group can disappear
            if not _group_alive(pgid):
                return
            time.sleep(0.05)
    proc.poll()
    if _group_alive(pgid):
        raise JudgeServerError(f"judge.server: process group {pgid} survived SIGKILL; stop it by hand before training")


def vllm_command(judge: JudgeSection) -> tuple[list[str], dict[str, str]]:
    """judge.server.vllm: our vLLM launcher's command line (make vllm's environment, eager on the CPU, the CPU KV
    cache capped) and environment, serving the model as judge.model on judge.endpoint's port; no API key (loopback)."""
    from urllib.parse import urlparse

    from slmforge.core.errors import ModelError
    from slmforge.core.sections import ModelSection
    from slmforge.runtime import vllm
    from slmforge.runtime.placement import place

    try:
        python = vllm.vllm_python()
    except ModelError as exc:
        raise JudgeServerError(f"judge.server.vllm: {exc}") from None
    placement = place(ModelSection(id=judge.server.vllm))
    where = urlparse(judge.endpoint)
    model_dir = vllm.plain_dir(judge.server.vllm)
    server = vllm.VllmServer(model_dir, judge.model, placement.dtype, cpu=not placement.cuda, port=int(where.port),
                             max_model_len=vllm.model_len(model_dir))
    return server.command(python), server.environment(with_key=False)


def start_server(judge: JudgeSection, log_path: Path, console: Console) -> subprocess.Popen | None:
    """Run judge.server.command (or our vLLM launcher for judge.server.vllm) and wait for health; None when a judge
    already answers there (not ours to stop)."""
    if judge.server is None:
        return None
    url = health_url(judge)
    what = "judge.server.command" if judge.server.command else "judge.server.vllm"
    if is_healthy(url):
        console.print(f"[yellow]judge: {url} already answers; using that judge and not starting {what}[/yellow]")
        return None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if judge.server.command:
        # A shell, so recipes may write `CUDA_VISIBLE_DEVICES=0 vllm serve ...`.
        argv, env = ["/bin/sh", "-c", judge.server.command], None
        console.print(f"judge: starting `{judge.server.command}` (log: {log_path})")
    else:
        argv, env = vllm_command(judge)
        console.print(f"judge: starting vLLM with {judge.server.vllm} as {judge.model} on {judge.endpoint} (log: {log_path})")
    with open(log_path, "ab") as log:
        # Its own process group, so stop reaches the forks (vLLM's engine core and workers hold the memory).
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    started = time.monotonic()
    deadline = started + judge.server.startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_server(proc, 1.0)
            raise JudgeServerError(f"{what} exited with code {proc.returncode} before {url} answered; see {log_path}")
        if is_healthy(url, timeout=min(2.0, judge.server.startup_timeout)):
            console.print(f"judge: up after {time.monotonic() - started:.1f} s")
            return proc
        time.sleep(0.2)
    stop_server(proc, judge.server.stop_timeout)
    raise JudgeServerError(
        f"judge.server: {url} did not answer within {judge.server.startup_timeout:g} s "
        f"(judge.server.startup_timeout); see {log_path}"
    )


@contextmanager
def judge_server(judge: JudgeSection, log_path: Path, console: Console) -> Iterator[None]:
    """Run the body with the recipe's judge server up (when it names one), and stopped afterwards."""
    if judge.server is None:
        yield
        return
    proc = start_server(judge, log_path, console)
    try:
        yield
    finally:
        if proc is not None:
            stop_server(proc, judge.server.stop_timeout)
            console.print("judge: server stopped")
