"""RunDir: where every stage of one recipe writes, and the manifest that makes `run` resumable.

A stage records a fingerprint of what it read (recipe sections + input file hashes) and the
sha256 of every file it wrote. `run` skips a stage whose fingerprint is unchanged and whose
outputs are all still there with the same hashes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from slmforge.core.errors import DataError, DiskFull
from slmforge.core.recipe import Recipe
from slmforge.core.sections import ModelSection

MANIFEST = "manifest.json"
_TRACKED_PACKAGES = ("slmforge", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "gguf", "tokenizers")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_rev() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside `path` to write to; renamed over `path` when the block ends, removed when it fails.

    A crash or a full disk never leaves half a file under the real name, nor a temp file behind; running out
    of space is a DiskFull error that says how much more was needed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        written = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full(path, written) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def disk_full(path: Path, written: int) -> DiskFull:
    free = shutil.disk_usage(path.parent if path.parent.exists() else Path.cwd()).free
    return DiskFull(f"{path}: no space left on the device ({written / 2**20:,.1f} MiB written before it filled, "
                    f"{free / 2**20:,.1f} MiB free now); free space there or pass --runs on a disk with room")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON via a temp file + rename so a crash or a full disk never leaves half a file."""
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def check_input_file(value: str, key: str) -> Path:
    """A recipe's input file, checked before anything hashes or reads it: one line for a missing file, a
    directory, a symlink loop or anything that is not a regular file (reading a FIFO or /dev/zero never ends)."""
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{key}: {value} not found (looked for from the working directory, then beside the recipe); fix the path") from None
    except OSError as exc:
        what = "is a symlink loop; point it at the file itself" if exc.errno == errno.ELOOP else f"cannot be read ({exc.strerror})"
        raise DataError(f"{key}: {value} {what}") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{key}: {value} is a directory; give the data file itself (.jsonl, .json, .csv or .parquet)")
    if not stat.S_ISREG(mode):
        raise DataError(f"{key}: {value} is not a regular file (a pipe or a device); copy the data into a file")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file a stage wrote; a missing file is none, a line cut off by a crash is skipped."""
    rows: list[dict[str, Any]] = []
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut off by a crash: the rest of the log is still worth plotting
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object a stage wrote, or None when it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


@dataclass
class StageRecord:
    status: str = "pending"  # pending | running | complete | failed
    fingerprint: str | None = None
    started: float | None = None
    seconds: float | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    placement: dict[str, Any] = field(default_factory=dict)  # role (model, base, final, ...) → where and how it ran


class RunDir:
    """Paths of one run (DESIGN.md "Stages and the run directory") and its manifest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_recipe(cls, recipe: Recipe, base: Path | None = None) -> RunDir:
        return cls((base or Path("runs")) / recipe.name)

    # paths ------------------------------------------------------------------
    @property
    def recipe_path(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def judge(self) -> Path:
        return self.root / "judge"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def align(self) -> Path:
        """The align stage's sub run directory: sft_merged/, data/, checkpoints/, logs/, model/."""
        return self.root / "align"

    def aligned(self) -> RunDir:
        """The align stage's sub run directory as a run directory of its own (its recipe trains the pairs)."""
        return RunDir(self.align)

    @property
    def pairs(self) -> Path:
        """prefs/pairs.jsonl: the preference pairs the prefs stage writes and align trains on."""
        return self.root / "prefs" / "pairs.jsonl"

    def final_model(self, recipe: Recipe) -> tuple[Path, ModelSection]:
        """The run's final model and the base it loads on (for eval, export, serve).

        align on: align/model/, an adapter (or full weights) on the SFT weights (align/sft_merged/,
        or model/ when SFT trained full weights); align off: model/ on the recipe's base.
        """
        if not recipe.align.enabled:
            return self.model, recipe.model
        aligned = self.align / "model"
        if not aligned.is_dir():
            from slmforge.core.errors import RunDirError

            raise RunDirError(f"{aligned}: align is on but there is no aligned model yet; run `slmforge run RECIPE` "
                              "(or evaluate the SFT model with --model sft)")
        base = self.align / "sft_merged" if (self.align / "sft_merged").is_dir() else self.model
        return aligned, recipe.model.model_copy(update={"id": str(base)})

    def split_file(self, split: str) -> Path:
        return self.data / f"{split}.jsonl"

    def tokenized_file(self, split: str) -> Path:
        return self.data / "tokenized" / f"{split}.parquet"

    # manifest ---------------------------------------------------------------
    def ensure(self, recipe: Recipe) -> None:
        """Create the directory, write the resolved recipe and start or refresh the manifest."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.recipe_path, recipe.to_yaml())
        manifest = self.read_manifest()
        manifest.update(
            {
                "name": recipe.name,
                "recipe_sha256": sha256_text(recipe.to_yaml()),
                "versions": package_versions(),
                "git_rev": git_rev(),
                "platform": f"{platform.system()} {platform.machine()}, python {sys.version.split()[0]}",
            }
        )
        manifest.setdefault("stages", {})
        manifest.setdefault("created", time.time())
        write_json_atomic(self.manifest_path, manifest)

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def stage(self, name: str) -> StageRecord:
        raw = self.read_manifest().get("stages", {}).get(name)
        return StageRecord(**raw) if raw else StageRecord()

    def _write_stage(self, name: str, record: StageRecord) -> None:
        manifest = self.read_manifest()
        stages = manifest.setdefault("stages", {})
        if record.status != "running" and not record.placement:  # what the stage recorded while it ran
            record.placement = dict(stages.get(name, {}).get("placement") or {})
        stages[name] = record.__dict__
        write_json_atomic(self.manifest_path, manifest)

    def record_placement(self, stage: str, role: str, placement: dict[str, Any]) -> None:
        """Note in the manifest where and how a stage ran one of its models (device, dtype, attention, 4-bit)."""
        manifest = self.read_manifest()
        record = manifest.setdefault("stages", {}).setdefault(stage, {})
        record.setdefault("placement", {})[role] = placement
        write_json_atomic(self.manifest_path, manifest)

    def is_complete(self, name: str, fingerprint: str) -> bool:
        """True when the stage finished with this fingerprint and every output is intact."""
        record = self.stage(name)
        if record.status != "complete" or record.fingerprint != fingerprint:
            return False
        for rel, digest in record.outputs.items():
            path = self.root / rel
            if not path.is_file() or sha256_file(path) != digest:
                return False
        return True

    def start_stage(self, name: str, fingerprint: str, inputs: dict[str, str]) -> StageRecord:
        record = StageRecord(status="running", fingerprint=fingerprint, started=time.time(), inputs=inputs)
        self._write_stage(name, record)
        return record

    def finish_stage(self, name: str, record: StageRecord, outputs: list[Path]) -> None:
        record.status = "complete"
        record.seconds = round(time.time() - (record.started or time.time()), 3)
        record.outputs = {str(p.relative_to(self.root)): sha256_file(p) for p in sorted(outputs)}
        self._write_stage(name, record)

    def fail_stage(self, name: str, record: StageRecord, error: str) -> None:
        record.status = "failed"
        record.seconds = round(time.time() - (record.started or time.time()), 3)
        record.error = error
        self._write_stage(name, record)


def fingerprint(parts: dict[str, Any]) -> str:
    """Stable hash of what a stage depends on (recipe sections, input hashes)."""
    return sha256_text(json.dumps(parts, sort_keys=True, default=str))
