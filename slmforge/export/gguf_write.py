"""Our GGUF writer: a transformers Llama / Qwen2 / Qwen3 model + tokenizer → one .gguf file.

Built on the `gguf` package (GGUFWriter, its tensor-name maps, its quants module) and following
llama.cpp's convert_hf_to_gguf.py where it matters: hyperparameter keys, the Llama q/k row
permutation, norms and biases kept in F32, no output.weight when embeddings are tied.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, MODEL_ARCH, MODEL_ARCH_NAMES, GGMLQuantizationType, GGUFWriter, LlamaFileType, get_tensor_name_map, quants

from slmforge.core.errors import ModelError
from slmforge.export.gguf_tokenizer import gguf_tokenizer


@dataclass(frozen=True)
class QuantType:
    name: str  # as the recipe spells it
    ggml: GGMLQuantizationType  # type of 2-D weight matrices
    file_type: LlamaFileType


QUANTS = {
    "f16": QuantType("f16", GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
    "bf16": QuantType("bf16", GGMLQuantizationType.BF16, LlamaFileType.MOSTLY_BF16),
    "q8_0": QuantType("q8_0", GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "q4_0": QuantType("q4_0", GGMLQuantizationType.Q4_0, LlamaFileType.MOSTLY_Q4_0),
}

# transformers model_type → (llama.cpp architecture, permute q/k rows for llama.cpp's rope?)
ARCHS: dict[str, tuple[MODEL_ARCH, bool]] = {
    "llama": (MODEL_ARCH.LLAMA, True),
    "qwen2": (MODEL_ARCH.QWEN2, False),
    "qwen3": (MODEL_ARCH.QWEN3, False),
}


def check_supported(config: Any) -> None:
    """ModelError (one line) for what our writer cannot convert faithfully."""
    model_type = getattr(config, "model_type", "?")
    if model_type not in ARCHS:
        raise ModelError(f"GGUF export supports the {', '.join(ARCHS)} architectures, not {model_type}; "
                         "drop gguf/ollama from export.formats or use a supported base model")
    rope = rope_parameters(config)
    if rope.get("rope_type", "default") != "default":
        raise ModelError(f"GGUF export supports default RoPE only, not {rope.get('rope_type')} scaling ({model_type})")


def rope_parameters(config: Any) -> dict[str, Any]:
    # transformers 5 keeps theta in config.rope_parameters; older configs had rope_theta / rope_scaling.
    params = dict(getattr(config, "rope_parameters", None) or {})
    if "rope_theta" not in params:
        params["rope_theta"] = getattr(config, "rope_theta", 10000.0)
    return params


def _permute(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's Llama rope pairs dims (0,1),(2,3)…; HF pairs (0,d/2)…: reorder q/k rows (convert_hf_to_gguf.py)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _write_hparams(writer: GGUFWriter, config: Any, name: str, quant: QuantType) -> None:
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(rope_parameters(config)["rope_theta"]))
    head_dim = _head_dim(config)
    writer.add_rope_dimension_count(head_dim)
    # llama.cpp derives head size from embedding / heads unless told; Qwen3 (and some Llamas) differ.
    if head_dim != config.hidden_size // config.num_attention_heads or config.model_type == "qwen3":
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(quant.file_type)
    writer.add_quantization_version(2)


def _encode(name: str, data: np.ndarray, quant: QuantType) -> tuple[np.ndarray, GGMLQuantizationType]:
    """Encode one tensor: vectors stay F32 (llama.cpp does the same); rows that do not fill whole
    quant blocks fall back to F16."""
    if data.ndim < 2:
        return data.astype(np.float32), GGMLQuantizationType.F32
    if quant.ggml == GGMLQuantizationType.F16:
        return data.astype(np.float16), GGMLQuantizationType.F16
    ggml = quant.ggml
    if ggml == GGMLQuantizationType.Q4_0 and name in ("token_embd.weight", "output.weight"):
        # As llama.cpp does for its 4-bit types: the (often tied) embedding/output matrix at 4 bits
        # costs small models most of their top-1 agreement; 8 bits there cost little space.
        ggml = GGMLQuantizationType.Q8_0
    block, _ = GGML_QUANT_SIZES[ggml]
    if data.shape[-1] % block:
        return data.astype(np.float16), GGMLQuantizationType.F16
    data = data.astype(np.float32)
    exact = _exact_encoding(data, ggml)
    if exact is not None:
        return exact
    return quants.quantize(data, ggml), ggml


# Block types a base model may already have been dequantized from (an embedded or downloaded GGUF).
_SOURCE_GRIDS = (GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q4_0)


def _exact_encoding(data: np.ndarray, target: GGMLQuantizationType) -> tuple[np.ndarray, GGMLQuantizationType] | None:
    """A tensor that already lies on a quant grid (weights dequantized from a GGUF and untouched by
    training) is written in that type, bit for bit, instead of being rounded a second time:
    Q4_1 weights re-rounded to Q8_0 / Q4_0 lose top-1 agreement for nothing. Only used when the
    exact type is no larger than `target` would be (or is `target` itself)."""
    target_bytes = GGML_QUANT_SIZES[target][1] / GGML_QUANT_SIZES[target][0]
    for ggml in (target, *(g for g in _SOURCE_GRIDS if g != target)):
        block, size = GGML_QUANT_SIZES[ggml]
        if data.shape[-1] % block or size / block > target_bytes * 1.15:
            continue
        encoded = quants.quantize(data, ggml)
        if np.array_equal(quants.dequantize(encoded, ggml).reshape(data.shape), data):
            return encoded, ggml
    return None


def gguf_tensors(model: Any) -> list[tuple[str, np.ndarray]]:
    """(GGUF name, float32 array in llama.cpp layout) for every weight of the model."""
    config = model.config
    arch, permute = ARCHS[config.model_type]
    names = get_tensor_name_map(arch, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    n_kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    out = []
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # no output.weight tells readers the embeddings are tied
        base, _, suffix = hf_name.rpartition(".")
        gguf_base = names.get_name(base)
        if gguf_base is None:
            raise ModelError(f"GGUF export: tensor {hf_name} has no llama.cpp name for {config.model_type}")
        data = tensor.detach().float().cpu().numpy()
        if permute and base.endswith("self_attn.q_proj"):
            data = _permute(data, config.num_attention_heads, config.num_attention_heads)
        elif permute and base.endswith("self_attn.k_proj"):
            data = _permute(data, config.num_attention_heads, n_kv)
        out.append((f"{gguf_base}.{suffix}", data))
    return out


def write_gguf(model: Any, tokenizer: Any, path: Path, quant: str, name: str,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Write `model` (a transformers causal LM) and its tokenizer to `path` as `quant`.

    Written to a temporary name and renamed, so a crash never leaves a truncated .gguf behind.
    `progress(done, total)` is called after each tensor.
    """
    if quant not in QUANTS:
        raise ModelError(f"export.quant: GGUF type {quant} is not supported; supported: {', '.join(QUANTS)}")
    config = model.config
    check_supported(config)
    qtype = QUANTS[quant]
    arch, _ = ARCHS[config.model_type]
    vocab = gguf_tokenizer(tokenizer, config.vocab_size)
    tmp = path.with_name(path.name + ".tmp")
    writer = GGUFWriter(tmp, MODEL_ARCH_NAMES[arch])
    try:
        _write_hparams(writer, config, name, qtype)
        vocab.write(writer)
        tensors = gguf_tensors(model)
        for i, (gguf_name, data) in enumerate(tensors):
            encoded, ggml_type = _encode(gguf_name, data, qtype)
            writer.add_tensor(gguf_name, encoded, raw_dtype=ggml_type if encoded.dtype == np.uint8 else None)
            if progress:
                progress(i + 1, len(tensors))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, path)
    return path

