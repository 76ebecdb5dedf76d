"""Every run under the runs root, summed up for the runs table: stages, headline metrics, age, a loss sparkline.

A run is a directory with manifest.json or recipe.yaml; a sweep's trials (runs/NAME/trials/*) are
runs too, with the sweep as parent. Summaries are cached by the mtimes and sizes of the files they
read, so the table of 50 runs costs 50 stat() calls per refresh once they are cached.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slmforge.orchestrate.studio.jobs import Job, JobManager
from slmforge.orchestrate.studio.metrics_feed import downsample, progress, read_from
from slmforge.orchestrate.studio.safety import STATE_DIR, NotFound, StudioError, inside

# A stage the manifest calls running with no studio child and no write for this long is not running.
STALE_S = 300.0
_WATCHED = ("manifest.json", "logs/metrics.jsonl", "eval/results.json", "judge/summary.json", "recipe.yaml")


def is_run(path: Path | str) -> bool:
    return os.path.isfile(os.path.join(path, "manifest.json")) or os.path.isfile(os.path.join(path, "recipe.yaml"))


def _inside(entry: os.DirEntry, base: Path) -> bool:
    """Plain directories are inside by construction; only a symlink needs resolving (the table lists 50+ runs)."""
    return entry.is_dir() and (not entry.is_symlink() or Path(entry.path).resolve().is_relative_to(base))


def run_ids(root: Path) -> list[str]:
    """Run ids (paths relative to root), trials after their sweep; the studio's own directory is not a run."""
    if not root.is_dir():
        return []
    ids = []
    base = root.resolve()
    for child in sorted(os.scandir(root), key=lambda e: e.name):
        if child.name.startswith((".", STATE_DIR)) or not _inside(child, base):
            continue  # hidden, the studio's own, not a directory, or a symlink out of the runs root (never listed or served)
        if is_run(child.path):
            ids.append(child.name)
        trials = os.path.join(child.path, "trials")
        if os.path.isdir(trials):
            if not is_run(child.path):
                ids.append(child.name)  # a sweep whose root has no manifest yet still groups its trials
            ids.extend(f"{child.name}/trials/{t.name}" for t in sorted(os.scandir(trials), key=lambda e: e.name)
                       if _inside(t, base) and is_run(t.path))
    return ids


