"""Model card export/README.md: what the model is, what it was trained on, how well, how to run it.

Reads the run's data/data_report.json and (when the evaluation stage ran) eval/results.json;
either may be missing, and the card then says so rather than inventing numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, sha256_file, write_text_atomic


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _data_section(run: RunDir) -> list[str]:
    lines = ["## Data", ""]
    report = _read_json(run.data / "data_report.json")
    train = run.split_file("train")
    if train.is_file():
        lines.append(f"- training split sha256: `{sha256_file(train)}`")
    if report is None:
        return lines + ["- no data/data_report.json in the run directory", ""]
    counts, splits = report.get("counts", {}), report.get("splits", {})
    lines += [
        f"- source: `{report.get('source')}` ({report.get('format')})",
        f"- rows read {counts.get('read', '?'):,} · kept {counts.get('kept', '?'):,} · dropped {counts.get('dropped', '?'):,}",
        "- splits: " + " · ".join(f"{s} {v.get('rows', 0):,}" for s, v in splits.items()),
        f"- max length: {report.get('max_length')} tokens",
        "",
    ]
    return lines


def _flat_numbers(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[prefix + key] = value
        elif isinstance(value, dict):
            out.update(_flat_numbers(value, f"{prefix}{key}."))
    return out


def _metrics_section(run: RunDir) -> list[str]:
    lines = ["## Evaluation", ""]
    results = _read_json(run.eval / "results.json")
    if not results or not results.get("models"):
        return lines + ["Not evaluated yet (no eval/results.json): run `slmforge eval RECIPE`.", ""]
    models = {k: _flat_numbers(v) for k, v in results["models"].items() if k != "reference" and isinstance(v, dict)}
    names = list(models)
    metrics = sorted({m for scores in models.values() for m in scores})
    lines += [f"{results.get('prompts', '?')} test prompts, task {results.get('task', '?')}.", "",
              "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for metric in metrics[:40]:  # the card is a summary; results.json has everything
        cells = [f"{models[n][metric]:.4g}" if metric in models[n] else "-" for n in names]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines + [""]


def _train_section(recipe: Recipe) -> list[str]:
    t = recipe.train
    lines = ["## Training", "", f"- method: **{t.method}**"]
    if t.method in ("lora", "qlora"):
        lines.append(f"- LoRA r {t.lora.r}, alpha {t.lora.alpha}, dropout {t.lora.dropout}, targets {t.lora.target_modules}")
    steps = f"max_steps {t.max_steps}" if t.max_steps > 0 else f"epochs {t.epochs:g}"
    lines += [f"- {steps} · batch {t.batch_size} × grad_accum {t.grad_accum} · lr {t.lr:g} ({t.scheduler}, warmup {t.warmup_ratio:g})",
              f"- weight decay {t.weight_decay:g} · precision {t.precision} · packing {t.packing} · seed {t.seed}", ""]
    return lines


def _usage_section(name: str, files: dict[str, str]) -> list[str]:
    lines = ["## Use it", ""]
    if "merged" in files:
        lines += ["transformers:", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
                  f'tok = AutoTokenizer.from_pretrained("{files["merged"]}")',
                  f'model = AutoModelForCausalLM.from_pretrained("{files["merged"]}")',
                  'ids = tok.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_tensors="pt")',
                  "print(tok.decode(model.generate(ids, max_new_tokens=64)[0][ids.shape[1]:], skip_special_tokens=True))",
                  "```", ""]
    if "gguf" in files:
        lines += ["llama.cpp:", "", "```sh", f"llama-cli -m {files['gguf']} -cnv", "```", ""]
    if "ollama" in files:
        lines += ["Ollama (in this folder):", "", "```sh", f"ollama create {name} -f Modelfile", f"ollama run {name}", "```", ""]
    return lines


def write_card(path: Path, recipe: Recipe, run: RunDir, files: dict[str, str], verify: dict[str, Any] | None) -> Path:
    """Write the model card. `files`: export kind → path relative to export/ (merged, gguf, ollama)."""
    lines = [f"# {recipe.name}", "",
             f"A specialised small language model fine-tuned from **{recipe.model.id}** with slmforge.", "",
             "## Base model", "", f"- `{recipe.model.id}`" + (f" @ {recipe.model.revision}" if recipe.model.revision else ""), ""]
    lines += _data_section(run) + _train_section(recipe) + _metrics_section(run)
    if verify:
        lines += ["## Export checks", "", "| file | max abs logit diff | top-1 agreement | tokenizer | passed |",
                  "|---|---:|---:|---|---|"]
        for c in verify["checks"]:
            lines.append(f"| {c['file']} | {c['max_abs_diff']:.3g} | {c['top1_agreement']:.1%} | "
                         f"{'same' if c['tokenizer_ok'] else 'differs'} | {'yes' if c['passed'] else 'NO'} |")
        lines.append("")
    lines += _usage_section(recipe.name, files)
    write_text_atomic(path, "\n".join(lines))
    return path
