"""Turn what a user names on the command line into (model, tokenizer): a run directory, a model
or adapter directory, a .gguf file or `embedded:NAME`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import SlmforgeError
from slmforge.core.sections import ModelSection, ServeSection
from slmforge.runtime.models import load_model, load_trained
from slmforge.runtime.serve.options import ServeError

DTYPES = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the `model` field clients send
    source: str  # as given on the command line


def served_name(source: str) -> str:
    """A short default name: the run / directory / file name, or the embedded model's name."""
    if source.startswith("embedded:"):
        return source.removeprefix("embedded:")
    path = Path(source.rstrip("/"))
    return path.stem if path.suffix == ".gguf" else path.name


def parse_model_flag(text: str) -> ModelSpec:
    name, sep, source = text.partition("=")
    if not sep or not name.strip() or not source.strip():
        raise ServeError(f"--model {text}: expected NAME=PATH (a run, model or adapter directory, .gguf or embedded:NAME)")
    return ModelSpec(name.strip(), source.strip())


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "recipe.yaml").is_file() and (path / "model").exists()


def run_serve_section(source: str) -> ServeSection | None:
    """The `serve` section of a run's recipe (its defaults for the server), or None for a plain model."""
    path = Path(source)
    if not is_run_dir(path):
        return None
    from slmforge.core.recipe import load

    return load(path / "recipe.yaml").serve


def resolve_dtype(dtype: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise ServeError(f"--dtype {dtype}: must be one of {', '.join(DTYPES)}")
    if dtype == "auto":
        # bf16 on a GPU; fp32 on a CPU keeps answers identical to the unbatched model.
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]


def load_for_serving(source: str, dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) on the best device, ready for generation."""
    import torch

    torch_dtype = resolve_dtype(dtype)
    path = Path(source).expanduser()
    try:
        if is_run_dir(path):
            from slmforge.core.recipe import load
            from slmforge.core.rundir import RunDir

            recipe = load(path / "recipe.yaml")
            model, tokenizer = load_trained(*RunDir(path).final_model(recipe), merge=True, dtype=torch_dtype)
        elif path.is_dir() and (path / "adapter_config.json").is_file():
            base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
            if not base:
                raise ServeError(f"{path}/adapter_config.json names no base_model_name_or_path; serve the run directory instead")
            model, tokenizer = load_trained(path, ModelSection(id=base), merge=True, dtype=torch_dtype)
        elif path.is_dir() and not (path / "config.json").is_file():
            raise ServeError(f"{source}: neither a run directory (recipe.yaml + model/) nor a model directory (config.json)")
        else:
            model, tokenizer = load_model(ModelSection(id=source), dtype=torch_dtype)
    except SlmforgeError:
        raise
    except (OSError, ValueError) as exc:
        raise ServeError(f"{source}: could not load the model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval(), tokenizer