def run_root(root: Path, run_id: str) -> Path:
    path = inside(root, run_id)
    if not is_run(path) and not (path / "trials").is_dir():
        raise NotFound(f"{run_id}: no such run under {root}")
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# libyaml's parser when PyYAML has it: the runs table reads every run's recipe.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_recipe(path: Path) -> dict[str, Any]:
    try:
        value = yaml.load((path / "recipe.yaml").read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def overall_status(stages: dict[str, Any], job: Job | None, updated: float) -> str:
    """running | stopped | failed | complete | interrupted | pending — what the runs table shows."""
    if job is not None and job.alive:
        return "stopping" if job.stop_requested else "running"
    failed = [s for s in stages.values() if s.get("status") == "failed"]
    if failed:
        error = str(failed[-1].get("error") or "")
        return "stopped" if error.startswith(("SIGTERM", "SIGINT")) else "failed"
    if any(s.get("status") == "running" for s in stages.values()):
        if job is not None:
            return "interrupted"  # the studio's child ended mid-stage (e.g. stopped before training began)
        # Started from a terminal (no studio child): running while its files still change.
        return "running" if time.time() - updated < STALE_S else "interrupted"
    if stages and all(s.get("status") == "complete" for s in stages.values()) and "report" in stages:
        return "complete"
    return "pending" if not stages else "incomplete"


def headline(results: dict[str, Any] | None, judge: dict[str, Any] | None) -> dict[str, Any]:
    """The few numbers a run is known by: test loss and the task metric, fine-tuned vs base; judge mean."""
    out: dict[str, Any] = {}
    models = (results or {}).get("models", {})
    final, base = models.get("final") or {}, models.get("base") or {}
    out["task"] = (results or {}).get("task")
    for key in ("loss", "rouge_l", "mae", "within_10pct"):
        if isinstance(final.get(key), (int, float)):
            out[key] = {"final": final[key], "base": base.get(key)}
    mean = (judge or {}).get("mean")
    if isinstance(mean, dict):
        out["judge_mean"] = mean.get("value")
    return out


@dataclass
class RunIndex:
    root: Path
    jobs: JobManager
    _cache: dict[str, tuple[tuple, dict[str, Any]]] = field(default_factory=dict)
    _metrics: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)  # run id → (cursor, lines read so far)
    # One reader at a time: a request arriving while the startup warm-up reads every run waits for its cache
    # instead of reading them all a second time beside it.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, path: Path) -> tuple:
        stamp = []
        folder = str(path)
        for rel in _WATCHED:
            try:
                st = os.stat(f"{folder}/{rel}")
                stamp.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append(None)
        return tuple(stamp)

    def summary(self, run_id: str) -> dict[str, Any]:
        path = run_root(self.root, run_id)  # a run id from a request: checked against the runs root
        with self._lock:
            return self._summary(run_id, path)

    def _summary(self, run_id: str, path: Path) -> dict[str, Any]:
        key = self._key(path)
        cached = self._cache.get(run_id)
        base = cached[1] if cached and cached[0] == key else self._read(run_id, path)
        self._cache[run_id] = (key, base)
        job = self.jobs.get(run_id)
        updated = max([base["updated"]] + ([job.started] if job else []))
        return {**base, "status": overall_status(base["stages"], job, updated),
                "job": job.as_dict() if job else None, "age_s": time.time() - base["created"] if base["created"] else None}

    def _read(self, run_id: str, path: Path) -> dict[str, Any]:
        manifest = read_json(path / "manifest.json") or {}
        recipe = read_recipe(path)
        train = recipe.get("train") or {}
        lines = self._metric_lines(run_id, path / "logs" / "metrics.jsonl")
        losses = [line["loss"] for line in lines if isinstance(line.get("loss"), (int, float))]
        mtimes = [s for s in (_mtime(path / rel) for rel in _WATCHED) if s]
        parts = run_id.split("/")
        return {
            "id": run_id,
            "name": parts[-1],
            "sweep": parts[0] if len(parts) == 3 else None,
            "is_sweep": (path / "trials").is_dir(),
            "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "error": v.get("error")}
                       for k, v in (manifest.get("stages") or {}).items()},
            "created": manifest.get("created") or (min(mtimes) if mtimes else None),
            "updated": max(mtimes) if mtimes else 0.0,
            "model": (recipe.get("model") or {}).get("id"),
            "method": train.get("method"),
            "progress": progress(lines, int(train.get("max_steps", -1) or -1), float(train.get("epochs", 1.0) or 1.0)).as_dict(),
            "spark": [round(v, 4) for v in downsample(losses)],
            "headline": headline(read_json(path / "eval" / "results.json"), read_json(path / "judge" / "summary.json")),
            "has_model": (path / "model").is_dir(),
            "has_report": (path / "report.html").is_file(),
        }

    def _metric_lines(self, run_id: str, path: Path) -> list[dict[str, Any]]:
        """All lines so far, reading only what was appended since the last refresh (a running run's file grows)."""
        cursor, lines = self._metrics.get(run_id, (0, []))
        chunk = read_from(path, cursor)
        lines = chunk.lines if chunk.reset else lines + chunk.lines
        self._metrics[run_id] = (chunk.cursor, lines)
        return lines

    def summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._summaries()

    def _summaries(self) -> list[dict[str, Any]]:
        out = []
        for run_id in run_ids(self.root):  # listed by run_ids, so already under the runs root
            try:
                out.append(self._summary(run_id, self.root / run_id))
            except (StudioError, OSError) as exc:  # one unreadable run must not take the table down
                out.append({"id": run_id, "name": run_id.split("/")[-1], "status": "unreadable", "error": str(exc), "stages": {},
                            "headline": {}, "progress": {}, "spark": [], "age_s": None, "sweep": None, "is_sweep": False})
        return out


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
