"""llama.cpp (llama-cpp-python) on a GGUF file: greedy answers for verify and export's load-back check, and
the prompt ids its own chat-template formatter builds.

One stop rule, llama.cpp's own: a token its vocabulary marks end-of-generation (the GGUF's eos/eot and the
ones it detects), exactly as llama-server or Ollama would stop.

llama.cpp runs in a child process (`python -m slmforge.runtime.llamacpp`): it is native code an optional
package built on the user's machine, and a build that uses CPU instructions the machine does not run dies
with SIGILL (seen on a VM that advertises AMX without enabling it). A crash there is a LlamaCppCrashed
error that says what crashed and what to do; the run that asked goes on.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from slmforge.core.errors import SlmforgeError
from slmforge.runtime.generation import Generations

# A plain pip install compiles for the build machine's CPU (-march=native), which crashes on VMs that advertise AMX
# without enabling it; `make llamacpp` builds a portable one (see the Makefile).
INSTALL = "make llamacpp (or pip install llama-cpp-python)"
REBUILD = ('CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF '
           '-DGGML_AMX_BF16=OFF" pip install --force-reinstall --no-cache-dir --no-binary llama-cpp-python llama-cpp-python')
CHILD_TIMEOUT_S = 900


class LlamaCppCrashed(SlmforgeError):
    """llama.cpp died (a signal) or failed in its child process; the message names the file and what to do."""


class LlamaTokenizer:
    """The slice of a transformers tokenizer the HTTP layer uses, over llama.cpp's own."""

    def __init__(self, llama: Any):
        self._llama = llama

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)}

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True, tokenize: bool = True,
                            return_dict: bool = True) -> dict[str, list[int]]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self._llama.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF file has no tokenizer.chat_template")
        eos = self._llama.detokenize([self._llama.token_eos()]).decode("utf-8", "ignore")
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="")
        prompt = formatter(messages=messages).prompt
        return {"input_ids": self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)}


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def greedy(path: Path, prompts: list[list[int]], max_new: int) -> Generations:
    """Greedy answers to prompt ids (the stop token left out of the tokens, as in runtime.generation)."""
    started = time.perf_counter()
    out = _in_child("greedy", path, {"prompts": prompts, "max_new": max_new})
    return Generations(out["texts"], out["tokens"], out["stopped"], time.perf_counter() - started)


def template_ids(path: Path, conversations: list[list[dict[str, str]]]) -> list[list[int]]:
    """The ids llama.cpp builds from the GGUF's embedded chat template (our llama.cpp engine's formatter)."""
    return _in_child("template", path, {"conversations": conversations})["ids"]


def _in_child(mode: str, path: Path, request: dict[str, Any]) -> dict[str, Any]:
    try:
        done = subprocess.run([sys.executable, "-m", "slmforge.runtime.llamacpp", mode, str(path)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LlamaCppCrashed(f"llama.cpp on {path.name} did not finish in {CHILD_TIMEOUT_S} s; check the file with llama-cli") from None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        hint = (f"its build uses CPU instructions this machine does not run (common on VMs that advertise AMX without "
                f"enabling it); rebuild llama-cpp-python without them: make llamacpp, or {REBUILD}") if name == "SIGILL" else "see llama.cpp's own log"
        raise LlamaCppCrashed(f"llama.cpp crashed ({name}) on {path.name}; {hint}")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise LlamaCppCrashed(f"llama.cpp failed on {path.name} ({last[:200]})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the child
def _greedy_here(path: str, prompts: list[list[int]], max_new: int) -> dict[str, Any]:
    import llama_cpp
    from llama_cpp import Llama

    longest = max((len(p) for p in prompts), default=0)
    llm = Llama(model_path=path, n_ctx=max(256, longest + max_new + 16), verbose=False, seed=0)
    tokens: list[list[int]] = []
    stopped: list[bool] = []
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
        texts = [llm.detokenize(t).decode("utf-8", "replace") for t in tokens]
    finally:
        llm.close()
    return {"tokens": tokens, "stopped": stopped, "texts": texts}


def _template_here(path: str, conversations: list[list[dict[str, str]]]) -> dict[str, Any]:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=64, verbose=False, vocab_only=True)
    try:
        tok = LlamaTokenizer(llm)
        return {"ids": [list(tok.apply_chat_template(c)["input_ids"]) for c in conversations]}
    finally:
        llm.close()


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    request = json.loads(sys.stdin.read())
    result = _greedy_here(path, request["prompts"], request["max_new"]) if mode == "greedy" else _template_here(path, request["conversations"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
