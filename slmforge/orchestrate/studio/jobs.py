"""`slmforge run` as child processes: start, stop (SIGTERM → the trainer saves a checkpoint), status, log.

A child runs in its own session, so it keeps training when the studio stops (a page reload or a
restarted studio finds it again through its job record: pid + process start time, which a recycled
pid does not match). Its stdout and stderr go to runs/_studio/logs/<run>.log, which the page tails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from slmforge.orchestrate.studio.safety import STATE_DIR, StudioError


@dataclass
class Job:
    run: str  # run id: its path under the runs root
    pid: int
    create_time: float
    started: float
    argv: list[str]
    log: str
    returncode: int | None = None
    stop_requested: float | None = None

    @property
    def alive(self) -> bool:
        if self.returncode is not None:
            return False
        try:
            process = psutil.Process(self.pid)
            return abs(process.create_time() - self.create_time) < 0.01 and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def as_dict(self) -> dict:
        return {**asdict(self), "alive": self.alive}


def slug(run_id: str) -> str:
    """A file name for a run id (sweep trials have slashes in theirs)."""
    return run_id.replace("/", "__")


class JobManager:
    """One child per run at most; records under runs/_studio/jobs/, logs under runs/_studio/logs/."""

    def __init__(self, runs_root: Path, cwd: Path) -> None:
        self.root = runs_root
        self.cwd = cwd  # children run where the studio was started: recipes' relative data paths mean the same there
        self.state = runs_root / STATE_DIR
        self._children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def _record_path(self, run_id: str) -> Path:
        return self.state / "jobs" / f"{slug(run_id)}.json"

    def log_path(self, run_id: str) -> Path:
        return self.state / "logs" / f"{slug(run_id)}.log"

    def get(self, run_id: str) -> Job | None:
        path = self._record_path(run_id)
        try:
            job = Job(**json.loads(path.read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None
        child = self._children.get(run_id)
        if child is not None and job.returncode is None and child.poll() is not None:
            job.returncode = child.returncode  # reap: record how it ended
            self._save(job)
            self._children.pop(run_id, None)
        return job

    def _save(self, job: Job) -> None:
        path = self._record_path(job.run)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
        os.replace(tmp, path)

    def start(self, run_id: str, recipe: Path, runs_dir: Path) -> Job:
        """`slmforge run RECIPE --runs DIR` (resuming is the same command: the stages and trainer resume)."""
        with self._lock:
            current = self.get(run_id)
            if current is not None and current.alive:
                raise StudioError(f"{run_id}: already running (pid {current.pid}); stop it first")
            argv = [sys.executable, "-m", "slmforge", "run", str(recipe), "--runs", str(runs_dir)]
            log = self.log_path(run_id)
            log.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "120"}
            with open(log, "ab") as out:
                out.write(f"\n$ slmforge run {recipe} --runs {runs_dir}   # {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
                out.flush()
                child = subprocess.Popen(argv, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
            self._children[run_id] = child
            job = Job(run_id, child.pid, psutil.Process(child.pid).create_time(), time.time(), argv, str(log))
            self._save(job)
            return job

    def stop(self, run_id: str) -> Job:
        """SIGTERM: training finishes its step, saves a checkpoint and exits (GracefulStop); a second stop aborts."""
        job = self.get(run_id)
        if job is None or not job.alive:
            raise StudioError(f"{run_id}: not running")
        os.kill(job.pid, signal.SIGTERM)
        job.stop_requested = time.time()
        self._save(job)
        return job

    def running(self) -> list[Job]:
        jobs_dir = self.state / "jobs"
        found = []
        for path in sorted(jobs_dir.glob("*.json")) if jobs_dir.is_dir() else []:
            try:
                run_id = json.loads(path.read_text(encoding="utf-8"))["run"]
            except (json.JSONDecodeError, KeyError, OSError):
                continue
            job = self.get(run_id)
            if job is not None and job.alive:
                found.append(job)
        return found
