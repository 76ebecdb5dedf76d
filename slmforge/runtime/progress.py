"""Progress for long work, in a terminal and in a log file alike.

In a terminal: rich's live bar. When output is not a terminal (`make demo > log`, CI, the studio reading a
child's log) rich hides its bar, so minutes of training would print nothing: there a plain line is printed
every PLAIN_EVERY_S seconds instead, with the same fields, and once more at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress

PLAIN_EVERY_S = float(os.environ.get("SLMFORGE_PROGRESS_EVERY_S", "10"))


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # field → the unit written after its value
    started: float = field(default_factory=time.monotonic)
    shown: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        done = f"{self.completed:,.0f}" + (f"/{self.total:,.0f} ({self.completed / self.total:.0%})" if self.total else "")
        extra = "".join(f" · {v} {self.units[k]}" if k in self.units else f" · {k} {v}" for k, v in self.fields.items())
        left = ""
        if self.total and self.completed:
            left = f" · ~{_clock(elapsed * (self.total - self.completed) / self.completed)} left"
        return f"{self.description}: {done}{extra} · {_clock(elapsed)} elapsed{left}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class PlainProgress:
    """The part of rich.progress.Progress our stages use, printing a line every PLAIN_EVERY_S seconds."""

    def __init__(self, console: Console, units: dict[str, str] | None = None) -> None:
        self.console = console
        self.units = units or {}
        self._tasks: dict[int, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        for task in self._tasks.values():
            self.console.print(task.line(), highlight=False)
        self._tasks.clear()

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> int:
        self._tasks[len(self._tasks)] = _Task(description, total, completed, fields, self.units)
        return len(self._tasks) - 1

    def update(self, task_id: int, completed: float | None = None, total: float | None = None, advance: float = 0,
               **fields: Any) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        task.total = total if total is not None else task.total
        task.completed = (completed if completed is not None else task.completed) + advance
        task.fields.update(fields)
        if time.monotonic() - task.shown >= PLAIN_EVERY_S:
            task.shown = time.monotonic()
            self.console.print(task.line(), highlight=False)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)


def progress(console: Console, *columns: Any, transient: bool = False, units: dict[str, str] | None = None) -> Progress | PlainProgress:
    """rich's bar in a terminal, plain timed lines otherwise (module docstring); `units` name what a task field
    counts, for the plain line (the bar's columns say it themselves)."""
    if console.is_terminal:
        return Progress(*columns, console=console, transient=transient)
    return PlainProgress(console, units)
