"""Turn what a user names on the command line into (model, tokenizer): a run directory, a model
or adapter directory, a .gguf file or `embedded:NAME`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import SlmforgeError
from slmforge.core.sections import ModelSection, ServeSection
from slmforge.runtime.models import load_model
from slmforge.runtime.serve.options import ServeError
from slmforge.runtime.trained import load_trained

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


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ServeError(f"--dtype {dtype}: must be one of {', '.join(DTYPES)}")


def load_for_serving(source: str, dtype: str = "auto", announce: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) placed by runtime.placement (--dtype overrides its dtype), ready for generation.
    `announce(line)` is told the placement, once the source is known to be loadable."""
    from slmforge.runtime.placement import place

    check_dtype(dtype)
    path = Path(source).expanduser()
    try:
        if is_run_dir(path):
            from slmforge.core.recipe import load
            from slmforge.core.rundir import RunDir
            from slmforge.runtime.trained import load_final

            recipe = load(path / "recipe.yaml")
            placement = place(recipe.model.model_copy(update={"dtype": dtype}))
            _tell(announce, source, placement)
            return _ready(*load_final(recipe, RunDir(path), merge=True, placement=placement))
        if path.is_dir() and (path / "adapter_config.json").is_file():
            base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
            if not base:
                raise ServeError(f"{path}/adapter_config.json names no base_model_name_or_path; serve the run directory instead")
            section = ModelSection(id=base, dtype=dtype)
            _tell(announce, source, place(section))
            return _ready(*load_trained(path, section, merge=True, placement=place(section)))
        if path.is_dir() and not (path / "config.json").is_file():
            raise ServeError(f"{source}: neither a run directory (recipe.yaml + model/) nor a model directory (config.json)")
        section = ModelSection(id=source, dtype=dtype)
        _tell(announce, source, place(section))
        return _ready(*load_model(section, place(section)))
    except SlmforgeError:
        raise
    except (OSError, ValueError) as exc:
        raise ServeError(f"{source}: could not load the model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


@dataclass(frozen=True)
class AdapterRun:
    """A served run whose final model is a LoRA adapter on a plain base: runs sharing the base are one engine."""

    spec: ModelSpec
    adapter_dir: Path
    base: ModelSection


def adapter_run(spec: ModelSpec) -> AdapterRun | None:
    """The spec as an AdapterRun, or None when it cannot share a base (not a run, full weights, QLoRA: its
    model is the adapter merged into its own dequantized 4-bit base)."""
    path = Path(spec.source).expanduser()
    if not is_run_dir(path):
        return None
    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir
    from slmforge.runtime.trained import is_qlora

    recipe = load(path / "recipe.yaml")
    model_dir, base = RunDir(path).final_model(recipe)
    if not (model_dir / "adapter_config.json").is_file() or is_qlora(recipe, RunDir(path), model_dir):
        return None
    return AdapterRun(spec, model_dir, base)


def shared_base_groups(specs: list[ModelSpec]) -> list[list[AdapterRun]]:
    """Adapter runs grouped by the base they sit on (the same model, revision and placement keys); groups of two or more."""
    groups: dict[str, list[AdapterRun]] = {}
    for spec in specs:
        run = adapter_run(spec)
        if run is not None:
            key = json.dumps(run.base.model_dump(mode="json") | {"id": _resolved(run.base.id)}, sort_keys=True)
            groups.setdefault(key, []).append(run)
    return [group for group in groups.values() if len(group) > 1]


def _resolved(model_id: str) -> str:
    path = Path(model_id).expanduser()
    return str(path.resolve()) if path.exists() else model_id


def load_shared_base(group: list[AdapterRun], dtype: str = "auto", announce: Any = None) -> tuple[Any, Any]:
    """(peft model with one named adapter per run, tokenizer): the base loaded once for every run of the group.

    Every run must end turns like the first (the same chat template and eos); otherwise they are served apart."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from slmforge.runtime.models import check_no_pickle, ensure_chat_template
    from slmforge.runtime.placement import place

    section = group[0].base.model_copy(update={"dtype": dtype})
    placement = place(section)
    _tell(announce, f"{', '.join(r.spec.name for r in group)} (one base, {len(group)} adapters)", placement)
    base, _ = load_model(section, placement)
    tokenizers = [ensure_chat_template(AutoTokenizer.from_pretrained(r.adapter_dir), section) for r in group]
    for run, tok in zip(group[1:], tokenizers[1:]):
        if (tok.chat_template, tok.eos_token) != (tokenizers[0].chat_template, tokenizers[0].eos_token):
            raise ServeError(f"{run.spec.source}: ends turns unlike {group[0].spec.source} (another chat template or eos); "
                             "serve it on its own with a separate slmforge serve")
    model = None
    for run in group:
        check_no_pickle(run.adapter_dir, section.allow_pickle, key=f"{run.spec.source}")
        if model is None:
            model = PeftModel.from_pretrained(base, str(run.adapter_dir), adapter_name=run.spec.name)
        else:
            model.load_adapter(str(run.adapter_dir), adapter_name=run.spec.name)
    return model.eval(), tokenizers[0]


def _tell(announce: Any, source: str, placement: Any) -> None:
    if announce is not None:
        announce(f"{source}: {placement.describe()}")


def _ready(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    return model.eval(), tokenizer
