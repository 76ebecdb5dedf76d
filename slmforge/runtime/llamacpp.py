"""llama.cpp (llama-cpp-python) on a GGUF file: greedy answers for verify and export's load-back check.

One stop rule, llama.cpp's own: a token its vocabulary marks end-of-generation (the GGUF's eos/eot
and the ones it detects), exactly as llama-server or Ollama would stop.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from slmforge.runtime.generation import Generations

INSTALL = "pip install llama-cpp-python"


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def greedy(path: Path, prompts: list[list[int]], max_new: int) -> Generations:
    """Greedy answers to prompt ids (the stop token left out of the tokens, as in runtime.generation)."""
    import llama_cpp
    from llama_cpp import Llama

    longest = max((len(p) for p in prompts), default=0)
    llm = Llama(model_path=str(path), n_ctx=max(256, longest + max_new + 16), verbose=False, seed=0)
    tokens: list[list[int]] = []
    stopped: list[bool] = []
    texts: list[str] = []
    started = time.perf_counter()
    try:
        for prompt in prompts:
            out: list[int] = []
            stop = False
            llm.reset()
            for token in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    stop = True
                    break
                out.append(int(token))
                if len(out) == max_new:
                    break
            tokens.append(out)
            stopped.append(stop)
            texts.append(llm.detokenize(out).decode("utf-8", "replace"))
    finally:
        llm.close()
    return Generations(texts, tokens, stopped, time.perf_counter() - started)
