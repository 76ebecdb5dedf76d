"""Checkpoints that never lose work: written to a staging dir and renamed, found and checked on resume.

A checkpoint directory counts only when it holds our completion marker listing every file and
its size. Anything else under checkpoints/ (a half-copied directory, a staging leftover from a
process killed mid-save) is reported and skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

MARKER = "slmforge_complete.json"
STAGING = ".staging"
_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Scan:
    complete: list[Path]  # oldest first
    broken: list[tuple[Path, str]]  # path, what is wrong

    @property
    def latest(self) -> Path | None:
        return self.complete[-1] if self.complete else None


def step_of(path: Path) -> int:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else -1


def write_marker(checkpoint: Path, fingerprint: str) -> None:
    files = {str(p.relative_to(checkpoint)): p.stat().st_size for p in sorted(checkpoint.rglob("*")) if p.is_file()}
    (checkpoint / MARKER).write_text(json.dumps({"fingerprint": fingerprint, "files": files}, indent=1), encoding="utf-8")


def check(checkpoint: Path) -> str | None:
    """None when the checkpoint is complete, else what is wrong with it."""
    marker = checkpoint / MARKER
    if not marker.is_file():
        return "no completion marker (killed while saving?)"
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError):
        return f"unreadable {MARKER}"
    for rel, size in files.items():
        path = checkpoint / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != size:
            return f"{rel} has {path.stat().st_size} bytes, expected {size}"
    return None


def fingerprint_of(checkpoint: Path) -> str | None:
    try:
        return json.loads((checkpoint / MARKER).read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return None


def scan(root: Path) -> Scan:
    if not root.is_dir():
        return Scan([], [])
    complete, broken = [], []
    for path in sorted((p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)), key=step_of):
        problem = check(path)
        if problem:
            broken.append((path, problem))
        else:
            complete.append(path)
    staging = root / STAGING
    if staging.exists():
        broken.append((staging, "staging leftover of an interrupted save"))
    return Scan(complete, broken)


def commit(staged: Path, root: Path, fingerprint: str) -> Path:
    """Mark a fully written checkpoint complete and move it into place with one rename."""
    write_marker(staged, fingerprint)
    final = root / staged.name
    if final.exists():  # e.g. re-saving the same step after a resume
        shutil.rmtree(final)
    os.replace(staged, final)
    return final


def discard(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
