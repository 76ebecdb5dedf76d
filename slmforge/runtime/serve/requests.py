"""What a request to an engine is: its sampling, the result it gets back, how it is answered, and the two
protocols (an engine, an observer of it) the HTTP layer and the metrics speak."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

log = logging.getLogger("slmforge.runtime.serve.engine")

# Below this temperature logits / temperature overflows float32 to inf (NaN after softmax) long
# before sampling stops being argmax: such a request means greedy, and gets greedy.
GREEDY_BELOW = 1e-5


class RequestError(ValueError):
    """A request whose own parameters cannot be run: its row fails, the rest of its batch goes on."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < GREEDY_BELOW:
            object.__setattr__(self, "temperature", 0.0)


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: str  # "stop" (end of turn or stop string) | "length" (max_tokens)
    prompt_tokens: int
    completion_tokens: int


@dataclass(eq=False)
class GenRequest:
    """One sequence to generate. Callbacks run on the engine thread: keep them cheap and thread-safe."""

    prompt_ids: list[int]
    params: SamplingParams
    on_done: Callable[[GenerationResult | BaseException], None]
    on_delta: Callable[[str], None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    answered: bool = False  # set once on_done has been called
    adapter: str | None = None  # on a multi-adapter engine: the LoRA this sequence runs with (its served name)


class EngineObserver(Protocol):
    def batch_started(self, model: str, size: int) -> None: ...
    def tokens_generated(self, model: str, count: int) -> None: ...
    def queue_depth(self, model: str, depth: int) -> None: ...
    def batch_joined(self, model: str, joined: int, size: int) -> None: ...
    def sequence_cancelled(self, model: str) -> None: ...
    def prefix_reused(self, model: str, tokens: int) -> None: ...


class Engine(Protocol):
    """What the HTTP layer needs from an engine (transformers batching, llama.cpp, ...)."""

    name: str
    tokenizer: Any
    max_context: int

    def start(self) -> None: ...
    def submit(self, request: GenRequest) -> None: ...
    def stop(self) -> None: ...


def answer(request: GenRequest, result: GenerationResult | BaseException) -> None:
    """Call `on_done` once. A callback that raises (its server's loop already closed) is logged:
    it is that requester's problem and must not end the batch the others are in."""
    if request.answered:
        return
    request.answered = True
    try:
        request.on_done(result)
    except Exception:
        log.exception("on_done of a generation request raised")
