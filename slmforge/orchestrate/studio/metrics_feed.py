"""logs/metrics.jsonl as a live feed: new lines from a byte cursor, and the progress they add up to.

The trainer appends one JSON line per log/eval step; a resumed run first cuts the file back to its
checkpoint's step (train/callbacks.truncate_metrics), so a reader whose cursor is past the end
starts again from 0 and says so (`reset`), and the page redraws instead of drawing steps twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The few seconds-per-step samples an ETA averages over: recent enough to follow a slowdown,
# enough of them to ride over one slow eval step.
ETA_WINDOW = 20


@dataclass
class Chunk:
    lines: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    reset: bool = False


def read_from(path: Path, cursor: int) -> Chunk:
    """Complete lines after byte `cursor`; a half-written last line waits for the next read."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Chunk(cursor=0, reset=cursor > 0)
    reset = size < cursor
    start = 0 if reset else cursor
    if size == start:
        return Chunk(cursor=start, reset=reset)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(size - start)
    end = data.rfind(b"\n") + 1
    return Chunk(_parse_lines(data[:end]), start + end, reset)


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    """JSON lines as dicts: one json.loads over the whole block (a long log parses ~5x faster), line by line
    only when some line is garbled, which must not stop the feed."""
    raws = [raw for raw in data.splitlines() if raw.strip()]
    try:
        values = json.loads(b"[" + b",".join(raws) + b"]")
    except (json.JSONDecodeError, UnicodeDecodeError):
        values = []
        for raw in raws:
            try:
                values.append(json.loads(raw))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
    return [v for v in values if isinstance(v, dict)]


def read_all(path: Path) -> list[dict[str, Any]]:
    return read_from(path, 0).lines


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int | None
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    lr: float | None
    grad_norm: float | None
    tokens_per_s: float | None
    useful_tokens_per_s: float | None
    seconds_per_step: float | None
    eta_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _last(lines: list[dict[str, Any]], key: str) -> Any:
    return next((line[key] for line in reversed(lines) if isinstance(line.get(key), (int, float))), None)


def total_steps(lines: list[dict[str, Any]], max_steps: int, epochs: float) -> int | None:
    """train.max_steps when set; else the steps `epochs` take, from the step/epoch ratio the trainer logs."""
    if max_steps > 0:
        return max_steps
    for line in reversed(lines):
        step, epoch = line.get("step"), line.get("epoch")
        if isinstance(step, int) and isinstance(epoch, (int, float)) and epoch > 0 and step > 0:
            return max(step, round(step / epoch * epochs))
    return None


def seconds_per_step(lines: list[dict[str, Any]]) -> float | None:
    """Median seconds per step over the last ETA_WINDOW steps that carry a time (older logs have none)."""
    timed = [(line["step"], line["time"]) for line in lines if "loss" in line and isinstance(line.get("time"), (int, float))]
    timed = timed[-(ETA_WINDOW + 1):]
    rates = [(t2 - t1) / (s2 - s1) for (s1, t1), (s2, t2) in zip(timed, timed[1:]) if s2 > s1]
    if not rates:
        return None
    rates.sort()
    return rates[len(rates) // 2]


def progress(lines: list[dict[str, Any]], max_steps: int = -1, epochs: float = 1.0) -> Progress:
    step = int(_last(lines, "step") or 0)
    total = total_steps(lines, max_steps, epochs)
    per_step = seconds_per_step(lines)
    eta = per_step * max(0, total - step) if per_step is not None and total is not None else None
    return Progress(step, total, _last(lines, "epoch"), _last(lines, "loss"), _last(lines, "eval_loss"), _last(lines, "lr"),
                    _last(lines, "grad_norm"), _last(lines, "tokens_per_s"), _last(lines, "useful_tokens_per_s"), per_step, eta)


def downsample(values: list[float], points: int = 48) -> list[float]:
    """Every k-th value (and the last), for a sparkline that stays the same size however long the run."""
    if len(values) <= points:
        return values
    k = len(values) / points
    picked = [values[int(i * k)] for i in range(points - 1)]
    return picked + [values[-1]]
