"""`slmforge chat`: talk to a model in the terminal, for a quick try (no server involved)."""

from __future__ import annotations

import sys
import threading
from typing import Callable

from slmforge.runtime.prompts import prompt_ids
from slmforge.runtime.serve.engine import BatchingEngine, GenerationResult, GenRequest, SamplingParams
from slmforge.runtime.serve.loading import load_for_serving


def chat_loop(source: str, system: str | None = None, max_tokens: int = 256, temperature: float = 0.7,
              dtype: str = "auto", read: Callable[[str], str] = input, write: Callable[[str], None] = sys.stdout.write) -> None:
    """Read a line, stream the reply, keep the conversation; an empty line or Ctrl-D ends it."""
    model, tokenizer = load_for_serving(source, dtype)
    engine = BatchingEngine("chat", model, tokenizer, max_batch=1, batch_wait_ms=0)
    engine.start()
    history = [{"role": "system", "content": system}] if system else []
    write("chat with the model; an empty line ends it\n")
    try:
        while True:
            try:
                line = read("> ").strip()
            except EOFError:
                break
            if not line:
                break
            history.append({"role": "user", "content": line})
            ids = prompt_ids(tokenizer, history)
            done = threading.Event()
            answer: list[GenerationResult] = []
            engine.submit(GenRequest(list(ids), SamplingParams(max_tokens, temperature=temperature),
                                     on_done=lambda r: (answer.append(r), done.set()), on_delta=write))
            done.wait()
            write("\n")
            if isinstance(answer[0], GenerationResult):
                history.append({"role": "assistant", "content": answer[0].text})
    finally:
        engine.stop()
