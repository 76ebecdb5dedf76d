"""prefs.engine vllm: the k answers per prompt sampled by vLLM (make vllm) instead of transformers in process.

The same prompts (our prompt builder's ids), stop rule and sampling keys (temperature, top_p, max_new_tokens, one
seed per batch); vLLM's sampler draws other random numbers than torch's, so the answers differ from the
transformers engine's at the same seed (the sampler identity says which engine drew them). One vLLM server for
the whole stage. The SFT model is served as its adapter on the plain base; a QLoRA run needs its merged export
first (vLLM cannot apply the dequantize-then-merge rule), so prefs before export says so in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir


def _files(recipe: Recipe, run: RunDir) -> tuple[Path, Path | None, Path, Any]:
    """(the directory vLLM loads, the adapter on it, the tokenizer's directory, the model section)."""
    from slmforge.runtime import vllm
    from slmforge.runtime.trained import is_qlora

    p = recipe.prefs
    if p.model:
        section = recipe.model.model_copy(update={"id": p.model})
        directory = vllm.plain_dir(p.model)
        return directory, None, directory, section
    if run.model.is_dir():
        directory, adapter = vllm.trained_files(run.model, recipe.model.id, is_qlora(recipe, run, run.model), run.export / "merged")
        return directory, adapter, run.model, recipe.model
    directory = vllm.plain_dir(recipe.model.id)
    return directory, None, directory, recipe.model


@contextmanager
def vllm_sampler(recipe: Recipe, run: RunDir, console: Console) -> Iterator[Callable[[list[list[dict[str, str]]], int], list[list[str]]]]:
    """A function (prompts, seed) -> prefs.k answers per prompt, from one vLLM server kept up meanwhile."""
    from transformers import AutoTokenizer

    from slmforge.runtime import vllm
    from slmforge.runtime.generation import Sampling, stop_ids_of
    from slmforge.runtime.models import ensure_chat_template
    from slmforge.runtime.placement import announce, place
    from slmforge.runtime.prompts import prompt_ids

    vllm.vllm_python()  # not installed: one line before anything loads
    model_dir, adapter, tokenizer_dir, section = _files(recipe, run)
    tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(tokenizer_dir), section)
    stops = stop_ids_of(tokenizer, vllm.saved_eos(tokenizer_dir))
    placement = announce(place(section), console, run, "prefs", "sampler")
    p = recipe.prefs
    console.print(f"sampling with vLLM: {model_dir}" + (f" + adapter {adapter}" if adapter else "") + f" · log {run.root / 'prefs' / 'vllm.log'}")
    with vllm.VllmGenerator(model_dir, tokenizer, placement, stops, adapter, run.root / "prefs" / "vllm.log") as engine:
        def sample(prompts: list[list[dict[str, str]]], seed: int) -> list[list[str]]:
            sampling = Sampling(p.max_new_tokens, p.temperature, p.top_p, seed, batch_size=len(prompts), n=p.k)
            gens = engine.generate([prompt_ids(tokenizer, c) for c in prompts], sampling)
            return [[a.strip() for a in k] for k in gens.grouped(p.k)]

        yield sample
