"""A run's trained model, loaded the same way by every stage that uses it (eval, prefs, align, export,
verify, serve): an adapter on its base, or full weights, placed by runtime.placement.

QLoRA is one model everywhere: the adapter merged into the NF4 base *dequantized* — the weights the
adapter was trained against (merging into the original 16-bit base would add back the rounding the
adapter learnt to correct). That is what export writes and every runtime runs, so it is also what
eval scores, prefs samples from, align starts from and the server answers with (verify's merge row
checks that eval's model and export/merged give the same val loss).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slmforge.core.errors import ModelError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir
from slmforge.core.sections import ModelSection
from slmforge.runtime.models import check_no_pickle, ensure_chat_template, keep_four_bit_trainable, load_model, load_tokenizer, local_dir, resolve_source
from slmforge.runtime.placement import Placement, place


def load_base(section: ModelSection, method: str, placement: Placement) -> tuple[Any, Any]:
    """The base model as training loads it: the NF4 base for qlora; otherwise fp32 master weights for a full
    fine-tune (bf16/fp16 come from autocast, so optimizer updates are not lost to rounding) and the
    placement's dtype for the frozen base of an adapter."""
    if method != "qlora":
        return load_model(section, placement, dtype="fp32" if method == "full" or not placement.cuda else None)
    from transformers import AutoModelForCausalLM

    source = resolve_source(section.id)
    where = local_dir(source) or source.location
    model = AutoModelForCausalLM.from_pretrained(where, **placement.load_kwargs())
    if not placement.cuda:
        keep_four_bit_trainable(model)
    return model, load_tokenizer(section)


def dequantized_base(section: ModelSection, placement: Placement) -> Any:
    """The NF4 base exactly as QLoRA trained on it, dequantized to the placement's dtype."""
    four_bit = Placement(placement.device, placement.dtype, placement.attention, True, placement.why)
    base, _ = load_base(section, "qlora", four_bit)
    return base.dequantize().to(dtype=placement.torch_dtype)


def load_trained(model_dir: Path, section: ModelSection, merge: bool = False, placement: Placement | None = None,
                 dtype: str | Any = None, qlora: bool = False) -> tuple[Any, Any]:
    """Load a trained model directory: a LoRA adapter on `section`'s base model, or full weights.

    `model_dir` is runs/<name>/model (or any checkpoint in the same layout). merge=True merges a LoRA into
    its base (for export and fast inference); qlora=True puts the adapter on the dequantized NF4 base
    and always merges (module docstring). `dtype` overrides the placement's (verify compares in fp32).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").is_file() and not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no trained model here (no adapter_config.json or config.json); run `slmforge train` first")
    check_no_pickle(model_dir, section.allow_pickle, key=f"trained model {model_dir.name}/")
    placement = placement or place(section)
    if dtype is not None:
        placement = Placement(placement.device, _name(dtype), placement.attention, False, placement.why)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base = dequantized_base(section, placement) if qlora else load_model(section, placement)[0]
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge or qlora:
            model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, **placement.load_kwargs())
    if (model_dir / "generation_config.json").is_file():
        from transformers import GenerationConfig

        # A LoRA model otherwise keeps the base's generation config, whose eos may not be the
        # template's end of turn that training saved (the model would not stop after a merge).
        model.generation_config = GenerationConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return model, ensure_chat_template(tokenizer, section)


def _name(dtype: str | Any) -> str:
    from slmforge.runtime.models import _dtype_name

    return _dtype_name(dtype) or "fp32"


def is_qlora(recipe: Recipe, run: RunDir, model_dir: Path) -> bool:
    """The SFT model of a qlora run (model/) is an adapter on the NF4 base; an aligned model sits on plain SFT weights."""
    return recipe.train.method == "qlora" and Path(model_dir).resolve() == run.model.resolve()


def load_final(recipe: Recipe, run: RunDir, merge: bool = False, placement: Placement | None = None,
               dtype: str | Any = None, which: str = "final") -> tuple[Any, Any]:
    """The run's final model (the aligned one when align is on) or, which="sft", its SFT model (model/)."""
    model_dir, base = run.final_model(recipe) if which == "final" else (run.model, recipe.model)
    return load_trained(model_dir, base, merge=merge, placement=placement, dtype=dtype, qlora=is_qlora(recipe, run, model_dir))
